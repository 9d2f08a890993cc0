//! Dataset metrics shared by `colorize-train eval` and `colorize eval`, so the
//! two print the same numbers for the same predictions.
//!
//! - PSNR on sRGB8 (all three channels), averaged over images;
//! - the same for "predict gray" (the truth's L* with a* = b* = 0), and the gain;
//! - colourfulness (Hasler & Suesstrunk 2003) of prediction and truth, averaged
//!   over images, and their ratio (under 1 means desaturated);
//! - AuC of the per-pixel a*b* error: the share of pixels whose Euclidean a*b*
//!   error is <= t, averaged over t = 0, 1, ..., 150 (1.0 is perfect).
//!
//! Truth images that are grayscale or near-monochrome (mean a*b* chroma below
//! [`GRAY_CHROMA_THRESHOLD`]) are counted and left out: "predict gray" scores
//! a capped 100 dB on them, and a few percent of such images (Tiny ImageNet
//! has them) would swamp every average.

use std::string::String;

use crate::lab::{lab_to_rgb8, rgb8_to_lab};

/// Largest a*b* error threshold of the AuC.
pub const AUC_MAX_THRESHOLD: usize = 150;

/// Truth images whose mean a*b* chroma (Lab units) is below this are skipped
/// as gray. The trainer's `--gray-threshold` defaults to the same value.
pub const GRAY_CHROMA_THRESHOLD: f64 = 3.0;

/// Mean a*b* chroma of an interleaved sRGB8 image, in Lab units.
pub fn mean_chroma(rgb: &[u8]) -> f64 {
    let n = rgb.len() / 3;
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = rgb
        .chunks_exact(3)
        .map(|p| {
            let (_, a, b) = rgb8_to_lab(p[0], p[1], p[2]);
            (a as f64).hypot(b as f64) / 256.0
        })
        .sum();
    sum / n as f64
}

/// PSNR of two equal-length sRGB8 buffers, capped at 100 dB when identical.
pub fn psnr_rgb8(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr_rgb8: length mismatch");
    let se: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = *x as i64 - *y as i64;
            (d * d) as u64
        })
        .sum();
    if se == 0 {
        return 100.0;
    }
    let mse = se as f64 / a.len() as f64;
    (10.0 * (255.0 * 255.0 / mse).log10()).min(100.0)
}

/// Hasler-Suesstrunk colourfulness of an interleaved sRGB8 image.
pub fn colourfulness(rgb: &[u8]) -> f64 {
    let n = (rgb.len() / 3) as f64;
    if n == 0.0 {
        return 0.0;
    }
    let (mut s_rg, mut s_yb, mut q_rg, mut q_yb) = (0.0, 0.0, 0.0, 0.0);
    for px in rgb.chunks_exact(3) {
        let (r, g, b) = (px[0] as f64, px[1] as f64, px[2] as f64);
        let rg = r - g;
        let yb = 0.5 * (r + g) - b;
        s_rg += rg;
        s_yb += yb;
        q_rg += rg * rg;
        q_yb += yb * yb;
    }
    let (m_rg, m_yb) = (s_rg / n, s_yb / n);
    let var_rg = (q_rg / n - m_rg * m_rg).max(0.0);
    let var_yb = (q_yb / n - m_yb * m_yb).max(0.0);
    (var_rg + var_yb).sqrt() + 0.3 * (m_rg * m_rg + m_yb * m_yb).sqrt()
}

/// a* (b*) below minus this many Lab units counts as a green (blue) pixel in
/// [`ImageScores`].
pub const HUE_SIDE_THRESHOLD: f64 = 5.0;

/// One image's scores.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageScores {
    pub psnr: f64,
    /// PSNR of "predict gray" (the truth's L*, a* = b* = 0).
    pub psnr_gray: f64,
    pub colourfulness_pred: f64,
    pub colourfulness_truth: f64,
    /// Shares of pixels on the green (a* < -5) and blue (b* < -5) sides of
    /// gray, in the truth and in the prediction.
    pub green_truth: f64,
    pub green_pred: f64,
    pub blue_truth: f64,
    pub blue_pred: f64,
    /// Mean a* and b* (Lab units) of the truth and of the prediction: a
    /// colour cast shows as the prediction's mean away from the truth's.
    pub mean_a_truth: f64,
    pub mean_b_truth: f64,
    pub mean_a_pred: f64,
    pub mean_b_pred: f64,
}

/// Accumulates metrics over (truth, prediction) image pairs.
#[derive(Clone, Debug, Default)]
pub struct EvalAccumulator {
    images: usize,
    skipped_gray: usize,
    psnr: f64,
    psnr_gray: f64,
    colour_pred: f64,
    colour_truth: f64,
    /// `err_hist[t]`: pixels whose a*b* error rounds up to `t`; last bin = more.
    err_hist: std::vec::Vec<u64>,
}

