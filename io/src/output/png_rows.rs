//! PNG image data written row by row: the png crate's `write_image_data`
//! (adaptive row filters, fdeflate, one IDAT chunk) made incremental, so a
//! frame can stream from the recombination to the file.
//!
//! The bytes are those `write_image_data` writes, row filters and deflate
//! stream alike (a test compares them), except where that function falls
//! back to stored deflate blocks because fdeflate made the data larger: we
//! do the same for images whose rows fit [`BUFFERED_BYTES`] (the compressed
//! stream is held until the end), and keep the compressed stream for larger
//! ones, which never occurs with photographs (noise would need it).
//!
//! Why not the png crate's `StreamWriter`: it hands fdeflate's output to its
//! chunk writer eight bytes at a time through a non-inlined `write`, which
//! made the encode 30 % slower than `write_image_data`; and it splits the
//! data into IDAT chunks of its buffer size, so its bytes differ.

use std::io::{self, Seek, SeekFrom, Write};

/// Raw image sizes up to which the compressed stream is buffered, so that
/// the stored-blocks fallback of `write_image_data` can be reproduced.
pub const BUFFERED_BYTES: usize = 4 << 20;

/// Bytes gathered before they go to the output.
const FLUSH_BYTES: usize = 1 << 16;

/// Where the deflate stream goes: a buffer drained into the output (with
/// the IDAT CRC kept up to date), or, for small images, kept whole.
struct Sink<'w, W: Write> {
    out: &'w mut W,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    written: u64,
    hold: bool,
}

