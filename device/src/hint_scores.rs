//! `colorize eval --hints random:N`: colour hints drawn from each truth as
//! the trainer draws them (`colorize-train`'s `data::hints`), and what the
//! model made of them: whether each hint is followed where it was given,
//! and how far its colour spreads over the region of the truth it belongs
//! to.
//!
//! A training image is 64 pixels across, so a trainer's patch of 1 to 5
//! pixels is 1/64 to 5/64 of the image: here a point's colour is the
//! truth's mean over a square of that share of the photo's longer side.

use colorize_io::hints::{in_gamut, PixelHint};
use colorize_shared::hash::fnv1a64;
use colorize_shared::lab::{rgb8_to_lab, LAB_ONE};

/// ΔE_ab within which a hint counts as followed at its point (3x3 mean).
pub const FOLLOWED: f32 = 6.0;
/// ΔE_ab within which a pixel counts as carrying a hint's colour, and the
/// truth's region of a hint is the pixels of its colour within this of it.
pub const SPREAD: f32 = 10.0;

/// SplitMix64, seeded by the file's name: the same points for the same
/// photo in every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn lab_at(rgb: &[u8], i: usize) -> [f32; 3] {
    let (l, a, b) = rgb8_to_lab(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
    let one = LAB_ONE as f32;
    [l as f32 / one, a as f32 / one, b as f32 / one]
}

fn delta_ab(p: [f32; 3], q: [f32; 3]) -> f32 {
    ((p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
}

/// `n` points on the `width x height` sRGB8 `truth`, drawn for the file
/// named `name`.
pub fn sample(truth: &[u8], width: usize, height: usize, n: usize, name: &str) -> Vec<PixelHint> {
    let mut rng = Rng(fnv1a64(name.as_bytes()) ^ n as u64);
    let unit = (width.max(height) / 64).max(1);
    (0..n)
        .map(|_| {
            let (x, y) = (rng.below(width), rng.below(height));
            let r = rng.below(3) * unit + unit / 2;
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(width));
            let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(height));
            let mut sum = [0f32; 3];
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let lab = lab_at(truth, yy * width + xx);
                    sum.iter_mut().zip(lab).for_each(|(s, v)| *s += v);
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as f32;
            PixelHint {
                x: x as f32,
                y: y as f32,
                radius: 0.0,
                lab: sum.map(|s| s / count),
            }
        })
        .collect()
}

/// What the hints of a set of photos came to.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HintStats {
    pub given: usize,
    /// Hints whose colour exists in sRGB at the image's lightness there.
    pub in_gamut: usize,
    /// In-gamut hints whose output (3x3 mean) is within [`FOLLOWED`].
    pub followed: usize,
    /// The sum over hints of the share of their truth region that came
    /// out within [`SPREAD`] of their colour.
    pub spread_sum: f64,
}

impl HintStats {
    pub fn add(&mut self, other: &HintStats) {
        self.given += other.given;
        self.in_gamut += other.in_gamut;
        self.followed += other.followed;
        self.spread_sum += other.spread_sum;
    }

    /// The share of in-gamut hints followed.
    pub fn fidelity(&self) -> f64 {
        self.followed as f64 / self.in_gamut.max(1) as f64
    }

    /// The mean share of a hint's truth region that carries its colour.
    pub fn spread(&self) -> f64 {
        self.spread_sum / self.given.max(1) as f64
    }
}

