//! Our side of `scripts/bench.sh` (issue 7): Lab conversion, tract inference
//! and the camera loop's heap allocations, one thread, one JSON object per
//! line on stdout (the script merges them with the OpenCV / onnxruntime rows
//! and writes BENCHMARKS.md).
//!
//!     cargo run --release -p colorize-device --example bench -- \
//!         --photo ../shared/data/photos/ColorfulCups-2560x1600.jpg --work .cache/bench \
//!         --model models/colorize-default.onnx --model models/colorize-default-int8.onnx
//!
//! Besides its rows it writes, for the Python side: `<work>/lab-input.rgb`
//! (the exact RGB8 buffer the Lab rows convert) and, for every model that
//! is fully convolutional, a 256x256 variant of the same weights
//! (`<stem>-256.onnx`: only the declared input/output shapes change; a model
//! that can not run at another size gets an `infer_skip` row instead).
//!
//! Timings are medians of repeated runs; nothing here is a test.
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use colorize_device::camera::capture::{capture_to_dir, CaptureOptions};
use colorize_device::camera::{FakeSource, FrameSource};
use colorize_device::runtime::Model;
use colorize_io::images;
use colorize_io::output;
use colorize_model::pb::{tensor_shape_proto, type_proto, ModelProto};
use colorize_model::Message;
use colorize_shared::{lab, reference};
use tract_onnx::prelude::*;

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}

const W: usize = 2560;
const H: usize = 1600;

/// Median seconds of `runs` calls of `f` (after one warm-up call).
fn median_s(runs: usize, f: impl FnMut()) -> f64 {
    timings(runs, f).0
}

/// (median, fastest) seconds of `runs` calls of `f` after one warm-up call.
fn timings(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut t: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    (t[t.len() / 2], t[0])
}

fn json_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The benchmark image: the photo (any size is used as is) or a generated
/// 2560x1600 gradient with texture where every channel visits its range.
fn lab_image(photo: Option<&Path>) -> Result<(usize, usize, Vec<u8>, String)> {
    if let Some(p) = photo {
        let img = image::open(p)
            .with_context(|| format!("{}: can not decode", p.display()))?
            .to_rgb8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        return Ok((w, h, img.into_raw(), p.display().to_string()));
    }
    let rgb = (0..W * H)
        .flat_map(|i| {
            let (x, y) = (i % W, i / W);
            [
                (x * 255 / W) as u8,
                (y * 255 / H) as u8,
                ((x * 7 + y * 13) % 256) as u8,
            ]
        })
        .collect();
    Ok((W, H, rgb, "generated gradient".into()))
}

fn bench_lab(photo: Option<&Path>, work: &Path, runs: usize) -> Result<()> {
    let (w, h, rgb, what) = lab_image(photo)?;
    std::fs::write(work.join("lab-input.rgb"), &rgb)?;
    println!(
        "{{\"kind\":\"lab_input\",\"width\":{w},\"height\":{h},\"source\":{}}}",
        json_str(&what)
    );
    let n = w * h;
    let (mut l, mut a, mut b) = (vec![0u16; n], vec![0i16; n], vec![0i16; n]);
    let (mut lf, mut af, mut bf) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    let mut out = vec![0u8; 3 * n];
    let mpix = n as f64 / 1e6;
    let row = |dir: &str, imp: &str, s: f64| {
        println!(
            "{{\"kind\":\"lab\",\"dir\":\"{dir}\",\"impl\":\"{imp}\",\"ms\":{:.3},\"mpix_s\":{:.2}}}",
            s * 1e3,
            mpix / s
        );
    };
    let s = median_s(runs, || {
        lab::rgb8_to_lab_planes(&rgb, &mut l, &mut a, &mut b)
    });
    row("rgb2lab", "fixed", s);
    let s = median_s(runs, || lab::rgb8_to_l_plane(&rgb, &mut l));
    row("rgb2l", "fixed", s);
    let s = median_s(2, || {
        reference::rgb8_to_lab_planes(&rgb, &mut lf, &mut af, &mut bf)
    });
    row("rgb2lab", "f64", s);
    lab::rgb8_to_lab_planes(&rgb, &mut l, &mut a, &mut b);
    let s = median_s(runs, || lab::lab_planes_to_rgb8(&l, &a, &b, &mut out));
    row("lab2rgb", "fixed", s);
    let s = median_s(2, || reference::lab_planes_to_rgb8(&lf, &af, &bf, &mut out));
    row("lab2rgb", "f64", s);
    Ok(())
}