impl EvalAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one image: the truth and the prediction, both interleaved sRGB8.
    /// Returns false, and only counts it, when the truth is gray.
    pub fn add(&mut self, truth: &[u8], pred: &[u8]) -> bool {
        self.add_scored(truth, pred).is_some()
    }

    /// [`EvalAccumulator::add`], returning the image's own scores (`None`
    /// for a gray truth).
    pub fn add_scored(&mut self, truth: &[u8], pred: &[u8]) -> Option<ImageScores> {
        assert_eq!(
            truth.len(),
            pred.len(),
            "EvalAccumulator::add: size mismatch"
        );
        if mean_chroma(truth) < GRAY_CHROMA_THRESHOLD {
            self.skipped_gray += 1;
            return None;
        }
        if self.err_hist.is_empty() {
            self.err_hist.resize(AUC_MAX_THRESHOLD + 2, 0);
        }
        let mut gray = std::vec![0u8; truth.len()];
        let neg = -(HUE_SIDE_THRESHOLD * 256.0) as i32;
        let mut sides = [0usize; 4];
        // Sums of a* and b* in Q8.8: truth a, truth b, prediction a, b.
        let mut sums = [0i64; 4];
        for ((t, p), g) in truth
            .chunks_exact(3)
            .zip(pred.chunks_exact(3))
            .zip(gray.chunks_exact_mut(3))
        {
            let (tl, ta, tb) = rgb8_to_lab(t[0], t[1], t[2]);
            let (_, pa, pb) = rgb8_to_lab(p[0], p[1], p[2]);
            g.copy_from_slice(&lab_to_rgb8(tl, 0, 0));
            let da = (pa as f64 - ta as f64) / 256.0;
            let db = (pb as f64 - tb as f64) / 256.0;
            let bin = ((da * da + db * db).sqrt().ceil() as usize).min(AUC_MAX_THRESHOLD + 1);
            self.err_hist[bin] += 1;
            for (k, v) in [ta, pa, tb, pb].into_iter().enumerate() {
                sides[k] += ((v as i32) < neg) as usize;
            }
            for (s, v) in sums.iter_mut().zip([ta, tb, pa, pb]) {
                *s += v as i64;
            }
        }
        let n = (truth.len() / 3).max(1) as f64;
        let scores = ImageScores {
            psnr: psnr_rgb8(truth, pred),
            psnr_gray: psnr_rgb8(truth, &gray),
            colourfulness_pred: colourfulness(pred),
            colourfulness_truth: colourfulness(truth),
            green_truth: sides[0] as f64 / n,
            green_pred: sides[1] as f64 / n,
            blue_truth: sides[2] as f64 / n,
            blue_pred: sides[3] as f64 / n,
            mean_a_truth: sums[0] as f64 / n / 256.0,
            mean_b_truth: sums[1] as f64 / n / 256.0,
            mean_a_pred: sums[2] as f64 / n / 256.0,
            mean_b_pred: sums[3] as f64 / n / 256.0,
        };
        self.images += 1;
        self.psnr += scores.psnr;
        self.psnr_gray += scores.psnr_gray;
        self.colour_pred += scores.colourfulness_pred;
        self.colour_truth += scores.colourfulness_truth;
        Some(scores)
    }

    pub fn summary(&self) -> EvalSummary {
        let n = self.images.max(1) as f64;
        let total: u64 = self.err_hist.iter().sum();
        let mut within = 0u64;
        let mut auc = 0.0;
        for t in 0..=AUC_MAX_THRESHOLD {
            within += self.err_hist.get(t).copied().unwrap_or(0);
            auc += within as f64 / total.max(1) as f64;
        }
        let (psnr, psnr_gray) = (self.psnr / n, self.psnr_gray / n);
        let (cp, ct) = (self.colour_pred / n, self.colour_truth / n);
        EvalSummary {
            images: self.images,
            skipped_gray: self.skipped_gray,
            psnr,
            psnr_gray,
            psnr_gain: psnr - psnr_gray,
            colourfulness_pred: cp,
            colourfulness_truth: ct,
            colourfulness_ratio: if ct > 0.0 { cp / ct } else { 0.0 },
            auc: auc / (AUC_MAX_THRESHOLD + 1) as f64,
        }
    }
}

/// The metric summary both eval commands print.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalSummary {
    pub images: usize,
    /// Truth images left out as gray (see [`GRAY_CHROMA_THRESHOLD`]).
    pub skipped_gray: usize,
    pub psnr: f64,
    pub psnr_gray: f64,
    pub psnr_gain: f64,
    pub colourfulness_pred: f64,
    pub colourfulness_truth: f64,
    pub colourfulness_ratio: f64,
    pub auc: f64,
}

