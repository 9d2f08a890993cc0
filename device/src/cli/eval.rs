//! `colorize eval`: colour photos -> gray -> colourize (the one path,
//! [`Worker::render`]) -> the shared metrics, printed as the same JSON
//! `colorize-train eval` prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{ensure, Context, Result};
use colorize_shared::metrics::EvalAccumulator;
use indicatif::{ProgressBar, ProgressStyle};

use super::{thread_count, LimitArgs, ModelArg};
use colorize_io::images;
use colorize_io::inputs::collect_inputs;
use colorize_io::pipeline::Worker;

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
    let files = collect_inputs(&args.truth)?;
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
                    let mut worker = Worker::new();
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let result = (|| -> Result<()> {
                            let (img, meta) = images::open_with_metadata(path, &limits)?;
                            let truth = img.to_rgb8();
                            let frame = worker.load(img, meta)?;
                            let mut pred = vec![0u8; 3 * frame.width * frame.height];
                            worker
                                .render(&mut session, &frame, &mut pred)
                                .with_context(|| path.display().to_string())?;
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
