//! Makes the README's before/after figure: one row per colour photo, gray
//! input | colourized | original, side by side and scaled down.
//!
//!     cargo run --release -p colorize-device --example before_after -- \
//!         ../shared/data/photos/*.jpg docs/before-after.jpg [--model M] [--compare OLD] [--width 1200]
//!
//! The colourized panel is made exactly as `colorize files` makes it: the
//! photo's L* only goes in, full resolution, then the figure is scaled down.
//! `--compare OLD` adds a panel by another model (e.g. the previous
//! default) before the model's own: gray | OLD | model | original.
use anyhow::{Context, Result};
use colorize_device::{default_model, runtime::Model};
use colorize_io::images;
use colorize_io::pipeline::Worker;
use colorize_shared::lab::l_to_gray8;
use image::{imageops, imageops::FilterType, GrayImage, RgbImage};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut positional, mut model_path, mut compare, mut width) =
        (Vec::new(), None, None, 1200u32);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model_path = it.next().cloned(),
            "--compare" => compare = it.next().cloned(),
            "--width" => width = it.next().context("--width needs a value")?.parse()?,
            _ => positional.push(a.clone()),
        }
    }
    let Some((output, photos)) = positional.split_last().filter(|(_, p)| !p.is_empty()) else {
        anyhow::bail!(
            "usage: before_after <photo>... <figure.jpg> [--model M] [--compare OLD] [--width PX]"
        );
    };
    let model = match model_path {
        Some(p) => Model::from_path(&p)?,
        None => default_model()?,
    };
    let mut models = Vec::new();
    if let Some(p) = compare {
        models.push(Model::from_path(&p)?);
    }
    models.push(model);

    let columns = models.len() as u32 + 2;
    let panel_w = width / columns;
    let mut rows = Vec::new();
    for input in photos {
        let photo = images::open(input.as_ref(), &images::DecodeLimits::default())?;
        let plane = colorize_io::lstar::l_plane(&photo);
        let (w, h) = (plane.width as u32, plane.height as u32);
        let gray = GrayImage::from_raw(w, h, plane.l.iter().map(|&l| l_to_gray8(l)).collect())
            .context("gray panel")?;
        let mut panels = vec![image::DynamicImage::ImageLuma8(gray).to_rgb8()];
        for m in &models {
            let mut rgb = vec![0u8; 3 * plane.l.len()];
            Worker::new().colorize_plane(
                &mut m.session()?,
                &plane.l,
                plane.width,
                plane.height,
                &mut rgb,
            )?;
            panels.push(RgbImage::from_raw(w, h, rgb).context("colour panel")?);
        }
        panels.push(photo.to_rgb8());
        let panel_h = (h as u64 * panel_w as u64 / w as u64) as u32;
        rows.push(
            panels
                .iter()
                .map(|p| imageops::resize(p, panel_w, panel_h, FilterType::Triangle))
                .collect::<Vec<_>>(),
        );
    }
    let height: u32 = rows.iter().map(|r| r[0].height() + 4).sum::<u32>() - 4;
    let mut figure = RgbImage::from_pixel(
        columns * (panel_w + 4) - 4,
        height,
        image::Rgb([255, 255, 255]),
    );
    let mut y = 0;
    for row in &rows {
        for (i, p) in row.iter().enumerate() {
            imageops::replace(&mut figure, p, (i as u32 * (panel_w + 4)) as i64, y);
        }
        y += row[0].height() as i64 + 4;
    }
    figure
        .save(output)
        .with_context(|| format!("{output}: can not write the figure"))?;
    let names: Vec<String> = models.iter().map(|m| m.id().to_string()).collect();
    println!(
        "{output}: {} rows, gray | {} | original",
        rows.len(),
        names.join(" | ")
    );
    Ok(())
}