impl EvalSummary {
    /// One JSON object, fields in a fixed order.
    pub fn to_json(&self) -> String {
        std::format!(
            "{{\"images\": {}, \"skipped_gray\": {}, \"psnr\": {:.4}, \"psnr_gray\": {:.4}, \"psnr_gain\": {:.4}, \
             \"colourfulness_pred\": {:.4}, \"colourfulness_truth\": {:.4}, \
             \"colourfulness_ratio\": {:.4}, \"auc\": {:.4}}}",
            self.images,
            self.skipped_gray,
            self.psnr,
            self.psnr_gray,
            self.psnr_gain,
            self.colourfulness_pred,
            self.colourfulness_truth,
            self.colourfulness_ratio,
            self.auc
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_truth_is_counted_not_scored() {
        let gray = [90u8, 90, 90, 200, 200, 200];
        assert_eq!(mean_chroma(&gray), 0.0);
        let mut acc = EvalAccumulator::new();
        assert!(!acc.add(&gray, &[255, 0, 0, 0, 255, 0]));
        let s = acc.summary();
        assert_eq!((s.images, s.skipped_gray), (0, 1));
        // Pure red has chroma ~104.6 (a* 80.1, b* 67.2).
        assert!((mean_chroma(&[255, 0, 0]) - 104.55).abs() < 0.2);
    }

    #[test]
    fn psnr_known_values() {
        assert_eq!(psnr_rgb8(&[1, 2, 3], &[1, 2, 3]), 100.0);
        // MSE 1 -> 48.13 dB.
        let p = psnr_rgb8(&[10, 10, 10], &[11, 9, 11]);
        assert!((p - 48.1308).abs() < 1e-3, "{p}");
    }

    #[test]
    fn colourfulness_of_gray_is_zero_and_of_colour_positive() {
        assert_eq!(colourfulness(&[7, 7, 7, 200, 200, 200]), 0.0);
        // Pure red: rg = 255, yb = 127.5, no variance: 0.3 * |(255, 127.5)|.
        let c = colourfulness(&[255, 0, 0, 255, 0, 0]);
        assert!((c - 0.3 * (255f64.powi(2) + 127.5f64.powi(2)).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn perfect_prediction_scores_perfectly_and_gray_scores_the_baseline() {
        let truth: std::vec::Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(37)).collect();
        let mut acc = EvalAccumulator::new();
        assert!(acc.add(&truth, &truth));
        let s = acc.summary();
        assert_eq!(s.psnr, 100.0);
        assert!((s.colourfulness_ratio - 1.0).abs() < 1e-12);
        assert_eq!(s.auc, 1.0);

        let gray: std::vec::Vec<u8> = truth
            .chunks_exact(3)
            .flat_map(|p| lab_to_rgb8(rgb8_to_lab(p[0], p[1], p[2]).0, 0, 0))
            .collect();
        let mut acc = EvalAccumulator::new();
        acc.add(&truth, &gray);
        let s = acc.summary();
        assert!(s.psnr_gain.abs() < 1e-12, "predicting gray gains nothing");
        assert_eq!(s.colourfulness_pred, 0.0);
        assert!(s.auc < 1.0);
        let json = s.to_json();
        for key in [
            "images",
            "skipped_gray",
            "psnr",
            "psnr_gray",
            "psnr_gain",
            "colourfulness_ratio",
            "auc",
        ] {
            assert!(json.contains(&std::format!("\"{key}\": ")), "{json}");
        }
    }

    #[test]
    fn green_and_blue_shares_count_the_negative_sides() {
        let truth = [0, 200, 0, 0, 0, 255];
        let red = [255, 0, 0, 255, 0, 0];
        let s = EvalAccumulator::new().add_scored(&truth, &red).unwrap();
        assert_eq!((s.green_truth, s.blue_truth), (0.5, 0.5));
        assert_eq!((s.green_pred, s.blue_pred), (0.0, 0.0));
        let s = EvalAccumulator::new().add_scored(&truth, &truth).unwrap();
        assert_eq!((s.green_pred, s.blue_pred), (0.5, 0.5));
        assert_eq!(s.psnr, 100.0);
    }

    #[test]
    fn mean_a_and_b_of_green_gray_and_mixed() {
        // Pure green: a* about -86, b* about +83; every pixel green.
        let green = [0u8, 255, 0].repeat(5000);
        let gray = [128u8; 3 * 5000];
        let s = EvalAccumulator::new().add_scored(&green, &gray).unwrap();
        assert_eq!(s.green_truth, 1.0);
        assert!((s.mean_a_truth + 86.2).abs() < 0.5, "{s:?}");
        assert!((s.mean_b_truth - 83.2).abs() < 0.5, "{s:?}");
        // Gray: a* = b* = 0 exactly.
        assert_eq!(
            (s.mean_a_pred, s.mean_b_pred, s.green_pred),
            (0.0, 0.0, 0.0)
        );
        // Half green, half red.
        let mut mixed = [0u8, 255, 0].repeat(4097);
        mixed.extend([255u8, 0, 0].repeat(4097));
        let s = EvalAccumulator::new().add_scored(&mixed, &mixed).unwrap();
        assert_eq!((s.green_truth, s.green_pred), (0.5, 0.5));
    }
}
