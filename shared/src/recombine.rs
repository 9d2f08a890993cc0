//! Full-resolution recombination: the original full-size L* plane plus a
//! low-resolution a*b* prediction -> sRGB8.
//!
//! a*b* are upsampled bilinearly with pixel-centre alignment (the same mapping
//! as `align_corners = false`), in integer arithmetic, one output row at a
//! time. Callers hand in any band of rows, so the working set is one
//! low-resolution row of scratch, never a full-size float copy of the image.

use crate::lab::{lab_block_to_rgb8, lab_to_rgb8, rgb8_to_l, rgb8_to_lab, LAB_BLOCK};

/// A low-resolution a*, b* prediction in the Q8.8 format of [`crate::lab`].
#[derive(Clone, Copy, Debug)]
pub struct AbPlanes<'a> {
    pub width: usize,
    pub height: usize,
    pub a: &'a [i16],
    pub b: &'a [i16],
}

/// Scratch `i32`s that [`recombine_rows`] needs for a prediction this wide.
pub const fn scratch_len(ab_width: usize) -> usize {
    2 * ab_width
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
/// division per step (the quotient and remainder advance by constants): a
/// 128-bit division per output pixel was the recombination's largest cost.
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

/// Colourizes rows `y0 .. y0 + n` of an `out_width x out_height` image, where
/// `n = l_rows.len() / out_width`: `l_rows` holds their L* (Q8.8), `rgb`
/// receives `3 * l_rows.len()` bytes. `scratch` is at least
/// [`scratch_len`]`(ab.width)` long.
pub fn recombine_rows(
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
        return unsafe { recombine_rows_avx2(ab, out_width, out_height, y0, l_rows, rgb, scratch) };
    }
    recombine_rows_body(ab, out_width, out_height, y0, l_rows, rgb, scratch)
}

/// The same code compiled for AVX2 (x86_64 hosts that have it, detected
/// at run time): identical integer arithmetic, so identical results.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn recombine_rows_avx2(
    ab: &AbPlanes<'_>,
    out_width: usize,
    out_height: usize,
    y0: usize,
    l_rows: &[u16],
    rgb: &mut [u8],
    scratch: &mut [i32],
) {
    recombine_rows_body(ab, out_width, out_height, y0, l_rows, rgb, scratch)
}

#[inline(always)]
fn recombine_rows_body(
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
        "recombine_rows: a/b planes do not match {lw}x{lh}"
    );
    assert!(
        out_width > 0 && l_rows.len() % out_width == 0 && rgb.len() == 3 * l_rows.len(),
        "recombine_rows: band buffers do not match width {out_width}"
    );
    assert!(
        y0 + l_rows.len() / out_width <= out_height,
        "recombine_rows: band runs past the image"
    );
    assert!(
        scratch.len() >= scratch_len(lw),
        "recombine_rows: scratch too short"
    );
    let (sa, sb) = scratch[..2 * lw].split_at_mut(lw);

    // The x mapping is the same on every row: step through it incrementally.
    for (row, (l_row, rgb_row)) in l_rows
        .chunks_exact(out_width)
        .zip(rgb.chunks_exact_mut(3 * out_width))
        .enumerate()
    {
        let py = src_pos(y0 + row, lh, out_height);
        let yi = (py >> 32) as usize;
        let yj = (yi + 1).min(lh - 1);
        let wy = ((py >> 24) & 0xff) as i32;
        let (ra, rb) = (&ab.a[yi * lw..][..lw], &ab.a[yj * lw..][..lw]);
        for ((s, p), q) in sa.iter_mut().zip(ra).zip(rb) {
            *s = *p as i32 * (256 - wy) + *q as i32 * wy;
        }
        let (ra, rb) = (&ab.b[yi * lw..][..lw], &ab.b[yj * lw..][..lw]);
        for ((s, p), q) in sb.iter_mut().zip(ra).zip(rb) {
            *s = *p as i32 * (256 - wy) + *q as i32 * wy;
        }
        let mut xs = SrcSteps::new(lw, out_width);
        let ab_at = |xs: &mut SrcSteps| {
            let pxs = xs.next_pos();
            let xi = (pxs >> 32) as usize;
            let xj = (xi + 1).min(lw - 1);
            let wx = ((pxs >> 24) & 0xff) as i32;
            let a = (sa[xi] * (256 - wx) + sa[xj] * wx + (1 << 15)) >> 16;
            let b = (sb[xi] * (256 - wx) + sb[xj] * wx + (1 << 15)) >> 16;
            (a as i16, b as i16)
        };
        // Blocks of pixels through the block converter, the rest one by one.
        let full = out_width / LAB_BLOCK * LAB_BLOCK;
        let (mut ba, mut bb) = ([0i16; LAB_BLOCK], [0i16; LAB_BLOCK]);
        for (l, px) in l_row[..full]
            .chunks_exact(LAB_BLOCK)
            .zip(rgb_row[..3 * full].chunks_exact_mut(3 * LAB_BLOCK))
        {
            for (a, b) in ba.iter_mut().zip(bb.iter_mut()) {
                (*a, *b) = ab_at(&mut xs);
            }
            lab_block_to_rgb8(l.try_into().unwrap(), &ba, &bb, px.try_into().unwrap());
        }
        for (l, px) in l_row[full..]
            .iter()
            .zip(rgb_row[3 * full..].chunks_exact_mut(3))
        {
            let (a, b) = ab_at(&mut xs);
            px.copy_from_slice(&lab_to_rgb8(*l, a, b));
        }
    }
}

