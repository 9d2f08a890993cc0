//! `colorize-train colorize`: image files colourized with a checkpoint at
//! full resolution (a quick look).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_shared::{contract, lab, recombine};
use tch::{Device, Tensor};

use crate::model::TorchModel;
use crate::{checkpoint, resources};

/// Colourize image files with a checkpoint at full resolution (a quick look).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train colorize --model /tmp/run/best.ot ../shared/data/sipi-color/*.png -o /tmp/colour
  colorize-train colorize --model /tmp/run/best.ot photo.jpg -o /tmp/fig --max-side 480 --with-gray --format jpg")]
pub struct Args {
    #[arg(long)]
    pub model: PathBuf,
    /// Input images.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder (files named after the inputs).
    #[arg(short, long)]
    pub out: PathBuf,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Downscale inputs larger than this on their longer side first (for
    /// figures; the model itself always sees its input size).
    #[arg(long)]
    pub max_side: Option<u32>,
    /// Write the gray input and the colourized result side by side.
    #[arg(long)]
    pub with_gray: bool,
    /// Vividness 0..1 of a distribution-head model (see `eval --vividness`).
    #[arg(long, default_value_t = 0.0)]
    pub vividness: f32,
    /// Output format: png, or jpg (quality 90, for figures in docs).
    #[arg(long, default_value = "png", value_parser = ["png", "jpg"])]
    pub format: String,
}

pub fn run(a: Args) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    let (_vs, mut model, _) = checkpoint::load_checkpoint(&a.model, device)?;
    model.set_vividness(a.vividness);
    let size = model.config.size;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for path in &a.inputs {
        let out = colorize_one(&model, device, size, path, &a)
            .with_context(|| format!("colourizing {}", path.display()))?;
        eprintln!("{} -> {}", path.display(), out.display());
    }
    Ok(())
}

/// Full-resolution L from the input, a*b* predicted at model size, then
/// recombined with the shared bilinear upsampling.
fn colorize_one(
    model: &TorchModel,
    device: Device,
    size: usize,
    path: &Path,
    a: &Args,
) -> Result<PathBuf> {
    let mut img = image::open(path)?.to_rgb8();
    if let Some(max) = a.max_side {
        let (w, h) = img.dimensions();
        if w.max(h) > max {
            let (nw, nh) = if w >= h {
                (max, (h as u64 * max as u64 / w as u64).max(1) as u32)
            } else {
                ((w as u64 * max as u64 / h as u64).max(1) as u32, max)
            };
            img = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
        }
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut l = vec![0u16; w * h];
    lab::rgb8_to_l_plane(img.as_raw(), &mut l);
    let mut small = vec![0u16; size * size];
    contract::resize_l_plane(&l, w, h, &mut small, size, size);
    let mut input = vec![0f32; size * size];
    contract::l_plane_to_input(&small, &mut input);
    let x = Tensor::from_slice(&input)
        .view([1, 1, size as i64, size as i64])
        .to_device(device);
    let y = tch::no_grad(|| model.decode(&model.forward(&x, false)?, &model.annealing))?;
    // a*b* at the decode's size (lite: half the input's).
    let side = y.size()[2] as usize;
    let y = Vec::<f32>::try_from(&y.to_device(Device::Cpu).reshape(-1))?;
    let (mut pa, mut pb) = (vec![0i16; side * side], vec![0i16; side * side]);
    contract::output_to_ab_planes(&y, &mut pa, &mut pb);
    let ab = recombine::AbPlanes {
        width: side,
        height: side,
        a: &pa,
        b: &pb,
    };
    let mut rgb = vec![0u8; 3 * w * h];
    let mut scratch = vec![0i32; recombine::scratch_len(side, w)];
    recombine::colorize(&ab, &l, w, h, &mut rgb, &mut scratch);
    let colour = image::RgbImage::from_raw(w as u32, h as u32, rgb).context("image buffer size")?;
    let result = if a.with_gray {
        let mut both = image::RgbImage::new(2 * w as u32, h as u32);
        for (x, y, p) in colour.enumerate_pixels() {
            let g = lab::lab_to_rgb8(l[y as usize * w + x as usize], 0, 0);
            both.put_pixel(x, y, image::Rgb(g));
            both.put_pixel(x + w as u32, y, *p);
        }
        both
    } else {
        colour
    };
    let stem = path.file_stem().context("input has no file name")?;
    // Not `with_extension`: stems like "4.1.01" contain dots.
    let out = a
        .out
        .join(format!("{}.{}", stem.to_string_lossy(), a.format));
    let file =
        std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    if a.format == "jpg" {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 90)
            .encode_image(&result)?;
    } else {
        result.write_to(&mut writer, image::ImageFormat::Png)?;
    }
    std::io::Write::flush(&mut writer).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}