/// The model's declared input side (NCHW, square): what the device runs.
fn input_size(bytes: &[u8]) -> Result<usize> {
    let proto = ModelProto::decode(bytes)?;
    let graph = proto.graph.as_ref().context("model has no graph")?;
    let vi = graph.input.first().context("model has no input")?;
    let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        bail!("{}: not a tensor", vi.name);
    };
    match t
        .shape
        .as_ref()
        .context("no shape")?
        .dim
        .get(3)
        .and_then(|d| d.value.as_ref())
    {
        Some(tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => Ok(*v as usize),
        _ => bail!("{}: no fixed width", vi.name),
    }
}

/// The same ONNX model with a `size x size` input declared instead of the
/// shipped size, and every output's spatial dims scaled by the same factor
/// (a model may predict at a fraction of its input size); intermediate shape
/// annotations are dropped so that runtimes infer them again.
fn resized_model(bytes: &[u8], size: usize) -> Result<Vec<u8>> {
    let shipped = input_size(bytes)?;
    let mut proto = ModelProto::decode(bytes)?;
    let graph = proto.graph.as_mut().context("model has no graph")?;
    graph.value_info.clear();
    for vi in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        let Some(type_proto::Value::TensorType(t)) =
            vi.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            bail!("{}: not a tensor", vi.name);
        };
        let dims = &mut t.shape.as_mut().context("no shape")?.dim;
        if dims.len() != 4 {
            bail!("{}: not NCHW", vi.name);
        }
        for d in &mut dims[2..] {
            let Some(tensor_shape_proto::dimension::Value::DimValue(v)) = d.value else {
                bail!("{}: a spatial dim is not fixed", vi.name);
            };
            let scaled = v as usize * size / shipped;
            d.value = Some(tensor_shape_proto::dimension::Value::DimValue(
                scaled as i64,
            ));
        }
    }
    Ok(proto.encode_to_vec())
}

/// GFLOP of one frame (multiply-adds x 2), from tract's cost model of the
/// typed (not yet optimised) graph.
fn gflop(model: &TypedModel) -> Result<f64> {
    let mut fma = 0f64;
    for node in model.eval_order()? {
        let node = model.node(node);
        let facts = model.node_input_facts(node.id)?;
        for (cost, count) in node.op.cost(&facts)? {
            if matches!(cost, tract_onnx::tract_core::ops::Cost::FMA(_)) {
                fma += count.to_i64()? as f64;
            }
        }
    }
    Ok(2.0 * fma / 1e9)
}

fn bench_inference(models: &[PathBuf], work: &Path, runs: usize) -> Result<()> {
    for path in models {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let shipped = input_size(&bytes)?;
        let big = resized_model(&bytes, 256)?;
        let big_path = work.join(format!("{stem}-256.onnx"));
        // Only a fully convolutional net runs at another size (a global
        // branch with fully connected layers is fixed to the shipped one):
        // the variant is written for the Python side only if tract takes it.
        let _ = std::fs::remove_file(&big_path);
        let mut sizes = vec![(shipped, path.clone(), bytes.clone())];
        match tract_onnx::onnx()
            .model_for_read(&mut big.as_slice())
            .and_then(|m| m.into_typed())
        {
            Ok(_) => {
                std::fs::write(&big_path, &big)?;
                sizes.push((256, big_path, big));
            }
            Err(e) => println!(
                "{{\"kind\":\"infer_skip\",\"model\":{},\"size\":256,\"why\":{}}}",
                json_str(&path.display().to_string()),
                json_str(&format!("{e}"))
            ),
        }
        for (size, file, data) in sizes {
            let typed = tract_onnx::onnx()
                .model_for_read(&mut data.as_slice())?
                .into_typed()?;
            let gf = gflop(&typed)?;
            let plan = typed.into_optimized()?.into_runnable()?;
            let mut state = plan.spawn()?;
            let input: Arc<Tensor> = Arc::new(Tensor::from_shape(
                &[1, 1, size, size],
                &(0..size * size)
                    .map(|i| ((i % 97) as f32 / 48.0) - 1.0)
                    .collect::<Vec<_>>(),
            )?);
            let (s, fastest) = timings(runs, || {
                let out = state
                    .run(tvec![TValue::from_const(input.clone())])
                    .expect("tract run");
                std::hint::black_box(out);
            });
            println!(
                "{{\"kind\":\"infer\",\"runtime\":\"tract\",\"model\":{},\"size\":{size},\"ms\":{:.3},\"min_ms\":{:.3},\"gflop\":{gf:.4},\"runs\":{runs}}}",
                json_str(&file.display().to_string()),
                s * 1e3,
                fastest * 1e3
            );
        }
    }
    Ok(())
}

