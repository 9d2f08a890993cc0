//! `colorize-train export`: a checkpoint to ONNX.

use std::path::PathBuf;

use anyhow::Result;

use crate::export;

/// Export a checkpoint to ONNX (f32, or int8 with --int8 --calib).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train export /tmp/run/best.ot --out models/colorize.onnx
  colorize-train export /tmp/run/best.ot --out models/colorize-int8.onnx --int8 --calib ../shared/data/tiny-imagenet/val.tar.gz")]
pub struct Args {
    /// Checkpoint (.ot with its .json beside it).
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// Quantize the convolutions to int8 (QLinearConv).
    #[arg(long, requires = "calib")]
    pub int8: bool,
    /// Calibration images for --int8 (folders or shards, repeatable).
    #[arg(long)]
    pub calib: Vec<PathBuf>,
    /// How many calibration images to use.
    #[arg(long, default_value_t = 200)]
    pub calib_images: usize,
    /// Distribution-head models: the vividness (0..1) the device uses when
    /// its user sets none; pick it on val. Default 0.
    #[arg(long)]
    pub vividness: Option<f32>,
    /// Distribution heads: the annealing temperature at vividness 1
    /// (default: the model's, 0.5 for heads trained with rebalancing, else
    /// 0.1); export writes it into the model card.
    #[arg(long)]
    pub vivid_temperature: Option<f32>,
}

pub fn run(a: Args) -> Result<()> {
    let calib = if a.int8 {
        Some(export::checkpoint_calibration(
            &a.checkpoint,
            &a.calib,
            a.calib_images,
        )?)
    } else {
        None
    };
    let net = export::export(
        &a.checkpoint,
        &a.out,
        calib.as_deref(),
        a.vividness,
        a.vivid_temperature,
    )?;
    eprintln!(
        "wrote {} ({}, {} nodes{})",
        a.out.display(),
        net.arch,
        net.nodes.len(),
        if a.int8 { ", int8" } else { ", f32" }
    );
    Ok(())
}
