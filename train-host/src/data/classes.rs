//! ImageNet classes: the wnid in an image's path, and the `--classes`
//! lists that select them.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};

/// The ImageNet class id (wnid, `n` + 8 digits) found in a path, if any.
pub fn wnid_of(path: &str) -> Option<&str> {
    path.split(['/', '\\', '_', '.'])
        .find(|c| c.len() == 9 && c.starts_with('n') && c[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Reads class ids from `--classes` and `--classes-file` (one per line or
/// comma/whitespace separated; `#` starts a comment).
pub fn parse_classes(list: &[String], file: Option<&Path>) -> Result<Option<HashSet<String>>> {
    let mut set = HashSet::new();
    for item in list {
        set.extend(
            item.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading classes file {}", file.display()))?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            set.extend(
                line.split([',', ' ', '\t'])
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
    }
    Ok(if set.is_empty() { None } else { Some(set) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wnid_from_paths() {
        assert_eq!(
            wnid_of("tiny-imagenet-200/train/n01443537/images/n01443537_0.JPEG"),
            Some("n01443537")
        );
        assert_eq!(wnid_of("val/images/val_0.JPEG"), None);
        assert_eq!(wnid_of("n0144353/x.png"), None);
    }
}
