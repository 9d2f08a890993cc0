//! The colorize device runtime: the tract runtime that colourizes
//! full-resolution images with an ONNX model (format: [`colorize_model`]),
//! the files job, camera and scanner box, and the `colorize` command line.
//! Image files in and out, and the one colourize path: [`colorize_io`].
pub use colorize_io as io;
pub use colorize_model as model;
pub use colorize_shared as shared;

pub mod alloc;
pub mod boxd;
pub mod camera;
pub mod cli;
pub mod files;
pub mod gpio;
pub mod hint_scores;
pub mod hinted;
pub mod memory;
pub mod runtime;
pub mod score;

pub use colorize_io::pipeline::Colorize;
pub use runtime::{Model, Session};

/// The default model, compiled in: the f32 file, see `models/README.md`
/// ("Which file is embedded"). A static, not a const: one copy in the
/// binary, the one [`release_free_memory`] releases.
pub static DEFAULT_MODEL: &[u8] = include_bytes!("../../models/colorize-default.onnx");
/// What errors call the embedded model.
pub const DEFAULT_MODEL_NAME: &str = "the embedded default model";

/// Loads the embedded default model.
pub fn default_model() -> anyhow::Result<Model> {
    Model::from_static(DEFAULT_MODEL, DEFAULT_MODEL_NAME)
}

/// Tunes the allocator for a process that handles one large image after
/// another (glibc only; elsewhere nothing): buffers of 256 KiB and more are
/// mapped on their own and unmapped when freed, instead of glibc's default
/// of raising that threshold to the largest buffer freed so far, which
/// left the multi-megabyte planes of one image on the heap under the next
/// one's and grew the peak RSS from image to image.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter; called before any threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Returns what loading a model left behind to the OS, after loading one:
/// the heap's free memory (glibc; parsing and optimising free far more than
/// the plan keeps), and the pages of the embedded model that the parse read
/// in (Linux; 4 MB of the binary's file, never read again: a later read
/// would fault them back in from the page cache).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages.
    unsafe {
        libc::malloc_trim(0);
    }
    // SAFETY: DEFAULT_MODEL is read-only data of the binary's file mapping,
    // never written: dropping its pages loses nothing.
    #[cfg(target_os = "linux")]
    unsafe {
        alloc::advise_pages(
            DEFAULT_MODEL.as_ptr(),
            DEFAULT_MODEL.len(),
            libc::MADV_DONTNEED,
        )
    };
}

/// The one way every subcommand gets its model: the ONNX file at `path`, or
/// the embedded default model; `vividness` overrides the card's default.
pub fn load_model(path: Option<&std::path::Path>, vividness: Option<f32>) -> anyhow::Result<Model> {
    let model = match path {
        Some(p) => Model::from_path(p),
        None => default_model(),
    }?
    .with_vividness(vividness);
    release_free_memory();
    model
}
