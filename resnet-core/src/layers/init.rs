//! Initial values of learnables.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// Where initial weights come from.
pub struct Init {
    rng: Option<StdRng>,
}

impl Init {
    /// He-normal weights from a seeded generator.
    pub fn he(seed: u64) -> Self {
        Init {
            rng: Some(StdRng::seed_from_u64(seed)),
        }
    }

    /// All zeros: a network that waits for its weights to be loaded.
    pub fn zeros() -> Self {
        Init { rng: None }
    }

    /// Whether this initializer draws random weights.
    pub fn is_random(&self) -> bool {
        self.rng.is_some()
    }

    /// `len` weights with He's normal distribution for `fan_in` inputs
    /// (standard deviation sqrt(2 / fan_in)), as MATLAB's "he" initializer
    /// and PyTorch's kaiming_normal_ with fan_in draw them.
    pub fn weights(&mut self, len: usize, fan_in: usize) -> Vec<f64> {
        match &mut self.rng {
            None => vec![0.0; len],
            Some(rng) => {
                let std = (2.0 / fan_in.max(1) as f64).sqrt();
                let normal = Normal::new(0.0, std).expect("a positive standard deviation");
                (0..len).map(|_| normal.sample(rng)).collect()
            }
        }
    }
}
