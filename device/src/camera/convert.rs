//! Raw camera buffers -> L* plane (Q8.8).
//!
//! Every function here takes a driver buffer exactly as it came out of the
//! kernel, with the geometry the driver reported, and must never panic, loop
//! forever or read out of bounds whatever those numbers are: a buggy driver,
//! a truncated DMA transfer or a fuzzer all look the same from here. Bad
//! input is an error, never a crash.
//!
//! Luma formats go straight from the 8-bit Y sample to L* through
//! [`gray8_to_l`]: there is no RGB round trip, so a gray camera costs one
//! table lookup per pixel.

use colorize_shared::lab::{gray8_to_l, rgb8_to_l_plane};
use std::fmt;

/// Pixel formats the camera path understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Packed 4:2:2, `Y0 U Y1 V`: two bytes per pixel, Y at even offsets.
    Yuyv,
    /// 8-bit luma only.
    Grey,
    /// Motion JPEG: every buffer is one JPEG image.
    Mjpeg,
}

impl PixelFormat {
    /// The V4L2 fourcc code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Grey => *b"GREY",
            PixelFormat::Mjpeg => *b"MJPG",
        }
    }

    pub fn from_fourcc(code: [u8; 4]) -> Option<Self> {
        match &code {
            b"YUYV" => Some(PixelFormat::Yuyv),
            b"GREY" => Some(PixelFormat::Grey),
            b"MJPG" => Some(PixelFormat::Mjpeg),
            _ => None,
        }
    }

    /// Bytes one row of pixels needs without padding; `None` for compressed
    /// formats (their rows have no fixed size).
    pub fn packed_row_bytes(self, width: usize) -> Option<usize> {
        match self {
            PixelFormat::Yuyv => width.checked_mul(2),
            PixelFormat::Grey => Some(width),
            PixelFormat::Mjpeg => None,
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Grey => "grey",
            PixelFormat::Mjpeg => "mjpeg",
        })
    }
}

impl std::str::FromStr for PixelFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "yuyv" | "yuy2" => Ok(PixelFormat::Yuyv),
            "grey" | "gray" | "y8" => Ok(PixelFormat::Grey),
            "mjpeg" | "mjpg" | "jpeg" => Ok(PixelFormat::Mjpeg),
            other => Err(format!(
                "unknown pixel format {other:?}: expected yuyv, grey or mjpeg"
            )),
        }
    }
}

/// Why a buffer could not be turned into an L* plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConvertError {
    /// Width or height is zero, or `width * height` overflows.
    BadGeometry { width: usize, height: usize },
    /// The driver's bytes-per-line is shorter than one row of pixels.
    StrideTooSmall { stride: usize, min: usize },
    /// Fewer valid bytes than the frame needs (`bytesused` or the buffer).
    ShortBuffer { need: usize, got: usize },
    /// The destination plane does not hold `width * height` values.
    OutputSize { need: usize, got: usize },
    /// The MJPEG payload did not decode.
    Decode(String),
    /// The JPEG decoded to a size other than the negotiated one.
    SizeMismatch {
        expected: (usize, usize),
        got: (usize, usize),
    },
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::BadGeometry { width, height } => {
                write!(f, "invalid frame size {width}x{height}")
            }
            ConvertError::StrideTooSmall { stride, min } => {
                write!(
                    f,
                    "bytes per line {stride} is shorter than one row ({min} bytes)"
                )
            }
            ConvertError::ShortBuffer { need, got } => {
                write!(f, "frame is truncated: {got} bytes used, {need} needed")
            }
            ConvertError::OutputSize { need, got } => {
                write!(f, "L plane holds {got} values, the frame has {need} pixels")
            }
            ConvertError::Decode(e) => write!(f, "MJPEG frame does not decode: {e}"),
            ConvertError::SizeMismatch { expected, got } => write!(
                f,
                "MJPEG frame is {}x{}, the negotiated size is {}x{}",
                got.0, got.1, expected.0, expected.1
            ),
        }
    }
}

impl std::error::Error for ConvertError {}

/// The valid bytes of a driver buffer: `bytesused` says how much the driver
/// filled, but never trust it beyond the mapping.
fn used(buf: &[u8], bytesused: usize) -> &[u8] {
    &buf[..bytesused.min(buf.len())]
}

fn pixels(width: usize, height: usize) -> Result<usize, ConvertError> {
    match width.checked_mul(height) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(ConvertError::BadGeometry { width, height }),
    }
}

