//! `colorize-train bench`: the throughput table ([`bench::measure`] per
//! arch, compute mode and device).

use anyhow::Result;
use colorize_shared::contract;
use tch::Device;

use crate::model::{Arch, Compute};
use crate::{bench, resources};

/// Print a table of training and inference images/s per arch, compute mode
/// and device, with achieved GFLOP/s and the share of the CPU's f32 peak.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train bench
  colorize-train bench --arch ctx --arch unet --compute f32,bf16,bf16-cl --batch-size 128
  colorize-train bench --batch-size 256 --steps 20 --device cuda")]
pub struct Args {
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Only these archs (repeatable) [default: every arch].
    #[arg(long, value_enum)]
    pub arch: Vec<Arch>,
    /// Compute modes, comma separated: f32, bf16 (mixed precision), and
    /// either with -cl (channels-last strides).
    #[arg(long, value_delimiter = ',', default_value = "f32,bf16")]
    pub compute: Vec<String>,
    /// libtorch intra-op threads [default: libtorch's, one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed training steps per arch (after 2 warm-up steps).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    #[arg(long, default_value_t = contract::DEFAULT_INPUT_SIZE)]
    pub size: usize,
    /// auto (CPU, plus CUDA when present), cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

pub fn run(a: Args) -> Result<()> {
    let devices: Vec<Device> = match a.device.as_str() {
        "auto" if tch::Cuda::is_available() => vec![Device::Cpu, Device::Cuda(0)],
        other => vec![resources::pick_device(other)?],
    };
    if let Some(t) = a.threads {
        tch::set_num_threads(t as i32);
    }
    let computes = a
        .compute
        .iter()
        .map(|c| c.parse::<Compute>())
        .collect::<Result<Vec<_>>>()?;
    let archs: Vec<Arch> = if a.arch.is_empty() {
        Arch::all().to_vec()
    } else {
        a.arch.clone()
    };
    let cpu = bench::CpuPeak::detect(tch::get_num_threads() as usize);
    eprintln!("{}", cpu.describe());
    println!(
        "{:<6} {:<8} {:<8} {:>6} {:>12} {:>12} {:>12} {:>8} {:>12}",
        "arch",
        "device",
        "compute",
        "batch",
        "GFLOP/frame",
        "train img/s",
        "train GFLOP/s",
        "% peak",
        "infer img/s"
    );
    for device in devices {
        for &arch in &archs {
            for &compute in &computes {
                let cfg = bench::bench_config(arch, a.size);
                let r = bench::measure(&cfg, compute, device, a.batch_size, a.steps)?;
                let train_gflops = r.train_gflops();
                let peak = match device {
                    Device::Cpu => format!("{:.1}", 100.0 * train_gflops / cpu.gflops),
                    _ => "-".into(),
                };
                println!(
                    "{:<6} {:<8} {:<8} {:>6} {:>12.3} {:>12.1} {:>12.1} {:>8} {:>12.1}",
                    arch.name(),
                    format!("{device:?}").to_lowercase(),
                    compute.to_string(),
                    a.batch_size,
                    r.gflop_per_frame,
                    r.train_ips,
                    train_gflops,
                    peak,
                    r.infer_ips
                );
            }
        }
    }
    Ok(())
}