/// Heap allocations per steady-state frame of the camera loop: the whole
/// `capture_to_dir` (fake camera, the embedded model, PNG files written), and
/// stage by stage, with tract's own `run` counted apart from our code.
fn bench_camera_allocs(model: &Model, work: &Path) -> Result<()> {
    let (cw, ch) = (640, 480);
    let dir = work.join("camera");
    let mut session = model.session()?;
    let stop = AtomicBool::new(false);
    let mut whole = |frames: u64| -> Result<usize> {
        let _ = std::fs::remove_dir_all(&dir);
        let mut opts = CaptureOptions::new(&dir);
        opts.frames = Some(frames);
        let mut open =
            || -> Result<Box<dyn FrameSource>> { Ok(Box::new(FakeSource::gradient(cw, ch, 16))) };
        let before = allocs();
        capture_to_dir(&mut open, &mut session, &opts, &stop)?;
        Ok(allocs() - before)
    };
    // Setup costs cancel out in the difference of two runs.
    let (n1, n2) = (4u64, 20u64);
    let a1 = whole(n1)?;
    let a2 = whole(n2)?;
    let per_frame_loop = (a2 as f64 - a1 as f64) / (n2 - n1) as f64;

    let mut src = FakeSource::gradient(cw, ch, 16);
    let mut l = vec![0u16; cw * ch];
    let mut rgb = vec![0u8; 3 * cw * ch];
    let mut png = Vec::with_capacity(3 * cw * ch + 1024);
    let mut session = model.session()?;
    let mut worker = colorize_io::pipeline::Worker::new();
    let frames = 20;
    let mut stage = [0usize; 3];
    for i in 0..frames + 1 {
        let c0 = allocs();
        src.capture_l(&mut l).map_err(|e| anyhow::anyhow!("{e}"))?;
        let c1 = allocs();
        worker.colorize_plane(&mut session, &l, cw, ch, &mut rgb)?;
        let c2 = allocs();
        output::encode(
            &mut png,
            output::Format::Png,
            cw,
            ch,
            &rgb,
            "bench",
            &Default::default(),
        )?;
        let c3 = allocs();
        if i > 0 {
            stage[0] += c1 - c0;
            stage[1] += c2 - c1;
            stage[2] += c3 - c2;
        }
    }
    // tract's run alone, same input shape, same kind of state.
    let g = model.geometry();
    let input = Arc::new(Tensor::zero::<f32>(&[1, 1, g.height, g.width])?);
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &colorize_device::DEFAULT_MODEL[..])?
        .into_optimized()?
        .into_runnable()?;
    let mut state = plan.spawn()?;
    state.run(tvec![TValue::from_const(input.clone())])?;
    let t0 = allocs();
    for _ in 0..frames {
        let out = state.run(tvec![TValue::from_const(input.clone())])?;
        drop(out);
    }
    let tract_run = (allocs() - t0) as f64 / frames as f64;
    let f = frames as f64;
    println!(
        "{{\"kind\":\"camera_allocs\",\"size\":\"{cw}x{ch}\",\"loop_per_frame\":{per_frame_loop:.1},\"capture\":{:.1},\"colorize\":{:.1},\"tract_run\":{tract_run:.1},\"ours_in_colorize\":{:.1},\"encode_png\":{:.1}}}",
        stage[0] as f64 / f,
        stage[1] as f64 / f,
        stage[1] as f64 / f - tract_run,
        stage[2] as f64 / f
    );
    Ok(())
}

