//! Helpers shared by the fuzz targets.
//!
//! The camera-conversion targets read their geometry from the first
//! [`HEADER_LEN`] bytes of the input, so libFuzzer explores widths, heights,
//! strides and `bytesused` values together with the buffer:
//!
//! | bytes  | field                                                      |
//! |--------|------------------------------------------------------------|
//! | 0..2   | width, u16 little endian                                   |
//! | 2..4   | height, u16 LE                                             |
//! | 4..8   | stride (bytes per line), u32 LE; 0 means packed            |
//! | 8..12  | bytesused, u32 LE                                          |
//! | 12     | flags: bit 0 = L plane one value too long; bit 1 = stride  |
//! |        | shifted left 32 bits (overflow paths); bit 2 = bytesused   |
//! |        | is `usize::MAX`                                            |
//! | 13..   | the driver buffer                                          |
//!
//! `device/examples/fuzz_seeds.rs` writes seeds in this format. A frame of
//! more than [`MAX_PIXELS`] pixels gets an empty L plane (which the
//! converters must reject), so no run allocates more than a few MB whatever
//! the header says.

/// Bytes of geometry before the buffer.
pub const HEADER_LEN: usize = 13;
/// Largest frame whose L plane is actually allocated: 1 Mpixel (2 MB).
pub const MAX_PIXELS: usize = 1 << 20;

/// A camera frame as a converter sees it.
pub struct Frame<'a> {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub bytesused: usize,
    /// The destination plane, sized from the header (see the module docs).
    pub l: Vec<u16>,
    pub buf: &'a [u8],
}

impl<'a> Frame<'a> {
    /// `None` when the input is shorter than the header.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        if data.len() < HEADER_LEN {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]) as usize;
        let u32_at =
            |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let (width, height) = (u16_at(0), u16_at(2));
        let flags = data[12];
        let stride = if flags & 2 != 0 {
            ((u32_at(4) as u64) << 32) as usize
        } else {
            u32_at(4) as usize
        };
        let bytesused = if flags & 4 != 0 {
            usize::MAX
        } else {
            u32_at(8) as usize
        };
        let n = width * height;
        let mut len = if n <= MAX_PIXELS { n } else { 0 };
        if flags & 1 != 0 {
            len += 1;
        }
        Some(Frame {
            width,
            height,
            stride,
            bytesused,
            l: vec![0; len],
            buf: &data[HEADER_LEN..],
        })
    }
}
