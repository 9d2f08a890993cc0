//! The trainer's network behind the one colourize path's seam
//! ([`colorize_io::pipeline::Colorize`]), so `colorize-train colorize` and
//! `eval` turn a prediction into pixels exactly as the device does.

use anyhow::{ensure, Result};
use colorize_io::pipeline::Colorize;
use colorize_shared::contract;
use colorize_shared::recombine::AbPlanes;
use tch::{Device, Tensor};

use crate::model::TorchModel;

/// A checkpoint's network predicting a*b* for any L* plane: resized to the
/// model's input by the device's resize, one forward pass, decoded at the
/// model's vividness.
pub struct TorchColorizer<'m> {
    model: &'m TorchModel,
    device: Device,
    provenance: String,
    small: Vec<u16>,
    input: Vec<f32>,
    a: Vec<i16>,
    b: Vec<i16>,
}

impl<'m> TorchColorizer<'m> {
    /// `name` identifies the checkpoint in the outputs' provenance note.
    pub fn new(model: &'m TorchModel, device: Device, name: &str) -> Self {
        TorchColorizer {
            model,
            device,
            provenance: format!(
                "{}colorize-train {}, checkpoint {name}",
                colorize_io::xmp::NOTE_PREFIX,
                env!("CARGO_PKG_VERSION")
            ),
            small: Vec::new(),
            input: Vec::new(),
            a: Vec::new(),
            b: Vec::new(),
        }
    }
}

impl Colorize for TorchColorizer<'_> {
    fn predict(&mut self, l: &[u16], width: usize, height: usize) -> Result<AbPlanes<'_>> {
        ensure!(
            width > 0 && height > 0 && l.len() == width * height,
            "L plane has {} values for {width}x{height}",
            l.len()
        );
        let size = self.model.config.size;
        self.small.resize(size * size, 0);
        self.input.resize(size * size, 0.0);
        contract::resize_l_plane(l, width, height, &mut self.small, size, size);
        contract::l_plane_to_input(&self.small, &mut self.input);
        let x = Tensor::from_slice(&self.input)
            .view([1, 1, size as i64, size as i64])
            .to_device(self.device);
        let model = self.model;
        let y = tch::no_grad(|| model.decode(&model.forward(&x, false)?, &model.annealing))?;
        // a*b* at the decode's size (lite: half the input's).
        let side = y.size()[2] as usize;
        let y = Vec::<f32>::try_from(&y.to_device(Device::Cpu).reshape(-1))?;
        Ok(Predicted::fill(&y, side, &mut self.a, &mut self.b))
    }

    fn provenance(&self) -> String {
        self.provenance.clone()
    }
}

/// One image's prediction already made (a row of a batch), served through
/// the seam: what the trainer scores goes through the device's path too.
pub struct Predicted {
    side: usize,
    a: Vec<i16>,
    b: Vec<i16>,
}

impl Predicted {
    /// The model's output `[2, side, side]` for one image.
    pub fn new(output: &[f32], side: usize) -> Self {
        let mut p = Predicted {
            side,
            a: Vec::new(),
            b: Vec::new(),
        };
        Predicted::fill(output, side, &mut p.a, &mut p.b);
        p
    }

    fn fill<'p>(
        output: &[f32],
        side: usize,
        a: &'p mut Vec<i16>,
        b: &'p mut Vec<i16>,
    ) -> AbPlanes<'p> {
        a.resize(side * side, 0);
        b.resize(side * side, 0);
        contract::output_to_ab_planes(output, a, b);
        AbPlanes {
            width: side,
            height: side,
            a,
            b,
        }
    }
}

impl Colorize for Predicted {
    fn predict(&mut self, _l: &[u16], _width: usize, _height: usize) -> Result<AbPlanes<'_>> {
        Ok(AbPlanes {
            width: self.side,
            height: self.side,
            a: &self.a,
            b: &self.b,
        })
    }

    fn provenance(&self) -> String {
        format!("{}colorize-train eval", colorize_io::xmp::NOTE_PREFIX)
    }
}
