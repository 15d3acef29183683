//! Learning-rate schedules.

/// How the learning rate changes over the epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The same rate every epoch.
    Constant(f64),
    /// Cosine decay from `base` to `base * floor` over all epochs, the
    /// schedule most ResNet recipes use now.
    Cosine { base: f64, floor: f64 },
}

impl Schedule {
    /// The rate for `epoch` (0-based) of `epochs`.
    pub fn lr(&self, epoch: usize, epochs: usize) -> f64 {
        match *self {
            Schedule::Constant(lr) => lr,
            Schedule::Cosine { base, floor } => {
                let t = epoch as f64 / epochs.max(1) as f64;
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
                base * (floor + (1.0 - floor) * cosine)
            }
        }
    }
}