impl<W: Write> Sink<'_, W> {
    fn drain(&mut self) -> io::Result<()> {
        self.crc.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Write for Sink<'_, W> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    // fdeflate writes 8 bytes at a time: this must stay a plain append.
    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(data);
        if !self.hold && self.buf.len() >= FLUSH_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Provides unfiltered rows from a given row on (see [`write_idat`]).
pub type Rows<'f, E> = dyn FnMut(usize, &mut [u8]) -> Result<(), E> + 'f;

/// Writes one IDAT chunk (and nothing else) holding `height` rows of
/// `row_bytes` bytes (`bpp` bytes a pixel), filtered and deflated as the png
/// crate's `write_image_data` does with `Compression::Fast` and
/// `Filter::Adaptive`. `fill(y0, rows)` provides the unfiltered rows from
/// `y0`, a band of `band_rows` at a time (fewer at the end).
pub fn write_idat<W: Write + Seek, E: From<io::Error>>(
    out: &mut W,
    (row_bytes, height, bpp): (usize, usize, usize),
    band_rows: usize,
    fill: &mut Rows<'_, E>,
) -> Result<(), E> {
    let raw = (row_bytes + 1) * height;
    let start = out.stream_position()?;
    // Length first: patched at the end.
    out.write_all(&[0, 0, 0, 0])?;
    out.write_all(b"IDAT")?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(b"IDAT");
    let hold = raw <= BUFFERED_BYTES;
    let sink = Sink {
        out: &mut *out,
        buf: Vec::with_capacity(FLUSH_BYTES + 64),
        crc,
        written: 0,
        hold,
    };
    let mut z = fdeflate::Compressor::new(sink)?;
    let mut band = vec![0u8; row_bytes * band_rows.min(height)];
    let mut prev = vec![0u8; row_bytes];
    let mut rows = Filtered::new(row_bytes);
    for y0 in (0..height).step_by(band_rows) {
        let n = band_rows.min(height - y0);
        let band = &mut band[..n * row_bytes];
        fill(y0, band)?;
        for row in band.chunks_exact(row_bytes) {
            // One call per row, type byte included: fdeflate's output
            // depends on how its input is split.
            z.write_data(rows.adaptive(bpp, &prev, row))?;
            prev.copy_from_slice(row);
        }
    }
    let mut sink = z.finish()?;
    if hold && sink.buf.len() > fdeflate::StoredOnlyCompressor::<()>::compressed_size(raw) {
        // As write_image_data: stored blocks when deflate did not help,
        // the rows asked for again (fill is deterministic), unfiltered.
        sink.buf.clear();
        let mut stored = fdeflate::StoredOnlyCompressor::new(io::Cursor::new(Vec::new()))?;
        for y0 in (0..height).step_by(band_rows) {
            let n = band_rows.min(height - y0);
            let band = &mut band[..n * row_bytes];
            fill(y0, band)?;
            for row in band.chunks_exact(row_bytes) {
                stored.write_data(&[0])?;
                stored.write_data(row)?;
            }
        }
        sink.buf = stored.finish()?.into_inner();
    }
    sink.drain()?;
    let (len, crc) = (sink.written, sink.crc.finalize());
    let len = u32::try_from(len)
        .ok()
        .filter(|&l| l <= i32::MAX as u32)
        .ok_or_else(|| io::Error::other("PNG image data over 2 GB"))?;
    out.write_all(&crc.to_be_bytes())?;
    let end = out.stream_position()?;
    out.seek(SeekFrom::Start(start))?;
    out.write_all(&len.to_be_bytes())?;
    out.seek(SeekFrom::Start(end))?;
    Ok(())
}

/// One row under each of the four filters the adaptive choice tries, each
/// after its filter type byte.
struct Filtered {
    up: Vec<u8>,
    sub: Vec<u8>,
    avg: Vec<u8>,
    paeth: Vec<u8>,
}

impl Filtered {
    fn new(len: usize) -> Self {
        let row = |kind: u8| {
            let mut v = vec![0; len + 1];
            v[0] = kind;
            v
        };
        Filtered {
            up: row(2),
            sub: row(1),
            avg: row(3),
            paeth: row(4),
        }
    }

    /// The png crate's `Filter::Adaptive`: Up, Sub, Avg, Paeth in that
    /// order, the lowest sum of |byte as i8| winning, a later filter on a
    /// tie, the first with a sum of 0 at once. Returns the filter type byte
    /// followed by the filtered row.
    fn adaptive(&mut self, bpp: usize, prev: &[u8], cur: &[u8]) -> &[u8] {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.adaptive_avx2(bpp, prev, cur) };
        }
        self.adaptive_body(bpp, prev, cur)
    }

    /// The same code compiled for AVX2: identical results.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn adaptive_avx2(&mut self, bpp: usize, prev: &[u8], cur: &[u8]) -> &[u8] {
        self.adaptive_body(bpp, prev, cur)
    }

    #[inline(always)]
    fn adaptive_body(&mut self, bpp: usize, prev: &[u8], cur: &[u8]) -> &[u8] {
        let len = cur.len();
        // Known lengths let the compiler drop the bounds checks below (and
        // vectorise the loops where the target has SIMD).
        assert!(prev.len() == len && bpp <= len);
        assert!([&self.up, &self.sub, &self.avg, &self.paeth]
            .iter()
            .all(|v| v.len() == len + 1));
        let (mut best, mut best_cost) = (2u8, u64::MAX);
        for kind in [2u8, 1, 3, 4] {
            let out = match kind {
                2 => &mut self.up[1..],
                1 => &mut self.sub[1..],
                3 => &mut self.avg[1..],
                _ => &mut self.paeth[1..],
            };
            // The first pixel has no left neighbour (a = c = 0).
            for i in 0..bpp {
                out[i] = match kind {
                    2 | 4 => cur[i].wrapping_sub(prev[i]),
                    1 => cur[i],
                    _ => cur[i].wrapping_sub(prev[i] / 2),
                };
            }
            // The rest as equal-length slices, so the loops vectorise.
            let n = len - bpp;
            let (o, x) = (&mut out[bpp..len], &cur[bpp..len]);
            let (a, b, c) = (&cur[..n], &prev[bpp..len], &prev[..n]);
            assert!(o.len() == n && x.len() == n && b.len() == n);
            // Plain loops: `for_each` left the Paeth loop as a function of
            // its own, outside `adaptive_avx2`, so without AVX2.
            match kind {
                2 => {
                    for i in 0..n {
                        o[i] = x[i].wrapping_sub(b[i]);
                    }
                }
                1 => {
                    for i in 0..n {
                        o[i] = x[i].wrapping_sub(a[i]);
                    }
                }
                3 => {
                    for i in 0..n {
                        o[i] = x[i].wrapping_sub((a[i] & b[i]) + ((a[i] ^ b[i]) >> 1));
                    }
                }
                _ => {
                    for i in 0..n {
                        o[i] = x[i].wrapping_sub(paeth(a[i], b[i], c[i]));
                    }
                }
            }
            let cost = cost(out);
            if cost <= best_cost {
                (best, best_cost) = (kind, cost);
                if cost == 0 {
                    break;
                }
            }
        }
        match best {
            2 => &self.up,
            1 => &self.sub,
            3 => &self.avg,
            _ => &self.paeth,
        }
    }
}

/// The adaptive filter's cost of a filtered row: the sum of its bytes taken
/// as signed magnitudes.
#[inline(always)]
fn cost(row: &[u8]) -> u64 {
    let mut chunks = row.chunks_exact(64);
    let mut total = 0u64;
    for c in &mut chunks {
        // At most 64 x 128: no overflow in u16.
        total += c
            .iter()
            .map(|&v| (v as i8).unsigned_abs() as u16)
            .sum::<u16>() as u64;
    }
    total
        + chunks
            .remainder()
            .iter()
            .map(|&v| (v as i8).unsigned_abs() as u64)
            .sum::<u64>()
}

