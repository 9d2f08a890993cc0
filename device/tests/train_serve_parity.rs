//! Train/serve parity: for an image, the input tensor the trainer feeds its
//! network (`colorize_io::samples`: `decode_resized`, then the centre crop's
//! `crop_input`, which is what `colorize-train`'s `make_batch` calls) equals
//! the one the device feeds tract (decode, `Worker::load`, then
//! `Session::predict`) within 1e-6. Colour and gray, 8 and 16 bit, an ICC
//! profile, a photo larger than the samples, and a model whose input is the
//! sample enlarged 2x (the shipped lite model's layout).
//!
//! What parity cannot cover, by design of the training data rather than the
//! code: a sample is the image at the sample size (Tiny ImageNet's 64x64),
//! so for a photo larger than that with lite's 128x128 input the trainer
//! enlarges a 64x64 sample where the device box-filters the photo to 128,
//! and a non-square photo is cropped to a square sample where the device
//! squeezes the whole frame. Both paths use the same functions; the last
//! case below shows the first difference is real and bounded.

use colorize_device::Model;
use colorize_io::images::{self, DecodeLimits};
use colorize_io::pipeline::Worker;
use colorize_io::samples;
use colorize_model::onnx::to_onnx;
use colorize_model::synthetic::conv_net;

/// Deterministic photo-like pixels: gradients plus texture.
fn pixels(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((i * 7 % 200) as u32 + (s >> 26)) as u8
        })
        .collect()
}

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A 16-bit RGB PNG tagged Display P3.
fn p3_png16(w: u32, h: u32) -> Vec<u8> {
    let mut info = png::Info::with_size(w, h);
    info.icc_profile = Some(
        moxcms::ColorProfile::new_display_p3()
            .encode()
            .unwrap()
            .into(),
    );
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::with_info(&mut out, info).unwrap();
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Sixteen);
        let samples: Vec<u8> = pixels((3 * w * h) as usize, 9)
            .iter()
            .flat_map(|&v| (v as u16 * 255 + 91).to_be_bytes())
            .collect();
        enc.write_header()
            .unwrap()
            .write_image_data(&samples)
            .unwrap();
    }
    out
}

/// The trainer's input for `bytes` (samples of side `sample`, a model
/// input of side `input`) and the device's, side by side.
fn inputs(bytes: &[u8], sample: usize, input: usize) -> (Vec<f32>, Vec<f32>) {
    let s = samples::decode_resized(bytes, sample).unwrap();
    let mut trainer = vec![0f32; input * input];
    s.crop_input(
        s.centre(sample),
        sample,
        false,
        input,
        &mut Vec::new(),
        &mut Vec::new(),
        &mut trainer,
    );

    let model = Model::from_bytes(&to_onnx(&conv_net(input, 4, 7)).unwrap()).unwrap();
    let mut session = model.session().unwrap();
    let (img, meta) = images::decode_bytes_with_metadata(bytes, &DecodeLimits::DEFAULT).unwrap();
    let mut worker = Worker::new();
    let frame = worker.load(img, meta).unwrap();
    assert!(frame.note.is_none(), "{:?}", frame.note);
    session
        .predict(worker.l_plane(), frame.width, frame.height)
        .unwrap();
    (trainer, session.last_input().unwrap())
}

#[test]
fn the_trainer_feeds_its_network_what_the_device_feeds_tract() {
    use image::{DynamicImage, GrayImage, ImageFormat, RgbImage};
    let rgb64 =
        DynamicImage::ImageRgb8(RgbImage::from_raw(64, 64, pixels(3 * 64 * 64, 1)).unwrap());
    let gray64 = DynamicImage::ImageLuma8(GrayImage::from_raw(64, 64, pixels(64 * 64, 2)).unwrap());
    let gray16 = DynamicImage::ImageLuma16(
        image::ImageBuffer::from_raw(
            64,
            64,
            pixels(64 * 64, 3)
                .iter()
                .map(|&v| v as u16 * 251 + 17)
                .collect(),
        )
        .unwrap(),
    );
    let photo =
        DynamicImage::ImageRgb8(RgbImage::from_raw(256, 256, pixels(3 * 256 * 256, 4)).unwrap());
    let cases: [(&str, Vec<u8>, usize, usize); 6] = [
        (
            "64x64 colour JPEG (Tiny ImageNet), input 64",
            encode(&rgb64, ImageFormat::Jpeg),
            64,
            64,
        ),
        (
            "64x64 colour PNG, input enlarged to 128 (lite)",
            encode(&rgb64, ImageFormat::Png),
            64,
            128,
        ),
        (
            "64x64 gray JPEG",
            encode(&gray64, ImageFormat::Jpeg),
            64,
            64,
        ),
        (
            "64x64 16-bit gray PNG",
            encode(&gray16, ImageFormat::Png),
            64,
            64,
        ),
        ("64x64 16-bit Display P3 PNG", p3_png16(64, 64), 64, 64),
        (
            "256x256 photo, box-filtered to 64",
            encode(&photo, ImageFormat::Png),
            64,
            64,
        ),
    ];
    // The documented limit: photo -> 64 -> 128 against photo -> 128.
    let (trainer, device) = inputs(&encode(&photo, ImageFormat::Png), 64, 128);
    let off = trainer
        .iter()
        .zip(&device)
        .map(|(t, d)| (t - d).abs())
        .fold(0f32, f32::max);
    println!("256x256 photo, 64x64 sample enlarged to 128 vs box-filtered to 128: {off:e}");
    assert!(off > 1e-3, "the resolution difference is there ({off})");
    for (what, bytes, sample, input) in cases {
        let (trainer, device) = inputs(&bytes, sample, input);
        assert_eq!(trainer.len(), device.len(), "{what}");
        let worst = trainer
            .iter()
            .zip(&device)
            .map(|(t, d)| (t - d).abs())
            .fold(0f32, f32::max);
        println!("{what}: largest difference {worst:e}");
        assert!(
            worst <= 1e-6,
            "{what}: trainer and device inputs differ by {worst}"
        );
        // Not a trivial match: the input varies over the image.
        let spread = device.iter().fold(f32::MIN, |m, &v| m.max(v))
            - device.iter().fold(f32::MAX, |m, &v| m.min(v));
        assert!(spread > 0.1, "{what}: a flat input ({spread})");
    }
}
