//! The architectures, written once as a layer list that mirrors the Net IR of
//! `colorize_model::net`: tch runs the list for training, and export walks
//! the same list, so the ONNX graph cannot drift from what was trained.
//!
//! One module per job: [`config`] says what to build (stored with
//! checkpoints), [`layers`] turns it into the layer list, [`torch`] binds the
//! list to libtorch variables ([`TorchModel`]), [`forward`] runs it, [`decode`]
//! turns its output into a*b*, [`flops`] counts its cost and [`export_net`]
//! hands it to the ONNX writer.

pub mod config;
pub mod decode;
pub mod encoder;
pub mod export_net;
pub mod flops;
pub mod forward;
pub mod layers;
pub mod torch;

pub use config::{Arch, Head, ModelConfig, OutputActivation};
pub use forward::Compute;
pub(crate) use layers::Builder;
pub use layers::{layers, Layer, LayerOp, LITE_LAST_BLOCK, LITE_TAP_STRIDE8};
pub use torch::TorchModel;

#[cfg(test)]
mod tests;
