//! 16-bit sources (archival masters): their L* at full precision (Q8.8 like
//! [`crate::lab`], from a 65,536-entry linearisation table built once with
//! the f64 formulas of [`crate::reference`]; [`crate::lab`]'s fixed-point
//! tables take 8-bit samples only), and 16-bit outputs whose lightness is
//! that L*.

use std::sync::OnceLock;
use std::vec::Vec;

use crate::reference::{lab_f, lab_f_inv, srgb_decode, srgb_encode, RGB_TO_XYZ};

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

/// A colourized sRGB8 image at 16 bits, its lightness from a 16-bit
/// source: each pixel's linear RGB is scaled so that its L* is `l` (Q8.8,
/// from [`gray16_to_l_plane`] or [`rgb16_to_l_plane`]), which keeps its
/// chromaticity, the model's colour; channels clip at white. The 8-bit
/// colour already holds L* within 0.5 ([`crate::recombine`]), so the scale
/// is close to 1 and a*, b* move by a fraction of that.
pub fn rgb8_to_rgb16_at_l(rgb8: &[u8], l: &[u16], out: &mut [u16]) {
    assert!(
        rgb8.len() == 3 * l.len() && out.len() == rgb8.len(),
        "rgb8_to_rgb16_at_l: length mismatch"
    );
    let lin8: [f32; 256] = core::array::from_fn(|v| srgb_decode(v as f64 / 255.0) as f32);
    let [cr, cg, cb] = RGB_TO_XYZ[1].map(|c| c as f32);
    let encode = |v: f32| -> u16 {
        let s = srgb_encode(v.clamp(0.0, 1.0) as f64);
        (s * 65535.0).round() as u16
    };
    for ((px, &l), o) in rgb8.chunks_exact(3).zip(l).zip(out.chunks_exact_mut(3)) {
        let y_target = lab_f_inv((l as f64 / 256.0 + 16.0) / 116.0) as f32;
        let lin = [
            lin8[px[0] as usize],
            lin8[px[1] as usize],
            lin8[px[2] as usize],
        ];
        let y = cr * lin[0] + cg * lin[1] + cb * lin[2];
        if y <= 1e-7 {
            // Black at 8 bits: the source's own gray.
            o.fill(encode(y_target));
            continue;
        }
        let k = y_target / y;
        for (o, v) in o.iter_mut().zip(lin) {
            *o = encode(v * k);
        }
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

    #[test]
    fn sixteen_bit_output_takes_the_sources_lightness_and_keeps_the_colour() {
        use crate::reference::rgb8_to_lab;
        // A colour whose 8-bit L* is a little off the 16-bit source's.
        let rgb8 = [180u8, 90, 40, 0, 0, 0, 255, 255, 255];
        let src16 = [257 * 150u16, 300, 65535];
        let mut l = [0u16; 3];
        gray16_to_l_plane(&src16, &mut l);
        let mut out = [0u16; 9];
        rgb8_to_rgb16_at_l(&rgb8, &l, &mut out);
        let mut back = [0u16; 3];
        rgb16_to_l_plane(&out, &mut back);
        for i in 0..3 {
            assert!(
                (back[i] as i32 - l[i] as i32).abs() <= 3,
                "pixel {i}: {} vs {}",
                back[i],
                l[i]
            );
        }
        // Hue kept: the 16-bit colour's a*/b* ratio is the 8-bit one's.
        let lab8 = rgb8_to_lab(180, 90, 40);
        let o8 = [out[0], out[1], out[2]].map(|v| ((v as u32 + 128) / 257) as u8);
        let lab16 = rgb8_to_lab(o8[0], o8[1], o8[2]);
        let hue = |lab: [f64; 3]| lab[2].atan2(lab[1]);
        assert!(
            (hue(lab8) - hue(lab16)).abs() < 0.05,
            "{lab8:?} vs {lab16:?}"
        );
        // Black at 8 bits becomes the source's dark gray, not black.
        assert!(out[3] > 0 && out[3] == out[4] && out[4] == out[5]);
    }
}
