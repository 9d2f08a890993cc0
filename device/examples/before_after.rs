//! Makes the README's before/after figure: gray input | colourized | original,
//! side by side and scaled down, from one colour photo.
//!
//!     cargo run --release -p colorize-device --example before_after -- \
//!         ../shared/data/photos/ColorfulCups-2560x1600.jpg docs/before-after.jpg [--model M] [--width 1200]
//!
//! The colourized panel is made exactly as `colorize files` makes it: the
//! photo's L* only goes in, full resolution, then the figure is scaled down.
use anyhow::{bail, Context, Result};
use colorize_device::{default_model, images, runtime::Model};
use colorize_shared::lab::l_to_gray8;
use image::{imageops, imageops::FilterType, GrayImage, RgbImage};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut positional, mut model_path, mut width) = (Vec::new(), None, 1200u32);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model_path = it.next().cloned(),
            "--width" => width = it.next().context("--width needs a value")?.parse()?,
            _ => positional.push(a.clone()),
        }
    }
    let [input, output] = positional.as_slice() else {
        bail!("usage: before_after <photo> <figure.jpg> [--model M] [--width PX]");
    };
    let model = match model_path {
        Some(p) => Model::from_path(&p)?,
        None => default_model()?,
    };
    let photo = images::open(input.as_ref(), &images::DecodeLimits::default())?;
    let plane = images::l_plane(&photo);
    let (w, h) = (plane.width as u32, plane.height as u32);
    let gray = GrayImage::from_raw(w, h, plane.l.iter().map(|&l| l_to_gray8(l)).collect())
        .context("gray panel")?;
    let mut rgb = vec![0u8; 3 * plane.l.len()];
    model
        .session()?
        .colorize_l(&plane.l, plane.width, plane.height, &mut rgb)?;
    let coloured = RgbImage::from_raw(w, h, rgb).context("colour panel")?;

    let panel_w = width / 3;
    let panel_h = (h as u64 * panel_w as u64 / w as u64) as u32;
    let panels = [
        image::DynamicImage::ImageLuma8(gray).to_rgb8(),
        coloured,
        photo.to_rgb8(),
    ];
    let mut figure = RgbImage::from_pixel(3 * panel_w + 8, panel_h, image::Rgb([255, 255, 255]));
    for (i, p) in panels.iter().enumerate() {
        let small = imageops::resize(p, panel_w, panel_h, FilterType::Triangle);
        imageops::replace(&mut figure, &small, (i as u32 * (panel_w + 4)) as i64, 0);
    }
    figure
        .save(output)
        .with_context(|| format!("{output}: can not write the figure"))?;
    println!("{output}: gray | colourized ({}) | original", model.id());
    Ok(())
}
