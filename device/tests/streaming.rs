//! Issue 17: `colorize files` streams each frame from its L* plane to the
//! encoder in bands (recombination, 16-bit expansion, the conversion back
//! to the input's ICC space, PNG rows and TIFF strips), and no full-size RGB
//! buffer exists. Its files must be byte for byte those of the whole-frame
//! path: the full-size image converted to sRGB, colourized whole, converted
//! back whole, then encoded. Odd sizes, so that bands, blocks of the Lab
//! converter and PNG/TIFF rows end anywhere.
//!
//! One test function: it sets SOURCE_DATE_EPOCH (the outputs' XMP dates)
//! for this process before anything reads it.

use std::path::Path;

use colorize_device::shared::lab16;
use colorize_device::shared::recombine;
use colorize_device::Session;
use colorize_io::icc;
use colorize_io::images::{self, DecodeLimits, Metadata};
use colorize_io::lstar::{is_16_bit, l_plane};
use colorize_io::output::{self, Format, Pixels};
use colorize_io::pipeline::{Depth, OutputSpec, Worker};

/// A photo-like RGB image: smooth gradients, texture, saturated patches
/// (so that the lightness hold runs) and flat areas.
fn photo(w: u32, h: u32, sixteen: bool) -> image::DynamicImage {
    let v = |x: u32, y: u32, c: u32| -> f64 {
        let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
        let smooth = 0.5 + 0.45 * ((fx * 6.0 + c as f64 * 2.1).sin() * (fy * 4.0 + c as f64).cos());
        let texture = (((x * 7 + y * 13 + c * 5) % 17) as f64 - 8.0) / 400.0;
        let patch = if (x / 40 + y / 30) % 5 == 0 {
            [1.0, 0.05, 0.0][c as usize]
        } else {
            smooth
        };
        if (x / 90 + y / 70) % 7 == 3 {
            0.42 // flat
        } else {
            (patch + texture).clamp(0.0, 1.0)
        }
    };
    if sixteen {
        image::DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(w, h, |x, y| {
            image::Rgb([0, 1, 2].map(|c| (v(x, y, c) * 65535.0) as u16))
        }))
    } else {
        image::DynamicImage::ImageRgb8(image::ImageBuffer::from_fn(w, h, |x, y| {
            image::Rgb([0, 1, 2].map(|c| (v(x, y, c) * 255.0) as u8))
        }))
    }
}

/// Writes `img` as a PNG carrying `icc`.
fn save_png(path: &Path, img: &image::DynamicImage, icc: Option<Vec<u8>>) {
    let mut info = png::Info::with_size(img.width(), img.height());
    info.icc_profile = icc.map(Into::into);
    let f = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::with_info(f, info).unwrap();
    enc.set_color(png::ColorType::Rgb);
    let bytes: Vec<u8> = match img {
        image::DynamicImage::ImageRgb16(p) => {
            enc.set_depth(png::BitDepth::Sixteen);
            p.as_raw().iter().flat_map(|v| v.to_be_bytes()).collect()
        }
        _ => {
            enc.set_depth(png::BitDepth::Eight);
            img.to_rgb8().into_raw()
        }
    };
    enc.write_header()
        .unwrap()
        .write_image_data(&bytes)
        .unwrap();
}

