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
//! `--hints DIR` adds one after it: the model with the photo's colour hints
//! from `DIR/<stem>.hints.json` (as `colorize files --hints` gives them;
//! none where there is no such file), each point ringed in white.
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
    let mut hints_dir: Option<std::path::PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--model" => model_path = it.next().cloned(),
            "--compare" => compare = it.next().cloned(),
            "--width" => width = it.next().context("--width needs a value")?.parse()?,
            "--hints" => hints_dir = it.next().map(Into::into),
            _ => positional.push(a.clone()),
        }
    }
    let Some((output, photos)) = positional.split_last().filter(|(_, p)| !p.is_empty()) else {
        anyhow::bail!(
            "usage: before_after <photo>... <figure.jpg> [--model M] [--compare OLD] [--hints DIR] [--width PX]"
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

    let columns = models.len() as u32 + 2 + u32::from(hints_dir.is_some());
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
        if let Some(dir) = &hints_dir {
            let stem = std::path::Path::new(input)
                .file_stem()
                .context("a file name")?;
            let file = dir.join(format!("{}.hints.json", stem.to_string_lossy()));
            let given = match file.is_file() {
                true => colorize_io::hints::read_file(&file)?,
                false => Vec::new(),
            };
            let placed = colorize_io::hints::place(&given, plane.width, plane.height)?;
            let grid: Vec<_> = placed
                .iter()
                .map(|p| p.to_grid(plane.width, plane.height))
                .collect();
            let m = models.last().expect("the model");
            let mut session = m.session()?;
            session.set_hints(&grid)?;
            let mut rgb = vec![0u8; 3 * plane.l.len()];
            Worker::new().colorize_plane(
                &mut session,
                &plane.l,
                plane.width,
                plane.height,
                &mut rgb,
            )?;
            let mut panel = RgbImage::from_raw(w, h, rgb).context("hinted panel")?;
            // A ring that stays visible after the figure's downscale.
            let r = (w.max(h) / 80).max(3) as i64;
            for p in &placed {
                for t in 0..720 {
                    let a = t as f64 * std::f64::consts::PI / 360.0;
                    for d in [r, r + 1, r + 2] {
                        let x = p.x as i64 + (d as f64 * a.cos()) as i64;
                        let y = p.y as i64 + (d as f64 * a.sin()) as i64;
                        if (0..w as i64).contains(&x) && (0..h as i64).contains(&y) {
                            panel.put_pixel(x as u32, y as u32, image::Rgb([255, 255, 255]));
                        }
                    }
                }
            }
            panels.push(panel);
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
    let hinted = if hints_dir.is_some() {
        " | with hints"
    } else {
        ""
    };
    println!(
        "{output}: {} rows, gray | {}{hinted} | original",
        rows.len(),
        names.join(" | ")
    );
    Ok(())
}
