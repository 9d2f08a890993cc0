// Colour-science constants and f64 formulas, shared verbatim by `build.rs`
// (which derives the fixed-point tables from them) and by the f64 reference,
// so the two can never drift apart. This file is `include!`d, not a module.

/// Linear sRGB -> CIE XYZ for the D65 white point (IEC 61966-2-1).
pub const RGB_TO_XYZ: [[f64; 3]; 3] = [
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
];

/// D65 reference white (Xn, Yn, Zn). Each equals the row sum of `RGB_TO_XYZ`.
pub const WHITE_D65: [f64; 3] = [0.95047, 1.0, 1.08883];

/// CIE epsilon (216/24389) and kappa (24389/27): the exact rationals.
pub const CIE_EPSILON: f64 = 216.0 / 24389.0;
pub const CIE_KAPPA: f64 = 24389.0 / 27.0;

/// Inverse of a 3x3 matrix (cofactors); `const` so tables and tests share it.
pub const fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    [
        [
            c00 / det,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det,
        ],
        [
            c01 / det,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
        ],
        [
            c02 / det,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det,
        ],
    ]
}

/// sRGB transfer curve: encoded 0..=1 -> linear light.
pub fn srgb_decode(v: f64) -> f64 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB transfer curve: linear light -> encoded 0..=1.
pub fn srgb_encode(v: f64) -> f64 {
    if v <= 0.0031308 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// CIE f(t): the cube root with its linear toe.
pub fn lab_f(t: f64) -> f64 {
    if t > CIE_EPSILON {
        t.cbrt()
    } else {
        (CIE_KAPPA * t + 16.0) / 116.0
    }
}

/// Inverse of [`lab_f`].
pub fn lab_f_inv(f: f64) -> f64 {
    if f > 6.0 / 29.0 {
        f * f * f
    } else {
        (116.0 * f - 16.0) / CIE_KAPPA
    }
}
