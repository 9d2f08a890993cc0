//! The L* plane of a decoded image (gray, colour, 8 or 16 bit): the input
//! of every model, derived one way for every caller.

use colorize_shared::lab::{gray8_to_l_plane, rgb8_to_l_plane};
use colorize_shared::lab16;
use image::{ColorType, DynamicImage};

/// A full-resolution L* plane (Q8.8, row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct LPlane {
    pub width: usize,
    pub height: usize,
    pub l: Vec<u16>,
}

/// The image's L*: gray images directly, colour ones through sRGB -> L*.
/// 16-bit samples keep their full precision (`colorize_shared::lab16`);
/// alpha is ignored.
pub fn l_plane(img: &DynamicImage) -> LPlane {
    let mut l = Vec::new();
    let (width, height) = l_plane_into(img, &mut l);
    LPlane { width, height, l }
}

/// [`l_plane`] into a reused buffer (resized to fit): the box's loop.
/// Returns the width and height.
pub fn l_plane_into(img: &DynamicImage, l: &mut Vec<u16>) -> (usize, usize) {
    let (width, height) = (img.width() as usize, img.height() as usize);
    l.resize(width * height, 0);
    let gray = matches!(
        img.color(),
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    );
    // 8-bit images (the common case) are read in place: a converted copy of
    // a 2560x1600 RGB image is 12 MB and several ms per frame.
    match img {
        DynamicImage::ImageLuma8(g) => gray8_to_l_plane(g.as_raw(), l),
        DynamicImage::ImageRgb8(rgb) => rgb8_to_l_plane(rgb.as_raw(), l),
        DynamicImage::ImageLuma16(g) => lab16::gray16_to_l_plane(g.as_raw(), l),
        DynamicImage::ImageRgb16(rgb) => lab16::rgb16_to_l_plane(rgb.as_raw(), l),
        _ if gray && is_16_bit(img) => lab16::gray16_to_l_plane(img.to_luma16().as_raw(), l),
        _ if is_16_bit(img) => lab16::rgb16_to_l_plane(img.to_rgb16().as_raw(), l),
        _ if gray => gray8_to_l_plane(img.to_luma8().as_raw(), l),
        _ => rgb8_to_l_plane(img.to_rgb8().as_raw(), l),
    }
    (width, height)
}

/// Whether `img` has 16-bit samples.
pub fn is_16_bit(img: &DynamicImage) -> bool {
    is_16_bit_color(img.color())
}

/// Whether a layout has 16-bit samples.
pub fn is_16_bit_color(color: ColorType) -> bool {
    matches!(
        color,
        ColorType::L16 | ColorType::La16 | ColorType::Rgb16 | ColorType::Rgba16
    )
}
