//! Training a set-up [`Run`] epoch by epoch: the steps, the mid-epoch
//! checkpoints and stops, validation, and the run files after each epoch.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use tch::TchError;

use super::run::Run;
use crate::checkpoint::{self, write_metrics, CheckpointMeta, EpochRow};
use crate::data::hints::{self, HintCount};
use crate::data::{make_batch, Rng, Sample};

/// Keeps the hints' random draws apart from the dropout's.
const HINT_SALT: u64 = 0x4849_4e54;
use crate::eval::{evaluate, hint_tensor, to_tensors};
use crate::report::{write_curves, write_samples};
use crate::resources::{is_oom, process_cpu_seconds};

/// The state a checkpoint records, shared by the mid-epoch and the
/// end-of-epoch saves.
struct Progress {
    epoch_done: usize,
    position: usize,
    loss_sum: f64,
    seen: usize,
    rng_state: u64,
    lr_now: f64,
}

/// One epoch in progress: its image order and where it stands in it.
struct Epoch {
    number: usize,
    /// Indices into the training set, shuffled per epoch.
    order: Vec<usize>,
    /// Draws the epoch's crops and flips after the shuffle.
    rng: Rng,
    /// Images of `order` done.
    pos: usize,
    loss_sum: f64,
    seen: usize,
    lr_now: f64,
    bar: ProgressBar,
    t0: Instant,
}

/// The seed of libtorch's generator (dropout) for the batch at `position`
/// of `epoch`: a resumed run, even from mid-epoch, draws the same masks.
fn step_seed(seed: u64, epoch: usize, position: usize) -> i64 {
    let mut r = Rng::new(seed ^ ((epoch as u64) << 40) ^ position as u64);
    (r.next_u64() >> 1) as i64
}

/// The epoch's progress bar (hidden without `progress`), starting at `pos`
/// for a resumed epoch.
fn epoch_bar(progress: bool, len: usize, epoch: usize, epochs: usize, pos: usize) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar.set_position(pos as u64);
    bar.reset_eta();
    bar
}

