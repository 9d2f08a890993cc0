//! Image files in and out: decoding to an L* plane (gray, colour, 8 or 16
//! bit), and atomic, provenance-carrying output files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_shared::lab::{gray8_to_l_plane, rgb8_to_l_plane};
use image::{ColorType, DynamicImage, ImageEncoder, ImageReader};

/// A full-resolution L* plane (Q8.8, row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct LPlane {
    pub width: usize,
    pub height: usize,
    pub l: Vec<u16>,
}

/// Extensions [`collect_inputs`] picks up inside folders.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff"];

/// Decodes an image file (format from its content, not its name).
pub fn open(path: &Path) -> Result<DynamicImage> {
    ImageReader::open(path)
        .with_context(|| format!("{}: can not open", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("{}: can not read", path.display()))?
        .decode()
        .with_context(|| format!("{}: not a readable PNG, JPEG or TIFF image", path.display()))
}

/// The image's L*: gray images directly, colour ones through sRGB -> L*.
/// 16-bit samples are rounded to 8 bits first (the Lab tables are 8-bit);
/// alpha is ignored.
pub fn l_plane(img: &DynamicImage) -> LPlane {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let mut l = vec![0u16; width * height];
    let gray = matches!(
        img.color(),
        ColorType::L8 | ColorType::La8 | ColorType::L16 | ColorType::La16
    );
    if gray {
        gray8_to_l_plane(img.to_luma8().as_raw(), &mut l);
    } else {
        rgb8_to_l_plane(img.to_rgb8().as_raw(), &mut l);
    }
    LPlane { width, height, l }
}

/// Decodes a file straight to its L* plane.
pub fn load_l(path: &Path) -> Result<LPlane> {
    Ok(l_plane(&open(path)?))
}

/// Files given directly, plus the images found (recursively, sorted) in the
/// folders given. A path that does not exist is an error.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input)
            .with_context(|| format!("{}: no such file or folder", input.display()))?;
        if !meta.is_dir() {
            out.push(input.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(input).follow_links(true) {
            let entry = entry.with_context(|| format!("{}: can not list", input.display()))?;
            let is_image = entry
                .path()
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if entry.file_type().is_file() && is_image {
                found.push(entry.into_path());
            }
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Output file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Png,
    Jpeg,
    Tiff,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Tiff => "tiff",
        }
    }
}

/// JPEG quality of colourized output: high, since the chroma is smooth and
/// the detail all comes from the original's L*.
const JPEG_QUALITY: u8 = 92;

/// Encodes `rgb` (interleaved sRGB8) to `out`.
pub fn encode(
    out: &mut dyn Write,
    format: Format,
    width: usize,
    height: usize,
    rgb: &[u8],
    provenance: &str,
) -> Result<()> {
    let (w, h) = (width as u32, height as u32);
    match format {
        Format::Png => {
            let mut enc = png::Encoder::new(out, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.add_itxt_chunk("Software".into(), provenance.into())?;
            let mut writer = enc.write_header()?;
            writer.write_image_data(rgb)?;
            writer.finish()?;
        }
        Format::Jpeg => {
            let mut buf = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY)
                .write_image(rgb, w, h, image::ExtendedColorType::Rgb8)?;
            // The provenance as a COM segment right after SOI.
            let text = provenance.as_bytes();
            let text = &text[..text.len().min(65533)];
            out.write_all(&buf[..2])?;
            out.write_all(&[0xFF, 0xFE])?;
            out.write_all(&((text.len() + 2) as u16).to_be_bytes())?;
            out.write_all(text)?;
            out.write_all(&buf[2..])?;
        }
        Format::Tiff => {
            // TIFF needs Seek; encode in memory.
            let mut buf = std::io::Cursor::new(Vec::new());
            image::codecs::tiff::TiffEncoder::new(&mut buf).write_image(
                rgb,
                w,
                h,
                image::ExtendedColorType::Rgb8,
            )?;
            out.write_all(buf.get_ref())?;
        }
    }
    Ok(())
}

/// Writes an image so that `path` either keeps its old state or holds the
/// whole new file, durably: encoded in memory, then written by
/// [`crate::boxd::output::write_atomic`] (temp file, fsync, rename, directory
/// fsync), the one atomic writer the box and the camera use too.
pub fn write_atomic(
    path: &Path,
    format: Format,
    width: usize,
    height: usize,
    rgb: &[u8],
    provenance: &str,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let mut bytes = Vec::new();
    encode(&mut bytes, format, width, height, rgb, provenance)
        .with_context(|| format!("{}: encoding failed", path.display()))?;
    crate::boxd::output::write_atomic(dir, &name.to_string_lossy(), &bytes)?;
    Ok(())
}
