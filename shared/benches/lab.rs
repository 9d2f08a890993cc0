//! Mpixel/s of sRGB8 <-> Lab on a 2560x1600 buffer: fixed-point vs f64 reference.
use colorize_shared::{lab, reference};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const W: usize = 2560;
const H: usize = 1600;

fn test_image() -> Vec<u8> {
    // A smooth gradient with texture: every channel visits its full range.
    (0..W * H)
        .flat_map(|i| {
            let (x, y) = (i % W, i / W);
            [
                (x * 255 / W) as u8,
                (y * 255 / H) as u8,
                ((x * 7 + y * 13) % 256) as u8,
            ]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rgb = test_image();
    let n = W * H;
    let (mut l, mut a, mut b) = (vec![0u16; n], vec![0i16; n], vec![0i16; n]);
    let (mut lf, mut af, mut bf) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    let mut out = vec![0u8; 3 * n];
    let mut g = c.benchmark_group("lab_2560x1600");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("rgb_to_lab/fixed", |bn| {
        bn.iter(|| lab::rgb8_to_lab_planes(black_box(&rgb), &mut l, &mut a, &mut b))
    });
    g.bench_function("rgb_to_lab/f64_reference", |bn| {
        bn.iter(|| reference::rgb8_to_lab_planes(black_box(&rgb), &mut lf, &mut af, &mut bf))
    });
    g.bench_function("lab_to_rgb/fixed", |bn| {
        bn.iter(|| lab::lab_planes_to_rgb8(black_box(&l), &a, &b, &mut out))
    });
    g.bench_function("lab_to_rgb/f64_reference", |bn| {
        bn.iter(|| reference::lab_planes_to_rgb8(black_box(&lf), &af, &bf, &mut out))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
