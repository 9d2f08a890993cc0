//! Where a run trains and how much fits: the device choice, CUDA
//! out-of-memory detection, and the CPU batch planner (on Linux a too-large
//! allocation is not an error, the OOM killer ends the process later, so the
//! batch is sized against MemAvailable before the first step).

use std::fs;

use anyhow::{bail, Result};
use tch::{Device, TchError};

use crate::model::TorchModel;

/// Bytes a CPU training step holds per image and per value of its layer
/// outputs ([`TorchModel::activation_elems`]). Measured peak RSS slopes on the
/// paper CNN (batch 200 -> 600): 2.0 B with bf16 and channels-last, 4.4 B in
/// f32; these add about 20 % of margin.
const CPU_STEP_BYTES_PER_ELEM_BF16: f64 = 2.5;

const CPU_STEP_BYTES_PER_ELEM_F32: f64 = 5.0;

/// Share of the available memory a batch may plan to use.
const CPU_MEMORY_SHARE: f64 = 0.85;

/// `MemAvailable` of /proc/meminfo, in bytes.
pub fn mem_available_bytes() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU seconds (user and system, every thread) this process has used.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The CPU counterpart of halving on a CUDA out-of-memory error. On Linux a
/// CPU allocation too large for memory does not fail: the kernel's OOM
/// killer ends the process later, with nothing to catch. So the batch is
/// planned up front: halved while its estimated step memory exceeds
/// [`CPU_MEMORY_SHARE`] of `available`. Returns the batch size and, when it
/// changed, the message to print.
pub fn cpu_batch_that_fits(
    model: &TorchModel,
    batch: usize,
    available: Option<u64>,
) -> (usize, Option<String>) {
    let Some(available) = available else {
        return (batch, None);
    };
    let per_elem = if model.compute.bf16 {
        CPU_STEP_BYTES_PER_ELEM_BF16
    } else {
        CPU_STEP_BYTES_PER_ELEM_F32
    };
    let per_image = model.activation_elems() as f64 * per_elem;
    let budget = available as f64 * CPU_MEMORY_SHARE;
    let mut fits = batch.max(1);
    while fits > 1 && fits as f64 * per_image > budget {
        fits /= 2;
    }
    if fits == batch {
        return (batch, None);
    }
    let gib = |b: f64| b / (1u64 << 30) as f64;
    let note = format!(
        "batch size {batch} needs an estimated {:.1} GiB for a training step on the CPU, {:.1} GiB available: halved to {fits} ({:.1} GiB)",
        gib(batch as f64 * per_image),
        gib(available as f64),
        gib(fits as f64 * per_image),
    );
    (fits, Some(note))
}

pub fn is_oom(e: &TchError) -> bool {
    let msg = e.to_string().to_ascii_lowercase();
    msg.contains("out of memory")
}

/// `--device auto|cpu|cuda`.
pub fn pick_device(name: &str) -> Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "auto" => {
            let backend = crate::cuda::load();
            eprintln!("{backend}");
            Device::cuda_if_available()
        }
        "cuda" => {
            let backend = crate::cuda::load();
            if !tch::Cuda::is_available() {
                bail!("--device cuda: libtorch sees no CUDA device. {backend}");
            }
            eprintln!("{backend}");
            Device::Cuda(0)
        }
        other => bail!("--device {other}: expected auto, cpu or cuda"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, ModelConfig, OutputActivation};
    use tch::nn;

    fn paper(bf16: bool) -> TorchModel {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ModelConfig {
            arch: Arch::Paper,
            size: 64,
            width: 32,
            depth: 6,
            dropout: 0.0,
            output: OutputActivation::Tanh,
            head: Default::default(),
            finetune_encoder: false,
            finetune_from: None,
            hints: false,
            hint_coarse_width: None,
            hint_global: false,
        };
        let mut m = TorchModel::new(&vs.root(), cfg).unwrap();
        m.compute.bf16 = bf16;
        m
    }

    #[test]
    fn paper_activations_are_counted_per_layer() {
        // 6 x (conv + relu) of 32 x 64 x 64, then conv_out and tanh of 2 x 64 x 64.
        let px = 64 * 64;
        assert_eq!(paper(false).activation_elems(), 12 * 32 * px + 2 * 2 * px);
    }

    #[test]
    fn cpu_batch_is_halved_until_it_fits() {
        let m = paper(false);
        let per_image = m.activation_elems() as f64 * CPU_STEP_BYTES_PER_ELEM_F32;
        // Room for 1,300 images: 5,000 -> 2,500 -> 1,250.
        let available = (1300.0 * per_image / CPU_MEMORY_SHARE) as u64;
        let (fits, note) = cpu_batch_that_fits(&m, 5000, Some(available));
        assert_eq!(fits, 1250);
        assert!(note.unwrap().contains("halved to 1250"));
        assert_eq!(cpu_batch_that_fits(&m, 1000, Some(available)), (1000, None));
        // bf16 halves the estimate: 2,500 fits in the same memory.
        assert_eq!(
            cpu_batch_that_fits(&paper(true), 2500, Some(available)).0,
            2500
        );
        assert_eq!(cpu_batch_that_fits(&m, 5000, None), (5000, None));
    }
}