impl Run<'_> {
    /// Trains the epochs after the ones done, up to `cfg.epochs`. Returns the
    /// metrics rows so far, also when a time budget or a signal stops the
    /// run inside an epoch (after a checkpoint).
    pub(super) fn train_epochs(mut self) -> Result<Vec<EpochRow>> {
        self.started = Instant::now();
        self.last_save = Instant::now();
        for epoch in self.standing.start_epoch + 1..=self.cfg.epochs {
            let mut ep = self.begin_epoch(epoch);
            while ep.pos < ep.order.len() {
                if self.checkpoint_if_due(&ep)? {
                    return Ok(self.standing.rows);
                }
                self.step(&mut ep)?;
            }
            ep.bar.finish_and_clear();
            let row = self.validate(&ep)?;
            self.save_epoch(&ep, row)?;
        }
        Ok(self.standing.rows)
    }

    /// What a checkpoint at `p` records, with the run's standing now.
    fn meta(&self, p: &Progress, val: Option<EpochRow>) -> CheckpointMeta {
        let s = &self.standing;
        CheckpointMeta {
            model: self.cfg.model.clone(),
            epoch: p.epoch_done,
            optimizer: self.cfg.optimizer,
            lr: self.cfg.lr,
            batch_size: s.batch_size,
            best_val_psnr: s.best_psnr,
            best_epoch: s.best_epoch,
            val,
            position: p.position,
            epoch_loss_sum: p.loss_sum,
            epoch_seen: p.seen,
            rng_state: p.rng_state,
            images_seen: s.images_seen,
            train_seconds: s.train_seconds_before + self.started.elapsed().as_secs_f64(),
            cpu_seconds: s.cpu_seconds_before + process_cpu_seconds(),
            train_images: self.train_set.len(),
            total_epochs: self.cfg.epochs,
            lr_now: p.lr_now,
            bin_log_weights: self.bin_log_weights.clone(),
        }
    }

    /// Starts epoch `epoch`. Everything random in an epoch derives from
    /// (seed, epoch, position), so a resumed run replays the batches an
    /// uninterrupted run would: the first epoch of a resumed run continues
    /// at the checkpoint's position, loss and generator state.
    fn begin_epoch(&mut self, epoch: usize) -> Epoch {
        let t0 = Instant::now();
        let cfg = &self.cfg;
        let mut rng = Rng::new(cfg.seed.wrapping_mul(0x1_0000).wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..self.train_set.len()).collect();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut seen, mut pos) = (0.0, 0usize, 0usize);
        if let Some(meta) = self.resume_from.take() {
            if meta.position > 0 && meta.epoch + 1 == epoch {
                pos = meta.position.min(order.len());
                loss_sum = meta.epoch_loss_sum;
                seen = meta.epoch_seen;
                rng = Rng::from_state(meta.rng_state);
            }
        }
        let bar = epoch_bar(self.progress, order.len(), epoch, cfg.epochs, pos);
        Epoch {
            number: epoch,
            order,
            rng,
            pos,
            loss_sum,
            seen,
            lr_now: cfg.lr,
            bar,
            t0,
        }
    }

    /// Before each step: writes a mid-epoch checkpoint every
    /// `checkpoint_seconds`, and when the time budget is spent or a signal
    /// came, so that no stop loses more than that interval. Returns whether
    /// the run stops here.
    fn checkpoint_if_due(&mut self, ep: &Epoch) -> Result<bool> {
        let budget = self.limits.max_minutes.map(|m| m * 60.0);
        let over_budget = budget.is_some_and(|b| self.started.elapsed().as_secs_f64() >= b);
        let interrupted = self.stop.load(Ordering::Relaxed);
        if !(over_budget
            || interrupted
            || self.last_save.elapsed().as_secs_f64() >= self.limits.checkpoint_seconds)
        {
            return Ok(false);
        }
        let p = Progress {
            epoch_done: ep.number - 1,
            position: ep.pos,
            loss_sum: ep.loss_sum,
            seen: ep.seen,
            rng_state: ep.rng.state(),
            lr_now: ep.lr_now,
        };
        let meta = self.meta(&p, self.standing.rows.last().cloned());
        checkpoint::commit(self.out, "last", &self.vs, Some(&self.opt), &meta)?;
        self.last_save = Instant::now();
        if over_budget || interrupted {
            ep.bar.finish_and_clear();
            eprintln!(
                "{} after {:.1} min: checkpoint at epoch {}, image {} of {}; continue with --resume",
                if interrupted { "stopped on a signal" } else { "time budget reached" },
                self.started.elapsed().as_secs_f64() / 60.0,
                ep.number,
                ep.pos,
                ep.order.len()
            );
            return Ok(true);
        }
        Ok(false)
    }

    /// One optimizer step on the next batch of the epoch, at the schedule's
    /// learning rate. A CUDA out-of-memory error halves the batch size and
    /// retries the same images with the same draws, instead of ending a
    /// long run.
    fn step(&mut self, ep: &mut Epoch) -> Result<()> {
        let (size, input_size) = (self.cfg.model.sample_size(), self.cfg.model.size);
        let (epoch, pos) = (ep.number, ep.pos);
        let end = (pos + self.standing.batch_size).min(ep.order.len());
        let refs: Vec<&Sample> = ep.order[pos..end]
            .iter()
            .map(|&i| &self.train_set[i])
            .collect();
        let rng_before = ep.rng.state();
        // Cached features are of the unflipped centre crop: no augmentation.
        let batch = if self.features.is_some() {
            make_batch(&refs, size, input_size, None)
        } else {
            make_batch(&refs, size, input_size, Some(&mut ep.rng))
        };
        let (x, y) = to_tensors(&batch, self.device);
        let hints = self.cfg.model.hint_side().map(|side| {
            // Drawn from (seed, epoch, position), like the dropout masks, so
            // a resumed run gives the same points.
            let mut rng = Rng::new(step_seed(self.cfg.seed ^ HINT_SALT, epoch, pos) as u64);
            let drawn = hints::sample(
                &batch.target,
                batch.n,
                size,
                side,
                HintCount::Random,
                &mut rng,
            );
            hint_tensor(&drawn.input(), batch.n, side, self.device)
        });
        let cached = match &self.features {
            Some(f) => f.batch(&ep.order[pos..end], self.device)?,
            None => Vec::new(),
        };
        let progress_frac =
            ((epoch - 1) as f64 + pos as f64 / ep.order.len() as f64) / self.cfg.epochs as f64;
        ep.lr_now = self
            .cfg
            .schedule
            .lr(self.cfg.lr, progress_frac, self.opt.steps());
        self.opt.set_lr(ep.lr_now);
        tch::manual_seed(step_seed(self.cfg.seed, epoch, pos));
        let step = (|| -> Result<f64, TchError> {
            self.opt.zero_grad();
            let pred = self
                .model
                .forward_hinted(&x, hints.as_ref(), cached, true)?;
            let l = self.loss.compute(&pred, &y)?;
            l.f_backward()?;
            self.opt.step()?;
            l.f_double_value(&[])
        })();
        match step {
            Ok(l) => {
                if !l.is_finite() {
                    bail!(
                        "training diverged at epoch {epoch}, image {pos}: loss is {l} (lower --lr)"
                    );
                }
                ep.loss_sum += l * batch.n as f64;
                ep.seen += batch.n;
                self.standing.images_seen += batch.n as u64;
                ep.pos = end;
                ep.bar.set_position(ep.pos as u64);
                ep.bar.set_message(format!(
                    "loss {:.5} lr {:.2e}",
                    ep.loss_sum / ep.seen as f64,
                    ep.lr_now
                ));
            }
            Err(e) if is_oom(&e) && self.standing.batch_size > 1 => {
                ep.rng = Rng::from_state(rng_before);
                self.standing.batch_size /= 2;
                ep.bar.println(format!(
                    "CUDA out of memory at batch size {}: halved to {}, continuing",
                    self.standing.batch_size * 2,
                    self.standing.batch_size
                ));
            }
            Err(e) => return Err(e).context("training step"),
        }
        Ok(())
    }

    /// Scores the model on the validation set after an epoch and prints and
    /// records the epoch's row: what picks the best checkpoint and draws the
    /// curves.
    fn validate(&mut self, ep: &Epoch) -> Result<EpochRow> {
        let (val_loss, summary) = evaluate(
            &self.model,
            Some(&self.loss),
            &self.val_set,
            &mut self.standing.batch_size,
            self.device,
        )?;
        let row = EpochRow {
            epoch: ep.number,
            train_loss: ep.loss_sum / ep.seen.max(1) as f64,
            val_loss,
            val_psnr: summary.psnr,
            val_psnr_gray: summary.psnr_gray,
            val_colourfulness_ratio: summary.colourfulness_ratio,
            val_auc: summary.auc,
            seconds: ep.t0.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {}: train loss {:.5}, val loss {:.5}, val PSNR {:.3} dB (gray {:.3}, gain {:+.3}), colourfulness ratio {:.3}, {:.0} images/s",
            ep.number,
            row.train_loss,
            row.val_loss,
            row.val_psnr,
            row.val_psnr_gray,
            summary.psnr_gain,
            row.val_colourfulness_ratio,
            ep.seen as f64 / row.seconds
        );
        self.standing.rows.push(row.clone());
        Ok(row)
    }

    /// The run files after an epoch: metrics.csv, `best` when the epoch
    /// beat the best validation PSNR, `last` (the resume point, at the
    /// start of the next epoch), curves.png and samples.png.
    fn save_epoch(&mut self, ep: &Epoch, row: EpochRow) -> Result<()> {
        let epoch = ep.number;
        let is_best = row.val_psnr > self.standing.best_psnr;
        if is_best {
            self.standing.best_psnr = row.val_psnr;
            self.standing.best_epoch = epoch;
        }
        let p = Progress {
            epoch_done: epoch,
            position: 0,
            loss_sum: 0.0,
            seen: 0,
            rng_state: 0,
            lr_now: ep.lr_now,
        };
        let meta = self.meta(&p, Some(row));
        // metrics.csv first: a run killed between the two resumes from the
        // previous checkpoint and drops the extra row (filter on resume).
        write_metrics(&self.out.join("metrics.csv"), &self.standing.rows)?;
        if is_best {
            checkpoint::commit(self.out, "best", &self.vs, None, &meta)?;
        }
        checkpoint::commit(self.out, "last", &self.vs, Some(&self.opt), &meta)?;
        self.last_save = Instant::now();
        write_curves(&self.out.join("curves.png"), &self.standing.rows)?;
        write_samples(
            &self.out.join("samples.png"),
            &self.model,
            &self.fixed_samples,
            &mut self.standing.batch_size,
            self.device,
        )?;
        Ok(())
    }
}
