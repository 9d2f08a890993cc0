//! Training data: image folders and `.tar` / `.tar.gz` shards, decoded once
//! into compact Lab planes, filtered (classes, grayscale), split and batched.
//!
//! One module per job: a sample is one decoded image
//! ([`colorize_io::samples`], where the device's decoding and L* make it),
//! [`load`] reads
//! folders, shards and [`mosaic`]s, [`cache`] keeps decoded sets on disk,
//! [`classes`] filters by ImageNet class, [`rng`] makes every shuffle and
//! crop replayable, [`squash`] makes photo-shaped crops, and [`batch`] splits sets and builds batches.

pub mod batch;
pub mod cache;
pub mod classes;
pub mod hints;
pub mod load;
pub mod mosaic;
pub mod rng;
pub mod squash;

pub use batch::{make_batch, split, Batch};
pub use cache::{default_cache_dir, load_cached};
pub use classes::{parse_classes, wnid_of};
pub use colorize_io::samples::{decode_resized, Sample};
pub use load::{load, LoadOptions, LoadReport};
pub use mosaic::{mosaic_tile_size, pack, write_mosaics, PackReport};
pub use rng::Rng;
pub use squash::squashed_crop;
