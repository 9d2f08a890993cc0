//! Colour management of inputs with an ICC profile (moxcms, a maintained
//! pure-Rust CMS): their pixels go to sRGB before L* is taken, so a gray
//! scan tagged "Gray Gamma 2.2" or an RGB one in Adobe RGB gives the L* its
//! profile means, not the one sRGB would. The output then states its true
//! colour space:
//!
//! - RGB profile: the sRGB result is converted back into the input's
//!   space and the input's profile is carried;
//! - gray profile: the output is RGB, which a gray profile cannot describe:
//!   it stays sRGB and carries an sRGB profile.
//!
//! A conversion moxcms cannot build (it connects no gray profile with a Lab
//! PCS, such as Little CMS's "Gray CIE L*" of an archive's 16-bit masters)
//! is built by Little CMS instead ([`LittleCms`]). A profile neither can
//! read or use is ignored (the input is taken as sRGB, as without one) and
//! reported once per file by the caller.
//!
//! Most tagged photos carry an sRGB profile (HP's "sRGB IEC61966-2.1",
//! Little CMS's "sRGB"), for which both 8-bit conversions are the identity:
//! every one of the 2^24 colours comes back unchanged, checked for both
//! profiles. [`prepare`] finds such profiles by a probe ([`InputSpace::is_srgb8`])
//! and then skips the two 8-bit conversions (10-15 ms a 2560x1600 photo),
//! with the same output bytes; 16-bit conversions always run.

use anyhow::{anyhow, Result};
use image::DynamicImage;
use std::sync::{Arc, OnceLock};

use moxcms::{CmsError, ColorProfile, DataColorSpace, Layout, TransformExecutor, TransformOptions};

type Executor<T> = Arc<dyn TransformExecutor<T> + Send + Sync>;

/// An input's colour space, from its ICC profile.
pub struct InputSpace {
    profile: ColorProfile,
    bytes: Vec<u8>,
    rgb: bool,
    /// This space -> sRGB, built by [`prepare`]: L* is taken band by band.
    fwd8: OnceLock<Executor<u8>>,
    fwd16: OnceLock<Executor<u16>>,
    /// sRGB -> this space, built on first use: outputs convert band by band.
    back8: OnceLock<Executor<u8>>,
    back16: OnceLock<Executor<u16>>,
    /// Both 8-bit conversions found to be the identity by [`prepare`]: they
    /// are skipped.
    srgb8: bool,
}

impl InputSpace {
    /// The space of `icc`, or an error saying why it is not used.
    pub fn from_icc(icc: &[u8]) -> Result<InputSpace> {
        let profile = ColorProfile::new_from_slice(icc)
            .map_err(|e| anyhow!("its ICC profile is unreadable ({e:?}); taken as sRGB"))?;
        let rgb = match profile.color_space {
            DataColorSpace::Rgb => true,
            DataColorSpace::Gray => false,
            other => {
                return Err(anyhow!(
                    "its ICC profile is for {other:?}, not gray or RGB; taken as sRGB"
                ))
            }
        };
        Ok(InputSpace {
            profile,
            bytes: icc.to_vec(),
            rgb,
            fwd8: OnceLock::new(),
            fwd16: OnceLock::new(),
            back8: OnceLock::new(),
            back16: OnceLock::new(),
            srgb8: false,
        })
    }

