//! One stage of colourizing a photo, repeated: what `scripts/insn-count.sh`
//! runs under qemu-user with an instruction-counting plugin (issue 17, ARM
//! cost without a board). The setup (decode, L*, one prediction) is the
//! same for every stage; the count of `--repeat 0` is subtracted, so what
//! is left is the stage's own instructions.
//!
//!     cargo run --release -p colorize-device --example stages -- \
//!         --photo ../shared/data/photos/Path-2560x1600.jpg --model models/colorize-default-int8.onnx \
//!         --stage predict --repeat 3
//!
//! Stages: decode (the JPEG to pixels), lplane (pixels to L*), predict
//! (the model at its input size, with the box filter down to it),
//! recombine (a*b* upsampled, Lab -> sRGB8, the gamut hold) and encode
//! (PNG, as `colorize files` writes it). Nothing here is a test.
//!
//! `--stage all` times every stage instead (median of `--repeat` runs, in
//! ms, one line each): the per-stage table of BENCHMARKS.md.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use colorize_device::runtime::Model;
use colorize_io::images::{self, DecodeLimits};
use colorize_io::output::{self, Format};
use colorize_shared::recombine::{self, scratch_len, AbPlanes};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut photo, mut model, mut stage, mut repeat) = (None, None, None, 1usize);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--photo" => photo = Some(PathBuf::from(value()?)),
            "--model" => model = Some(PathBuf::from(value()?)),
            "--stage" => stage = Some(value()?),
            "--repeat" => repeat = value()?.parse()?,
            _ => bail!("unknown argument {a} (see the file's header)"),
        }
    }
    let photo = photo.context("--photo is required")?;
    let stage = stage.context("--stage is required")?;
    let model = match model {
        Some(p) => Model::from_path(p)?,
        None => colorize_device::default_model()?,
    };
    let limits = DecodeLimits::DEFAULT;
    let img = images::open(&photo, &limits)?;
    let plane = colorize_io::lstar::l_plane(&img);
    let (w, h) = (plane.width, plane.height);
    let mut session = model.session()?;
    let (a, b, aw, ah) = {
        let p = session.predict(&plane.l, w, h)?;
        (p.a.to_vec(), p.b.to_vec(), p.width, p.height)
    };
    let ab = AbPlanes {
        width: aw,
        height: ah,
        a: &a,
        b: &b,
    };
    let mut rgb = vec![0u8; 3 * w * h];
    let mut scratch = vec![0i32; scratch_len(aw, w)];
    recombine::frame(&ab, &plane.l, w, h, &mut rgb, &mut scratch);
    let mut png = Vec::new();
    let mut sink = 0u64;
    let mut run_stage = |stage: &str, sink: &mut u64| -> Result<()> {
        match stage {
            "decode" => *sink += images::open(&photo, &limits)?.width() as u64,
            "lplane" => *sink += colorize_io::lstar::l_plane(&img).l[w * h / 2] as u64,
            "predict" => *sink += session.predict(&plane.l, w, h)?.a[0] as u64,
            "recombine" => {
                recombine::frame(&ab, &plane.l, w, h, &mut rgb, &mut scratch);
                *sink += rgb[rgb.len() / 2] as u64;
            }
            "encode" => {
                output::encode(
                    &mut png,
                    Format::Png,
                    w,
                    h,
                    &rgb,
                    "stages",
                    &Default::default(),
                )?;
                *sink += png.len() as u64;
            }
            other => bail!("unknown stage {other}: decode, lplane, predict, recombine or encode"),
        }
        Ok(())
    };
    if stage == "all" {
        for stage in ["decode", "lplane", "predict", "recombine", "encode"] {
            let mut ms: Vec<f64> = (0..repeat.max(1))
                .map(|_| {
                    let t = std::time::Instant::now();
                    run_stage(stage, &mut sink)?;
                    Ok(t.elapsed().as_secs_f64() * 1e3)
                })
                .collect::<Result<_>>()?;
            ms.sort_by(f64::total_cmp);
            println!("{stage}\t{:.1}", ms[ms.len() / 2]);
        }
        return Ok(());
    }
    for _ in 0..repeat {
        run_stage(&stage, &mut sink)?;
    }
    println!("{stage} x{repeat} on {w}x{h}: {sink}");
    Ok(())
}