/// Where the whole frame's time goes, in process, stage by stage (what
/// `colorize files` does, minus start-up and the atomic write), and what
/// each PNG compression setting costs in time and bytes on the result.
fn bench_frame_stages(photo: &Path, model: &Model, runs: usize) -> Result<()> {
    let img = images::open(photo, &images::DecodeLimits::DEFAULT)?;
    let plane = colorize_io::lstar::l_plane(&img);
    let (w, h) = (plane.width, plane.height);
    let mut session = model.session()?;
    let mut rgb = vec![0u8; 3 * w * h];
    let stage = |name: &str, s: f64| {
        println!(
            "{{\"kind\":\"stage\",\"stage\":\"{name}\",\"ms\":{:.2}}}",
            s * 1e3
        );
    };
    stage(
        "decode",
        median_s(runs, || {
            std::hint::black_box(images::open(photo, &images::DecodeLimits::DEFAULT).unwrap());
        }),
    );
    stage(
        "l_plane",
        median_s(runs, || {
            std::hint::black_box(colorize_io::lstar::l_plane(&img));
        }),
    );
    stage(
        "predict",
        median_s(runs, || {
            session.predict(&plane.l, w, h).unwrap();
        }),
    );
    if model.takes_hints() {
        // The hinted plan is built on the first hinted call: not timed.
        for n in [1usize, 5] {
            let hints: Vec<_> = (0..n)
                .map(|i| colorize_shared::contract::GridHint {
                    x: (i as f32 + 0.5) / n as f32,
                    y: 0.5,
                    radius_x: 0.0,
                    radius_y: 0.0,
                    a: -40.0,
                    b: 30.0,
                })
                .collect();
            session.set_hints(&hints)?;
            session.predict(&plane.l, w, h)?;
            stage(
                &format!("predict_hints{n}"),
                median_s(runs, || {
                    session.predict(&plane.l, w, h).unwrap();
                }),
            );
            // The cost as a ratio in one run: with and without hints in
            // turn, the median of each pair's ratio (a shared machine's
            // noise hits both of a pair alike).
            let mut ratios: Vec<f64> = (0..4 * runs + 1)
                .map(|_| {
                    let time = |s: &mut colorize_device::Session, hints: &[_]| {
                        s.set_hints(hints).unwrap();
                        let t = Instant::now();
                        s.predict(&plane.l, w, h).unwrap();
                        t.elapsed().as_secs_f64()
                    };
                    let without = time(&mut session, &[]);
                    time(&mut session, &hints) / without
                })
                .collect();
            ratios.sort_by(|a, b| a.total_cmp(b));
            println!(
                "{{\"kind\":\"hint_cost\",\"hints\":{n},\"ratio\":{:.4},\"pairs\":{}}}",
                ratios[ratios.len() / 2],
                ratios.len()
            );
        }
        session.set_hints(&[])?;
    }
    let mut worker = colorize_io::pipeline::Worker::new();
    stage(
        "colorize_plane",
        median_s(runs, || {
            worker
                .colorize_plane(&mut session, &plane.l, w, h, &mut rgb)
                .unwrap();
        }),
    );
    let mut bytes = Vec::with_capacity(3 * w * h);
    stage(
        "encode",
        median_s(runs, || {
            output::encode(
                &mut bytes,
                output::Format::Png,
                w,
                h,
                &rgb,
                "bench",
                &Default::default(),
            )
            .unwrap();
        }),
    );
    println!(
        "{{\"kind\":\"png\",\"setting\":\"product\",\"bytes\":{}}}",
        bytes.len()
    );
    for (name, c, f) in [
        ("Balanced+Adaptive", png::Compression::Balanced, None),
        ("Fast+Adaptive", png::Compression::Fast, None),
        ("Fast+Up", png::Compression::Fast, Some(png::Filter::Up)),
        (
            "Fast+Paeth",
            png::Compression::Fast,
            Some(png::Filter::Paeth),
        ),
        ("Fastest+Up", png::Compression::Fastest, None),
        ("NoCompression", png::Compression::NoCompression, None),
    ] {
        let s = median_s(runs.min(3), || {
            bytes.clear();
            let mut enc = png::Encoder::new(&mut bytes, w as u32, h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_compression(c);
            if let Some(f) = f {
                enc.set_filter(f);
            }
            let mut wr = enc.write_header().unwrap();
            wr.write_image_data(&rgb).unwrap();
            wr.finish().unwrap();
        });
        println!(
            "{{\"kind\":\"png\",\"setting\":\"{name}\",\"ms\":{:.2},\"bytes\":{}}}",
            s * 1e3,
            bytes.len()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    // Plans below are built with tract directly, not through runtime::Model.
    colorize_device::runtime::avoid_broken_kernels();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut photo, mut work, mut models, mut runs) =
        (None, PathBuf::from(".cache/bench"), Vec::new(), 50usize);
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--photo" => photo = Some(PathBuf::from(val()?)),
            "--work" => work = PathBuf::from(val()?),
            "--model" => models.push(PathBuf::from(val()?)),
            "--runs" => runs = val()?.parse()?,
            "--only" => only = Some(val()?),
            "--bench" => {} // cargo bench passes this
            _ => bail!("usage: bench [--photo JPG] [--work DIR] [--model ONNX]... [--runs N] [--only lab|infer|frame|camera]"),
        }
    }
    std::fs::create_dir_all(&work)?;
    let want = |what: &str| only.as_deref().is_none_or(|o| o == what);
    if want("lab") {
        bench_lab(photo.as_deref(), &work, 7)?;
    }
    if want("infer") {
        bench_inference(&models, &work, runs)?;
    }
    if want("frame") {
        let p = match &photo {
            Some(p) => p.clone(),
            None => {
                // The generated image as a JPEG, for this and the whole-frame rows.
                let (w, h, rgb, _) = lab_image(None)?;
                let p = work.join("generated-2560x1600.jpg");
                let img = image::RgbImage::from_raw(w as u32, h as u32, rgb).context("size")?;
                img.save(&p)?;
                p
            }
        };
        println!(
            "{{\"kind\":\"frame_input\",\"path\":{}}}",
            json_str(&p.display().to_string())
        );
        bench_frame_stages(&p, &colorize_device::default_model()?, 5)?;
    }
    if want("camera") {
        bench_camera_allocs(&colorize_device::default_model()?, &work)?;
    }
    Ok(())
}