/// The whole-frame path, as `colorize files` ran before it streamed.
fn whole_frame(session: &mut Session<'_>, input: &Path, format: Format, sixteen: bool) -> Vec<u8> {
    let (img, mut meta): (_, Metadata) =
        images::open_with_metadata(input, &DecodeLimits::DEFAULT).unwrap();
    let (space, note) = icc::prepare(&img, &mut meta);
    assert!(note.is_none(), "{note:?}");
    let srgb = match &space {
        Some(space) => space.to_srgb(&img).unwrap(),
        None => img,
    };
    let plane = l_plane(&srgb);
    let (w, h) = (plane.width, plane.height);
    let mut rgb = vec![0u8; 3 * w * h];
    let ab = session.predict(&plane.l, w, h).unwrap();
    let mut scratch = vec![0; recombine::scratch_len(ab.width, w)];
    recombine::frame(&ab, &plane.l, w, h, &mut rgb, &mut scratch);
    let mut out = Vec::new();
    let provenance = session.model().provenance();
    if sixteen {
        let mut rgb16 = vec![0u16; rgb.len()];
        lab16::rgb8_to_rgb16_at_l(&rgb, &plane.l, &mut rgb16);
        if let Some(space) = &space {
            space.srgb16_to_input_space(&mut rgb16).unwrap();
        }
        output::encode_pixels(
            &mut out,
            format,
            w,
            h,
            Pixels::Rgb16(&rgb16),
            &provenance,
            &meta,
        )
    } else {
        if let Some(space) = &space {
            space.srgb8_to_input_space(&mut rgb).unwrap();
        }
        output::encode_pixels(
            &mut out,
            format,
            w,
            h,
            Pixels::Rgb8(&rgb),
            &provenance,
            &meta,
        )
    }
    .unwrap();
    out
}

#[test]
fn streamed_outputs_are_byte_identical_to_the_whole_frame_path() {
    // SAFETY: set before any thread of this test binary reads the
    // environment (it has this one test).
    unsafe { std::env::set_var("SOURCE_DATE_EPOCH", "1764633600") };
    let tmp = tempfile::tempdir().unwrap();
    let model = colorize_device::default_model().unwrap();
    let mut session = model.session().unwrap();
    let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    // The large photo only natively: it alone would take minutes under
    // qemu in a debug build.
    let large = cfg!(target_arch = "x86_64");
    let cases: &[(u32, u32, bool, Option<&[u8]>)] = &[
        (1, 1, false, None),
        (3, 1001, false, Some(&p3)),
        (1001, 3, true, Some(&p3)),
        (37, 41, true, None),
        (2561, 1599, false, None),
    ];
    let mut worker = Worker::new();
    for &(w, h, sixteen_in, icc) in cases {
        if w * h > 1 << 20 && !large {
            continue;
        }
        let input = tmp.path().join(format!("in-{w}x{h}.png"));
        save_png(&input, &photo(w, h, sixteen_in), icc.map(<[u8]>::to_vec));
        for (format, depth) in [
            (Format::Png, Depth::Same),
            (Format::Tiff, Depth::Same),
            (Format::Png, Depth::Eight),
            (Format::Tiff, Depth::Sixteen),
            (Format::Jpeg, Depth::Eight),
        ] {
            let sixteen = match depth {
                Depth::Eight => false,
                Depth::Sixteen => true,
                Depth::Same => sixteen_in,
            };
            let what = format!(
                "{w}x{h} {format:?} {}-bit, ICC {}",
                if sixteen { 16 } else { 8 },
                icc.is_some()
            );
            let out = tmp
                .path()
                .join(format!("out-{w}x{h}-{sixteen}.{}", format.extension()));
            let (img, meta) = images::open_with_metadata(&input, &DecodeLimits::DEFAULT).unwrap();
            worker
                .load(img, meta)
                .and_then(|frame| {
                    worker.stage(&mut session, &frame, &out, OutputSpec { format, depth })
                })
                .and_then(|staged| staged.commit())
                .unwrap_or_else(|e| panic!("{what}: {e:#}"));
            let streamed = std::fs::read(&out).unwrap();
            let whole = whole_frame(&mut session, &input, format, sixteen);
            assert!(
                streamed == whole,
                "{what}: the streamed file differs from the whole-frame one"
            );
            // And it is a file a decoder reads back at its size.
            let back = image::load_from_memory(&streamed).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((back.width(), back.height()), (w, h), "{what}");
            assert_eq!(is_16_bit(&back), sixteen, "{what}");
        }
    }
}
