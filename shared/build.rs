//! Generates the fixed-point lookup tables of `colorize_shared::lab` from the
//! constants and f64 formulas in `src/cie.rs`. Formats are documented in `src/lab.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

include!("src/cie.rs");

const LIN_ONE: f64 = 32768.0; // Q15 linear light and Q15 f(t)
const F_INV_LO: i32 = -16384; // -0.5 in Q15
const F_INV_HI: i32 = 44237; // 1.35 in Q15
const F_INV_SHIFT: u32 = 5; // table step 2^-10

/// Rounds a matrix to integers with scale `one`, then nudges the largest entry
/// of each row so every row sums to exactly `one`. Equal row sums are what make
/// gray map to a* = b* = 0 (and back to R = G = B) with no rounding residue.
fn fixed_rows(m: [[f64; 3]; 3], one: i64) -> [[i64; 3]; 3] {
    let mut out = [[0i64; 3]; 3];
    for (r, row) in m.iter().enumerate() {
        let sum: f64 = row.iter().sum();
        for c in 0..3 {
            out[r][c] = (row[c] / sum * one as f64).round() as i64;
        }
        let err = one - out[r].iter().sum::<i64>();
        let big = (0..3).max_by_key(|&c| out[r][c].abs()).unwrap();
        out[r][big] += err;
    }
    out
}

fn table<T: std::fmt::Display>(src: &mut String, name: &str, ty: &str, vals: &[T]) {
    writeln!(src, "pub(crate) static {name}: [{ty}; {}] = [", vals.len()).unwrap();
    for chunk in vals.chunks(16) {
        for v in chunk {
            write!(src, "{v},").unwrap();
        }
        src.push('\n');
    }
    src.push_str("];\n");
}

fn matrix(src: &mut String, name: &str, m: [[i64; 3]; 3]) {
    writeln!(src, "pub(crate) const {name}: [[i32; 3]; 3] = {m:?};").unwrap();
}

fn main() {
    println!("cargo:rerun-if-changed=src/cie.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let mut src = String::new();

    let lin: Vec<u16> = (0..256)
        .map(|i| (srgb_decode(i as f64 / 255.0) * LIN_ONE).round() as u16)
        .collect();
    table(&mut src, "LINEARIZE", "u16", &lin);

    // XYZ normalised by the white point, so each row sums to one.
    matrix(&mut src, "RGB_TO_XYZN_Q14", fixed_rows(RGB_TO_XYZ, 1 << 14));
    let inv = invert3(RGB_TO_XYZ);
    let mut inv_n = [[0.0; 3]; 3];
    for r in 0..3 {
        for c in 0..3 {
            inv_n[r][c] = inv[r][c] * WHITE_D65[c];
        }
    }
    matrix(&mut src, "XYZN_TO_RGB_Q12", fixed_rows(inv_n, 1 << 12));

    let f: Vec<u16> = (0..=32768)
        .map(|i| (lab_f(i as f64 / LIN_ONE) * LIN_ONE).round() as u16)
        .collect();
    table(&mut src, "LAB_F", "u16", &f);

    let steps = ((F_INV_HI - F_INV_LO) >> F_INV_SHIFT) + 2;
    let finv: Vec<i32> = (0..steps)
        .map(|i| {
            let fv = (F_INV_LO + (i << F_INV_SHIFT)) as f64 / LIN_ONE;
            (lab_f_inv(fv) * LIN_ONE).round() as i32
        })
        .collect();
    table(&mut src, "LAB_F_INV", "i32", &finv);
    // Y/Yn of every L* (Q8.8): the Lab -> sRGB conversions' `f_inv(fy)`,
    // by the same fixed-point steps, so one lookup replaces two and an
    // interpolation (lab.rs tests it against the steps).
    let y_of_l: Vec<i32> = (0..=25600i64)
        .map(|l| {
            let fy = (((l + 4096) * 72316 + (1 << 15)) >> 16) as i32;
            let t = fy.clamp(F_INV_LO, F_INV_HI) - F_INV_LO;
            let (i, frac) = ((t >> F_INV_SHIFT) as usize, t & ((1 << F_INV_SHIFT) - 1));
            finv[i] + (((finv[i + 1] - finv[i]) * frac + (1 << (F_INV_SHIFT - 1))) >> F_INV_SHIFT)
        })
        .collect();
    table(&mut src, "Y_OF_L", "i32", &y_of_l);
    writeln!(
        src,
        "pub(crate) const F_INV_LO: i32 = {F_INV_LO};\n\
         pub(crate) const F_INV_HI: i32 = {F_INV_HI};\n\
         pub(crate) const F_INV_SHIFT: u32 = {F_INV_SHIFT};"
    )
    .unwrap();

    let enc: Vec<u8> = (0..=32768)
        .map(|i| (srgb_encode(i as f64 / LIN_ONE) * 255.0).round() as u8)
        .collect();
    table(&mut src, "ENCODE", "u8", &enc);

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("tables.rs");
    std::fs::write(out, src).unwrap();
}
