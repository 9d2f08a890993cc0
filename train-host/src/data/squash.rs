//! Photo-shaped crops: a photograph of any aspect ratio reaches the model
//! squashed into its square input (the device box-filters the whole frame
//! to 128x128), while Tiny ImageNet's images are square and never squashed.
//! A squashed crop makes a training image look like that: a crop of random
//! aspect ratio, stretched back to a square.

use super::{Rng, Sample};

/// One crop of `s` with an aspect ratio drawn from 1..=`max_aspect` (wide or
/// tall at even odds), as large as fits, at a random position, resampled
/// bilinearly back to `s`'s own size. `seed` fixes it, so a cached data set
/// and a fresh decode agree.
pub fn squashed_crop(s: &Sample, max_aspect: f32, seed: u64) -> Sample {
    let mut rng = Rng::new(seed);
    let unit = |rng: &mut Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let aspect = 1.0 + (f64::from(max_aspect.max(1.0)) - 1.0) * unit(&mut rng);
    let (w, h) = (s.width as f64, s.height as f64);
    // Largest crop of that aspect: wide keeps the width, tall the height.
    let (cw, ch) = if rng.below(2) == 0 {
        (w, (w / aspect).min(h))
    } else {
        ((h / aspect).min(w), h)
    };
    let (x0, y0) = ((w - cw) * unit(&mut rng), (h - ch) * unit(&mut rng));
    let (ow, oh) = (s.width, s.height);
    let n = ow * oh;
    let mut out = Sample {
        width: ow,
        height: oh,
        l: vec![0; n],
        a: vec![0; n],
        b: vec![0; n],
    };
    for oy in 0..oh {
        // Pixel centres of the output, mapped into the crop.
        let sy = (y0 + (oy as f64 + 0.5) * ch / oh as f64 - 0.5).clamp(0.0, h - 1.0);
        let (y, fy) = (sy.floor() as usize, sy.fract());
        let y1 = (y + 1).min(s.height - 1);
        for ox in 0..ow {
            let sx = (x0 + (ox as f64 + 0.5) * cw / ow as f64 - 0.5).clamp(0.0, w - 1.0);
            let (x, fx) = (sx.floor() as usize, sx.fract());
            let x1 = (x + 1).min(s.width - 1);
            let at = |p: &dyn Fn(usize) -> f64| {
                let top = p(y * s.width + x) * (1.0 - fx) + p(y * s.width + x1) * fx;
                let bottom = p(y1 * s.width + x) * (1.0 - fx) + p(y1 * s.width + x1) * fx;
                (top * (1.0 - fy) + bottom * fy).round()
            };
            let o = oy * ow + ox;
            out.l[o] = at(&|i| f64::from(s.l[i])) as u16;
            out.a[o] = at(&|i| f64::from(s.a[i])) as i16;
            out.b[o] = at(&|i| f64::from(s.b[i])) as i16;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Sample {
        let n = w * h;
        Sample {
            width: w,
            height: h,
            l: (0..n).map(|i| (i % w * 1000) as u16).collect(),
            a: (0..n).map(|i| (i / w * 100) as i16).collect(),
            b: vec![-7; n],
        }
    }

    #[test]
    fn aspect_one_is_the_image_itself() {
        let s = ramp(16, 16);
        let c = squashed_crop(&s, 1.0, 3);
        assert_eq!((c.l, c.a, c.b), (s.l, s.a, s.b));
    }

    #[test]
    fn a_crop_stretches_one_axis_and_keeps_values_in_range() {
        let s = ramp(64, 64);
        let mut stretched = 0;
        for seed in 0..20 {
            let c = squashed_crop(&s, 1.6, seed);
            assert_eq!((c.width, c.height), (64, 64));
            assert!(c.b.iter().all(|&v| v == -7));
            // L* ramps along x, a* along y: a wide crop spans all of x and
            // part of y, so a* covers less of its range than L* does.
            let span = |v: &[i64]| v.iter().max().unwrap() - v.iter().min().unwrap();
            let l: Vec<i64> = c.l.iter().map(|&v| i64::from(v)).collect();
            let a: Vec<i64> = c.a.iter().map(|&v| i64::from(v)).collect();
            let (fl, fa) = (span(&l) as f64 / 63_000.0, span(&a) as f64 / 6_300.0);
            assert!(
                fl > 0.99 || fa > 0.99,
                "seed {seed}: one axis is kept whole"
            );
            assert!(fl.min(fa) >= 1.0 / 1.6 - 0.03, "seed {seed}: {fl} {fa}");
            stretched += usize::from(fl.min(fa) < 0.97);
            // Same seed, same crop.
            assert_eq!(squashed_crop(&s, 1.6, seed).l, c.l);
        }
        assert!(stretched >= 15, "most crops are squashed: {stretched}");
    }
}