/// Measures `hints` on one photo: `truth` and `pred` sRGB8, `l` the L*
/// plane the model was given (Q8.8), all `width x height`.
pub fn measure(
    truth: &[u8],
    pred: &[u8],
    l: &[u16],
    width: usize,
    height: usize,
    hints: &[PixelHint],
) -> HintStats {
    let mut stats = HintStats::default();
    let mut seen = vec![false; width * height];
    let mut stack = Vec::new();
    for h in hints {
        let (x, y) = (h.x as usize, h.y as usize);
        stats.given += 1;
        if in_gamut(l[y * width + x], h) {
            stats.in_gamut += 1;
            let mut sum = [0f32; 3];
            let mut count = 0.0;
            for yy in y.saturating_sub(1)..(y + 2).min(height) {
                for xx in x.saturating_sub(1)..(x + 2).min(width) {
                    let lab = lab_at(pred, yy * width + xx);
                    sum.iter_mut().zip(lab).for_each(|(s, v)| *s += v);
                    count += 1.0;
                }
            }
            if delta_ab(sum.map(|s| s / count), h.lab) <= FOLLOWED {
                stats.followed += 1;
            }
        }
        // The truth's region of the hint: the pixels connected to it whose
        // true colour is within SPREAD of the hint's.
        seen.fill(false);
        stack.clear();
        stack.push(y * width + x);
        seen[y * width + x] = true;
        let (mut region, mut carried) = (0usize, 0usize);
        while let Some(i) = stack.pop() {
            if delta_ab(lab_at(truth, i), h.lab) > SPREAD {
                continue;
            }
            region += 1;
            if delta_ab(lab_at(pred, i), h.lab) <= SPREAD {
                carried += 1;
            }
            let (px, py) = (i % width, i / width);
            let mut visit = |j: usize| {
                if !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if px > 0 {
                visit(i - 1);
            }
            if px + 1 < width {
                visit(i + 1);
            }
            if py > 0 {
                visit(i - width);
            }
            if py + 1 < height {
                visit(i + width);
            }
        }
        stats.spread_sum += if region == 0 {
            0.0
        } else {
            carried as f64 / region as f64
        };
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40x20 image, left half green, right half gray.
    fn halves() -> Vec<u8> {
        (0..40 * 20)
            .flat_map(|i| {
                if i % 40 < 20 {
                    [40, 160, 40]
                } else {
                    [128, 128, 128]
                }
            })
            .collect()
    }

    #[test]
    fn followed_and_spread_are_measured_against_the_truth() {
        let truth = halves();
        let l: Vec<u16> = (0..800)
            .map(|i| lab_at(&truth, i)[0] as u16 * 256)
            .collect();
        let green = lab_at(&truth, 0);
        let hint = PixelHint {
            x: 5.0,
            y: 5.0,
            radius: 0.0,
            lab: green,
        };
        // The truth itself: followed, and the whole green half carries it.
        let s = measure(&truth, &truth, &l, 40, 20, std::slice::from_ref(&hint));
        assert_eq!((s.given, s.in_gamut, s.followed), (1, 1, 1));
        assert!((s.spread() - 1.0).abs() < 1e-9);
        // Gray everywhere: not followed, nothing carried.
        let gray = vec![128u8; 3 * 800];
        let s = measure(&truth, &gray, &l, 40, 20, std::slice::from_ref(&hint));
        assert_eq!((s.followed, s.spread_sum), (0, 0.0));
        // Green on a quarter of the half: a quarter spread.
        let mut part = gray.clone();
        for i in (0..800).filter(|i| i % 40 < 10 && i / 40 < 10) {
            part[3 * i..3 * i + 3].copy_from_slice(&[40, 160, 40]);
        }
        let s = measure(&truth, &part, &l, 40, 20, &[hint]);
        assert_eq!(s.followed, 1);
        assert!((s.spread() - 0.25).abs() < 1e-9, "{}", s.spread());
    }

    #[test]
    fn samples_are_the_truths_colours_and_repeat_per_name() {
        let truth = halves();
        let a = sample(&truth, 40, 20, 30, "x.jpg");
        assert_eq!(a, sample(&truth, 40, 20, 30, "x.jpg"));
        assert_ne!(a, sample(&truth, 40, 20, 30, "y.jpg"));
        for h in &a {
            assert!(h.x < 40.0 && h.y < 20.0);
            // Away from the border a point is exactly its half's colour.
            if h.x < 17.0 {
                assert!(delta_ab(h.lab, lab_at(&truth, 0)) < 0.01);
            }
        }
    }
}
