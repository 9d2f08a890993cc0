//! L* of 16-bit sources at their full precision (archival masters): Q8.8
//! like [`crate::lab`], from a 65,536-entry linearisation table built once
//! with the f64 formulas of [`crate::reference`]. [`crate::lab`]'s
//! fixed-point tables take 8-bit samples only.

use std::sync::OnceLock;
use std::vec::Vec;

use crate::reference::{lab_f, srgb_decode, RGB_TO_XYZ};

/// Linear light of every 16-bit sRGB code value.
fn linear() -> &'static [f32] {
    static LIN: OnceLock<Vec<f32>> = OnceLock::new();
    LIN.get_or_init(|| {
        (0..=u16::MAX)
            .map(|v| srgb_decode(v as f64 / 65535.0) as f32)
            .collect()
    })
}

/// Q8.8 L* of a relative luminance Y (white = 1).
#[inline]
fn l_of_y(y: f32) -> u16 {
    let l = 116.0 * lab_f(y.clamp(0.0, 1.0) as f64) - 16.0;
    (l * 256.0).round().clamp(0.0, 25600.0) as u16
}

/// Gray (R = G = B) 16-bit samples -> Q8.8 L*.
pub fn gray16_to_l_plane(gray: &[u16], l: &mut [u16]) {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    let t = TABLE.get_or_init(|| linear().iter().map(|&y| l_of_y(y)).collect());
    assert_eq!(gray.len(), l.len(), "gray16_to_l_plane: length mismatch");
    for (l, &g) in l.iter_mut().zip(gray) {
        *l = t[g as usize];
    }
}

/// Interleaved RGB 16-bit samples -> Q8.8 L*.
pub fn rgb16_to_l_plane(rgb: &[u16], l: &mut [u16]) {
    assert_eq!(rgb.len(), 3 * l.len(), "rgb16_to_l_plane: length mismatch");
    let lin = linear();
    let [r, g, b] = RGB_TO_XYZ[1].map(|c| c as f32);
    for (l, px) in l.iter_mut().zip(rgb.chunks_exact(3)) {
        let y = r * lin[px[0] as usize] + g * lin[px[1] as usize] + b * lin[px[2] as usize];
        *l = l_of_y(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{gray8_to_l, rgb8_to_l};

    #[test]
    fn sixteen_bit_samples_agree_with_the_8_bit_path_on_8_bit_values() {
        let mut worst = 0i32;
        for c in 0..=255u16 {
            let mut l = [0u16];
            gray16_to_l_plane(&[c * 257], &mut l);
            worst = worst.max((l[0] as i32 - gray8_to_l(c as u8) as i32).abs());
        }
        for (r, g, b) in [
            (255u16, 0u16, 0u16),
            (0, 255, 0),
            (0, 0, 255),
            (90, 60, 30),
            (12, 200, 180),
        ] {
            let mut l = [0u16];
            rgb16_to_l_plane(&[r * 257, g * 257, b * 257], &mut l);
            worst = worst.max((l[0] as i32 - rgb8_to_l(r as u8, g as u8, b as u8) as i32).abs());
        }
        // Q8.8: 8 is 0.03 L* units.
        assert!(worst <= 8, "16-bit and 8-bit L* differ by {worst}/256");
    }

    #[test]
    fn sixteen_bit_samples_resolve_steps_that_8_bits_cannot() {
        // Deep shadows: neighbouring 16-bit codes between two 8-bit ones get
        // distinct L*, monotonically.
        let codes: Vec<u16> = (0..64).map(|i| 257 * 10 + i * 4).collect();
        let mut l = std::vec![0u16; codes.len()];
        gray16_to_l_plane(&codes, &mut l);
        assert!(l.windows(2).all(|w| w[0] <= w[1]));
        let distinct = {
            let mut d = l.clone();
            d.dedup();
            d.len()
        };
        assert!(distinct > 32, "{distinct} distinct L* from 64 codes");
    }
}
