//! Training progress for people: a progress bar per epoch on a terminal,
//! plain log lines elsewhere (pipes, CI logs) or with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use resnet::core::train::{BatchProgress, EpochMetrics, Observer};

/// How many log lines an epoch gets before its summary in plain mode: one
/// every quarter.
const LOG_PARTS: usize = 4;

/// An [`Observer`] that shows training progress.
pub struct Progress {
    /// The last epoch of the run, for "epoch 3/8".
    epochs: usize,
    /// Bars when on a terminal and not quiet.
    bars: bool,
    bar: Option<ProgressBar>,
    /// The next quarter of the epoch to log in plain mode.
    next_part: usize,
}

impl Progress {
    /// Progress for a run that ends at epoch `epochs`; bars only when
    /// stderr is a terminal and `quiet` is false.
    pub fn new(epochs: usize, quiet: bool) -> Progress {
        Progress {
            epochs,
            bars: !quiet && std::io::stderr().is_terminal(),
            bar: None,
            next_part: 1,
        }
    }

    /// Removes an unfinished bar (after an error), so the error line is not
    /// drawn over.
    pub fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn new_bar(&self, progress: &BatchProgress) -> ProgressBar {
        // Short enough for an 80-column terminal.
        let template = "{prefix} [{bar:20}] {pos}/{len} {msg} ETA {eta}";
        let style = ProgressStyle::with_template(template)
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(progress.batches as u64).with_style(style);
        bar.set_prefix(format!("epoch {}/{}", progress.epoch, self.epochs));
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }
}

impl Observer for Progress {
    fn batch(&mut self, progress: &BatchProgress) {
        if self.bars {
            if progress.batch == 1 || self.bar.is_none() {
                self.clear();
                self.bar = Some(self.new_bar(progress));
            }
            if let Some(bar) = &self.bar {
                bar.set_position(progress.batch as u64);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}% {:.0} img/s",
                    progress.loss,
                    100.0 * progress.accuracy,
                    progress.images_per_second
                ));
            }
            return;
        }

        if progress.batch == 1 {
            self.next_part = 1;
        }
        let reached = progress.batch * LOG_PARTS >= self.next_part * progress.batches;
        let last = progress.batch == progress.batches;
        if reached && !last && self.next_part < LOG_PARTS {
            log::info!(
                "epoch {}/{}: batch {}/{}, loss {:.4}, accuracy {:.2}%, {:.0} images/s",
                progress.epoch,
                self.epochs,
                progress.batch,
                progress.batches,
                progress.loss,
                100.0 * progress.accuracy,
                progress.images_per_second
            );
            while self.next_part * progress.batches <= progress.batch * LOG_PARTS {
                self.next_part += 1;
            }
        }
    }

    fn epoch(&mut self, metrics: &EpochMetrics) -> Result<(), resnet::core::Error> {
        self.clear();
        log::info!(
            "epoch {}/{}: loss {:.4}, accuracy {:.2}%; test loss {:.4}, test accuracy {:.2}%; \
             learning rate {:.4}; {:.1} s",
            metrics.epoch,
            self.epochs,
            metrics.train_loss,
            100.0 * metrics.train_accuracy,
            metrics.test_loss,
            100.0 * metrics.test_accuracy,
            metrics.learning_rate,
            metrics.seconds
        );
        Ok(())
    }
}
