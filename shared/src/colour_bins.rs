//! The a*b* colour bins of a distribution head (Zhang, Isola & Efros 2016),
//! and the annealed-mean decode that turns a predicted distribution into one
//! a*b* per pixel. Trainer and device both use these, so a model's output
//! channel q means the same colour on both sides.
//!
//! - Bins: the 10 x 10 Lab-unit cells (centres on multiples of 10) that some
//!   sRGB8 colour falls into, through this crate's own fixed-point Lab. The
//!   set depends on nothing but the colour space, so it needs no data and
//!   cannot drift between trainer and device.
//! - Decode: softmax(logits / T), then the expectation over bin centres.
//!   T = 1 is the plain mean (close to regression: faithful, highest PSNR);
//!   small T approaches the mode (vivid).

use std::sync::OnceLock;
use std::vec::Vec;

use crate::lab::{rgb8_to_lab, LAB_ONE};

/// Side of a bin in Lab units.
pub const BIN_STEP: i32 = 10;

/// Bin centres (a*, b*) in Lab units, in a fixed order: b* major, a* minor,
/// both ascending.
pub fn bins() -> &'static [[f32; 2]] {
    static BINS: OnceLock<Vec<[f32; 2]>> = OnceLock::new();
    BINS.get_or_init(|| {
        // Centres from -130 to 130 cover every sRGB a*, b* (-87..99, -108..95).
        const N: usize = 27;
        let mut hit = [[false; N]; N];
        // Every 3rd code value plus 255: the extremes of the gamut (pure
        // primaries and secondaries) are corners of the cube, included.
        let codes: Vec<u8> = (0..=255u8).step_by(3).chain([255]).collect();
        for &r in &codes {
            for &g in &codes {
                for &b in &codes {
                    let (_, a, bb) = rgb8_to_lab(r, g, b);
                    hit[cell(bb as i32)][cell(a as i32)] = true;
                }
            }
        }
        let mut out = Vec::new();
        for (bi, row) in hit.iter().enumerate() {
            for (ai, &h) in row.iter().enumerate() {
                if h {
                    out.push([centre(ai), centre(bi)]);
                }
            }
        }
        out
    })
}

/// Cell index of a Q8.8 a* or b* (centre = 10 x (index - 13)).
fn cell(v: i32) -> usize {
    let units = v as f32 / LAB_ONE as f32;
    ((units / BIN_STEP as f32).round() as i32 + 13).clamp(0, 26) as usize
}

fn centre(i: usize) -> f32 {
    ((i as i32 - 13) * BIN_STEP) as f32
}

/// The bin of a Q8.8 (a*, b*): the bin of its 10 x 10 cell where that cell
/// is in the gamut, else the nearest bin to the cell's centre. A table
/// lookup, for per-pixel statistics over whole training sets.
pub fn bin_of(a: i16, b: i16) -> usize {
    static TABLE: OnceLock<[[u16; 27]; 27]> = OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = [[0u16; 27]; 27];
        for (bi, row) in t.iter_mut().enumerate() {
            for (ai, v) in row.iter_mut().enumerate() {
                *v = nearest_bin(centre(ai), centre(bi)) as u16;
            }
        }
        t
    });
    t[cell(b as i32)][cell(a as i32)] as usize
}

/// The bin nearest to (a*, b*) in Lab units.
pub fn nearest_bin(a: f32, b: f32) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (q, c) in bins().iter().enumerate() {
        let d = (c[0] - a).powi(2) + (c[1] - b).powi(2);
        if d < best.0 {
            best = (d, q);
        }
    }
    best.1
}

/// Vividness V in 0..=1 (the user's setting) -> annealing temperature:
/// T = 10^(-V), so V = 0 is the mean (T = 1) and V = 1 is T = 0.1, close to
/// the most likely colour. Zhang et al.'s T = 0.38 is V = 0.42.
pub fn vividness_to_temperature(v: f32) -> f32 {
    10f32.powf(-v.clamp(0.0, 1.0))
}

/// Annealed mean of one pixel's logits (one per bin, in [`bins`] order):
/// (a*, b*) in Lab units.
pub fn annealed_mean(logits: &[f32], temperature: f32) -> (f32, f32) {
    let centres = bins();
    assert_eq!(logits.len(), centres.len(), "one logit per bin");
    let inv_t = 1.0 / temperature.max(1e-3);
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut a, mut b) = (0.0f32, 0.0f32, 0.0f32);
    for (&z, c) in logits.iter().zip(centres) {
        let w = ((z - max) * inv_t).exp();
        sum += w;
        a += w * c[0];
        b += w * c[1];
    }
    (a / sum, b / sum)
}