    /// Whether this space's 8-bit conversions to and from sRGB leave every
    /// colour of [`probe_colours`] unchanged: a gray profile never (its
    /// output is sRGB, not the profile's), an sRGB profile's always.
    pub fn is_srgb8(&self) -> Result<bool> {
        if !self.rgb {
            return Ok(false);
        }
        let probe = probe_colours();
        let mut out = vec![0u8; probe.len()];
        for t in [self.forward8()?, self.backward8()?] {
            t.transform(probe, &mut out).map_err(cms)?;
            if out != probe {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the profile describes `img`'s kind of pixels (gray or RGB).
    pub fn fits(&self, img: &DynamicImage) -> bool {
        (img.color().channel_count() > 2) == self.rgb
    }

    /// `img` in sRGB, as RGB (alpha dropped; 8 or 16 bits kept): a gray
    /// image's gray through its profile is a colour like any other.
    pub fn to_srgb(&self, img: &DynamicImage) -> Result<DynamicImage> {
        // A gray profile on RGB pixels (or the reverse) is the file's error;
        // the pixels win.
        if !self.fits(img) {
            return Err(anyhow!(
                "its ICC profile does not match its pixels; taken as sRGB"
            ));
        }
        let layout = if self.rgb { Layout::Rgb } else { Layout::Gray };
        let (w, h) = (img.width(), img.height());
        Ok(if crate::lstar::is_16_bit(img) {
            let src = if self.rgb {
                img.to_rgb16().into_raw()
            } else {
                img.to_luma16().into_raw()
            };
            let dst = run(self.forward16()?.as_ref(), &src, layout)?;
            DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(w, h, dst).expect("sized above"))
        } else {
            let src = if self.rgb {
                img.to_rgb8().into_raw()
            } else {
                img.to_luma8().into_raw()
            };
            let dst = run(self.forward8()?.as_ref(), &src, layout)?;
            DynamicImage::ImageRgb8(image::ImageBuffer::from_raw(w, h, dst).expect("sized above"))
        })
    }

    /// The transform of this space's gray or RGB samples to sRGB RGB, at
    /// 8 or 16 bits, built once.
    fn forward<'a, T: Copy + Default>(
        &self,
        cache: &'a OnceLock<Executor<T>>,
        make: impl FnOnce(&ColorProfile, Layout, &ColorProfile) -> Result<Executor<T>, CmsError>,
    ) -> Result<&'a Executor<T>> {
        let layout = if self.rgb { Layout::Rgb } else { Layout::Gray };
        cached(cache, || {
            make(&self.profile, layout, &ColorProfile::new_srgb())
        })
    }

    fn forward8(&self) -> Result<&Executor<u8>> {
        self.forward(&self.fwd8, |p, layout, srgb| {
            p.create_transform_8bit(layout, srgb, Layout::Rgb, TransformOptions::default())
                .or_else(|e| LittleCms::forward(&self.bytes, self.rgb, e))
        })
    }

    fn forward16(&self) -> Result<&Executor<u16>> {
        self.forward(&self.fwd16, |p, layout, srgb| {
            p.create_transform_16bit(layout, srgb, Layout::Rgb, TransformOptions::default())
                .or_else(|e| LittleCms::forward(&self.bytes, self.rgb, e))
        })
    }

