//! Changes import makes on request: the first convolution adapted to
//! another number of input channels, and a classifier re-created for
//! another number of classes.

use crate::layers::Init;
use crate::weights::HostTensor;

/// Adapts the weight of a first convolution, `[out, c, kh, kw]`, to
/// `channels` input channels:
///
/// - one channel: the sum of the `c` kernels of each filter (an RGB
///   network's kernels 0.2, -0.1, 0.4 become 0.5), so the network computes
///   on a gray image exactly what it computed on that image repeated in
///   each of the `c` channels;
/// - `n` channels: the kernels repeated cyclically (R, G, B, R, G, ...)
///   and scaled by `c / n` (for 4 channels: [R, G, B, R] * 3/4), which
///   keeps the response to inputs whose channels look alike at the
///   original scale. It is exact, as for one channel, only when `n` is a
///   multiple of `c`; otherwise the extra channels are new inputs the
///   network still has to learn about.
///
/// Sums and products are taken in f64 and rounded once to f32.
///
/// # Errors
/// A message naming the shape when `weight` is not 4-D or `channels` is 0.
pub fn adapt_input_channels(weight: &HostTensor, channels: usize) -> Result<HostTensor, String> {
    let [out, have, kh, kw] = weight.shape[..] else {
        return Err(format!(
            "a convolution weight is [out, in, kh, kw], got shape {:?}",
            weight.shape
        ));
    };
    if channels == 0 || have == 0 {
        return Err(format!(
            "cannot adapt {have} input channels to {channels}: both must be positive"
        ));
    }

    let kernel = kh * kw;
    let at = |o: usize, c: usize, k: usize| weight.values[(o * have + c) * kernel + k] as f64;
    let scale = have as f64 / channels as f64;
    let mut values = Vec::with_capacity(out * channels * kernel);
    for o in 0..out {
        for c in 0..channels {
            for k in 0..kernel {
                let value = if channels == 1 {
                    (0..have).map(|c| at(o, c, k)).sum::<f64>()
                } else {
                    at(o, c % have, k) * scale
                };
                values.push(value as f32);
            }
        }
    }
    Ok(HostTensor {
        shape: vec![out, channels, kh, kw],
        values,
    })
}

/// How [`adapt_input_channels`] builds `channels` from `have`, in words
/// for the log.
pub fn describe_adaptation(have: usize, channels: usize) -> String {
    if channels == 1 {
        return format!("the sum of the {have} input kernels");
    }
    let pattern: Vec<String> = (0..channels.min(6))
        .map(|c| channel_name(c % have, have))
        .collect();
    let more = if channels > 6 { ", ..." } else { "" };
    format!(
        "kernels repeated as [{}{more}] and scaled by {have}/{channels}",
        pattern.join(", ")
    )
}

/// R, G, B for a 3-channel source, else the channel's index.
fn channel_name(c: usize, have: usize) -> String {
    if have == 3 {
        ["R", "G", "B"][c].to_string()
    } else {
        c.to_string()
    }
}

/// A new classifier of `classes` rows over `features` inputs: the weight
/// `[classes, features]` He-initialized from `seed` (standard deviation
/// sqrt(2 / features)), the bias `[classes]` zero.
pub fn new_classifier(classes: usize, features: usize, seed: u64) -> (HostTensor, HostTensor) {
    let values = Init::he(seed).weights(classes * features, features);
    let weight = HostTensor {
        shape: vec![classes, features],
        values: values.into_iter().map(|v| v as f32).collect(),
    };
    let bias = HostTensor {
        shape: vec![classes],
        values: vec![0.0; classes],
    };
    (weight, bias)
}
