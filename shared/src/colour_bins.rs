//! The a*b* colour bins of a distribution head (Zhang, Isola & Efros 2016),
//! and the annealed-mean decode that turns a predicted distribution into one
//! a*b* per pixel. Trainer and device both use these, so a model's output
//! channel q means the same colour on both sides.
//!
//! - Bins: the 10 x 10 Lab-unit cells (centres on multiples of 10) that some
//!   sRGB8 colour falls into, through this crate's own fixed-point Lab. The
//!   set depends on nothing but the colour space, so it needs no data and
//!   cannot drift between trainer and device.
//! - Decode: softmax((logits - offsets) / T), then the expectation over bin
//!   centres. T = 1 is the plain mean (close to regression: faithful,
//!   highest PSNR); small T approaches the mode (vivid). The offsets take a
//!   class-rebalanced head's weights back out ([`BinDecoding`]).

use std::string::String;
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

/// Temperature at vividness 1 of a model whose card names none: T = 0.1,
/// close to the most likely colour (the mapping of the first distribution
/// heads, T = 10^(-V)).
pub const DEFAULT_VIVID_TEMPERATURE: f32 = 0.1;

/// What a distribution head's card says about decoding it, besides the
/// bins: how the user's vividness V in 0..=1 becomes an [`Annealing`].
///
/// A head trained with class rebalancing (Zhang et al.) learns
/// p(q | x) w_q / Z, not p(q | x): its rare, saturated bins are inflated by
/// their weight w_q. Subtracting alpha ln w_q from the logits takes that back
/// out (alpha = 1: the data's own distribution, the faithful end; alpha = 0:
/// the rebalanced one, vivid). So V moves both knobs:
///
/// - alpha = 1 - V (0 when the card has no weights: nothing to take out);
/// - T = vivid_temperature^V, from 1 (the plain mean) at V = 0 to
///   `vivid_temperature` at V = 1.
#[derive(Clone, Debug, PartialEq)]
pub struct BinDecoding {
    /// ln w_q of the class-rebalancing weights the model was trained with,
    /// one per bin; `None` for a head trained without them.
    pub log_weights: Option<Vec<f32>>,
    /// T at V = 1, in (0, 1].
    pub vivid_temperature: f32,
}

impl Default for BinDecoding {
    fn default() -> Self {
        BinDecoding {
            log_weights: None,
            vivid_temperature: DEFAULT_VIVID_TEMPERATURE,
        }
    }
}

/// Temperature at vividness 1 of a head trained with class rebalancing:
/// its rebalanced distribution (alpha = 0) is vivid already, so V = 1 only
/// sharpens it towards the mode a little.
pub const REBALANCED_VIVID_TEMPERATURE: f32 = 0.5;

impl BinDecoding {
    /// A head trained with class-rebalancing weights w (`log_weights` = ln w).
    pub fn rebalanced(log_weights: Vec<f32>) -> Self {
        BinDecoding {
            log_weights: Some(log_weights),
            vivid_temperature: REBALANCED_VIVID_TEMPERATURE,
        }
    }

    /// Reads the card's values (`contract::meta::BIN_LOG_WEIGHTS`, space
    /// separated, and `contract::meta::VIVID_TEMPERATURE`); a missing entry
    /// takes its default, a malformed one is an error naming it.
    pub fn from_card(
        log_weights: Option<&str>,
        vivid_temperature: Option<&str>,
    ) -> Result<Self, String> {
        use crate::contract::meta;
        let log_weights = match log_weights {
            None => None,
            Some(text) => {
                let w: Vec<f32> = text
                    .split_ascii_whitespace()
                    .map(|v| v.parse::<f32>().ok().filter(|v| v.is_finite()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        std::format!(
                            "{} holds something other than finite numbers",
                            meta::BIN_LOG_WEIGHTS
                        )
                    })?;
                if w.len() != bins().len() {
                    return Err(std::format!(
                        "{} has {} values, the model has {} bins",
                        meta::BIN_LOG_WEIGHTS,
                        w.len(),
                        bins().len()
                    ));
                }
                Some(w)
            }
        };
        let vivid_temperature = match vivid_temperature {
            None => DEFAULT_VIVID_TEMPERATURE,
            Some(text) => text
                .trim()
                .parse::<f32>()
                .ok()
                .filter(|t| *t > 0.0 && *t <= 1.0)
                .ok_or_else(|| {
                    std::format!(
                        "{} is {text:?}, expected a number in (0, 1]",
                        meta::VIVID_TEMPERATURE
                    )
                })?,
        };
        Ok(BinDecoding {
            log_weights,
            vivid_temperature,
        })
    }

