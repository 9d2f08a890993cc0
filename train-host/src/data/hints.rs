//! Colour hints drawn from the truth, as a person would give them: what a
//! hinted model learns from (`colorize-train train --hints`) and what its
//! validation scores.
//!
//! As in Zhang et al. 2017 ("Real-Time User-Guided Image Colorization"):
//! the number of points is geometric (p = 1/8: none in one sample of
//! eight, 7 on average), each point sits at a uniform position, and its
//! colour is the mean of the truth over a small patch (1x1 to 5x5 pixels),
//! so the model learns to follow a colour a person picked from a region
//! rather than one exact pixel. One point in eight covers a radius of one
//! hint cell, as a hint with a radius does.

use colorize_shared::contract::{hints_to_input, hints_to_pins, GridHint, AB_RANGE, HINT_CHANNELS};

use super::Rng;

/// How many points each image gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintCount {
    /// Geometric with p = 1/8, at most [`MAX_POINTS`] (training).
    Random,
    /// Exactly this many (evaluation: `random:N`).
    Fixed(usize),
}

/// The most points a training image gets (the device accepts 256).
pub const MAX_POINTS: usize = 64;

/// Hints drawn for a batch: each image's points on a `side x side` grid.
pub struct Drawn {
    pub points: Vec<Vec<GridHint>>,
    pub side: usize,
}

impl Drawn {
    /// The model's hints input (`[n, HINT_CHANNELS, side, side]`).
    pub fn input(&self) -> Vec<f32> {
        self.planes(hints_to_input)
    }

    /// The cells the decoded colours are pinned to, of the same shape
    /// (`colorize_shared::contract::hints_to_pins`, as on the device).
    pub fn pins(&self) -> Vec<f32> {
        self.planes(hints_to_pins)
    }

    fn planes(&self, plane: fn(&[GridHint], usize, usize, &mut [f32])) -> Vec<f32> {
        let per = HINT_CHANNELS * self.side * self.side;
        let mut out = vec![0f32; self.points.len() * per];
        for (points, out) in self.points.iter().zip(out.chunks_exact_mut(per)) {
            plane(points, self.side, self.side, out);
        }
        out
    }
}

/// Hints for a batch of truths `target` (`[n, 2, s, s]`, a*b* in the
/// contract's -1..1 units).
pub fn sample(
    target: &[f32],
    n: usize,
    s: usize,
    side: usize,
    count: HintCount,
    rng: &mut Rng,
) -> Drawn {
    assert_eq!(target.len(), n * 2 * s * s, "hints::sample: target length");
    let points = target
        .chunks_exact(2 * s * s)
        .map(|truth| {
            let k = match count {
                HintCount::Fixed(k) => k,
                HintCount::Random => {
                    let mut k = 0;
                    while k < MAX_POINTS && rng.below(8) != 0 {
                        k += 1;
                    }
                    k
                }
            };
            (0..k).map(|_| point(truth, s, side, rng)).collect()
        })
        .collect();
    Drawn { points, side }
}

/// One point on an `s x s` truth (`[2, s, s]`).
fn point(truth: &[f32], s: usize, side: usize, rng: &mut Rng) -> GridHint {
    let (px, py) = (rng.below(s), rng.below(s));
    let wide = rng.below(8) == 0;
    // A point's patch: 1x1 to 5x5 truth pixels; a wide one covers its
    // radius of one hint cell, (s / side) * 3 pixels across.
    let r = if wide {
        s / side + s / side / 2
    } else {
        rng.below(3)
    };
    let (x0, x1) = (px.saturating_sub(r), (px + r + 1).min(s));
    let (y0, y1) = (py.saturating_sub(r), (py + r + 1).min(s));
    let (mut a, mut b) = (0f32, 0f32);
    for y in y0..y1 {
        for x in x0..x1 {
            a += truth[y * s + x];
            b += truth[s * s + y * s + x];
        }
    }
    let cells = ((y1 - y0) * (x1 - x0)) as f32;
    let radius = if wide { 1.0 / side as f32 } else { 0.0 };
    GridHint {
        x: (px as f32 + 0.5) / s as f32,
        y: (py as f32 + 0.5) / s as f32,
        radius_x: radius,
        radius_y: radius,
        a: a / cells * AB_RANGE,
        b: b / cells * AB_RANGE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A truth whose left half is a* = 0.5, right half b* = -0.25.
    fn halves(s: usize) -> Vec<f32> {
        let mut t = vec![0f32; 2 * s * s];
        for y in 0..s {
            for x in 0..s {
                if x < s / 2 {
                    t[y * s + x] = 0.5;
                } else {
                    t[s * s + y * s + x] = -0.25;
                }
            }
        }
        t
    }

    #[test]
    fn fixed_points_carry_the_truth_where_they_fall() {
        let (s, side) = (64, 32);
        let truth = halves(s);
        let mut rng = Rng::new(3);
        let h = sample(&truth, 1, s, side, HintCount::Fixed(20), &mut rng).input();
        let (mask, a, b) = (
            &h[..side * side],
            &h[side * side..2 * side * side],
            &h[2 * side * side..],
        );
        let marked = mask.iter().filter(|&&m| m == 1.0).count();
        assert!((15..=20 * 9).contains(&marked), "{marked} cells marked");
        assert!(mask.iter().all(|&m| m == 0.0 || m == 1.0));
        // Away from the border between the halves a cell holds that half's
        // colour exactly.
        for y in 0..side {
            for x in (0..side).filter(|x| !(side / 2 - 3..side / 2 + 3).contains(x)) {
                let i = y * side + x;
                if mask[i] == 1.0 {
                    let want = if x < side / 2 {
                        (0.5, 0.0)
                    } else {
                        (0.0, -0.25)
                    };
                    assert!(
                        (a[i] - want.0).abs() < 1e-6 && (b[i] - want.1).abs() < 1e-6,
                        "cell {x},{y}"
                    );
                } else {
                    assert_eq!((a[i], b[i]), (0.0, 0.0));
                }
            }
        }
    }

    #[test]
    fn random_counts_are_mostly_small_and_often_none() {
        let (s, side, n) = (16, 8, 4000);
        let truth = vec![0.1f32; n * 2 * s * s];
        let mut rng = Rng::new(9);
        let h = sample(&truth, n, s, side, HintCount::Random, &mut rng).input();
        let per = HINT_CHANNELS * side * side;
        let none = h
            .chunks_exact(per)
            .filter(|c| c[..side * side].iter().all(|&m| m == 0.0))
            .count();
        // P(0) = 1/8 = 500 of 4000.
        assert!((380..620).contains(&none), "{none} samples without hints");
    }
}
