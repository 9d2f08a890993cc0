//! Share of each image's pixels with a* < -5 (green), for the model card's
//! "green vegetation" check: run it on a colourized output and on the
//! original.
//!
//!     cargo run --release -p colorize-device --example green_share -- \
//!         ../shared/data/photos/Path-2560x1600.jpg colorized/Path-2560x1600.png
use anyhow::{bail, Result};
use colorize_io::images;
use colorize_shared::lab::rgb8_to_lab_planes;

/// a* in the Q8.8 units of `colorize_shared::lab`.
const GREEN_A: i16 = -5 * 256;

fn main() -> Result<()> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        bail!("usage: green_share <image>...");
    }
    for f in files {
        let rgb = images::open(f.as_ref(), &images::DecodeLimits::default())?.to_rgb8();
        let n = (rgb.width() * rgb.height()) as usize;
        let (mut l, mut a, mut b) = (vec![0u16; n], vec![0i16; n], vec![0i16; n]);
        rgb8_to_lab_planes(rgb.as_raw(), &mut l, &mut a, &mut b);
        let green = a.iter().filter(|&&v| v < GREEN_A).count();
        println!(
            "{f}: {:.2} % of pixels with a* < -5",
            100.0 * green as f64 / n as f64
        );
    }
    Ok(())
}