/// The Paeth predictor (PNG spec, 9.4), the spec's three distances in i16
/// and selects: as fast as FPNGE's all-8-bit form with AVX2, 7 % fewer
/// instructions for the encode on armv7 (no NEON there).
#[inline(always)]
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (ai, bi, ci) = (a as i16, b as i16, c as i16);
    let pa = (bi - ci).abs();
    let pb = (ai - ci).abs();
    let pc = (ai + bi - 2 * ci).abs();
    let ab = if pb < pa { b } else { a };
    if pc < pa.min(pb) {
        c
    } else {
        ab
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_image_data`'s whole file for an RGB image of `depth`.
    fn png_crate(w: u32, h: u32, sixteen: bool, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(if sixteen {
            png::BitDepth::Sixteen
        } else {
            png::BitDepth::Eight
        });
        enc.set_compression(png::Compression::Fast);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(data).unwrap();
        wr.finish().unwrap();
        out
    }

    /// The same file with the image data from [`write_idat`].
    fn ours(w: u32, h: u32, sixteen: bool, data: &[u8], band_rows: usize) -> Vec<u8> {
        let whole = png_crate(w, h, sixteen, data);
        // Signature and IHDR (8 + 25 bytes) come from the png crate either
        // way; IEND is the last 12 bytes.
        let mut out = io::Cursor::new(whole[..33].to_vec());
        out.seek(SeekFrom::End(0)).unwrap();
        let bpp = if sixteen { 6 } else { 3 };
        let row = bpp * w as usize;
        write_idat::<_, io::Error>(
            &mut out,
            (row, h as usize, bpp),
            band_rows,
            &mut |y0, band| {
                band.copy_from_slice(&data[y0 * row..][..band.len()]);
                Ok(())
            },
        )
        .unwrap();
        out.write_all(&whole[whole.len() - 12..]).unwrap();
        out.into_inner()
    }

    fn image(w: usize, h: usize, bpp: usize, seed: u32) -> Vec<u8> {
        // Smooth gradients with some texture, as photos are, flat patches,
        // and noise in places, so that every filter wins somewhere.
        let mut s = seed;
        (0..w * h * bpp)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let (x, y, c) = ((i / bpp) % w, i / bpp / w, i % bpp);
                let smooth = (x * 3 + y * 5 + c * 40) as u32;
                (match (x / 7 + y / 5) % 4 {
                    0 => s,
                    1 => 77, // flat: runs of zeros after filtering
                    _ => smooth + (s & 3),
                }) as u8
            })
            .collect()
    }

    #[test]
    fn bytes_equal_the_png_crates_write_image_data() {
        for (w, h, sixteen) in [
            (1, 1, false),
            (3, 1001, false),
            (2561, 17, false),
            (64, 40, true),
            (33, 1, false),
            (1, 33, true),
        ] {
            let bpp = if sixteen { 6 } else { 3 };
            let data = image(w, h, bpp, (w * 31 + h) as u32);
            let want = png_crate(w as u32, h as u32, sixteen, &data);
            for band in [1, 5, 16, h] {
                assert!(
                    ours(w as u32, h as u32, sixteen, &data, band) == want,
                    "{w}x{h} {}-bit, bands of {band}",
                    if sixteen { 16 } else { 8 }
                );
            }
        }
    }

    #[test]
    fn noise_falls_back_to_stored_blocks_as_the_png_crate_does() {
        let (w, h) = (40usize, 30usize);
        let mut s = 1u32;
        let data: Vec<u8> = (0..w * h * 3)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 24) as u8
            })
            .collect();
        let want = png_crate(w as u32, h as u32, false, &data);
        assert_eq!(ours(w as u32, h as u32, false, &data, 16), want);
    }

    #[test]
    fn the_paeth_predictor_matches_the_spec() {
        for a in (0..=255u8).step_by(5) {
            for b in (0..=255u8).step_by(7) {
                for c in (0..=255u8).step_by(3) {
                    let p = a as i32 + b as i32 - c as i32;
                    let (pa, pb, pc) = (
                        (p - a as i32).abs(),
                        (p - b as i32).abs(),
                        (p - c as i32).abs(),
                    );
                    let want = if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    };
                    assert_eq!(paeth(a, b, c), want, "{a} {b} {c}");
                }
            }
        }
    }
}