    /// L* of `img` through this profile into `l` (resized to fit), band by
    /// band: the same values as [`lstar::l_plane_into`] of
    /// [`InputSpace::to_srgb`]'s image, without that full-size copy. Returns
    /// the width and height.
    ///
    /// [`lstar::l_plane_into`]: crate::lstar::l_plane_into
    pub fn l_plane_into(&self, img: &DynamicImage, l: &mut Vec<u16>) -> Result<(usize, usize)> {
        // Rows per band: the band's sRGB stays in the L2 cache.
        const ROWS: usize = 16;
        let (width, height) = (img.width() as usize, img.height() as usize);
        let channels = if self.rgb { 3 } else { 1 };
        let band_samples = channels * width * ROWS;
        match img {
            DynamicImage::ImageRgb8(_) if self.srgb8 => {
                crate::lstar::l_plane_into(img, l);
            }
            DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) if self.fits(img) => {
                let t = self.forward8()?;
                l.resize(width * height, 0);
                let mut srgb = vec![0u8; 3 * width * ROWS.min(height)];
                for (src, l) in img
                    .as_bytes()
                    .chunks(band_samples)
                    .zip(l.chunks_mut(width * ROWS))
                {
                    let srgb = &mut srgb[..3 * l.len()];
                    t.transform(src, srgb).map_err(cms)?;
                    colorize_shared::lab::rgb8_to_l_plane(srgb, l);
                }
            }
            DynamicImage::ImageLuma16(_) | DynamicImage::ImageRgb16(_) if self.fits(img) => {
                let t = self.forward16()?;
                let src: &[u16] = match img {
                    DynamicImage::ImageLuma16(g) => g.as_raw(),
                    DynamicImage::ImageRgb16(c) => c.as_raw(),
                    _ => unreachable!("matched above"),
                };
                l.resize(width * height, 0);
                let mut srgb = vec![0u16; 3 * width * ROWS.min(height)];
                for (src, l) in src.chunks(band_samples).zip(l.chunks_mut(width * ROWS)) {
                    let srgb = &mut srgb[..3 * l.len()];
                    t.transform(src, srgb).map_err(cms)?;
                    colorize_shared::lab16::rgb16_to_l_plane(srgb, l);
                }
            }
            // Alpha and the rarer layouts: through a converted copy.
            _ => {
                crate::lstar::l_plane_into(&self.to_srgb(img)?, l);
            }
        }
        Ok((width, height))
    }

    /// The profile the output carries.
    pub fn output_icc(&self) -> Vec<u8> {
        if self.rgb {
            self.bytes.clone()
        } else {
            srgb_icc().to_vec()
        }
    }

    /// Converts an sRGB8 output into the input's space (RGB profiles; a
    /// gray profile's output stays sRGB).
    pub fn srgb8_to_input_space(&self, rgb: &mut [u8]) -> Result<()> {
        if !self.rgb || self.srgb8 {
            return Ok(());
        }
        convert_in_place(self.backward8()?.as_ref(), rgb)
    }

    /// [`InputSpace::srgb8_to_input_space`] for 16-bit outputs.
    pub fn srgb16_to_input_space(&self, rgb: &mut [u16]) -> Result<()> {
        if !self.rgb {
            return Ok(());
        }
        convert_in_place(self.backward16()?.as_ref(), rgb)
    }

    /// The transform of sRGB RGB to this space's RGB, at 8 or 16 bits,
    /// built once (RGB profiles only).
    fn backward<'a, T: Copy + Default>(
        &self,
        cache: &'a OnceLock<Executor<T>>,
        make: impl FnOnce(&ColorProfile, &ColorProfile) -> Result<Executor<T>, CmsError>,
    ) -> Result<&'a Executor<T>> {
        cached(cache, || make(&ColorProfile::new_srgb(), &self.profile))
    }

    fn backward8(&self) -> Result<&Executor<u8>> {
        self.backward(&self.back8, |srgb, p| {
            srgb.create_transform_8bit(Layout::Rgb, p, Layout::Rgb, TransformOptions::default())
                .or_else(|e| LittleCms::backward(&self.bytes, e))
        })
    }

    fn backward16(&self) -> Result<&Executor<u16>> {
        self.backward(&self.back16, |srgb, p| {
            srgb.create_transform_16bit(Layout::Rgb, p, Layout::Rgb, TransformOptions::default())
                .or_else(|e| LittleCms::backward(&self.bytes, e))
        })
    }
}

/// The samples a conversion works on, with Little CMS's names for them.
trait Sample: Copy + Default + Send + Sync + 'static {
    const GRAY: lcms2::PixelFormat;
    const RGB: lcms2::PixelFormat;
}

impl Sample for u8 {
    const GRAY: lcms2::PixelFormat = lcms2::PixelFormat::GRAY_8;
    const RGB: lcms2::PixelFormat = lcms2::PixelFormat::RGB_8;
}

impl Sample for u16 {
    // Native byte order, as the samples are in memory.
    const GRAY: lcms2::PixelFormat = lcms2::PixelFormat::GRAY_16;
    const RGB: lcms2::PixelFormat = lcms2::PixelFormat::RGB_16;
}

/// A Little CMS transform behind moxcms's executor: the conversions moxcms
/// refuses to build. Without Little CMS's one-pixel cache, so one transform
/// serves every thread.
struct LittleCms<T> {
    transform: lcms2::Transform<u8, u8, lcms2::GlobalContext, lcms2::DisallowCache>,
    sample: std::marker::PhantomData<T>,
}

impl<T: Sample> LittleCms<T> {
    fn build(
        from: &lcms2::Profile,
        from_format: lcms2::PixelFormat,
        to: &lcms2::Profile,
        moxcms_error: CmsError,
    ) -> Result<Executor<T>, CmsError> {
        // moxcms's default intent, so both give the same result where both can.
        match lcms2::Transform::new_flags_context(
            lcms2::GlobalContext::new(),
            from,
            from_format,
            to,
            T::RGB,
            lcms2::Intent::Perceptual,
            lcms2::Flags::NO_CACHE,
        ) {
            Ok(transform) => Ok(Arc::new(LittleCms {
                transform,
                sample: std::marker::PhantomData,
            })),
            // Neither can: moxcms's reason is the one reported.
            Err(_) => Err(moxcms_error),
        }
    }

