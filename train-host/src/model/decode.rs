//! From the network's output to a*b*: a regression head's map as is, a
//! distribution head's bins through the annealed mean at a vividness.

use anyhow::{ensure, Result};
use colorize_shared::colour_bins::{self, Annealing};
use colorize_shared::contract::AB_RANGE;
use tch::{Kind, TchError, Tensor};

use super::config::Head;
use super::torch::TorchModel;

impl TorchModel {
    /// `--vivid-temperature`: the annealing temperature at vividness 1, in
    /// (0, 1]; `None` keeps the model's. Takes effect at the next
    /// [`TorchModel::set_vividness`].
    pub fn set_vivid_temperature(&mut self, t: Option<f32>) -> Result<()> {
        if let Some(t) = t {
            ensure!(
                t > 0.0 && t <= 1.0,
                "--vivid-temperature must be in (0, 1], got {t}"
            );
            self.decoding.vivid_temperature = t;
        }
        Ok(())
    }

    /// Decodes at vividness `v` from now on: `self.decoding.annealing(v)`.
    pub fn set_vividness(&mut self, v: f32) {
        self.annealing = self.decoding.annealing(v);
    }

    /// a*b* `[n, 2, s, s]` in -1..1 (the contract's output scale; s the
    /// sample size, [`ModelConfig::sample_size`]) from the network's output:
    /// for a regression head itself, enlarged bilinearly when it is smaller;
    /// for a distribution head the annealed mean of `annealing` over the bin
    /// centres (as `colorize_shared::colour_bins::annealed_mean`), enlarged
    /// (nearest).
    pub fn decode(&self, out: &Tensor, annealing: &Annealing) -> Result<Tensor, TchError> {
        self.decode_pinned(out, annealing, None)
    }

    /// [`TorchModel::decode`], with a distribution head's colours pinned to
    /// the hints where `pins` (`[n, HINT_CHANNELS, h, w]`, as
    /// `colorize_shared::contract::hints_to_pins` makes them) marks a cell,
    /// before the enlargement: the device's `contract::pin_hints`.
    pub fn decode_pinned(
        &self,
        out: &Tensor,
        annealing: &Annealing,
        pins: Option<&Tensor>,
    ) -> Result<Tensor, TchError> {
        let s = self.config.sample_size() as i64;
        if self.config.head == Head::Regression {
            // Bilinear, as the device's recombination enlarges a*b*.
            return if out.size()[2] == s {
                Ok(out.shallow_clone())
            } else {
                out.f_upsample_bilinear2d([s, s], false, None, None)
            };
        }
        let bins = colour_bins::bins();
        let flat: Vec<f32> = bins
            .iter()
            .flat_map(|c| [c[0] / AB_RANGE, c[1] / AB_RANGE])
            .collect();
        let centres = Tensor::f_from_slice(&flat)?
            .f_view([bins.len() as i64, 2])?
            .f_to_device(out.device())?;
        let mut z = out.f_to_kind(Kind::Float)?;
        if !annealing.offsets.is_empty() {
            let offsets = Tensor::f_from_slice(&annealing.offsets)?
                .f_view([1, bins.len() as i64, 1, 1])?
                .f_to_device(out.device())?;
            z = z.f_sub(&offsets)?;
        }
        let p = z
            .f_div_scalar(annealing.temperature.max(1e-3) as f64)?
            .f_softmax(1, Kind::Float)?;
        let mut ab = Tensor::f_einsum("nqhw,qc->nchw", &[&p, &centres], None::<i64>)?;
        if let Some(pins) = pins {
            let marked = pins.f_narrow(1, 0, 1)?.f_gt(0.0)?;
            ab = pins.f_narrow(1, 1, 2)?.f_where_self(&marked, &ab)?;
        }
        if ab.size()[2] == s {
            Ok(ab)
        } else {
            ab.f_upsample_nearest2d([s, s], None, None)
        }
    }
}
