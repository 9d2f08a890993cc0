//! One colourize path: a scan colourized by the box is the file `colorize
//! files` writes for it, byte for byte: 8-bit gray and colour, a JPEG, a
//! colour PNG large enough to stream to disk as it is encoded, a 16-bit
//! gray TIFF (a 16-bit output from both) and a 16-bit RGB PNG with an ICC
//! profile (converted back into it by both). The real binary runs
//! both, with the embedded default model and the outputs' dates fixed.

mod box_common;
mod cli_common;
use box_common::{files, noise};
use cli_common::{colorize, text};

use std::path::Path;

/// Display P3, the profile the tagged input carries.
fn p3_profile() -> Vec<u8> {
    moxcms::ColorProfile::new_display_p3().encode().unwrap()
}

fn write_inputs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let (w, h) = (45u32, 31u32);
    image::GrayImage::from_raw(w, h, noise((w * h) as usize, 1))
        .unwrap()
        .save(dir.join("gray8.png"))
        .unwrap();
    let rgb = noise((3 * w * h) as usize, 2);
    image::RgbImage::from_raw(w, h, rgb.clone())
        .unwrap()
        .save(dir.join("rgb8.png"))
        .unwrap();
    image::RgbImage::from_raw(w, h, rgb)
        .unwrap()
        .save(dir.join("photo.jpg"))
        .unwrap();
    // Over the PNG writer's 4 MiB hold, so the streaming path writes to the
    // file as it goes.
    let (bw, bh) = (1300u32, 1100u32);
    image::RgbImage::from_raw(bw, bh, noise((3 * bw * bh) as usize, 5))
        .unwrap()
        .save(dir.join("large.png"))
        .unwrap();
    let gray16: Vec<u16> = (0..w * h).map(|i| (i * 4099 % 65536) as u16).collect();
    let mut f = std::fs::File::create(dir.join("gray16.tiff")).unwrap();
    tiff::encoder::TiffEncoder::new(&mut f)
        .unwrap()
        .write_image::<tiff::encoder::colortype::Gray16>(w, h, &gray16)
        .unwrap();
    // A 16-bit RGB PNG in Display P3.
    let rgb16: Vec<u16> = (0..3 * w * h).map(|i| (i * 7919 % 65536) as u16).collect();
    let file = std::fs::File::create(dir.join("p3-16.png")).unwrap();
    let mut info = png::Info::with_size(w, h);
    info.icc_profile = Some(p3_profile().into());
    let mut enc = png::Encoder::with_info(file, info).unwrap();
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Sixteen);
    let mut writer = enc.write_header().unwrap();
    let bytes: Vec<u8> = rgb16.iter().flat_map(|v| v.to_be_bytes()).collect();
    writer.write_image_data(&bytes).unwrap();
}

#[test]
fn a_box_output_is_the_file_colorize_files_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let inputs = root.join("inputs");
    write_inputs(&inputs);
    let names = files(&inputs);
    assert_eq!(names.len(), 6, "{names:?}");

    let by_files = root.join("by-files");
    let o = colorize()
        .env("SOURCE_DATE_EPOCH", "1764633600")
        .arg("files")
        .arg(&inputs)
        .arg("--out")
        .arg(&by_files)
        .output()
        .unwrap();
    assert!(o.status.success(), "colorize files: {}", text(&o.stderr));

    let inbox = root.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for name in &names {
        std::fs::copy(inputs.join(name), inbox.join(name)).unwrap();
    }
    let by_box = root.join("by-box");
    let cfg = root.join("box.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\ndir = {:?}\n[inbox]\ndir = {:?}\npoll_ms = 20\n[limits]\nmin_free_mb = 1\n",
            by_box, inbox,
        ),
    )
    .unwrap();
    let o = colorize()
        .env("SOURCE_DATE_EPOCH", "1764633600")
        .args(["box", "--config"])
        .arg(&cfg)
        .arg("--drain")
        .output()
        .unwrap();
    assert!(o.status.success(), "colorize box: {}", text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("note:"),
        "the box could not use a profile: {}",
        text(&o.stderr)
    );

    let outputs = files(&by_files);
    assert_eq!(outputs, files(&by_box));
    assert_eq!(outputs.len(), names.len());
    for name in &outputs {
        let a = std::fs::read(by_files.join(name)).unwrap();
        let b = std::fs::read(by_box.join(name)).unwrap();
        assert!(
            a == b,
            "{name}: the box's output differs from `colorize files`'s"
        );
        let img = image::load_from_memory(&a).unwrap();
        let sixteen = name.starts_with("gray16") || name.starts_with("p3-16");
        assert_eq!(
            matches!(img.color(), image::ColorType::Rgb16),
            sixteen,
            "{name}: {:?}",
            img.color()
        );
    }
}