    /// Profile (`icc`, gray or RGB) -> sRGB RGB.
    fn forward(icc: &[u8], rgb: bool, moxcms_error: CmsError) -> Result<Executor<T>, CmsError> {
        let Ok(profile) = lcms2::Profile::new_icc(icc) else {
            return Err(moxcms_error);
        };
        let format = if rgb { T::RGB } else { T::GRAY };
        Self::build(&profile, format, &lcms2::Profile::new_srgb(), moxcms_error)
    }

    /// sRGB RGB -> profile (`icc`, RGB) RGB.
    fn backward(icc: &[u8], moxcms_error: CmsError) -> Result<Executor<T>, CmsError> {
        let Ok(profile) = lcms2::Profile::new_icc(icc) else {
            return Err(moxcms_error);
        };
        Self::build(&lcms2::Profile::new_srgb(), T::RGB, &profile, moxcms_error)
    }
}

impl<T: Sample> TransformExecutor<T> for LittleCms<T> {
    fn transform(&self, src: &[T], dst: &mut [T]) -> Result<(), CmsError> {
        // Little CMS takes any pixel format as bytes and counts the pixels
        // from the formats it was built with.
        // SAFETY: `T` is u8 or u16 (`Sample`): plain integers, no padding,
        // so their memory is a valid byte slice of the same size.
        let (src, dst) = unsafe {
            (
                std::slice::from_raw_parts(src.as_ptr().cast::<u8>(), std::mem::size_of_val(src)),
                std::slice::from_raw_parts_mut(
                    dst.as_mut_ptr().cast::<u8>(),
                    std::mem::size_of_val(dst),
                ),
            )
        };
        self.transform.transform_pixels(src, dst);
        Ok(())
    }
}

/// `rgb` through `t`, RGB to RGB.
fn convert_in_place<T: Copy + Default>(
    t: &(dyn TransformExecutor<T> + Send + Sync),
    rgb: &mut [T],
) -> Result<()> {
    let out = run(t, rgb, Layout::Rgb)?;
    rgb.copy_from_slice(&out);
    Ok(())
}

/// The transform in `cache`, built by `make` the first time.
fn cached<T>(
    cache: &OnceLock<Executor<T>>,
    make: impl FnOnce() -> Result<Executor<T>, CmsError>,
) -> Result<&Executor<T>> {
    if let Some(t) = cache.get() {
        return Ok(t);
    }
    let t = make().map_err(cms)?;
    Ok(cache.get_or_init(|| t))
}

fn cms(e: CmsError) -> anyhow::Error {
    anyhow!("colour management failed: {e:?}")
}

/// `src` (pixels of `layout`) through `t`, to RGB.
fn run<T: Copy + Default>(
    t: &(dyn TransformExecutor<T> + Send + Sync),
    src: &[T],
    layout: Layout,
) -> Result<Vec<T>> {
    let mut dst = vec![T::default(); 3 * src.len() / layout.channels()];
    t.transform(src, &mut dst).map_err(cms)?;
    Ok(dst)
}

/// [`l_plane_into`](crate::lstar::l_plane_into) of an input in its own colour space: through `space`
/// (its ICC profile, [`prepare`]) when it has one.
pub fn l_plane_in(
    img: &DynamicImage,
    space: Option<&InputSpace>,
    l: &mut Vec<u16>,
) -> Result<(usize, usize)> {
    match space {
        Some(space) => space.l_plane_into(img, l),
        None => Ok(crate::lstar::l_plane_into(img, l)),
    }
}

