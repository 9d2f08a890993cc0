//! RMSprop and Adam written on tch tensors rather than tch's `COptimizer`,
//! because tch cannot save an optimizer's state: with the state in our hands,
//! `--resume` continues exactly where an uninterrupted run would be.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, TchError, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// As in the paper; PyTorch's defaults (alpha 0.99, eps 1e-8).
    Rmsprop,
    /// beta1 0.9, beta2 0.999, eps 1e-8.
    Adam,
}

pub struct Optimizer {
    kind: OptimizerKind,
    lr: f64,
    step: i64,
    /// (name, parameter, first state, second state), sorted by name.
    params: Vec<(String, Tensor, Tensor, Tensor)>,
    /// Each parameter's learning rate as a fraction of `lr` (1 unless
    /// [`Optimizer::scale_lr`] set it).
    lr_scale: Vec<f64>,
}

const EPS: f64 = 1e-8;

impl Optimizer {
    pub fn new(vs: &nn::VarStore, kind: OptimizerKind, lr: f64) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, p)| {
                let s1 = p.zeros_like().detach();
                let s2 = p.zeros_like().detach();
                (name, p, s1, s2)
            })
            .collect::<Vec<_>>();
        Optimizer {
            kind,
            lr,
            step: 0,
            lr_scale: vec![1.0; params.len()],
            params,
        }
    }

    /// Scales the learning rate of the parameters whose name starts with
    /// `prefix` by `factor` (pretrained layers learn slower than a fresh
    /// head). Returns how many parameters it applies to.
    pub fn scale_lr(&mut self, prefix: &str, factor: f64) -> usize {
        let mut n = 0;
        for ((name, ..), s) in self.params.iter().zip(&mut self.lr_scale) {
            if name.starts_with(prefix) {
                *s = factor;
                n += 1;
            }
        }
        n
    }

    /// Sets the learning rate for the next steps (schedules).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Updates made so far (restored by [`Optimizer::load`]).
    pub fn steps(&self) -> i64 {
        self.step
    }

    pub fn zero_grad(&mut self) {
        for (_, p, _, _) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One update from the current gradients.
    pub fn step(&mut self) -> Result<(), TchError> {
        self.step += 1;
        let t = self.step as i32;
        let lr = self.lr;
        let kind = self.kind;
        tch::no_grad(|| -> Result<(), TchError> {
            for ((_, p, s1, s2), scale) in self.params.iter_mut().zip(&self.lr_scale) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let lr = lr * scale;
                match kind {
                    OptimizerKind::Rmsprop => {
                        const ALPHA: f64 = 0.99;
                        let _ = s2.f_mul_scalar_(ALPHA)?;
                        let _ = s2.f_add_(&g.f_square()?.f_mul_scalar(1.0 - ALPHA)?)?;
                        let denom = s2.f_sqrt()?.f_add_scalar(EPS)?;
                        let _ = p.f_sub_(&g.f_div(&denom)?.f_mul_scalar(lr)?)?;
                    }
                    OptimizerKind::Adam => {
                        const B1: f64 = 0.9;
                        const B2: f64 = 0.999;
                        let _ = s1.f_mul_scalar_(B1)?;
                        let _ = s1.f_add_(&g.f_mul_scalar(1.0 - B1)?)?;
                        let _ = s2.f_mul_scalar_(B2)?;
                        let _ = s2.f_add_(&g.f_square()?.f_mul_scalar(1.0 - B2)?)?;
                        let c1 = 1.0 - B1.powi(t);
                        let c2 = 1.0 - B2.powi(t);
                        let denom = s2.f_div_scalar(c2)?.f_sqrt()?.f_add_scalar(EPS)?;
                        let _ = p.f_sub_(&s1.f_div(&denom)?.f_mul_scalar(lr / c1)?)?;
                    }
                }
            }
            Ok(())
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = vec![("step".into(), Tensor::from(self.step))];
        for (name, _, s1, s2) in &self.params {
            named.push((format!("s1.{name}"), s1.shallow_clone()));
            named.push((format!("s2.{name}"), s2.shallow_clone()));
        }
        Tensor::save_multi(&named, path)
            .with_context(|| format!("saving optimizer state {}", path.display()))
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let device = self
            .params
            .first()
            .map(|p| p.1.device())
            .unwrap_or(tch::Device::Cpu);
        let loaded = Tensor::load_multi_with_device(path, device)
            .with_context(|| format!("loading optimizer state {}", path.display()))?;
        let map: std::collections::HashMap<String, Tensor> = loaded.into_iter().collect();
        self.step = map
            .get("step")
            .with_context(|| format!("{}: no step count", path.display()))?
            .int64_value(&[]);
        tch::no_grad(|| -> Result<()> {
            for (name, _, s1, s2) in &mut self.params {
                for (prefix, s) in [("s1", s1), ("s2", s2)] {
                    let key = format!("{prefix}.{name}");
                    let v = map
                        .get(&key)
                        .with_context(|| format!("{}: missing {key}", path.display()))?;
                    s.copy_(v);
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn scaled_parameters_take_smaller_steps() {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let enc = (&root / "enc_b5").var("weight", &[4], nn::Init::Const(1.0));
        let head = (&root / "head").var("weight", &[4], nn::Init::Const(1.0));
        let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 1e-2);
        assert_eq!(opt.scale_lr("enc_", 0.1), 1);
        (&enc + &head).square().sum(Kind::Float).backward();
        opt.step().unwrap();
        // Adam's first step moves every parameter by about its learning rate.
        let moved = |t: &Tensor| (1.0 - t.get(0).double_value(&[])).abs();
        assert!((moved(&head) - 1e-2).abs() < 1e-4, "{}", moved(&head));
        assert!((moved(&enc) - 1e-3).abs() < 1e-5, "{}", moved(&enc));
    }
}
