//! Full-resolution recombination: the original full-size L* plane plus a
//! low-resolution a*b* prediction -> sRGB8, lightness held.
//!
//! a*b* are upsampled bilinearly with pixel-centre alignment (the same mapping
//! as `align_corners = false`), in integer arithmetic. Callers hand in any
//! band of rows ([`rows`]), so a frame can stream from the L* plane
//! to the encoder without a full-size RGB buffer; the working set is the
//! caller's scratch, a few rows long, never a full-size copy.
//!
//! Speed (issue 17): the x mapping is computed once per band, as a weight per
//! output column and the run of columns each source column covers. Within a
//! run, a* and b* are `(base + delta * weight) >> 16` with `base` and `delta`
//! fixed, a loop the compiler vectorises; Lab -> sRGB8 and the lightness
//! check then run in blocks of [`LAB_BLOCK`] pixels. The arithmetic is the
//! same as the per-pixel formula's, so the output is bit for bit the same.
//!
//! The lightness hold checks only blocks in which a pixel was clipped: a
//! colour converted without clipping lands within 73/256 L* of the L* it
//! was asked for (8-bit rounding; swept over every L* and a*, b* in steps
//! of 1 by a test), inside the hold's tolerance of 128/256, so
//! checking it could never change it.

use crate::lab::{
    lab_block_to_rgb8_clipped, lab_to_rgb8, rgb8_block_to_l, rgb8_to_l, rgb8_to_lab, LAB_BLOCK,
};

/// A low-resolution a*, b* prediction in the Q8.8 format of [`crate::lab`].
#[derive(Clone, Copy, Debug)]
pub struct AbPlanes<'a> {
    pub width: usize,
    pub height: usize,
    pub a: &'a [i16],
    pub b: &'a [i16],
}

/// Scratch `i32`s that [`rows`] needs for a prediction `ab_width`
/// wide and output rows `out_width` wide: a weight per output column, a run
/// end and four coefficients per source column, one row of a* and one of b*.
pub const fn scratch_len(ab_width: usize, out_width: usize) -> usize {
    3 * out_width + 5 * ab_width
}

/// Source coordinate of output index `i`, 32.32 fixed point, clamped to the
/// source: `(i + 0.5) * src / dst - 0.5`.
#[inline(always)]
fn src_pos(i: usize, src: usize, dst: usize) -> i64 {
    let num = (2 * i as i128 + 1) * ((src as i128) << 32);
    let pos = (num / (2 * dst as i128)) as i64 - (1i64 << 31);
    pos.clamp(0, ((src - 1) as i64) << 32)
}

/// [`src_pos`]`(i, src, dst)` for `i = 0, 1, 2, ...`, exactly, with no
/// division per step (the quotient and remainder advance by constants).
struct SrcSteps {
    q: i64,
    r: u64,
    dq: i64,
    dr: u64,
    d: u64,
    max: i64,
}

impl SrcSteps {
    fn new(src: usize, dst: usize) -> Self {
        let d = 2 * dst as u128;
        let first = (src as u128) << 32;
        let step = (2 * src as u128) << 32;
        SrcSteps {
            q: (first / d) as i64,
            r: (first % d) as u64,
            dq: (step / d) as i64,
            dr: (step % d) as u64,
            d: d as u64,
            max: ((src - 1) as i64) << 32,
        }
    }

    #[inline(always)]
    fn next_pos(&mut self) -> i64 {
        let pos = (self.q - (1i64 << 31)).clamp(0, self.max);
        self.q += self.dq;
        self.r += self.dr;
        if self.r >= self.d {
            self.r -= self.d;
            self.q += 1;
        }
        pos
    }
}

/// Rows [`frame`] hands to [`rows`] at a time: a band's RGB
/// (3 x 16 x 2560 bytes for a wide photo) stays in the L2 cache.
pub const BAND_ROWS: usize = 16;

/// Largest L* change (Q8.8) tolerated from out-of-gamut clipping before the
/// pixel's chroma is reduced: 0.5 L*, so the output keeps the input's
/// lightness within 1.0 L* everywhere.
const L_TOLERANCE: i32 = 128;

