//! `colorize eval`: colour photos -> gray -> colourize -> the shared metrics,
//! printed as the same JSON `colorize-train eval` prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{ensure, Context, Result};
use colorize_shared::lab::rgb8_to_l_plane;
use colorize_shared::metrics::EvalAccumulator;
use indicatif::{ProgressBar, ProgressStyle};

use super::{thread_count, LimitArgs, ModelArg};
use crate::images;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize eval --truth ../shared/data/sipi-color\n  \
    colorize eval --truth ../shared/data/sipi-color --model models/colorize-default.onnx")]
pub struct Args {
    /// Folder (searched recursively) or files of colour ground-truth images.
    #[arg(long, required = true, value_name = "DIR")]
    pub truth: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
    /// Images scored in parallel (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = args.model.load()?;
    let limits = args.limits.limits();
    let files = images::collect_inputs(&args.truth)?;
    ensure!(!files.is_empty(), "no images found in {:?}", args.truth);
    let bar = ProgressBar::new(files.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images, {elapsed} (eta {eta})")
            .expect("valid template"),
    );
    let acc = Mutex::new(EvalAccumulator::new());
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..thread_count(args.threads).min(files.len()))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut session = model.session()?;
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let result = (|| -> Result<()> {
                            let truth = images::open(path, &limits)?.to_rgb8();
                            let (w, h) = (truth.width() as usize, truth.height() as usize);
                            let mut l = vec![0u16; w * h];
                            rgb8_to_l_plane(truth.as_raw(), &mut l);
                            let mut pred = vec![0u8; 3 * w * h];
                            session.colorize_l(&l, w, h, &mut pred).with_context(|| {
                                format!("{}: colourization failed", path.display())
                            })?;
                            acc.lock().unwrap().add(truth.as_raw(), &pred);
                            Ok(())
                        })();
                        if let Err(e) = result {
                            failed.fetch_add(1, Ordering::Relaxed);
                            bar.suspend(|| eprintln!("error: {e:#}"));
                        }
                        bar.inc(1);
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("eval worker panicked")?;
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    let json = acc.into_inner().unwrap().summary().to_json();
    match model.vividness() {
        Some(v) => println!("{}, \"vividness\": {v}}}", json.trim_end_matches('}')),
        None => println!("{json}"),
    }
    Ok(if failed.into_inner() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
