//! Decoding one image file and fitting it to the network's input size.

use std::collections::BTreeSet;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{ColorType, DynamicImage, ImageBuffer, ImageReader, Luma, Pixel};

use super::error::DataError;

/// The network's input size as the loaders use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputSize {
    pub height: u32,
    pub width: u32,
    pub channels: usize,
}

impl InputSize {
    /// Checks `[height, width, channels]`: sides from 1 to `u32::MAX` and 1,
    /// 3 or 4 channels.
    pub fn new(input: [usize; 3]) -> Result<Self, DataError> {
        let [height, width, channels] = input;
        if !matches!(channels, 1 | 3 | 4) {
            return Err(DataError::Channels(channels));
        }

        let side = |n: usize| u32::try_from(n).ok().filter(|&n| n > 0);
        match (side(height), side(width)) {
            (Some(h), Some(w)) => Ok(Self {
                height: h,
                width: w,
                channels,
            }),
            _ => Err(DataError::Size { height, width }),
        }
    }

    /// The number of u8 values in one fitted image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height as usize * self.width as usize
    }

    /// How the log lines name the target channel layout.
    fn channel_name(&self) -> &'static str {
        match self.channels {
            1 => "1 channel (luma)",
            3 => "3 channels (RGB)",
            _ => "4 channels (RGBA)",
        }
    }
}

/// One image at the input size, and what had to change to get it there.
pub(crate) struct Fitted {
    /// CHW pixels, `InputSize::image_len` values.
    pub pixels: Vec<u8>,
    /// The decoded size as (height, width), when it differed from the input.
    pub resized_from: Option<(u32, u32)>,
    /// The decoded colour type, when it differed from the input's.
    pub converted_from: Option<ColorType>,
}

/// Tallies what a loader resized and converted, for its one log line.
#[derive(Default)]
pub(crate) struct FitReport {
    total: usize,
    resized: usize,
    converted: usize,
    sizes: BTreeSet<(u32, u32)>,
    colours: BTreeSet<&'static str>,
}

impl FitReport {
    /// Counts one fitted image.
    pub fn add(&mut self, fitted: &Fitted) {
        self.total += 1;
        if let Some(size) = fitted.resized_from {
            self.resized += 1;
            self.sizes.insert(size);
        }
        if let Some(colour) = fitted.converted_from {
            self.converted += 1;
            self.colours.insert(colour_name(colour));
        }
    }

    /// Logs one info line about `what` if any image was resized or converted.
    pub fn log(&self, what: &Path, input: InputSize) {
        let mut parts = Vec::new();
        if self.resized > 0 {
            let sizes: Vec<String> = self
                .sizes
                .iter()
                .map(|(h, w)| format!("{h} x {w}"))
                .collect();
            parts.push(format!(
                "resized {} of {} images to {} x {} (H x W) from {}",
                self.resized,
                self.total,
                input.height,
                input.width,
                short_list(&sizes)
            ));
        }
        if self.converted > 0 {
            let colours: Vec<String> = self.colours.iter().map(|c| c.to_string()).collect();
            parts.push(format!(
                "converted {} of {} images to {} from {}",
                self.converted,
                self.total,
                input.channel_name(),
                short_list(&colours)
            ));
        }
        if !parts.is_empty() {
            log::info!("{}: {}", what.display(), parts.join("; "));
        }
    }
}

/// Reads one image file for `resnet predict`, fitted to `input`
/// (`[height, width, channels]`) the way the folder loader fits its images:
/// converted to the channel count, resized with a triangle filter, CHW order.
///
/// Logs one info line when the image was resized or converted. Errors if the
/// input size is unusable or the file cannot be opened or decoded.
pub fn load_image(path: &Path, input: [usize; 3]) -> Result<Vec<u8>, DataError> {
    let input = InputSize::new(input)?;
    let fitted = read_fitted(path, input).map_err(|reason| DataError::Image {
        path: path.to_path_buf(),
        reason,
    })?;

    let mut report = FitReport::default();
    report.add(&fitted);
    report.log(path, input);
    Ok(fitted.pixels)
}