/// Colourizes rows `y0 .. y0 + n` of an `out_width x out_height` image, where
/// `n = l_rows.len() / out_width`: `l_rows` holds their L* (Q8.8), `rgb`
/// receives `3 * l_rows.len()` bytes of sRGB8: a*b* upsampled, Lab -> sRGB8,
/// lightness held ([`hold_pixel`]). Any split of an image into bands gives
/// the same bytes. `scratch` is at least [`scratch_len`]`(ab.width,
/// out_width)` long.
pub fn rows(
    ab: &AbPlanes<'_>,
    out_width: usize,
    out_height: usize,
    y0: usize,
    l_rows: &[u16],
    rgb: &mut [u8],
    scratch: &mut [i32],
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { rows_avx2(ab, out_width, out_height, y0, l_rows, rgb, scratch) };
    }
    rows_body(ab, out_width, out_height, y0, l_rows, rgb, scratch)
}

/// The same code compiled for AVX2 (x86_64 hosts that have it, detected
/// at run time): identical integer arithmetic, so identical results.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2(
    ab: &AbPlanes<'_>,
    out_width: usize,
    out_height: usize,
    y0: usize,
    l_rows: &[u16],
    rgb: &mut [u8],
    scratch: &mut [i32],
) {
    rows_body(ab, out_width, out_height, y0, l_rows, rgb, scratch)
}

#[inline(always)]
fn rows_body(
    ab: &AbPlanes<'_>,
    out_width: usize,
    out_height: usize,
    y0: usize,
    l_rows: &[u16],
    rgb: &mut [u8],
    scratch: &mut [i32],
) {
    let (lw, lh) = (ab.width, ab.height);
    assert!(
        lw > 0 && lh > 0 && ab.a.len() == lw * lh && ab.b.len() == lw * lh,
        "recombine::rows: a/b planes do not match {lw}x{lh}"
    );
    assert!(
        out_width > 0 && l_rows.len() % out_width == 0 && rgb.len() == 3 * l_rows.len(),
        "recombine::rows: band buffers do not match width {out_width}"
    );
    assert!(
        y0 + l_rows.len() / out_width <= out_height,
        "recombine::rows: band runs past the image"
    );
    assert!(
        scratch.len() >= scratch_len(lw, out_width),
        "recombine::rows: scratch too short"
    );
    let (wx, rest) = scratch.split_at_mut(out_width);
    let (run_end, rest) = rest.split_at_mut(lw);
    let (coef, rest) = rest.split_at_mut(4 * lw);
    let (a_row, rest) = rest.split_at_mut(out_width);
    let b_row = &mut rest[..out_width];

    // The x mapping, the same on every row: a weight per column, and for
    // each source column the end of the run of columns that start from it
    // (positions only grow, so runs are contiguous; a source column no
    // output starts from has an empty run).
    let mut xs = SrcSteps::new(lw, out_width);
    run_end.fill(0);
    for (x, w) in wx.iter_mut().enumerate() {
        let pos = xs.next_pos();
        *w = ((pos >> 24) & 0xff) as i32;
        run_end[(pos >> 32) as usize] = x as i32 + 1;
    }
    for k in 1..lw {
        run_end[k] = run_end[k].max(run_end[k - 1]);
    }

    for (row, (l_row, rgb_row)) in l_rows
        .chunks_exact(out_width)
        .zip(rgb.chunks_exact_mut(3 * out_width))
        .enumerate()
    {
        let py = src_pos(y0 + row, lh, out_height);
        let yi = (py >> 32) as usize;
        let yj = (yi + 1).min(lh - 1);
        let wy = ((py >> 24) & 0xff) as i32;
        // Vertically interpolated source row s, then per source column k
        // (s[k] * (256 - w) + s[k+1] * w + 2^15) >> 16 as base + delta * w:
        // the same value (wrapping, since only the sum is known to fit; at
        // the last column w is always 0, so its delta is never used).
        let (base_a, rest) = coef.split_at_mut(lw);
        let (delta_a, rest) = rest.split_at_mut(lw);
        let (base_b, delta_b) = rest.split_at_mut(lw);
        for (plane, base, delta) in [(ab.a, base_a, delta_a), (ab.b, base_b, delta_b)] {
            let (p, q) = (&plane[yi * lw..][..lw], &plane[yj * lw..][..lw]);
            let s = |k: usize| p[k] as i32 * (256 - wy) + q[k] as i32 * wy;
            for k in 0..lw {
                let next = if k + 1 < lw { s(k + 1) } else { s(k) };
                base[k] = s(k).wrapping_mul(256).wrapping_add(1 << 15);
                delta[k] = next.wrapping_sub(s(k));
            }
        }
        let mut start = 0;
        for k in 0..lw {
            let end = run_end[k] as usize;
            let (ba, da, bb, db) = (coef[k], coef[lw + k], coef[2 * lw + k], coef[3 * lw + k]);
            for ((a, b), w) in a_row[start..end]
                .iter_mut()
                .zip(&mut b_row[start..end])
                .zip(&wx[start..end])
            {
                *a = ba.wrapping_add(da.wrapping_mul(*w)) >> 16;
                *b = bb.wrapping_add(db.wrapping_mul(*w)) >> 16;
            }
            start = end;
        }

        // Blocks of pixels through the block converters, the rest one by one.
        let full = out_width / LAB_BLOCK * LAB_BLOCK;
        for (((l, px), a), b) in l_row[..full]
            .chunks_exact(LAB_BLOCK)
            .zip(rgb_row[..3 * full].chunks_exact_mut(3 * LAB_BLOCK))
            .zip(a_row[..full].chunks_exact(LAB_BLOCK))
            .zip(b_row[..full].chunks_exact(LAB_BLOCK))
        {
            let l: &[u16; LAB_BLOCK] = l.try_into().unwrap();
            let px: &mut [u8; 3 * LAB_BLOCK] = px.try_into().unwrap();
            // Plain loops: `array::from_fn` was left as a call per block.
            let (mut a16, mut b16) = ([0i16; LAB_BLOCK], [0i16; LAB_BLOCK]);
            for i in 0..LAB_BLOCK {
                a16[i] = a[i] as i16;
                b16[i] = b[i] as i16;
            }
            let (a, b) = (&a16, &b16);
            // A block with nothing clipped is within the hold's tolerance
            // (module docs), so only clipped blocks are checked.
            if lab_block_to_rgb8_clipped(l, a, b, px) == 0 {
                continue;
            }
            let mut got = [0u16; LAB_BLOCK];
            rgb8_block_to_l(px, &mut got);
            let off = l
                .iter()
                .zip(&got)
                .fold(0, |m, (l, g)| m.max((*g as i32 - *l as i32).abs()));
            if off > L_TOLERANCE {
                for (l, px) in l.iter().zip(px.chunks_exact_mut(3)) {
                    hold_pixel(*l, px.try_into().unwrap());
                }
            }
        }
        for (((l, px), a), b) in l_row[full..]
            .iter()
            .zip(rgb_row[3 * full..].chunks_exact_mut(3))
            .zip(&a_row[full..])
            .zip(&b_row[full..])
        {
            px.copy_from_slice(&lab_to_rgb8(*l, *a as i16, *b as i16));
            hold_pixel(*l, px.try_into().unwrap());
        }
    }
}