/// Rows [`colorize`] recombines per band: bounds the working set of one
/// step independently of the image height.
pub const BAND_ROWS: usize = 64;

/// Largest L* change (Q8.8) tolerated from out-of-gamut clipping before the
/// pixel's chroma is reduced: 0.5 L*, so the output keeps the input's
/// lightness within 1.0 L* everywhere.
const L_TOLERANCE: i32 = 128;

/// Full-resolution L* (`width x height`, Q8.8) plus a model's a*b* at its
/// own size -> sRGB8 (`3 * width * height` bytes): recombination band by
/// band, each band's lightness held ([`hold_lightness`]). The one colourize
/// step after the model, for the device, the trainer's `colorize` and its
/// sample images. `scratch` is at least [`scratch_len`]`(ab.width)` long.
pub fn colorize(
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
        recombine_rows(
            ab,
            width,
            height,
            band * BAND_ROWS,
            l_rows,
            rgb_rows,
            scratch,
        );
        hold_lightness(l_rows, rgb_rows);
    }
}

/// Where clipping an out-of-gamut colour moved L* by more than
/// [`L_TOLERANCE`], scales the pixel's chroma down (binary search, hue kept)
/// until the lightness is back: the user's tones matter more than saturation.
pub fn hold_lightness(l_rows: &[u16], rgb: &mut [u8]) {
    for (l, px) in l_rows.iter().zip(rgb.chunks_exact_mut(3)) {
        // L* alone decides; a* b* only for the few pixels that need them.
        if (rgb8_to_l(px[0], px[1], px[2]) as i32 - *l as i32).abs() <= L_TOLERANCE {
            continue;
        }
        let (_, a, b) = rgb8_to_lab(px[0], px[1], px[2]);
        let fits = |s: i32| {
            let c = lab_to_rgb8(*l, (a as i32 * s / 256) as i16, (b as i32 * s / 256) as i16);
            let l2 = rgb8_to_l(c[0], c[1], c[2]);
            ((l2 as i32 - *l as i32).abs() <= L_TOLERANCE).then_some(c)
        };
        // Zero chroma is gray, which always fits.
        let (mut lo, mut hi) = (0, 256);
        let mut best = fits(0).unwrap_or_else(|| lab_to_rgb8(*l, 0, 0));
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
        px.copy_from_slice(&best);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{gray8_to_l, rgb8_to_lab};

    fn run(ab: &AbPlanes<'_>, l: &[u16], w: usize, h: usize, band: usize) -> [u8; 3 * 64] {
        let mut rgb = [0u8; 3 * 64];
        let mut scratch = [0i32; 16];
        let mut y = 0;
        while y < h {
            let n = band.min(h - y);
            recombine_rows(
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
    fn bands_of_any_height_give_identical_output() {
        let pa = [0, 8000, -8000, 3000, 100, -200];
        let pb = [-5000, 0, 7000, 1200, -900, 4000];
        let ab = AbPlanes {
            width: 3,
            height: 2,
            a: &pa,
            b: &pb,
        };
        let lp: [u16; 64] = core::array::from_fn(|i| (i as u16) * 400);
        let whole = run(&ab, &lp, 8, 8, 8);
        for band in [1, 2, 3, 5] {
            assert_eq!(run(&ab, &lp, 8, 8, band), whole, "band {band}");
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
        let mut rgb = [0u8; 24];
        let mut scratch = [0i32; 4];
        recombine_rows(&ab, 8, 1, 0, &l, &mut rgb, &mut scratch);
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
        let mut rgb = [0u8; 3 * 37 * 5];
        let mut scratch = [0i32; 6];
        recombine_rows(&ab, w, h, 0, &l, &mut rgb, &mut scratch);
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
                let want = lab_to_rgb8(l[y * w + x], a as i16, b as i16);
                let i = 3 * (y * w + x);
                assert_eq!(rgb[i..i + 3], want, "pixel {x},{y}");
            }
        }
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
        recombine_rows(&ab, 2, 1, 0, &[0; 2], &mut [0; 6], &mut [0; 7]);
    }
}
