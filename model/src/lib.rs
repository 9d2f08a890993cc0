//! The colorize model format, shared by the trainer (which writes models)
//! and the device (which reads them): the network description [`net::Net`],
//! its ONNX encoding ([`onnx`], over the schema subset in [`pb`]), the
//! integrity hash of the weights ([`integrity`]), a plain-Rust reference
//! forward pass ([`forward`]), the float weights read back by name
//! ([`weights`]) and small synthetic nets for tests ([`synthetic`]). No
//! inference engine: the trainer builds without one.

pub mod forward;
pub mod integrity;
pub mod net;
pub mod onnx;
pub mod pb;
pub mod synthetic;
pub mod weights;

pub use prost::Message;