/// Full-resolution L* (`width x height`, Q8.8) plus a model's a*b* at its
/// own size -> sRGB8 (`3 * width * height` bytes): [`rows`] over
/// the whole image. The one colourize step after the model, for the device,
/// the trainer's `colorize` and its sample images. `scratch` is at least
/// [`scratch_len`]`(ab.width, width)` long.
pub fn frame(
    ab: &AbPlanes<'_>,
    l: &[u16],
    width: usize,
    height: usize,
    rgb: &mut [u8],
    scratch: &mut [i32],
) {
    assert!(
        l.len() == width * height && rgb.len() == 3 * l.len(),
        "colorize: {} L* values and {} RGB bytes for {width}x{height}",
        l.len(),
        rgb.len()
    );
    for (band, (l_rows, rgb_rows)) in l
        .chunks(BAND_ROWS * width)
        .zip(rgb.chunks_mut(3 * BAND_ROWS * width))
        .enumerate()
    {
        rows(
            ab,
            width,
            height,
            band * BAND_ROWS,
            l_rows,
            rgb_rows,
            scratch,
        );
    }
}

/// If clipping an out-of-gamut colour moved the pixel's L* by more than
/// [`L_TOLERANCE`] from `l`, scales its chroma down (binary search, hue
/// kept) until the lightness is back: the user's tones matter more than
/// saturation. Pixels within the tolerance are left alone.
#[inline]
pub fn hold_pixel(l: u16, px: &mut [u8; 3]) {
    if (rgb8_to_l(px[0], px[1], px[2]) as i32 - l as i32).abs() <= L_TOLERANCE {
        return;
    }
    let (_, a, b) = rgb8_to_lab(px[0], px[1], px[2]);
    let fits = |s: i32| {
        let c = lab_to_rgb8(l, (a as i32 * s / 256) as i16, (b as i32 * s / 256) as i16);
        let l2 = rgb8_to_l(c[0], c[1], c[2]);
        ((l2 as i32 - l as i32).abs() <= L_TOLERANCE).then_some(c)
    };
    // Zero chroma is gray, which always fits.
    let (mut lo, mut hi) = (0, 256);
    let mut best = fits(0).unwrap_or_else(|| lab_to_rgb8(l, 0, 0));
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        match fits(mid) {
            Some(c) => {
                lo = mid;
                best = c;
            }
            None => hi = mid,
        }
    }
    *px = best;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::gray8_to_l;
    use std::vec;
    use std::vec::Vec;

    /// The recombination as it was before the run-based rewrite (issue 17),
    /// kept verbatim as the reference: per pixel, a division-free position
    /// step, bilinear a*b*, Lab -> sRGB8, then a separate lightness pass.
    fn two_pass_reference(ab: &AbPlanes<'_>, l: &[u16], w: usize, h: usize) -> Vec<u8> {
        let (lw, lh) = (ab.width, ab.height);
        let mut rgb = vec![0u8; 3 * w * h];
        let (mut sa, mut sb) = (vec![0i32; lw], vec![0i32; lw]);
        for y in 0..h {
            let py = src_pos(y, lh, h);
            let yi = (py >> 32) as usize;
            let yj = (yi + 1).min(lh - 1);
            let wy = ((py >> 24) & 0xff) as i32;
            for k in 0..lw {
                sa[k] = ab.a[yi * lw + k] as i32 * (256 - wy) + ab.a[yj * lw + k] as i32 * wy;
                sb[k] = ab.b[yi * lw + k] as i32 * (256 - wy) + ab.b[yj * lw + k] as i32 * wy;
            }
            let mut xs = SrcSteps::new(lw, w);
            for x in 0..w {
                let pxs = xs.next_pos();
                let xi = (pxs >> 32) as usize;
                let xj = (xi + 1).min(lw - 1);
                let wx = ((pxs >> 24) & 0xff) as i32;
                let a = (sa[xi] * (256 - wx) + sa[xj] * wx + (1 << 15)) >> 16;
                let b = (sb[xi] * (256 - wx) + sb[xj] * wx + (1 << 15)) >> 16;
                let i = 3 * (y * w + x);
                rgb[i..i + 3].copy_from_slice(&lab_to_rgb8(l[y * w + x], a as i16, b as i16));
            }
        }
        for (l, px) in l.iter().zip(rgb.chunks_exact_mut(3)) {
            hold_pixel(*l, px.try_into().unwrap());
        }
        rgb
    }

    fn run(ab: &AbPlanes<'_>, l: &[u16], w: usize, h: usize, band: usize) -> Vec<u8> {
        let mut rgb = vec![0u8; 3 * w * h];
        let mut scratch = vec![0i32; scratch_len(ab.width, w)];
        let mut y = 0;
        while y < h {
            let n = band.min(h - y);
            rows(
                ab,
                w,
                h,
                y,
                &l[y * w..(y + n) * w],
                &mut rgb[3 * y * w..3 * (y + n) * w],
                &mut scratch,
            );
            y += n;
        }
        rgb
    }

    /// xorshift32: deterministic test data.
    fn noise(seed: &mut u32) -> u32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        *seed
    }

    #[test]
    fn constant_prediction_reproduces_the_colour() {
        let (l, a, b) = rgb8_to_lab(200, 80, 40);
        let (pa, pb) = ([a; 4], [b; 4]);
        let ab = AbPlanes {
            width: 2,
            height: 2,
            a: &pa,
            b: &pb,
        };
        let lp = [l; 64];
        let rgb = run(&ab, &lp, 8, 8, 3);
        for px in rgb.chunks_exact(3) {
            for (got, want) in px.iter().zip([200u8, 80, 40]) {
                assert!((*got as i32 - want as i32).abs() <= 1, "{px:?}");
            }
        }
    }

    #[test]
    fn equals_the_two_pass_reference_at_any_size_and_band() {
        // Odd sizes, up- and downsampling, widths with and without a partial
        // block, a*b* far out of gamut so that the lightness hold runs often.
        let mut seed = 0x2545_f491u32;
        for (lw, lh, w, h) in [
            (64, 64, 1, 1),
            (64, 64, 3, 101),
            (64, 64, 37, 5),
            (64, 64, 161, 7),
            (3, 2, 8, 8),
            (1, 1, 19, 3),
            (7, 5, 5, 3),
            (64, 64, 40, 33),
            (2, 3, 64, 64),
        ] {
            let a: Vec<i16> = (0..lw * lh).map(|_| noise(&mut seed) as i16).collect();
            let b: Vec<i16> = (0..lw * lh).map(|_| noise(&mut seed) as i16).collect();
            let l: Vec<u16> = (0..w * h)
                .map(|_| (noise(&mut seed) % 25_800) as u16)
                .collect();
            let ab = AbPlanes {
                width: lw,
                height: lh,
                a: &a,
                b: &b,
            };
            let want = two_pass_reference(&ab, &l, w, h);
            for band in [1, 2, 5, BAND_ROWS, h] {
                assert!(
                    run(&ab, &l, w, h, band) == want,
                    "{lw}x{lh} -> {w}x{h}, bands of {band}"
                );
            }
            let mut whole = vec![0u8; 3 * w * h];
            let mut scratch = vec![0i32; scratch_len(lw, w)];
            frame(&ab, &l, w, h, &mut whole, &mut scratch);
            assert!(whole == want, "colorize, {lw}x{lh} -> {w}x{h}");
        }
    }

    #[test]
    fn upsampling_is_bilinear_and_centre_aligned() {
        // 2x1 prediction -> 8x1: columns 0..=1 clamp to the left value, 6..=7
        // to the right, and between them a* rises linearly; mid-point exact.
        let ab = AbPlanes {
            width: 2,
            height: 1,
            a: &[0, 8192],
            b: &[0, 0],
        };
        let l = [gray8_to_l(128); 8];
        let rgb = run(&ab, &l, 8, 1, 1);
        let r: [u8; 8] = core::array::from_fn(|i| rgb[3 * i]);
        assert_eq!(r[0], r[1]);
        assert_eq!(r[6], r[7]);
        assert!(r.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
        // Columns 3 and 4 sample the source at 0.375 and 0.625: a* 12 and 20.
        assert_eq!(r[3], lab_to_rgb8(l[0], 3072, 0)[0]);
        assert_eq!(r[4], lab_to_rgb8(l[0], 5120, 0)[0]);
        assert!(r[0] < r[3] && r[4] < r[7]);
        // Zero chroma gives neutral gray.
        assert_eq!(&rgb[0..3], &[128, 128, 128]);
    }

    #[test]
    fn wide_rows_match_the_per_pixel_formula() {
        // 37 columns: two blocks of the block converter plus a remainder.
        let (w, h) = (37usize, 5usize);
        let pa = [0, 8000, -8000, 3000, 100, -200];
        let pb = [-5000, 0, 7000, 1200, -900, 4000];
        let ab = AbPlanes {
            width: 3,
            height: 2,
            a: &pa,
            b: &pb,
        };
        let l: [u16; 37 * 5] = core::array::from_fn(|i| (i as u16 * 139) % 25700);
        let rgb = run(&ab, &l, w, h, h);
        for y in 0..h {
            let py = src_pos(y, 2, h);
            let (yi, wy) = ((py >> 32) as usize, ((py >> 24) & 0xff) as i32);
            let yj = (yi + 1).min(1);
            for x in 0..w {
                let px = src_pos(x, 3, w);
                let (xi, wx) = ((px >> 32) as usize, ((px >> 24) & 0xff) as i32);
                let xj = (xi + 1).min(2);
                let at = |p: &[i16], xk: usize| {
                    p[yi * 3 + xk] as i32 * (256 - wy) + p[yj * 3 + xk] as i32 * wy
                };
                let a = (at(&pa, xi) * (256 - wx) + at(&pa, xj) * wx + (1 << 15)) >> 16;
                let b = (at(&pb, xi) * (256 - wx) + at(&pb, xj) * wx + (1 << 15)) >> 16;
                let mut want = lab_to_rgb8(l[y * w + x], a as i16, b as i16);
                hold_pixel(l[y * w + x], &mut want);
                let i = 3 * (y * w + x);
                assert_eq!(rgb[i..i + 3], want, "pixel {x},{y}");
            }
        }
    }

    #[test]
    fn lightness_is_held_within_one_l_star() {
        let mut seed = 7u32;
        for _ in 0..20_000 {
            let l = (noise(&mut seed) % 25_601) as u16;
            let (a, b) = (noise(&mut seed) as i16, noise(&mut seed) as i16);
            let mut px = lab_to_rgb8(l, a, b);
            hold_pixel(l, &mut px);
            let got = rgb8_to_l(px[0], px[1], px[2]) as i32;
            assert!((got - l as i32).abs() <= 256, "L {l} a {a} b {b}: {px:?}");
        }
    }

    /// How far L* of the sRGB8 colour of every unclipped `(l, a, b)` with
    /// `l` in `ls` and a*, b* on a grid of `step` (Q8.8) lies from `l`.
    fn largest_unclipped_l_error(ls: impl Iterator<Item = u16>, step: usize) -> i32 {
        let mut worst = 0;
        let bs: Vec<i16> = (-32768..32768).step_by(step).map(|b| b as i16).collect();
        for l in ls {
            for a in (-32768..32768).step_by(step) {
                for b in bs.chunks(LAB_BLOCK) {
                    let b: [i16; LAB_BLOCK] = core::array::from_fn(|i| b[i % b.len()]);
                    let mut px = [0u8; 3 * LAB_BLOCK];
                    let clipped = lab_block_to_rgb8_clipped(
                        &[l; LAB_BLOCK],
                        &[a as i16; LAB_BLOCK],
                        &b,
                        &mut px,
                    );
                    for (i, px) in px.chunks_exact(3).enumerate() {
                        if clipped & (1 << i) == 0 {
                            let got = rgb8_to_l(px[0], px[1], px[2]) as i32;
                            worst = worst.max((got - l as i32).abs());
                        }
                    }
                }
            }
        }
        worst
    }

    /// Whether `l, a, b` is clipped on its way to sRGB8.
    fn clipped(l: u16, a: i16, b: i16) -> bool {
        let mut px = [0u8; 3 * LAB_BLOCK];
        lab_block_to_rgb8_clipped(&[l; LAB_BLOCK], &[a; LAB_BLOCK], &[b; LAB_BLOCK], &mut px) != 0
    }

    #[test]
    fn unclipped_colours_keep_their_lightness() {
        // What lets the recombination skip the hold's check for blocks
        // with nothing clipped; the full sweep is the ignored test below.
        let mut seed = 99u32;
        let ls = (0..40).map(|_| (noise(&mut seed) % 25_601) as u16);
        let worst = largest_unclipped_l_error(ls.chain([0, 1, 25_599, 25_600]), 997);
        assert!(
            worst <= L_TOLERANCE,
            "an unclipped colour is {worst}/256 L* off"
        );
        // And clipping is reported: pure gray never clips, a* = 127 at
        // L* = 50 always does.
        assert!(!clipped(12_800, 0, 0));
        assert!(clipped(12_800, 32_512, 0));
        assert!(clipped(25_601, 0, 0), "L* over 100 counts as clipped");
    }

    /// Every L* value, a* and b* in steps of 1 (Q8.8 256): about 1.7e9
    /// colours, ~15 s at the opt-level this crate's tests build with. It
    /// printed 73/256 (module docs). On the host only: under qemu-user it
    /// would take minutes, and the integer arithmetic it checks is the same
    /// on every target.
    #[test]
    #[cfg_attr(
        not(target_arch = "x86_64"),
        ignore = "minutes under qemu-user; the host's run covers it"
    )]
    fn unclipped_colours_keep_their_lightness_everywhere() {
        let worst = largest_unclipped_l_error(0..=25_600, 256);
        std::println!("largest L* error of an unclipped colour: {worst}/256");
        assert!(
            worst <= L_TOLERANCE,
            "an unclipped colour is {worst}/256 L* off"
        );
    }

    #[test]
    fn stepped_positions_equal_the_division() {
        for (src, dst) in [
            (1, 1),
            (1, 7),
            (2, 8),
            (3, 8),
            (64, 2560),
            (64, 1600),
            (64, 1599),
            (64, 33),
            (7, 3),
            (5, 5),
            (64, 64),
            (256, 4096),
        ] {
            let mut steps = SrcSteps::new(src, dst);
            for i in 0..dst + 3 {
                assert_eq!(
                    steps.next_pos(),
                    src_pos(i, src, dst),
                    "{src} -> {dst}, index {i}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "scratch too short")]
    fn short_scratch_is_rejected() {
        let ab = AbPlanes {
            width: 4,
            height: 1,
            a: &[0; 4],
            b: &[0; 4],
        };
        rows(&ab, 2, 1, 0, &[0; 2], &mut [0; 6], &mut [0; 25]);
    }
}
