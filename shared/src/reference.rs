//! f64 reference sRGB <-> Lab, straight from the formulas. For tests and
//! benchmarks only: the product uses the fixed-point path in [`crate::lab`].

include!("cie.rs");

/// sRGB8 -> [L*, a*, b*].
pub fn rgb8_to_lab(r: u8, g: u8, b: u8) -> [f64; 3] {
    let lin = [r, g, b].map(|c| srgb_decode(c as f64 / 255.0));
    let mut fxyz = [0.0; 3];
    for (i, row) in RGB_TO_XYZ.iter().enumerate() {
        let v = row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2];
        fxyz[i] = lab_f(v / WHITE_D65[i]);
    }
    [
        116.0 * fxyz[1] - 16.0,
        500.0 * (fxyz[0] - fxyz[1]),
        200.0 * (fxyz[1] - fxyz[2]),
    ]
}

/// [L*, a*, b*] -> sRGB in 0..=1 per channel, clipped.
pub fn lab_to_rgb(lab: [f64; 3]) -> [f64; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fxyz = [fy + lab[1] / 500.0, fy, fy - lab[2] / 200.0];
    let xyz: [f64; 3] = core::array::from_fn(|i| lab_f_inv(fxyz[i]) * WHITE_D65[i]);
    let inv = invert3(RGB_TO_XYZ);
    core::array::from_fn(|i| {
        let lin = inv[i][0] * xyz[0] + inv[i][1] * xyz[1] + inv[i][2] * xyz[2];
        srgb_encode(lin.clamp(0.0, 1.0))
    })
}

/// [L*, a*, b*] -> sRGB8, rounded.
pub fn lab_to_rgb8(lab: [f64; 3]) -> [u8; 3] {
    lab_to_rgb(lab).map(|v| (v * 255.0).round() as u8)
}

/// Interleaved RGB8 -> f32 L*, a*, b* planes (benchmark baseline).
pub fn rgb8_to_lab_planes(rgb: &[u8], l: &mut [f32], a: &mut [f32], b: &mut [f32]) {
    for (((px, l), a), b) in rgb.chunks_exact(3).zip(l).zip(a).zip(b) {
        let [lv, av, bv] = rgb8_to_lab(px[0], px[1], px[2]);
        (*l, *a, *b) = (lv as f32, av as f32, bv as f32);
    }
}

/// f32 L*, a*, b* planes -> interleaved RGB8 (benchmark baseline).
pub fn lab_planes_to_rgb8(l: &[f32], a: &[f32], b: &[f32], rgb: &mut [u8]) {
    for (((px, l), a), b) in rgb.chunks_exact_mut(3).zip(l).zip(a).zip(b) {
        px.copy_from_slice(&lab_to_rgb8([*l as f64, *a as f64, *b as f64]));
    }
}
