//! The rules a spec must follow before a network can be built from it.

use crate::{Pooling, ResidualBlockType, Spec, SpecError};

impl Spec {
    /// Checks every rule of a spec, in the order the options are listed.
    ///
    /// The rules: `input` (height, width, channels), `classes`, the stem's
    /// filter size, filter count and stride are positive; `stack_depth` and
    /// `num_filters` are non-empty lists of positive numbers of equal
    /// length; `mean` and `std` have one finite entry per channel and `std`
    /// is positive; `bn_epsilon` is positive and `bn_momentum` lies in
    /// [0, 1]; `zero_init_residual` needs "batchnorm-before-add"; and the
    /// input is large enough for every downsampling step: each spatial size
    /// is at least `k * 2^(D + 1)` with stem pooling and `k * 2^D` without,
    /// where `k` is the stem stride along that axis and `D` the number of
    /// downsampling stacks (every stack after the first). Sizes that pass
    /// keep every activation at least 1 x 1.
    ///
    /// # Errors
    /// The first rule broken, as a [`SpecError`] naming the option, what it
    /// holds and what is accepted.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.check_positive_sizes()?;
        self.check_stacks()?;
        self.check_normalization()?;
        self.check_batch_norm()?;
        self.check_minimum_input()
    }

    fn check_positive_sizes(&self) -> Result<(), SpecError> {
        let [h, w, c] = self.input;
        if h == 0 || w == 0 || c == 0 {
            let message =
                format!("height, width and channels must be positive, got [{h}, {w}, {c}]");
            return Err(SpecError::new("input", message));
        }
        if self.classes == 0 {
            return Err(SpecError::new(
                "classes",
                "must be a positive integer, got 0",
            ));
        }

        let pairs = [
            ("initial_filter_size", self.initial_filter_size),
            ("initial_stride", self.initial_stride),
        ];
        for (key, [h, w]) in pairs {
            if h == 0 || w == 0 {
                let message = format!("height and width must be positive, got [{h}, {w}]");
                return Err(SpecError::new(key, message));
            }
        }
        if self.initial_num_filters == 0 {
            let message = "must be a positive integer, got 0";
            return Err(SpecError::new("initial_num_filters", message));
        }
        Ok(())
    }

    fn check_stacks(&self) -> Result<(), SpecError> {
        for (key, list) in [
            ("stack_depth", &self.stack_depth),
            ("num_filters", &self.num_filters),
        ] {
            if list.is_empty() {
                let message = "must list at least one stack, got []";
                return Err(SpecError::new(key, message));
            }
            if list.contains(&0) {
                let message = format!("every entry must be positive, got {}", show(list));
                return Err(SpecError::new(key, message));
            }
        }

        if self.stack_depth.len() != self.num_filters.len() {
            let message = format!(
                "has {} stacks {} but num_filters has {} {}; give one filter count per stack",
                self.stack_depth.len(),
                show(&self.stack_depth),
                self.num_filters.len(),
                show(&self.num_filters),
            );
            return Err(SpecError::new("stack_depth", message));
        }
        Ok(())
    }

    fn check_normalization(&self) -> Result<(), SpecError> {
        let channels = self.input[2];
        for (key, values) in [("mean", &self.mean), ("std", &self.std)] {
            let Some(values) = values else { continue };
            if values.len() != channels {
                let message =
                    format!("needs one value per input channel ({channels}), got {values:?}");
                return Err(SpecError::new(key, message));
            }
            if values.iter().any(|x| !x.is_finite()) {
                let message = format!("every value must be finite, got {values:?}");
                return Err(SpecError::new(key, message));
            }
        }

        if let Some(std) = &self.std {
            if std.iter().any(|x| *x <= 0.0) {
                let message = format!("every value must be positive, got {std:?}");
                return Err(SpecError::new("std", message));
            }
        }
        Ok(())
    }

    fn check_batch_norm(&self) -> Result<(), SpecError> {
        if !(self.bn_epsilon.is_finite() && self.bn_epsilon > 0.0) {
            let message = format!("must be a positive number, got {:?}", self.bn_epsilon);
            return Err(SpecError::new("bn_epsilon", message));
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            let message = format!("must lie in [0, 1], got {:?}", self.bn_momentum);
            return Err(SpecError::new("bn_momentum", message));
        }

        // With the batch norm after the addition, a zero scale would zero the
        // whole block output, not just the residual branch.
        let after_add = self.residual_block_type == ResidualBlockType::BatchnormAfterAdd;
        if self.zero_init_residual && after_add {
            let message = "true needs residual_block_type = \"batchnorm-before-add\" (the \
                           last batch norm of a \"batchnorm-after-add\" block scales the sum, \
                           so zeroing it would silence the block), got \"batchnorm-after-add\"";
            return Err(SpecError::new("zero_init_residual", message));
        }
        Ok(())
    }

    fn check_minimum_input(&self) -> Result<(), SpecError> {
        let minimum = self.minimum_input_size();
        let pooling = match self.initial_pooling {
            Pooling::None => "no stem pooling",
            _ => "stem pooling",
        };
        let downsamplings = self.stack_depth.len() - 1;

        for axis in 0..2 {
            let (size, min) = (self.input[axis], minimum[axis]);
            if size < min {
                let message = format!(
                    "the {} {size} is below the minimum {min} for this network (stem stride \
                     {}, {pooling}, {downsamplings} downsampling stacks), got {}",
                    ["height", "width"][axis],
                    self.initial_stride[axis],
                    show(&self.input),
                );
                return Err(SpecError::new("input", message));
            }
        }
        Ok(())
    }

    /// The smallest `[height, width]` this spec accepts: `k * 2^(D + 1)`
    /// with stem pooling, `k * 2^D` without, per axis (`k` the stem stride,
    /// `D` the number of stacks after the first). Saturates at
    /// `usize::MAX` for absurdly deep specs.
    pub fn minimum_input_size(&self) -> [usize; 2] {
        let downsamplings = self.stack_depth.len().saturating_sub(1);
        let pooled = usize::from(self.initial_pooling != Pooling::None);
        let halvings = u32::try_from(downsamplings + pooled).unwrap_or(u32::MAX);
        let factor = 2usize.checked_pow(halvings).unwrap_or(usize::MAX);
        self.initial_stride.map(|k| k.saturating_mul(factor))
    }
}

/// A list written the way the user wrote it: `[3, 4, 6, 3]`.
fn show(list: &[usize]) -> String {
    let items: Vec<String> = list.iter().map(|n| n.to_string()).collect();
    format!("[{}]", items.join(", "))
}