/// The colour space of one input from its profile: the space to take L*
/// through ([`InputSpace::l_plane_into`]) and the output back to, with
/// `meta.icc` set to the profile the output carries. A profile that can not
/// be used is dropped (the output is then plain sRGB, which untagged files
/// are taken to be) and the reason returned.
pub fn prepare(
    img: &DynamicImage,
    meta: &mut crate::images::Metadata,
) -> (Option<InputSpace>, Option<String>) {
    let Some(icc) = meta.icc.take() else {
        return (None, None);
    };
    let space = match InputSpace::from_icc(&icc) {
        Ok(space) if space.fits(img) => space,
        Ok(_) => {
            return (
                None,
                Some(
                    "its ICC profile does not match its pixels (gray and RGB); taken as sRGB"
                        .into(),
                ),
            )
        }
        Err(e) => return (None, Some(e.to_string())),
    };
    // Built now, so that a profile moxcms can not use is reported here.
    let built = if crate::lstar::is_16_bit(img) {
        space.forward16().map(drop)
    } else {
        space.forward8().map(drop)
    };
    if let Err(e) = built {
        return (None, Some(e.to_string()));
    }
    let mut space = space;
    if matches!(img, DynamicImage::ImageRgb8(_)) {
        match space.is_srgb8() {
            Ok(identity) => space.srgb8 = identity,
            Err(e) => return (None, Some(e.to_string())),
        }
    }
    meta.icc = Some(space.output_icc());
    (Some(space), None)
}

/// The colours [`InputSpace::is_srgb8`] checks, as RGB8: every colour whose
/// channels are multiples of 5 (0, 5, ..., 255: 52^3), every gray, and
/// each channel's whole ramp with the other two both 0 or both 255: 142,400
/// colours. 1-2 ms a profile on x86_64, building the sRGB -> profile
/// transform included.
fn probe_colours() -> &'static [u8] {
    static PROBE: OnceLock<Vec<u8>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let mut p = Vec::new();
        let lattice: Vec<u8> = (0..=255).step_by(5).collect();
        for &r in &lattice {
            for &g in &lattice {
                for &b in &lattice {
                    p.extend([r, g, b]);
                }
            }
        }
        for v in 0..=255u8 {
            p.extend([v, v, v]);
            for c in 0..3 {
                for other in [0, 255] {
                    let mut px = [other; 3];
                    px[c] = v;
                    p.extend(px);
                }
            }
        }
        p
    })
}

