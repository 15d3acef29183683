//! The statistics of the input layer, from the training data.

use resnet_spec::Normalization;

use crate::data::Dataset;
use crate::network::InputStats;

/// Per-channel mean and standard deviation of the training images (pixels
/// scaled to [0, 1]), as `trainnet` computes them before training:
/// "zerocenter" keeps the mean and a standard deviation of 1, "zscore"
/// keeps both, "none" returns `None` (the spec's fixed values apply).
pub fn input_stats(data: &Dataset, normalization: Normalization) -> Option<InputStats> {
    if normalization == Normalization::None || data.is_empty() {
        return None;
    }
    let c = data.channels;
    let plane = data.height * data.width;
    let (mut sum, mut sum_sq) = (vec![0.0f64; c], vec![0.0f64; c]);
    for i in 0..data.len() {
        for (ch, values) in data.image(i).chunks_exact(plane).enumerate() {
            for &v in values {
                let v = v as f64 / 255.0;
                sum[ch] += v;
                sum_sq[ch] += v * v;
            }
        }
    }
    let n = (data.len() * plane) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = match normalization {
        Normalization::Zscore => sum_sq
            .iter()
            .zip(&mean)
            .map(|(sq, m)| ((sq / n - m * m).max(0.0).sqrt().max(1e-6)) as f32)
            .collect(),
        _ => vec![1.0; c],
    };
    Some(InputStats {
        mean: mean.iter().map(|m| *m as f32).collect(),
        std,
    })
}
