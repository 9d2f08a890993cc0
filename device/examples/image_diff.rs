//! How far apart two images are: the same size, and the largest difference
//! of any sample and of the CIE L*a*b* of any pixel (8-bit sRGB view). For
//! outputs made on two machines, where the model's floating point may round
//! differently (scripts/memory-board-test.sh: aarch64 against x86_64).
//!
//! usage: image_diff A B [MAX_DELTA_E]
//! Prints `size WxH, samples differing N of M, max sample difference D
//! (of 255|65535), max L* difference L, max delta E_ab E`; exits 1 if the
//! sizes differ, L* differs by more than 0.5 anywhere, or delta E_ab passes
//! MAX_DELTA_E (default 2).

use anyhow::{bail, Context, Result};
use colorize_device::shared::lab::rgb8_to_lab;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (a, b, max_de) = match args.as_slice() {
        [a, b] => (a, b, 2.0),
        [a, b, m] => (a, b, m.parse::<f64>().context("MAX_DELTA_E")?),
        _ => bail!("usage: image_diff A B [MAX_DELTA_E]"),
    };
    let ia = image::open(a).with_context(|| format!("{a}: can not read"))?;
    let ib = image::open(b).with_context(|| format!("{b}: can not read"))?;
    if (ia.width(), ia.height()) != (ib.width(), ib.height()) {
        println!(
            "sizes differ: {}x{} and {}x{}",
            ia.width(),
            ia.height(),
            ib.width(),
            ib.height()
        );
        std::process::exit(1);
    }
    let (sa, sb) = (ia.to_rgb16(), ib.to_rgb16());
    let differing = sa
        .as_raw()
        .iter()
        .zip(sb.as_raw())
        .filter(|(x, y)| x != y)
        .count();
    let max_sample = sa
        .as_raw()
        .iter()
        .zip(sb.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    let (ra, rb) = (ia.to_rgb8(), ib.to_rgb8());
    let (mut max_l, mut max_e) = (0f64, 0f64);
    for (p, q) in ra.pixels().zip(rb.pixels()) {
        if p == q {
            continue;
        }
        let la = rgb8_to_lab(p[0], p[1], p[2]);
        let lb = rgb8_to_lab(q[0], q[1], q[2]);
        let d = |x: i16, y: i16| (x as f64 - y as f64) / 256.0;
        let (dl, da, db) = (d(la.0 as i16, lb.0 as i16), d(la.1, lb.1), d(la.2, lb.2));
        max_l = max_l.max(dl.abs());
        max_e = max_e.max((dl * dl + da * da + db * db).sqrt());
    }
    println!(
        "size {}x{}, samples differing {differing} of {}, max sample difference {max_sample} (of 65535), max L* difference {max_l:.2}, max delta E_ab {max_e:.2}",
        ia.width(),
        ia.height(),
        sa.as_raw().len()
    );
    if max_l > 0.5 || max_e > max_de {
        std::process::exit(1);
    }
    Ok(())
}