/// moxcms's sRGB profile, encoded once.
fn srgb_icc() -> &'static [u8] {
    static ICC: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    ICC.get_or_init(|| ColorProfile::new_srgb().encode().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray_gamma(g: f32) -> Vec<u8> {
        ColorProfile::new_gray_with_gamma(g).encode().unwrap()
    }

    #[test]
    fn a_gray_gamma_22_scan_gets_the_l_its_profile_means() {
        // Code v means (v/255)^gamma of white: re-encoded as sRGB, 128 stays
        // near 129 at gamma 2.2 (sRGB is close to it) and becomes about 146
        // at gamma 1.8, a visibly lighter L*.
        for (gamma, v) in [(2.2f64, 128u8), (1.8, 128), (2.2, 30), (1.8, 220)] {
            let space = InputSpace::from_icc(&gray_gamma(gamma as f32)).unwrap();
            let img =
                DynamicImage::ImageLuma8(image::GrayImage::from_pixel(2, 1, image::Luma([v])));
            let p = space.to_srgb(&img).unwrap().into_rgb8().get_pixel(0, 0).0;
            assert!(p[0] == p[1] && p[1] == p[2], "{p:?}");
            let y = (v as f64 / 255.0).powf(gamma);
            let want = 255.0
                * if y <= 0.0031308 {
                    12.92 * y
                } else {
                    1.055 * y.powf(1.0 / 2.4) - 0.055
                };
            assert!(
                (p[0] as f64 - want).abs() <= 1.5,
                "gamma {gamma}, {v}: {} vs {want}",
                p[0]
            );
        }
        let space = InputSpace::from_icc(&gray_gamma(2.2)).unwrap();
        // The output is RGB: it carries sRGB, not the gray profile.
        let out = InputSpace::from_icc(&space.output_icc()).unwrap();
        assert!(out.rgb);
    }

    #[test]
    fn an_rgb_profile_round_trips_and_is_carried() {
        let icc = ColorProfile::new_adobe_rgb().encode().unwrap();
        let space = InputSpace::from_icc(&icc).unwrap();
        assert_eq!(space.output_icc(), icc);
        let mut px = vec![200u8, 60, 30];
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_raw(1, 1, px.clone()).unwrap());
        let mut srgb = space.to_srgb(&img).unwrap().into_rgb8().into_raw();
        assert_ne!(srgb, px, "Adobe RGB red is not sRGB's");
        space.srgb8_to_input_space(&mut srgb).unwrap();
        for (a, b) in srgb.iter().zip(&mut px) {
            assert!((*a as i32 - *b as i32).abs() <= 2, "{srgb:?} vs {px:?}");
        }
    }

    /// Little CMS's sRGB profile (icc-profiles-free, zlib licence; see
    /// tests/data/README.md), the one GIMP and ImageMagick embed.
    const LCMS_SRGB: &[u8] = include_bytes!("../tests/data/sRGB-littlecms.icc");

    fn rgb8(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 37 % 256) as u8,
                (y * 91 % 256) as u8,
                ((x + y) * 13 % 256) as u8,
            ])
        }))
    }

    #[test]
    fn srgb_profiles_skip_the_8_bit_conversions_with_the_same_result() {
        let img = rgb8(61, 17);
        let mut meta = crate::images::Metadata {
            icc: Some(LCMS_SRGB.to_vec()),
            ..Default::default()
        };
        let (space, note) = prepare(&img, &mut meta);
        let space = space.expect("a usable profile");
        assert!(note.is_none() && space.srgb8, "found to be sRGB");
        assert_eq!(meta.icc.as_deref(), Some(LCMS_SRGB), "still carried");
        // What the conversions it skips would have given.
        let mut through = Vec::new();
        crate::lstar::l_plane_into(&space.to_srgb(&img).unwrap(), &mut through);
        let mut skipped = Vec::new();
        space.l_plane_into(&img, &mut skipped).unwrap();
        assert_eq!(skipped, through);
        let mut rgb = img.to_rgb8().into_raw();
        let mut back = rgb.clone();
        convert_in_place(space.backward8().unwrap().as_ref(), &mut back).unwrap();
        space.srgb8_to_input_space(&mut rgb).unwrap();
        assert_eq!(rgb, back);
    }

    #[test]
    fn other_profiles_and_16_bit_images_keep_their_conversions() {
        let mut gamma22 = ColorProfile::new_srgb();
        let curve = moxcms::ToneReprCurve::Parametric(vec![2.2]);
        gamma22.red_trc = Some(curve.clone());
        gamma22.green_trc = Some(curve.clone());
        gamma22.blue_trc = Some(curve);
        gamma22.cicp = None; // else moxcms takes sRGB's curve from it
        for (what, profile) in [
            ("Adobe RGB", ColorProfile::new_adobe_rgb()),
            ("Display P3", ColorProfile::new_display_p3()),
            ("sRGB primaries, gamma 2.2", gamma22),
        ] {
            let space = InputSpace::from_icc(&profile.encode().unwrap()).unwrap();
            assert!(!space.is_srgb8().unwrap(), "{what}");
        }
        let sixteen = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
            3,
            2,
            image::Rgb([1000u16, 30000, 65535]),
        ));
        let mut meta = crate::images::Metadata {
            icc: Some(LCMS_SRGB.to_vec()),
            ..Default::default()
        };
        let (space, _) = prepare(&sixteen, &mut meta);
        assert!(!space.unwrap().srgb8, "8-bit probe, 16-bit image");
        let gray = InputSpace::from_icc(&gray_gamma(2.2)).unwrap();
        assert!(
            !gray.is_srgb8().unwrap(),
            "a gray profile's output is sRGB, not it"
        );
    }

    /// What the probe stands for, over every colour (module docs).
    #[test]
    fn littlecms_srgb_converts_every_8_bit_colour_to_itself() {
        let space = InputSpace::from_icc(LCMS_SRGB).unwrap();
        let all: Vec<u8> = (0..1u32 << 24)
            .flat_map(|c| [(c >> 16) as u8, (c >> 8) as u8, c as u8])
            .collect();
        let mut out = vec![0u8; all.len()];
        for t in [space.forward8().unwrap(), space.backward8().unwrap()] {
            t.transform(&all, &mut out).unwrap();
            let changed = all.iter().zip(&out).filter(|(a, b)| a != b).count();
            assert_eq!(changed, 0, "samples changed");
        }
    }

    #[test]
    fn unusable_profiles_are_reported_not_fatal() {
        assert!(InputSpace::from_icc(b"not a profile").is_err());
        let gray = InputSpace::from_icc(&gray_gamma(1.8)).unwrap();
        let rgb = DynamicImage::ImageRgb8(image::RgbImage::new(1, 1));
        assert!(gray.to_srgb(&rgb).is_err(), "a gray profile on RGB pixels");
    }
}
