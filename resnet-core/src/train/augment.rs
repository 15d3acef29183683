//! Random translation of training images.

use rand::Rng;

use crate::data::Dataset;

/// Shifts each image of a batch by a random offset of up to `max_shift`
/// pixels in each direction, filling the uncovered border with zeros.
/// Small shifts are the classic augmentation for digits: they keep the
/// label and make the network less sensitive to where a digit sits.
pub(crate) fn shift(pixels: &mut [f32], data: &Dataset, max_shift: usize, rng: &mut impl Rng) {
    if max_shift == 0 {
        return;
    }
    let (c, h, w) = (data.channels, data.height, data.width);
    let m = max_shift as isize;
    let mut copy = vec![0.0; c * h * w];
    for image in pixels.chunks_exact_mut(c * h * w) {
        let dy = rng.gen_range(-m..=m);
        let dx = rng.gen_range(-m..=m);
        if dy == 0 && dx == 0 {
            continue;
        }
        copy.copy_from_slice(image);
        for ch in 0..c {
            for y in 0..h as isize {
                for x in 0..w as isize {
                    let (sy, sx) = (y - dy, x - dx);
                    let inside = sy >= 0 && sx >= 0 && sy < h as isize && sx < w as isize;
                    let at = |yy: isize, xx: isize| (ch * h + yy as usize) * w + xx as usize;
                    image[at(y, x)] = if inside { copy[at(sy, sx)] } else { 0.0 };
                }
            }
        }
    }
}
