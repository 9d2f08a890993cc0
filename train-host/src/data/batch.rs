//! From loaded samples to what a step consumes: the train/validation
//! split and batches of (augmented) crops in the model contract's units.

use colorize_shared::contract;

use super::rng::Rng;
use super::Sample;

/// Splits off a deterministic `fraction` of the samples for validation: a
/// seeded shuffle of the indices, so the split does not follow class order.
pub fn split(samples: Vec<Sample>, fraction: f64, seed: u64) -> (Vec<Sample>, Vec<Sample>) {
    let n = samples.len();
    let n_val = ((n as f64 * fraction).round() as usize).min(n.saturating_sub(1));
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let mut is_val = vec![false; n];
    for &i in &idx[..n_val] {
        is_val[i] = true;
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (s, v) in samples.into_iter().zip(is_val) {
        if v {
            val.push(s)
        } else {
            train.push(s)
        }
    }
    (train, val)
}

/// One batch as flat f32 tensors: input `[n, 1, input_size, input_size]`
/// and target `[n, 2, size, size]`, both already in the model contract's
/// units.
pub struct Batch {
    pub n: usize,
    pub size: usize,
    pub input_size: usize,
    pub input: Vec<f32>,
    pub target: Vec<f32>,
}

/// Builds a batch of `size x size` crops. With `rng`, crops are random and
/// half the images are flipped horizontally; without it, crops are centred
/// (validation). The input is [`Sample::crop_input`]: the crop's L*
/// resized to `input_size` by the device's own code (train/serve parity).
pub fn make_batch(
    samples: &[&Sample],
    size: usize,
    input_size: usize,
    mut rng: Option<&mut Rng>,
) -> Batch {
    let px = size * size;
    let ipx = input_size * input_size;
    let n = samples.len();
    let mut input = vec![0f32; n * ipx];
    let mut target = vec![0f32; n * 2 * px];
    let (mut l, mut resized) = (Vec::new(), Vec::new());
    for (i, s) in samples.iter().enumerate() {
        let (x0, y0, flip) = match rng.as_deref_mut() {
            Some(r) => (
                r.below(s.width - size + 1),
                r.below(s.height - size + 1),
                r.below(2) == 1,
            ),
            None => {
                let (x, y) = s.centre(size);
                (x, y, false)
            }
        };
        let (ta, tb) = target[i * 2 * px..(i + 1) * 2 * px].split_at_mut(px);
        for y in 0..size {
            let row = (y0 + y) * s.width + x0;
            for x in 0..size {
                let src = row + if flip { size - 1 - x } else { x };
                let dst = y * size + x;
                ta[dst] = contract::ab_to_target(s.a[src]);
                tb[dst] = contract::ab_to_target(s.b[src]);
            }
        }
        s.crop_input(
            (x0, y0),
            size,
            flip,
            input_size,
            &mut l,
            &mut resized,
            &mut input[i * ipx..(i + 1) * ipx],
        );
    }
    Batch {
        n,
        size,
        input_size,
        input,
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let mk = |v: u16| Sample {
            width: 1,
            height: 1,
            l: vec![v],
            a: vec![0],
            b: vec![0],
        };
        let samples: Vec<Sample> = (0..100).map(mk).collect();
        let (t1, v1) = split(samples.clone(), 0.1, 7);
        let (t2, v2) = split(samples.clone(), 0.1, 7);
        assert_eq!(t2.len(), 90);
        let (_, v3) = split(samples, 0.1, 8);
        assert_eq!((t1.len(), v1.len()), (90, 10));
        let ids = |v: &[Sample]| v.iter().map(|s| s.l[0]).collect::<Vec<_>>();
        assert_eq!(ids(&v1), ids(&v2));
        assert_ne!(ids(&v1), ids(&v3));
        let mut all: Vec<u16> = ids(&t1).into_iter().chain(ids(&v1)).collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn batch_flip_mirrors_rows() {
        let s = Sample::from_rgb8(2, 1, &[255, 0, 0, 0, 0, 255]);
        let plain = make_batch(&[&s], 1, 1, None);
        assert_eq!(plain.input.len(), 1);
        // Over many draws both crops and both flips appear; a 2x1 image cropped
        // to 1x1 picks either pixel.
        let mut rng = Rng::new(1);
        let mut seen = HashSet::new();
        for _ in 0..32 {
            let b = make_batch(&[&s], 1, 1, Some(&mut rng));
            seen.insert(b.target[0].to_bits());
        }
        assert_eq!(seen.len(), 2);
    }
}
