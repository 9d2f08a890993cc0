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
            .collect();
        Optimizer {
            kind,
            lr,
            step: 0,
            params,
        }
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
            for (_, p, s1, s2) in &mut self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
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
