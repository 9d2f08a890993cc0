//! `colorize-train bench`: training and inference throughput of one
//! architecture in one compute mode, and the CPU's peak to compare it with.

use std::time::Instant;

use anyhow::Result;
use tch::{nn, Device, Kind, Tensor};

use crate::model::{Arch, Compute, ModelConfig, TorchModel};
use crate::optim::{Optimizer, OptimizerKind};

/// One row of the bench table.
pub struct Throughput {
    pub gflop_per_frame: f64,
    pub train_ips: f64,
    pub infer_ips: f64,
}

impl Throughput {
    /// Achieved training GFLOP/s: a training step is about three forward
    /// passes (forward, and the two halves of backward).
    pub fn train_gflops(&self) -> f64 {
        3.0 * self.gflop_per_frame * self.train_ips
    }
}

/// The benched model of `arch`: its default width and depth at `size`.
pub fn bench_config(arch: Arch, size: usize) -> ModelConfig {
    ModelConfig {
        arch,
        size,
        width: arch.default_width(),
        depth: arch.default_depth(),
        dropout: 0.0,
        output: Default::default(),
        head: Default::default(),
        finetune_encoder: false,
        finetune_from: None,
        hints: false,
        hint_coarse_width: None,
        hint_global: false,
    }
}

/// Times `steps` training steps (Adam, MSE on random data) and `steps`
/// inference batches, after two warm-up steps.
pub fn measure(
    cfg: &ModelConfig,
    compute: Compute,
    device: Device,
    batch_size: usize,
    steps: usize,
) -> Result<Throughput> {
    let vs = nn::VarStore::new(device);
    let mut model = TorchModel::new(&vs.root(), cfg.clone())?;
    model.compute = compute;
    let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 1e-4);
    let s = cfg.size as i64;
    let n = batch_size as i64;
    let x = Tensor::rand([n, 1, s, s], (Kind::Float, device));
    // Targets of the output's shape (lite predicts at 1/4 of its input).
    let out = tch::no_grad(|| model.forward(&x, false))?.size();
    let t = Tensor::rand(out.as_slice(), (Kind::Float, device));
    let mut step = || -> Result<()> {
        opt.zero_grad();
        let loss = model
            .forward(&x, true)?
            .f_mse_loss(&t, tch::Reduction::Mean)?;
        loss.f_backward()?;
        opt.step()?;
        // Waits for the device, so the timing is honest on CUDA.
        loss.f_double_value(&[])?;
        Ok(())
    };
    for _ in 0..2 {
        step()?;
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let train_ips = (steps * batch_size) as f64 / t0.elapsed().as_secs_f64();
    let infer = || -> Result<()> {
        let y = tch::no_grad(|| model.forward(&x, false))?;
        y.f_sum(Kind::Float)?.f_double_value(&[])?;
        Ok(())
    };
    infer()?;
    let t0 = Instant::now();
    for _ in 0..steps {
        infer()?;
    }
    let infer_ips = (steps * batch_size) as f64 / t0.elapsed().as_secs_f64();
    Ok(Throughput {
        gflop_per_frame: 2.0 * model.macs() as f64 / 1e9,
        train_ips,
        infer_ips,
    })
}

impl std::str::FromStr for Compute {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (precision, cl) = match s.strip_suffix("-cl") {
            Some(p) => (p, true),
            None => (s, false),
        };
        let bf16 = match precision {
            "f32" => false,
            "bf16" => true,
            other => anyhow::bail!("compute mode {other:?}: expected f32, bf16, f32-cl or bf16-cl"),
        };
        Ok(Compute {
            bf16,
            channels_last: cl,
        })
    }
}

impl std::fmt::Display for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.bf16 { "bf16" } else { "f32" })?;
        if self.channels_last {
            f.write_str("-cl")?;
        }
        Ok(())
    }
}

/// The f32 FMA peak of the cores libtorch uses, from /proc/cpuinfo.
pub struct CpuPeak {
    pub threads: usize,
    pub mhz: f64,
    /// f32 FLOP per cycle per core.
    pub flop_per_cycle: f64,
    pub gflops: f64,
    pub flags: Vec<&'static str>,
}

impl CpuPeak {
    pub fn detect(threads: usize) -> Self {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let mhz: f64 = field("cpu MHz").parse().unwrap_or(2000.0);
        let flags_line = field("flags");
        let has = |f: &str| flags_line.split_whitespace().any(|x| x == f);
        // Two FMA units per core (server cores since Skylake-SP and Zen 4
        // in practice): 2 units x lanes x 2 FLOP per fused multiply-add.
        let flop_per_cycle = if has("avx512f") {
            64.0
        } else if has("avx2") && has("fma") {
            32.0
        } else {
            8.0
        };
        let flags = ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
            .into_iter()
            .filter(|f| has(f))
            .collect();
        CpuPeak {
            threads,
            mhz,
            flop_per_cycle,
            gflops: threads as f64 * mhz / 1000.0 * flop_per_cycle,
            flags,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "CPU: {} threads at {:.0} MHz, {} f32 FLOP/cycle/core (two FMA units assumed): f32 peak {:.0} GFLOP/s; flags: {}",
            self.threads,
            self.mhz,
            self.flop_per_cycle,
            self.gflops,
            if self.flags.is_empty() { "-".to_string() } else { self.flags.join(" ") }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Arch;

    #[test]
    fn every_arch_can_be_measured() {
        for &arch in Arch::all() {
            let cfg = ModelConfig {
                arch,
                // lite's encoder needs a multiple of 32 with a power of two at 1/16.
                size: if arch == Arch::Lite { 64 } else { 16 },
                width: arch.default_width().min(8),
                depth: arch.default_depth(),
                dropout: 0.0,
                output: Default::default(),
                head: Default::default(),
                finetune_encoder: false,
                finetune_from: None,
                hints: false,
                hint_coarse_width: None,
                hint_global: false,
            };
            let r = measure(&cfg, Compute::default(), Device::Cpu, 2, 1).unwrap();
            assert!(r.train_ips > 0.0 && r.infer_ips > 0.0, "{arch:?}");
            assert!(r.gflop_per_frame > 0.0, "{arch:?}");
        }
    }
}