/// Decodes `path` (format from its content, else its extension) and fits
/// it to `input`; the error is the decoder's or the OS's reason.
pub(crate) fn read_fitted(path: &Path, input: InputSize) -> Result<Fitted, String> {
    let reader = ImageReader::open(path).map_err(|e| e.to_string())?;
    let reader = reader.with_guessed_format().map_err(|e| e.to_string())?;
    let decoded = reader.decode().map_err(|e| e.to_string())?;
    Ok(fit(decoded, input))
}

/// Converts a decoded image to the input's channels, then resizes it.
pub(crate) fn fit(decoded: DynamicImage, input: InputSize) -> Fitted {
    let colour = decoded.color();
    let size = (decoded.height(), decoded.width());
    let target = match input.channels {
        1 => ColorType::L8,
        3 => ColorType::Rgb8,
        _ => ColorType::Rgba8,
    };

    let pixels = match input.channels {
        1 => resized_chw(&to_luma(&decoded), input),
        3 => resized_chw(&decoded.to_rgb8(), input),
        _ => resized_chw(&decoded.to_rgba8(), input),
    };

    Fitted {
        pixels,
        resized_from: (size != (input.height, input.width)).then_some(size),
        converted_from: (colour != target).then_some(colour),
    }
}

/// Grey levels with the ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B),
/// the ones MATLAB's rgb2gray and PIL use; the `image` crate's own
/// `to_luma8` weighs by BT.709 and would give other values for colour images.
/// Alpha is dropped, as MATLAB's imread does.
fn to_luma(decoded: &DynamicImage) -> image::GrayImage {
    if !decoded.color().has_color() {
        return decoded.to_luma8();
    }

    let rgb = decoded.to_rgb8();
    image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0.map(u32::from);
        Luma([((299 * r + 587 * g + 114 * b + 500) / 1000) as u8])
    })
}

/// Resizes an HWC buffer to the input size (triangle filter) if needed and
/// returns its pixels in CHW order.
fn resized_chw<P>(hwc: &ImageBuffer<P, Vec<u8>>, input: InputSize) -> Vec<u8>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let resized;
    let hwc = if hwc.dimensions() == (input.width, input.height) {
        hwc
    } else {
        resized = imageops::resize(hwc, input.width, input.height, FilterType::Triangle);
        &resized
    };

    let c = input.channels;
    let plane = input.height as usize * input.width as usize;
    let mut chw = vec![0; c * plane];
    for (i, pixel) in hwc.as_raw().chunks_exact(c).enumerate() {
        for (k, &v) in pixel.iter().enumerate() {
            chw[k * plane + i] = v;
        }
    }
    chw
}

/// How log lines name a decoded colour type.
fn colour_name(colour: ColorType) -> &'static str {
    match colour {
        ColorType::L8 => "8-bit grey",
        ColorType::La8 => "8-bit grey+alpha",
        ColorType::Rgb8 => "8-bit RGB",
        ColorType::Rgba8 => "8-bit RGBA",
        ColorType::L16 => "16-bit grey",
        ColorType::La16 => "16-bit grey+alpha",
        ColorType::Rgb16 => "16-bit RGB",
        ColorType::Rgba16 => "16-bit RGBA",
        ColorType::Rgb32F => "float RGB",
        ColorType::Rgba32F => "float RGBA",
        _ => "another colour type",
    }
}

/// Joins up to four items and says how many more there are.
fn short_list(items: &[String]) -> String {
    const SHOWN: usize = 4;
    let mut text = items[..items.len().min(SHOWN)].join(", ");
    if items.len() > SHOWN {
        text += &format!(" and {} more", items.len() - SHOWN);
    }
    text
}
