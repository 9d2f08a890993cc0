//! Loads libtorch's CUDA backend at start, so one binary (linked against
//! libtorch_cpu only) trains on a GPU wherever libtorch_cuda.so and a GPU
//! are present, and on the CPU elsewhere. Nothing references libtorch_cuda
//! by symbol: it registers CUDA with libtorch from its static initialisers
//! once loaded with RTLD_GLOBAL, as Python's `import torch` does.

use std::ffi::{CStr, CString};

/// What [`load`] found, for the start-up message.
#[derive(Debug)]
pub enum CudaBackend {
    /// Linked in at build time (the `cuda` feature) or loaded now.
    Loaded { devices: i64 },
    /// libtorch_cuda.so could not be loaded (dlerror's text).
    Missing(String),
}

/// Loads `libtorch_cuda.so` once (searched like any library: the binary's
/// rpath, then LD_LIBRARY_PATH) and reports how many GPUs libtorch sees.
pub fn load() -> CudaBackend {
    static RESULT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let loaded = RESULT.get_or_init(|| {
        if cfg!(feature = "cuda") {
            return Ok(());
        }
        let name = CString::new("libtorch_cuda.so").expect("no NUL");
        // SAFETY: dlopen/dlerror with a valid C string; the handle is kept
        // for the life of the process on purpose (never dlclose'd).
        unsafe {
            let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
            if h.is_null() {
                let e = libc::dlerror();
                Err(if e.is_null() {
                    "dlopen failed".to_string()
                } else {
                    CStr::from_ptr(e).to_string_lossy().into_owned()
                })
            } else {
                Ok(())
            }
        }
    });
    match loaded {
        Ok(()) => CudaBackend::Loaded {
            devices: tch::Cuda::device_count(),
        },
        Err(e) => CudaBackend::Missing(e.clone()),
    }
}

impl std::fmt::Display for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CudaBackend::Loaded { devices: 0 } => {
                write!(
                    f,
                    "CUDA: libtorch_cuda loaded, but no GPU is visible; using the CPU"
                )
            }
            CudaBackend::Loaded { devices } => {
                write!(f, "CUDA: libtorch_cuda loaded, {devices} GPU(s) visible")
            }
            CudaBackend::Missing(why) => write!(
                f,
                "CUDA: libtorch_cuda.so not loadable ({why}); using the CPU"
            ),
        }
    }
}
