//! One image's colour hints, wherever it is colourized (`colorize files`,
//! the box's inbox): given for it or read from its sidecar
//! (`NAME.hints.json`), placed on the image, checked against sRGB's gamut
//! at the image's lightness, and kept beside the output, so the archive
//! records what a person asserted.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_io::hints::{self, Hint, PixelHint};
use colorize_io::output;
use colorize_shared::contract::GridHint;

/// Hints given for an image (`--hint`, `--hints`), and what to call them
/// in errors.
#[derive(Clone, Debug)]
pub struct Given {
    pub hints: Vec<Hint>,
    pub origin: String,
}

/// One image's hints, placed.
#[derive(Clone, Debug, Default)]
pub struct ImageHints {
    pub placed: Vec<PixelHint>,
    /// The same on the model's grid ([`crate::Session::set_hints`]).
    pub grid: Vec<GridHint>,
    /// How many have no sRGB colour at the image's lightness there.
    pub outside_gamut: usize,
}

impl ImageHints {
    /// The hints of `input` (`given`, else its sidecar's, else none) on its
    /// L* plane `l` (`width x height`, Q8.8). Errors name the hints' file
    /// (or `--hint`) and the problem; the caller adds the image.
    pub fn of(
        input: &Path,
        given: Option<&Given>,
        l: &[u16],
        width: usize,
        height: usize,
    ) -> Result<Self> {
        let (hints, origin) = match given {
            Some(g) => (g.hints.clone(), g.origin.clone()),
            None => {
                let sidecar = hints::sidecar_path(input);
                if !sidecar.is_file() {
                    return Ok(ImageHints::default());
                }
                (hints::read_file(&sidecar)?, sidecar.display().to_string())
            }
        };
        let placed = hints::place(&hints, width, height).context(origin)?;
        let outside_gamut = placed
            .iter()
            .filter(|h| !hints::in_gamut(l[h.y as usize * width + h.x as usize], h))
            .count();
        let grid = placed.iter().map(|h| h.to_grid(width, height)).collect();
        Ok(ImageHints {
            placed,
            grid,
            outside_gamut,
        })
    }

    /// What to tell the user once for the image, if anything.
    pub fn note(&self) -> Option<String> {
        (self.outside_gamut > 0).then(|| {
            format!(
                "{} of {} colour hints are outside sRGB at the image's lightness there; they are followed as far as sRGB goes",
                self.outside_gamut,
                self.placed.len()
            )
        })
    }

    /// What to keep beside `output`: its own sidecar (`NAME.hints.json`)
    /// with these hints in pixels of the image, or, without hints, no such
    /// file (one an earlier run wrote would say hints were used). The
    /// input's own sidecar (`--out` in the input's folder) is never
    /// written or removed: it is the person's file.
    pub fn record(&self, input: &Path, output: &Path) -> Record {
        let path = hints::sidecar_path(output);
        let json = if path == hints::sidecar_path(input) {
            None
        } else if self.placed.is_empty() {
            Some(None)
        } else {
            Some(Some(hints::to_json(&self.placed)))
        };
        Record { path, json }
    }
}

/// The hints file beside an output: written before the output is
/// committed (harmless alone; an output never exists without its record),
/// or a stale one removed after it.
#[derive(Clone, Debug)]
pub struct Record {
    path: PathBuf,
    /// None: leave the path alone; Some(None): no file; Some(Some(json)).
    json: Option<Option<String>>,
}

impl Record {
    /// Before the output's commit: writes the record durably (temp file,
    /// fsync, rename).
    pub fn write(&self) -> Result<()> {
        if let Some(Some(json)) = &self.json {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            let name = self
                .path
                .file_name()
                .expect("a sidecar's name")
                .to_string_lossy();
            output::write_atomic(dir, &name, json.as_bytes())?;
        }
        Ok(())
    }

    /// After the output's commit: removes a record left by an earlier run
    /// with hints, now that the output was made without.
    pub fn remove_stale(&self) -> Result<()> {
        if let Some(None) = &self.json {
            match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e)
                        .with_context(|| format!("{}: can not remove", self.path.display()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}
