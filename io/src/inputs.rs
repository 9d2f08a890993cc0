//! Finding the inputs of a batch: files given directly and the images in
//! folders, with each one's path under its folder argument.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Extensions [`collect_inputs`] picks up inside folders.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff"];

/// One input image and where its output goes, relative to the output
/// folder: its path under the folder argument it was found in (archives are
/// trees of boxes whose file names repeat), or its file name for a file
/// given directly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub relative: PathBuf,
}

/// Files given directly, plus the images found (recursively, sorted) in the
/// folders given. A path that does not exist is an error.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    Ok(collect_tree(inputs)?.into_iter().map(|i| i.path).collect())
}

/// [`collect_inputs`], with each file's path relative to its folder
/// argument.
pub fn collect_tree(inputs: &[PathBuf]) -> Result<Vec<Input>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input)
            .with_context(|| format!("{}: no such file or folder", input.display()))?;
        if !meta.is_dir() {
            let name = input
                .file_name()
                .map_or_else(|| input.clone(), PathBuf::from);
            out.push(Input {
                path: input.clone(),
                relative: name,
            });
            continue;
        }
        let mut found = Vec::new();
        let is_image = |p: &Path| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        };
        for entry in walkdir::WalkDir::new(input).follow_links(true) {
            let entry = match entry {
                Ok(entry) => entry,
                // An image that can not be looked at (a dangling link, say)
                // is still an input: opening it reports it, alone.
                Err(e) if e.path().is_some_and(is_image) && e.depth() > 0 => {
                    found.push(e.path().expect("checked above").to_path_buf());
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("{}: can not list", input.display()))
                }
            };
            if entry.file_type().is_file() && is_image(entry.path()) {
                found.push(entry.into_path());
            }
        }
        found.sort();
        out.extend(found.into_iter().map(|path| {
            Input {
                relative: path
                    .strip_prefix(input)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|_| path.clone()),
                path,
            }
        }));
    }
    Ok(out)
}

/// Hints sidecars (`NAME.hints.json`, [`crate::hints`]) in the folders of
/// `inputs` whose image is not among `images`: a person's colours that
/// would silently apply to nothing.
pub fn orphan_sidecars(inputs: &[PathBuf], images: &[Input]) -> Vec<PathBuf> {
    let claimed: std::collections::HashSet<PathBuf> = images
        .iter()
        .map(|i| crate::hints::sidecar_path(&i.path))
        .collect();
    let mut orphans: Vec<PathBuf> = inputs
        .iter()
        .filter(|i| i.is_dir())
        .flat_map(|dir| walkdir::WalkDir::new(dir).follow_links(true))
        .filter_map(|e| e.ok())
        .filter(|e| {
            let hidden = e.file_name().as_encoded_bytes().starts_with(b".");
            e.file_type().is_file() && !hidden && crate::hints::is_sidecar(e.path())
        })
        .map(walkdir::DirEntry::into_path)
        .filter(|p| !claimed.contains(p))
        .collect();
    orphans.sort();
    orphans
}