/// Checks a packed layout and returns the number of bytes it needs. The last
/// row need not carry its padding: some drivers stop at the last pixel.
fn check_packed(
    data: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    row_bytes: usize,
) -> Result<(), ConvertError> {
    if stride < row_bytes {
        return Err(ConvertError::StrideTooSmall {
            stride,
            min: row_bytes,
        });
    }
    let need = stride
        .checked_mul(height - 1)
        .and_then(|v| v.checked_add(row_bytes))
        .ok_or(ConvertError::BadGeometry { width, height })?;
    if data.len() < need {
        return Err(ConvertError::ShortBuffer {
            need,
            got: data.len(),
        });
    }
    Ok(())
}

fn check_out(l: &[u16], n: usize) -> Result<(), ConvertError> {
    if l.len() != n {
        return Err(ConvertError::OutputSize {
            need: n,
            got: l.len(),
        });
    }
    Ok(())
}

/// 8-bit GREY -> L*. `stride` is the driver's bytes per line (0 means
/// packed, as V4L2 allows).
pub fn grey_to_l(
    buf: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    bytesused: usize,
    l: &mut [u16],
) -> Result<(), ConvertError> {
    let n = pixels(width, height)?;
    check_out(l, n)?;
    let stride = if stride == 0 { width } else { stride };
    let data = used(buf, bytesused);
    check_packed(data, width, height, stride, width)?;
    for (y, out) in l.chunks_exact_mut(width).enumerate() {
        let row = &data[y * stride..y * stride + width];
        for (o, &g) in out.iter_mut().zip(row) {
            *o = gray8_to_l(g);
        }
    }
    Ok(())
}

/// YUYV 4:2:2 -> L* from the Y samples alone (chroma is what the model
/// replaces, so it is never read).
pub fn yuyv_to_l(
    buf: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    bytesused: usize,
    l: &mut [u16],
) -> Result<(), ConvertError> {
    let n = pixels(width, height)?;
    check_out(l, n)?;
    let row_bytes = width
        .checked_mul(2)
        .ok_or(ConvertError::BadGeometry { width, height })?;
    let stride = if stride == 0 { row_bytes } else { stride };
    let data = used(buf, bytesused);
    check_packed(data, width, height, stride, row_bytes)?;
    for (y, out) in l.chunks_exact_mut(width).enumerate() {
        let row = &data[y * stride..y * stride + row_bytes];
        for (o, px) in out.iter_mut().zip(row.chunks_exact(2)) {
            *o = gray8_to_l(px[0]);
        }
    }
    Ok(())
}

/// One MJPEG buffer -> L*. `rgb` is caller-owned scratch, grown once to
/// `3 * width * height` and reused, so steady-state frames cost no
/// allocation on our side (the JPEG decoder still keeps its own state).
pub fn mjpeg_to_l(
    buf: &[u8],
    width: usize,
    height: usize,
    bytesused: usize,
    l: &mut [u16],
    rgb: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    use image::codecs::jpeg::JpegDecoder;
    use image::{ColorType, ImageDecoder};

    let n = pixels(width, height)?;
    check_out(l, n)?;
    let data = used(buf, bytesused);
    if data.is_empty() {
        return Err(ConvertError::ShortBuffer { need: 1, got: 0 });
    }
    let dec = JpegDecoder::new(std::io::Cursor::new(data))
        .map_err(|e| ConvertError::Decode(e.to_string()))?;
    let (w, h) = dec.dimensions();
    if (w as usize, h as usize) != (width, height) {
        return Err(ConvertError::SizeMismatch {
            expected: (width, height),
            got: (w as usize, h as usize),
        });
    }
    let color = dec.color_type();
    let need = dec.total_bytes() as usize;
    let expected = match color {
        ColorType::L8 => n,
        ColorType::Rgb8 => 3 * n,
        other => {
            return Err(ConvertError::Decode(format!(
                "unsupported JPEG colour type {other:?}"
            )))
        }
    };
    if need != expected {
        return Err(ConvertError::Decode(format!(
            "decoder wants {need} bytes for {width}x{height} {color:?}"
        )));
    }
    if rgb.len() < need {
        rgb.resize(need, 0);
    }
    let dst = &mut rgb[..need];
    // zune-jpeg (under image's JpegDecoder) panics on some corrupt scans
    // (found by fuzz/convert_mjpeg): a bad frame is an error, not a crash.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dec.read_image(dst)))
        .map_err(|_| ConvertError::Decode("corrupt JPEG data (the decoder panicked)".into()))?
        .map_err(|e| ConvertError::Decode(e.to_string()))?;
    match color {
        ColorType::L8 => {
            for (o, &g) in l.iter_mut().zip(dst.iter()) {
                *o = gray8_to_l(g);
            }
        }
        _ => rgb8_to_l_plane(dst, l),
    }
    Ok(())
}

