//! What the colorize trainer and device must agree on, bit for bit:
//!
//! - [`colour_bins`] (`std`): a*b* bins of a distribution head and its annealed-mean decode;
//! - [`lab`]: fixed-point sRGB8 <-> CIE L*a*b* (no floats per pixel);
//! - [`lab16`] (`std`): L* of 16-bit samples at full precision;
//! - [`contract`]: the model's tensors and how Lab maps onto them;
//! - [`recombine`]: full-resolution L* + low-resolution a*b* -> sRGB8, in bands;
//! - [`metrics`] (`std`): the evaluation metrics both eval commands print;
//! - [`hash`]: FNV-1a, for shards and seeds that must not move between machines;
//! - [`reference`] (`std`): an f64 Lab implementation for tests and benchmarks,
//!   whose formulas also build [`lab16`]'s tables.
//!
//! `no_std` without the default `std` feature.
#![no_std]

#[cfg(any(feature = "std", test))]
extern crate std;

#[cfg(feature = "std")]
pub mod colour_bins;
pub mod contract;
pub mod hash;
pub mod lab;
#[cfg(feature = "std")]
pub mod lab16;
#[cfg(feature = "std")]
pub mod metrics;
pub mod recombine;
#[cfg(feature = "std")]
pub mod reference;
