//! The one thing the page writes: `[model] vividness` in box.toml, so that
//! a restart keeps what the archivist chose. The file is edited as text
//! (its comments and order stay), the result is parsed again and must be
//! the old config with only the vividness changed, and it is written
//! atomically (temp file, fsync, rename): a power cut leaves the old file
//! or the new one.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::boxd::config::BoxConfig;

/// Writes `v` as `[model] vividness` into the config at `path`.
pub fn write_vividness(path: &Path, v: f32) -> Result<()> {
    use std::io::Write;
    // A linked box.toml is edited where it lives, and stays a link.
    let path =
        &std::fs::canonicalize(path).with_context(|| format!("cannot find {}", path.display()))?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // It may hold the token: the new file keeps the old one's mode.
    let mode = std::fs::metadata(path)?.permissions();
    let new = set_vividness_in(&text, v)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .context("the config path has no file name")?
        .to_string_lossy();
    colorize_io::output::write_atomic_with(dir, &name, |f| {
        f.get_ref().set_permissions(mode)?;
        Ok(f.write_all(new.as_bytes())?)
    })
    .with_context(|| format!("cannot write the vividness into {}", path.display()))?;
    Ok(())
}

/// `text` (a box.toml) with `[model] vividness = v`: the key's line
/// replaced, or added under `[model]`, or a `[model]` table appended.
pub fn set_vividness_in(text: &str, v: f32) -> Result<String> {
    let before = BoxConfig::from_toml(text).context("the config as it is now")?;
    let line = format!("vividness = {v}");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let table = |l: &str| l.trim_start().starts_with('[');
    let header = |l: &str| l.split('#').next().unwrap_or("").trim() == "[model]";
    match lines.iter().position(|l| header(l)) {
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| table(l))
                .map_or(lines.len(), |i| start + 1 + i);
            let key = lines[start + 1..end].iter().position(|l| {
                l.trim_start()
                    .strip_prefix("vividness")
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            });
            match key {
                Some(i) => lines[start + 1 + i] = line,
                None => lines.insert(start + 1, line),
            }
        }
        None => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push("[model]".into());
            lines.push(line);
        }
    }
    let mut new = lines.join("\n");
    new.push('\n');
    let after = BoxConfig::from_toml(&new)
        .context("the config would no longer be valid; set [model] vividness by hand")?;
    let mut expected = before;
    expected.model.vividness = Some(v);
    if after != expected {
        bail!(
            "box.toml is written in a form this edit does not handle (an inline `model = {{...}}`?): \
             set [model] vividness by hand"
        );
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_adds_or_appends_and_keeps_the_rest() {
        let with_key = "# my box\n[model]\nvividness = 0.2 # was\n\n[inbox]\npoll_ms = 500\n";
        let out = set_vividness_in(with_key, 0.35).unwrap();
        assert_eq!(
            out,
            "# my box\n[model]\nvividness = 0.35\n\n[inbox]\npoll_ms = 500\n"
        );

        let without_key = "[model]\npath = \"/m.onnx\"\n[inbox]\npoll_ms = 500\n";
        let out = set_vividness_in(without_key, 0.5).unwrap();
        assert_eq!(
            out,
            "[model]\nvividness = 0.5\npath = \"/m.onnx\"\n[inbox]\npoll_ms = 500\n"
        );

        let no_table = "[inbox]\npoll_ms = 500\n";
        let out = set_vividness_in(no_table, 1.0).unwrap();
        assert_eq!(out, "[inbox]\npoll_ms = 500\n\n[model]\nvividness = 1\n");
        assert_eq!(
            BoxConfig::from_toml(&out).unwrap().model.vividness,
            Some(1.0)
        );
    }

    #[test]
    fn a_commented_header_is_the_table() {
        let out = set_vividness_in("[model]   # the model\npath = \"/m.onnx\"\n", 0.5).unwrap();
        assert_eq!(
            out,
            "[model]   # the model\nvividness = 0.5\npath = \"/m.onnx\"\n"
        );
    }

    #[test]
    fn the_file_keeps_its_mode_and_a_link_stays_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "[inbox]\npoll_ms = 500\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("box.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_vividness(&link, 0.3).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(std::fs::read_to_string(&real)
            .unwrap()
            .contains("vividness = 0.3"));
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        assert!(set_vividness_in("model = { vividness = 0.1 }\n", 0.5).is_err());
        assert!(set_vividness_in("[inbox]\npol_ms = 1\n", 0.5).is_err());
    }
}
