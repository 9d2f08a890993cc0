//! `colorize-train pack`: training images into JPEG mosaics
//! ([`data::pack`]).

use std::path::PathBuf;

use anyhow::Result;
use colorize_shared::contract;

use crate::data;

/// Pack training images into JPEG mosaics of 64x64 tiles: the compact data
/// set of the GPU pack (scripts/gpu-pack.sh). `train --data DIR` reads them.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train pack --data ../shared/data/tiny-imagenet/train-0.tar.gz --images 5000 --out /tmp/mosaics
  D=../shared/data/tiny-imagenet; colorize-train pack --data $D/train-0.tar.gz --data $D/train-1.tar.gz \\
      --data $D/train-2.tar.gz --data $D/train-3.tar.gz --images 60000 --quality 85 --out pack/data")]
pub struct Args {
    /// Image folders or shards (repeatable), read as `train --data` does.
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Keep this many images, evenly spaced over the sources' order (Tiny
    /// ImageNet shards are in class order, so every class keeps its share)
    /// [default: all].
    #[arg(long)]
    pub images: Option<usize>,
    #[arg(long, default_value_t = contract::DEFAULT_INPUT_SIZE)]
    pub size: usize,
    /// Images under this mean a*b* chroma are left out as gray.
    #[arg(long, default_value_t = 3.0)]
    pub gray_threshold: f32,
    /// JPEG quality of the mosaics.
    #[arg(long, default_value_t = 85)]
    pub quality: u8,
    /// Tiles per mosaic side.
    #[arg(long, default_value_t = 32)]
    pub per_side: usize,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let opts = data::LoadOptions {
        size: a.size,
        classes: None,
        gray_threshold: a.gray_threshold,
        max_images: None,
        squash_crops: None,
        progress: true,
    };
    let cache = data::default_cache_dir();
    let r = data::pack(
        &a.data,
        &opts,
        a.images,
        a.per_side,
        a.quality,
        &a.out,
        cache.as_deref(),
    )?;
    println!(
        "packed {} of {} images ({} skipped as gray) into {} mosaics in {}: {:.1} MB, {:.0} bytes an image",
        r.packed,
        r.loaded,
        r.skipped_gray,
        r.files.len(),
        a.out.display(),
        r.bytes as f64 / 1e6,
        r.bytes as f64 / r.packed as f64
    );
    Ok(())
}
