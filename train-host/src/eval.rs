//! Scoring a model on samples: batched prediction, decoded at a
//! temperature, turned into sRGB8 by the device's colourize step, and
//! the dataset metrics of `colorize_shared::metrics`.

use anyhow::{Context, Result};
use colorize_io::pipeline::Worker;
use colorize_shared::colour_bins::Annealing;
use colorize_shared::metrics::{EvalAccumulator, EvalSummary, ImageScores};
use tch::{Device, TchError, Tensor};

use crate::colorizer::Predicted;
use crate::data::hints::{self, HintCount};
use crate::data::{self, make_batch, Sample};
use crate::loss::Loss;
use crate::model::TorchModel;
use crate::resources::is_oom;
use colorize_shared::contract::HINT_CHANNELS;

pub(crate) fn to_tensors(batch: &data::Batch, device: Device) -> (Tensor, Tensor) {
    let (s, si) = (batch.size as i64, batch.input_size as i64);
    let n = batch.n as i64;
    let x = Tensor::from_slice(&batch.input)
        .view([n, 1, si, si])
        .to_device(device);
    let y = Tensor::from_slice(&batch.target)
        .view([n, 2, s, s])
        .to_device(device);
    (x, y)
}

/// A batch's hints data (`data::hints::Drawn`) as the model's
/// `[n, HINT_CHANNELS, side, side]` tensor.
pub(crate) fn hint_tensor(data: &[f32], n: usize, side: usize, device: Device) -> Tensor {
    let shape = [n as i64, HINT_CHANNELS as i64, side as i64, side as i64];
    Tensor::from_slice(data).view(shape).to_device(device)
}

/// Predicted sRGB8 for the centre crop of a sample, given the model's output
/// `[2, size, size]`: the sample's own L with the predicted a*b*, through
/// the one colourize path ([`Worker::colorize_plane`]), so that what the
/// trainer scores is what the device shows.
pub fn prediction_rgb8(s: &Sample, output: &[f32], size: usize) -> Vec<u8> {
    let px = size * size;
    let (x0, y0) = s.centre(size);
    let mut l = vec![0u16; px];
    for y in 0..size {
        let row = (y0 + y) * s.width + x0;
        l[y * size..(y + 1) * size].copy_from_slice(&s.l[row..row + size]);
    }
    let mut rgb = vec![0u8; 3 * px];
    Worker::new()
        .colorize_plane(&mut Predicted::new(output, size), &l, size, size, &mut rgb)
        .expect("buffers sized above");
    rgb
}

/// Runs the model over `samples` (centre crops) in batches of `batch_size`,
/// calling `each(sample_index, output)` with every image's `[2, size, size]`
/// output, and returns the mean loss.
pub fn predict(
    model: &TorchModel,
    loss: Option<&Loss>,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
    annealing: &Annealing,
    mut each: impl FnMut(usize, &[f32]),
) -> Result<f64> {
    let size = model.config.sample_size();
    let px = 2 * size * size;
    let mut pos = 0;
    let mut loss_sum = 0.0;
    while pos < samples.len() {
        let end = (pos + *batch_size).min(samples.len());
        let refs: Vec<&Sample> = samples[pos..end].iter().collect();
        let batch = make_batch(&refs, size, model.config.size, None);
        let (x, y) = to_tensors(&batch, device);
        let hint_side = model.config.hint_side().filter(|_| model.eval_hints > 0);
        let hints = hint_side.map(|side| {
            // Seeded by the batch's position: the same points for the same
            // images at every epoch and in every run.
            let mut rng = data::Rng::new(0x5645_4c00 ^ pos as u64);
            let count = HintCount::Fixed(model.eval_hints);
            let drawn = hints::sample(&batch.target, batch.n, size, side, count, &mut rng);
            let t = |v: Vec<f32>| hint_tensor(&v, batch.n, side, device);
            (t(drawn.input()), t(drawn.pins()))
        });
        let (hints, pins) = hints.unzip();
        let out = tch::no_grad(|| -> Result<(Tensor, f64), TchError> {
            let out = model.forward_hinted(&x, hints.as_ref(), Vec::new(), false)?;
            let l = match loss {
                Some(loss) => loss.compute(&out, &y)?.f_double_value(&[])?,
                None => 0.0,
            };
            Ok((out, l))
        });
        let decoded =
            out.and_then(|(out, l)| Ok((model.decode_pinned(&out, annealing, pins.as_ref())?, l)));
        match decoded {
            Ok((out, l)) => {
                let out = Vec::<f32>::try_from(&out.to_device(Device::Cpu).reshape(-1))?;
                for (i, o) in out.chunks_exact(px).enumerate() {
                    each(pos + i, o);
                }
                loss_sum += l * batch.n as f64;
                pos = end;
            }
            Err(e) if is_oom(&e) && *batch_size > 1 => {
                *batch_size /= 2;
                eprintln!("CUDA out of memory in evaluation: batch size halved to {batch_size}");
            }
            Err(e) => return Err(e).context("forward pass"),
        }
    }
    Ok(loss_sum / samples.len().max(1) as f64)
}

/// Scores a model on samples with the shared metrics.
pub fn evaluate(
    model: &TorchModel,
    loss: Option<&Loss>,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<(f64, EvalSummary)> {
    let (loss, summary, _) = evaluate_per_image(model, loss, samples, batch_size, device)?;
    Ok((loss, summary))
}

/// [`evaluate`], also returning every sample's own scores (`None`: gray
/// truth, not scored).
pub fn evaluate_per_image(
    model: &TorchModel,
    loss: Option<&Loss>,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<(f64, EvalSummary, Vec<Option<ImageScores>>)> {
    let size = model.config.sample_size();
    let mut acc = EvalAccumulator::new();
    let mut scores = vec![None; samples.len()];
    let ann = &model.annealing;
    let loss = predict(model, loss, samples, batch_size, device, ann, |i, out| {
        let s = &samples[i];
        let (x0, y0) = s.centre(size);
        scores[i] = acc.add_scored(&s.crop_rgb8(x0, y0, size), &prediction_rgb8(s, out, size));
    })?;
    Ok((loss, acc.summary(), scores))
}

/// `eval --per-image`: one CSV row per scored image (gray truths, `None`,
/// have none), numbered in load order: PSNR, PSNR of predicting gray, the
/// colourfulness of prediction and truth, and the shares of green and blue
/// pixels in truth and prediction.
pub fn per_image_csv(scores: &[Option<ImageScores>]) -> String {
    let mut csv = String::from(
        "image,psnr,psnr_gray,colourfulness_pred,colourfulness_truth,green_truth,green_pred,blue_truth,blue_pred\n",
    );
    for (i, s) in scores.iter().enumerate() {
        if let Some(s) = s {
            csv += &format!(
                "{i},{:.4},{:.4},{:.3},{:.3},{:.4},{:.4},{:.4},{:.4}\n",
                s.psnr,
                s.psnr_gray,
                s.colourfulness_pred,
                s.colourfulness_truth,
                s.green_truth,
                s.green_pred,
                s.blue_truth,
                s.blue_pred
            );
        }
    }
    csv
}