/// Decodes planar logits `[Q, h * w]` (Q = number of bins) into Q8.8 a*, b*
/// planes of `h * w`.
pub fn decode_planes(logits: &[f32], temperature: f32, a: &mut [i16], b: &mut [i16]) {
    let q = bins().len();
    let px = a.len();
    assert_eq!(b.len(), px);
    assert_eq!(logits.len(), q * px, "logits must be [bins, pixels]");
    let mut z = std::vec![0f32; q];
    for i in 0..px {
        for (k, v) in z.iter_mut().enumerate() {
            *v = logits[k * px + i];
        }
        let (pa, pb) = annealed_mean(&z, temperature);
        let q88 = |v: f32| {
            (v * LAB_ONE as f32)
                .round()
                .clamp(i16::MIN as f32, i16::MAX as f32) as i16
        };
        a[i] = q88(pa);
        b[i] = q88(pb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_the_srgb_gamut_and_only_it() {
        let b = bins();
        // Zhang et al. report 313 in-gamut bins; the count depends on the
        // gamut test, but it must be in that region and contain gray.
        assert!((250..=330).contains(&b.len()), "{} bins", b.len());
        assert_eq!(
            b.len(),
            crate::contract::AB_BINS,
            "the contract's channel count"
        );
        assert!(b.contains(&[0.0, 0.0]));
        // Pure blue (b* about -108) and a far-out corner that no sRGB colour reaches.
        assert!(b.iter().any(|c| c[1] <= -100.0));
        assert!(!b.contains(&[-120.0, -120.0]));
        // Every sRGB8 colour's nearest bin is within half a diagonal.
        for (r, g, bl) in [
            (255, 0, 0),
            (0, 255, 0),
            (0, 0, 255),
            (255, 255, 0),
            (12, 200, 180),
        ] {
            let (_, a, bb) = rgb8_to_lab(r, g, bl);
            let (a, bb) = (a as f32 / 256.0, bb as f32 / 256.0);
            let c = b[nearest_bin(a, bb)];
            assert!((c[0] - a).hypot(c[1] - bb) <= 7.1, "({r},{g},{bl})");
        }
    }

    #[test]
    fn bin_of_matches_nearest_bin_inside_the_gamut() {
        for (r, g, bl) in [
            (255, 0, 0),
            (0, 255, 0),
            (0, 0, 255),
            (90, 60, 30),
            (128, 128, 128),
        ] {
            let (_, a, b) = rgb8_to_lab(r, g, bl);
            let n = nearest_bin(a as f32 / 256.0, b as f32 / 256.0);
            assert_eq!(bin_of(a, b), n, "({r},{g},{bl})");
        }
    }

    #[test]
    fn annealing_moves_from_the_mean_to_the_mode() {
        let b = bins();
        let red = nearest_bin(60.0, 40.0);
        let green = nearest_bin(-60.0, 50.0);
        let mut z = std::vec![-30.0f32; b.len()];
        z[red] = 1.0;
        z[green] = 0.0;
        let (pr, pg) = (1f32.exp() / (1f32.exp() + 1.0), 1.0 / (1f32.exp() + 1.0));
        let (a, _) = annealed_mean(&z, 1.0);
        assert!((a - (pr * b[red][0] + pg * b[green][0])).abs() < 0.01);
        let (a_vivid, _) = annealed_mean(&z, vividness_to_temperature(1.0));
        assert!((a_vivid - b[red][0]).abs() < 0.01, "{a_vivid}");
    }

    #[test]
    fn planes_decode_per_pixel() {
        let q = bins().len();
        let g = nearest_bin(0.0, 0.0);
        let y = nearest_bin(0.0, 80.0);
        let mut logits = std::vec![-50.0f32; q * 2];
        logits[g * 2] = 10.0; // pixel 0: gray
        logits[y * 2 + 1] = 10.0; // pixel 1: yellow
        let (mut a, mut b) = ([0i16; 2], [0i16; 2]);
        decode_planes(&logits, 1.0, &mut a, &mut b);
        assert_eq!((a[0], b[0]), (0, 0));
        assert_eq!((a[1], b[1]), (0, 80 * 256));
    }
}