/// Dispatches on the format. `scratch` is only used for MJPEG.
#[allow(clippy::too_many_arguments)]
pub fn frame_to_l(
    format: PixelFormat,
    buf: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    bytesused: usize,
    l: &mut [u16],
    scratch: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    match format {
        PixelFormat::Grey => grey_to_l(buf, width, height, stride, bytesused, l),
        PixelFormat::Yuyv => yuyv_to_l(buf, width, height, stride, bytesused, l),
        PixelFormat::Mjpeg => mjpeg_to_l(buf, width, height, bytesused, l, scratch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_honours_stride_and_ignores_padding() {
        // 3x2 image, stride 5: the two padding bytes per row must not leak in.
        let buf = [10, 20, 30, 255, 255, 40, 50, 60, 255, 255];
        let mut l = [0u16; 6];
        grey_to_l(&buf, 3, 2, 5, buf.len(), &mut l).unwrap();
        let want: Vec<u16> = [10u8, 20, 30, 40, 50, 60]
            .iter()
            .map(|&g| gray8_to_l(g))
            .collect();
        assert_eq!(&l[..], &want[..]);
    }

    #[test]
    fn last_row_without_padding_is_accepted() {
        let buf = [1, 2, 0, 3, 4];
        let mut l = [0u16; 4];
        grey_to_l(&buf, 2, 2, 3, 5, &mut l).unwrap();
        assert_eq!(l[3], gray8_to_l(4));
    }

    #[test]
    fn yuyv_takes_only_luma() {
        // Y0 U Y1 V with extreme chroma: L* must depend on Y alone.
        let buf = [100, 0, 200, 255, 50, 255, 60, 0];
        let mut l = [0u16; 4];
        yuyv_to_l(&buf, 2, 2, 4, 8, &mut l).unwrap();
        assert_eq!(
            l,
            [
                gray8_to_l(100),
                gray8_to_l(200),
                gray8_to_l(50),
                gray8_to_l(60)
            ]
        );
    }

    #[test]
    fn bytesused_shorter_than_frame_is_an_error() {
        let buf = [0u8; 64];
        let mut l = [0u16; 16];
        assert_eq!(
            grey_to_l(&buf, 4, 4, 4, 10, &mut l),
            Err(ConvertError::ShortBuffer { need: 16, got: 10 })
        );
        // bytesused larger than the mapping is clamped, not trusted.
        assert_eq!(
            yuyv_to_l(&buf[..20], 4, 4, 8, 1000, &mut l),
            Err(ConvertError::ShortBuffer { need: 32, got: 20 })
        );
    }

    #[test]
    fn hostile_geometry_is_rejected() {
        let buf = [0u8; 16];
        let mut l = [0u16; 4];
        assert!(grey_to_l(&buf, 0, 4, 0, 16, &mut l).is_err());
        assert!(grey_to_l(&buf, usize::MAX, 2, 0, 16, &mut l).is_err());
        assert!(yuyv_to_l(&buf, usize::MAX / 2 + 1, 1, 0, 16, &mut l).is_err());
        assert!(grey_to_l(&buf, 2, 2, usize::MAX, 16, &mut l).is_err());
        assert_eq!(
            grey_to_l(&buf, 4, 1, 2, 16, &mut l),
            Err(ConvertError::StrideTooSmall { stride: 2, min: 4 })
        );
        assert!(mjpeg_to_l(&buf, 2, 2, 16, &mut l, &mut Vec::new()).is_err());
        assert!(mjpeg_to_l(&[], 2, 2, 0, &mut l, &mut Vec::new()).is_err());
    }

    #[test]
    fn mjpeg_decodes_to_l_and_checks_size() {
        let (w, h) = (16u32, 8u32);
        let gray = image::GrayImage::from_fn(w, h, |x, _| image::Luma([(x * 16) as u8]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageLuma8(gray)
            .to_rgb8()
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let mut l = vec![0u16; (w * h) as usize];
        let mut scratch = Vec::new();
        mjpeg_to_l(
            &jpeg,
            w as usize,
            h as usize,
            jpeg.len(),
            &mut l,
            &mut scratch,
        )
        .unwrap();
        // JPEG is lossy: compare against the source within a few L* units.
        for (x, &got) in l.iter().take(w as usize).enumerate() {
            let want = gray8_to_l((x * 16) as u8) as i32;
            assert!(
                (got as i32 - want).abs() < 4 * 256,
                "x={x}: {got} vs {want}"
            );
        }
        let mut wrong = vec![0u16; 64];
        assert!(matches!(
            mjpeg_to_l(&jpeg, 8, 8, jpeg.len(), &mut wrong, &mut scratch),
            Err(ConvertError::SizeMismatch { .. })
        ));
        // A truncated JPEG must be an error (or decode to something), never a panic.
        let _ = mjpeg_to_l(
            &jpeg[..jpeg.len() / 2],
            16,
            8,
            jpeg.len() / 2,
            &mut l,
            &mut scratch,
        );
    }
}