    /// The card entries [`BinDecoding::from_card`] reads back (the weights
    /// with 5 decimals: well below what moves a decoded colour).
    pub fn card_entries(&self) -> Vec<(&'static str, String)> {
        use crate::contract::meta;
        let mut out = std::vec![(
            meta::VIVID_TEMPERATURE,
            std::format!("{}", self.vivid_temperature)
        )];
        if let Some(w) = &self.log_weights {
            let text: Vec<String> = w.iter().map(|v| std::format!("{v:.5}")).collect();
            out.push((meta::BIN_LOG_WEIGHTS, text.join(" ")));
        }
        out
    }

    /// The decode at vividness `v` (clamped to 0..=1).
    pub fn annealing(&self, v: f32) -> Annealing {
        let v = v.clamp(0.0, 1.0);
        let alpha = 1.0 - v;
        Annealing {
            offsets: match &self.log_weights {
                Some(w) if alpha > 0.0 => w.iter().map(|lw| alpha * lw).collect(),
                _ => Vec::new(),
            },
            temperature: self.vivid_temperature.powf(v),
        }
    }
}

/// One decode setting: each pixel's colour is the expectation of the bin
/// centres under softmax((z_q - offsets_q) / temperature).
#[derive(Clone, Debug, PartialEq)]
pub struct Annealing {
    /// Subtracted from the logits, one per bin; empty for none.
    pub offsets: Vec<f32>,
    pub temperature: f32,
}

impl Annealing {
    /// The plain annealed mean at `temperature`, no offsets.
    pub fn plain(temperature: f32) -> Self {
        Annealing {
            offsets: Vec::new(),
            temperature,
        }
    }
}

/// Annealed mean of one pixel's logits (one per bin, in [`bins`] order):
/// (a*, b*) in Lab units.
pub fn annealed_mean(logits: &[f32], annealing: &Annealing) -> (f32, f32) {
    let centres = bins();
    assert_eq!(logits.len(), centres.len(), "one logit per bin");
    let inv_t = 1.0 / annealing.temperature.max(1e-3);
    let offset = |q: usize| annealing.offsets.get(q).copied().unwrap_or(0.0);
    let max = logits
        .iter()
        .enumerate()
        .map(|(q, &z)| z - offset(q))
        .fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut a, mut b) = (0.0f32, 0.0f32, 0.0f32);
    for (q, (&z, c)) in logits.iter().zip(centres).enumerate() {
        let w = ((z - offset(q) - max) * inv_t).exp();
        sum += w;
        a += w * c[0];
        b += w * c[1];
    }
    (a / sum, b / sum)
}

/// Decodes planar logits `[Q, h * w]` (Q = number of bins) into Q8.8 a*, b*
/// planes of `h * w`.
pub fn decode_planes(logits: &[f32], annealing: &Annealing, a: &mut [i16], b: &mut [i16]) {
    let q = bins().len();
    let px = a.len();
    assert_eq!(b.len(), px);
    assert_eq!(logits.len(), q * px, "logits must be [bins, pixels]");
    assert!(
        annealing.offsets.is_empty() || annealing.offsets.len() == q,
        "one offset per bin"
    );
    let mut z = std::vec![0f32; q];
    for i in 0..px {
        for (k, v) in z.iter_mut().enumerate() {
            *v = logits[k * px + i];
        }
        let (pa, pb) = annealed_mean(&z, annealing);
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
        let (a, _) = annealed_mean(&z, &Annealing::plain(1.0));
        assert!((a - (pr * b[red][0] + pg * b[green][0])).abs() < 0.01);
        let (a_vivid, _) = annealed_mean(&z, &BinDecoding::default().annealing(1.0));
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
        decode_planes(&logits, &Annealing::plain(1.0), &mut a, &mut b);
        assert_eq!((a[0], b[0]), (0, 0));
        assert_eq!((a[1], b[1]), (0, 80 * 256));
    }

    #[test]
    fn default_decoding_is_the_old_temperature_mapping() {
        let d = BinDecoding::default();
        for v in [0.0f32, 0.25, 0.5, 1.0] {
            let a = d.annealing(v);
            assert!(a.offsets.is_empty());
            assert!((a.temperature - 10f32.powf(-v)).abs() < 1e-6, "V {v}");
        }
    }

    #[test]
    fn faithful_end_takes_the_rebalancing_weights_back_out() {
        // A head trained with weights w learns p w / Z: feed it exactly that
        // and V = 0 must give the mean under p, V = 1 the one under p w.
        let b = bins();
        let (red, green) = (nearest_bin(60.0, 40.0), nearest_bin(-60.0, 50.0));
        let mut p = std::vec![1e-9f32; b.len()];
        p[red] = 0.8;
        p[green] = 0.2;
        let mut lw = std::vec![0f32; b.len()];
        lw[green] = 4f32.ln(); // green is rare: weight 4
        let z: Vec<f32> = p.iter().zip(&lw).map(|(p, l)| p.ln() + l).collect();
        let d = BinDecoding {
            log_weights: Some(lw),
            vivid_temperature: 1.0,
        };
        let (a0, _) = annealed_mean(&z, &d.annealing(0.0));
        let want0 = 0.8 * b[red][0] + 0.2 * b[green][0];
        assert!((a0 - want0).abs() < 0.01, "{a0} vs {want0}");
        let (a1, _) = annealed_mean(&z, &d.annealing(1.0));
        let want1 = (0.8 * b[red][0] + 0.8 * b[green][0]) / 1.6;
        assert!((a1 - want1).abs() < 0.01, "{a1} vs {want1}");
        // Halfway takes half of ln w out, at the geometric-mean temperature.
        let half = d.annealing(0.5);
        assert!((half.offsets[green] - 0.5 * 4f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn card_entries_read_back() {
        let lw: Vec<f32> = (0..bins().len()).map(|q| (q as f32 * 0.37).sin()).collect();
        let d = BinDecoding {
            log_weights: Some(lw.clone()),
            vivid_temperature: 0.4,
        };
        let e = d.card_entries();
        let get = |k: &str| e.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        let back = BinDecoding::from_card(
            get(crate::contract::meta::BIN_LOG_WEIGHTS),
            get(crate::contract::meta::VIVID_TEMPERATURE),
        )
        .unwrap();
        assert_eq!(back.vivid_temperature, 0.4);
        for (x, y) in back.log_weights.unwrap().iter().zip(&lw) {
            assert!((x - y).abs() <= 5e-6, "{x} vs {y}");
        }
        assert_eq!(
            BinDecoding::from_card(None, None).unwrap(),
            BinDecoding::default()
        );
    }

    #[test]
    fn malformed_cards_are_errors_that_name_the_key() {
        let short = "0.1 0.2";
        let e = BinDecoding::from_card(Some(short), None).unwrap_err();
        assert!(
            e.contains("bin_log_weights") && e.contains("2 values"),
            "{e}"
        );
        let nan: Vec<&str> = std::vec!["NaN"; bins().len()];
        assert!(BinDecoding::from_card(Some(&nan.join(" ")), None).is_err());
        for t in ["0", "1.5", "-0.2", "warm"] {
            let e = BinDecoding::from_card(None, Some(t)).unwrap_err();
            assert!(e.contains("vivid_temperature"), "{e}");
        }
    }
}
