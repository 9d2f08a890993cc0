//! The model on tract: load once, optimise once, check against the contract,
//! then colourize L* planes at any resolution.
//!
//! [`Model`] is the shared, immutable part (the optimised plan; `Sync`, so
//! several threads use one). [`Session`] is one worker's mutable part: the
//! tract state and every buffer a frame needs, allocated once, so a camera
//! loop colourizes frame after frame without allocating on our side (tract
//! still allocates its own activations inside `run`).

mod hinted;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use hinted::{Bytes, HintedPlan};

use anyhow::{bail, ensure, Context, Result};
use colorize_model::pb::ModelProto;
use colorize_shared::colour_bins;
use colorize_shared::contract::{self, meta, ModelGeometry, OutputKind};
use colorize_shared::recombine::AbPlanes;
use prost::Message;
use tract_onnx::prelude::*;

/// Takes tract's AMX int8 matrix kernel out of its kernel pool, before
/// tract probes the CPU (once per process). On Xeons with AMX (Sapphire
/// Rapids and later) tract 0.23.9 picks `avx512amx_mmm_i32_16x16` for the
/// int8 model's QLinearConv, and that kernel's `tileloaddt1` reads past its
/// packed buffer: every `colorize files` with the embedded int8 model died
/// with SIGSEGV on such machines (device/tests/cli.rs caught it). The
/// AVX512-VNNI kernels that tract uses instead give the same integers. A
/// `TRACT_CPU_ISA` set by the user is left alone.
pub fn avoid_broken_kernels() {
    #[cfg(target_arch = "x86_64")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if std::env::var_os("TRACT_CPU_ISA").is_none() {
                tract_onnx::tract_core::knobs::set_str("TRACT_CPU_ISA", "-amx-int8");
            }
        });
    }
}

/// A loaded, optimised, contract-checked ONNX colourization model.
#[derive(Clone, Debug)]
pub struct Model {
    /// The automatic colours: for a model that takes hints, its graph up to
    /// [`contract::AUTO_OUTPUT_NAME`], so no hints cost nothing.
    plan: Arc<TypedRunnableModel>,
    /// A model that takes hints: its whole graph, optimised on first use.
    hinted: Option<Arc<HintedPlan>>,
    geometry: ModelGeometry,
    metadata: Vec<(String, String)>,
    source: String,
    /// Vividness of a distribution head's decode (0..1); unused by
    /// regression models.
    vividness: f32,
    /// How the card says to decode a distribution head, and that decode at
    /// `vividness`.
    decoding: colour_bins::BinDecoding,
    annealing: colour_bins::Annealing,
}

impl Model {
    /// Loads a model held in memory; `source` names it in errors (a path, or
    /// "the embedded default model").
    ///
    /// Any bytes give a model or an error, never a crash: tract panics on
    /// some malformed graphs (`fuzz/` target `load_model`, e.g. a Conv with
    /// an empty `pads`), so a panic while loading becomes this model's error.
    pub fn from_bytes_named(bytes: &[u8], source: &str) -> Result<Self> {
        Self::load_caught(bytes, source, || Bytes::Copy(bytes.into()))
    }

    /// [`Model::from_bytes_named`] for bytes that live as long as the
    /// program (the embedded model): nothing is copied to build a hinted
    /// plan later.
    pub fn from_static(bytes: &'static [u8], source: &str) -> Result<Self> {
        Self::load_caught(bytes, source, || Bytes::Static(bytes))
    }

    fn load_caught(bytes: &[u8], source: &str, keep: impl FnOnce() -> Bytes) -> Result<Self> {
        avoid_broken_kernels();
        let load = std::panic::AssertUnwindSafe(|| Self::load(bytes, source, keep));
        std::panic::catch_unwind(load).unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("unknown panic");
            bail!("{source}: tract can not load this ONNX model (malformed graph: {why})")
        })
    }

    fn load(bytes: &[u8], source: &str, keep: impl FnOnce() -> Bytes) -> Result<Self> {
        // Our schema checks the weights and reads the card; tract parses the
        // bytes again for itself, after this copy is gone.
        let metadata: Vec<(String, String)> = {
            let proto = ModelProto::decode(bytes).with_context(|| {
                format!("{source}: not an ONNX model (protobuf decoding failed; a truncated file?)")
            })?;
            colorize_model::integrity::verify(&proto, source)?;
            proto
                .metadata_props
                .into_iter()
                .map(|e| (e.key, e.value))
                .collect()
        };
        let typed = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.into_typed())
            .with_context(|| format!("{source}: tract can not load this ONNX model"))?;
        let concrete = |fact: &TypedFact, what: &str| -> Result<Vec<usize>> {
            ensure!(
                fact.datum_type == f32::datum_type(),
                "{source}: model {what} is {:?}, the colorize contract needs f32",
                fact.datum_type
            );
            fact.shape
                .as_concrete()
                .map(|s| s.to_vec())
                .with_context(|| format!("{source}: model {what} has a symbolic shape {:?}; the contract needs fixed [1, 1, H, W] / [1, 2, H/k, W/k]", fact.shape))
        };
        let input_names: Vec<&str> = typed
            .inputs
            .iter()
            .map(|o| typed.node(o.node).name.as_str())
            .collect();
        let takes_hints = input_names == [contract::INPUT_NAME, contract::HINTS_NAME];
        ensure!(
            (input_names == [contract::INPUT_NAME] || takes_hints) && typed.outputs.len() == 1,
            "{source}: model has inputs {input_names:?} and {} outputs, the colorize contract needs one `{}` input (and `{}` for a model that takes hints) and one `{}` output",
            typed.outputs.len(),
            contract::INPUT_NAME,
            contract::HINTS_NAME,
            contract::OUTPUT_NAME
        );
        let input = concrete(typed.input_fact(0)?, "input")?;
        let output = concrete(typed.output_fact(0)?, "output")?;
        let geometry = contract::check_shapes(&input, &output)
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        let optimise = |m: TypedModel| {
            m.into_optimized()
                .and_then(|m| m.into_runnable())
                .with_context(|| format!("{source}: tract can not optimise this model"))
        };
        let (plan, hinted) = if takes_hints {
            let hints = concrete(typed.input_fact(1)?, "hints input")?;
            contract::check_hints_shape(&geometry, &hints)
                .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
            let auto = typed
                .find_outlet_label(contract::AUTO_OUTPUT_NAME)
                .with_context(|| {
                    format!(
                        "{source}: the model takes hints but has no `{}` tensor (its colours without hints)",
                        contract::AUTO_OUTPUT_NAME
                    )
                })?;
            let auto_plan = optimise(typed.with_output_outlets(&[auto])?)?;
            let initializers = metadata
                .iter()
                .find(|(k, _)| k == meta::INITIALIZERS_SHA256)
                .map(|(_, v)| v.clone());
            let hinted = HintedPlan {
                bytes: keep(),
                initializers,
                plan: OnceLock::new(),
            };
            (auto_plan, Some(Arc::new(hinted)))
        } else {
            (optimise(typed)?, None)
        };
        let mut model = Model {
            plan,
            hinted,
            geometry,
            metadata,
            source: source.to_string(),
            vividness: 0.0,
            decoding: colour_bins::BinDecoding::default(),
            annealing: colour_bins::Annealing::plain(1.0),
        };
        model.decoding = colour_bins::BinDecoding::from_card(
            model.meta(meta::BIN_LOG_WEIGHTS),
            model.meta(meta::VIVID_TEMPERATURE),
        )
        .map_err(|e| anyhow::anyhow!("{source}: model card: {e}"))?;
        model.set_vividness(model.default_vividness()?.unwrap_or(0.0));
        Ok(model)
    }

    /// The card's default vividness (distribution heads; None without one).
    fn default_vividness(&self) -> Result<Option<f32>> {
        let Some(v) = self.meta(meta::DEFAULT_VIVIDNESS) else {
            return Ok(None);
        };
        let v: f32 = v
            .trim()
            .parse()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .with_context(|| {
                format!(
                    "{}: model card {} is {v:?}, expected a number in 0..1",
                    self.source,
                    meta::DEFAULT_VIVIDNESS
                )
            })?;
        Ok(Some(v))
    }

    /// Sets the vividness of a distribution-head model (0: faithful, the
    /// mean of the predicted colours; 1: vivid, close to the most likely
    /// colour); `None` keeps the model card's default. A regression model has
    /// no such control: asking for one is reported and ignored.
    pub fn with_vividness(mut self, v: Option<f32>) -> Result<Self> {
        let Some(v) = v else { return Ok(self) };
        ensure!(
            (0.0..=1.0).contains(&v),
            "--vividness must be between 0 and 1, got {v}"
        );
        if matches!(self.geometry.output, OutputKind::Ab { .. }) {
            eprintln!(
                "note: {} predicts a*b* directly and has no vividness control; --vividness {v} is ignored",
                self.source
            );
        }
        self.set_vividness(v);
        Ok(self)
    }

    fn set_vividness(&mut self, v: f32) {
        self.vividness = v;
        self.annealing = self.decoding.annealing(v);
    }

    /// The vividness in use, for distribution-head models.
    pub fn vividness(&self) -> Option<f32> {
        matches!(self.geometry.output, OutputKind::Bins { .. }).then_some(self.vividness)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_named(bytes, "ONNX model")
    }

    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .with_context(|| format!("{}: can not read the model", path.display()))?;
        let owned = path.to_path_buf();
        Self::load_caught(&bytes, &path.display().to_string(), || Bytes::File(owned))
    }

    /// The model's input size, and its output's kind and size
    /// ([`ModelGeometry::ab_size`]).
    pub fn geometry(&self) -> ModelGeometry {
        self.geometry
    }

    /// The model card: ONNX `metadata_props`, in file order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// One model-card entry.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The model's id for provenance notes: the card's model id, else its
    /// arch, else "unnamed".
    pub fn id(&self) -> &str {
        self.meta(meta::MODEL_ID)
            .or_else(|| self.meta(meta::ARCH))
            .unwrap_or("unnamed")
    }

    /// The note every output made with this model carries (PNG `Software`
    /// text, JPEG comment, TIFF `Software` tag).
    pub fn provenance(&self) -> String {
        format!(
            "{}colorize {}, model {}",
            colorize_io::xmp::NOTE_PREFIX,
            env!("CARGO_PKG_VERSION"),
            self.id()
        )
    }

    /// Whether the model takes colour hints (a second input, `hints`).
    pub fn takes_hints(&self) -> bool {
        self.hinted.is_some()
    }

    /// Where the model came from (its path, or what the caller named it).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// One forward pass: `input` is the `[1, 1, H, W]` tensor's data, the
    /// result the output's (`[1, 2, H/k, W/k]`, or bin logits).
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>> {
        let g = self.geometry;
        ensure!(
            input.len() == g.pixels(),
            "model input needs {} values ({}x{}), got {}",
            g.pixels(),
            g.width,
            g.height,
            input.len()
        );
        let t = Tensor::from_shape(&[1, 1, g.height, g.width], input)?;
        let mut inputs = tvec![t.into()];
        if let Some(z) = self.zero_hints()? {
            inputs.push(z.into());
        }
        let out = self
            .plan
            .run(inputs)
            .with_context(|| format!("{}: inference failed", self.source))?;
        let out = out[0].try_as_plain_ram()?;
        Ok(out.as_slice::<f32>()?.to_vec())
    }

    /// The all-zero hints tensor a model that takes hints gets without
    /// hints (its automatic plan still has the input); `None` for others.
    fn zero_hints(&self) -> Result<Option<Tensor>> {
        if self.hinted.is_none() {
            return Ok(None);
        }
        let (h, w) = self.geometry.ab_size();
        Ok(Some(Tensor::zero::<f32>(&[
            1,
            contract::HINT_CHANNELS,
            h,
            w,
        ])?))
    }

    /// A worker with its own buffers; one per thread.
    pub fn session(&self) -> Result<Session<'_>> {
        let g = self.geometry;
        let (ah, aw) = g.ab_size();
        Ok(Session {
            model: self,
            state: self.plan.spawn()?,
            hinted_state: None,
            hints: Vec::new(),
            hints_tensor: self.zero_hints()?.map(Arc::new),
            hint_plane: Vec::new(),
            input: Arc::new(Tensor::zero::<f32>(&[1, 1, g.height, g.width])?),
            small_l: vec![0; g.pixels()],
            a: vec![0; ah * aw],
            b: vec![0; ah * aw],
            vividness: self.vividness,
            annealing: self.annealing.clone(),
        })
    }
}

/// One worker's reusable state: tract state plus the model-size buffers.
pub struct Session<'m> {
    model: &'m Model,
    state: TypedSimpleState,
    /// The hinted plan's state, spawned at the first hinted prediction.
    hinted_state: Option<TypedSimpleState>,
    /// The hints of the next predictions ([`Session::set_hints`]).
    hints: Vec<contract::GridHint>,
    /// A model that takes hints: its hints input (zeros without hints).
    hints_tensor: Option<Arc<Tensor>>,
    /// The hints input of a hinted prediction, then the cells its decoded
    /// planes are pinned to.
    hint_plane: Vec<f32>,
    input: Arc<Tensor>,
    small_l: Vec<u16>,
    a: Vec<i16>,
    b: Vec<i16>,
    /// The model's vividness and its decode, until [`Session::set_vividness`]
    /// changes this session's (the box's web page does, between scans).
    vividness: f32,
    annealing: colour_bins::Annealing,
}

impl Session<'_> {
    pub fn model(&self) -> &Model {
        self.model
    }

    /// Predicts a*b* for a full-resolution L* plane (`width x height`, Q8.8)
    /// at the model's output size, into the session's a/b planes (a
    /// distribution head's logits decoded at the model's vividness).
    pub fn predict(&mut self, l: &[u16], width: usize, height: usize) -> Result<AbPlanes<'_>> {
        ensure!(
            width > 0 && height > 0 && l.len() == width * height,
            "L plane has {} values for {width}x{height}",
            l.len()
        );
        let g = self.model.geometry;
        contract::resize_l_plane(l, width, height, &mut self.small_l, g.width, g.height);
        {
            // The previous run's outputs are gone, so the input is ours again;
            // only a caller holding a clone would force a fresh tensor.
            if Arc::get_mut(&mut self.input).is_none() {
                self.input = Arc::new(Tensor::zero::<f32>(&[1, 1, g.height, g.width])?);
            }
            let t = Arc::get_mut(&mut self.input).expect("unique after the check above");
            let mut view = t.try_as_plain_ram_mut()?;
            contract::l_plane_to_input(&self.small_l, view.as_slice_mut::<f32>()?);
        }
        let mut inputs = tvec![TValue::from_const(self.input.clone())];
        let state = match (&self.model.hinted, self.hints.is_empty()) {
            (Some(hinted), false) => {
                let (ah, aw) = g.ab_size();
                self.hint_plane
                    .resize(contract::HINT_CHANNELS * ah * aw, 0.0);
                contract::hints_to_input(&self.hints, aw, ah, &mut self.hint_plane);
                let t =
                    Tensor::from_shape(&[1, contract::HINT_CHANNELS, ah, aw], &self.hint_plane)?;
                inputs.push(TValue::from_const(Arc::new(t)));
                if self.hinted_state.is_none() {
                    self.hinted_state = Some(hinted.plan(&self.model.source)?.spawn()?);
                }
                self.hinted_state.as_mut().expect("spawned above")
            }
            _ => {
                if let Some(z) = &self.hints_tensor {
                    inputs.push(TValue::from_const(z.clone()));
                }
                &mut self.state
            }
        };
        let out = state
            .run(inputs)
            .with_context(|| format!("{}: inference failed", self.model.source))?;
        {
            let view = out[0].try_as_plain_ram()?;
            let data = view.as_slice::<f32>()?;
            let (ah, aw) = g.ab_size();
            let channels = match g.output {
                OutputKind::Ab { .. } => 2,
                OutputKind::Bins { .. } => contract::AB_BINS,
            };
            if data.len() != channels * ah * aw {
                bail!(
                    "{}: model output has {} values, expected {}",
                    self.model.source,
                    data.len(),
                    channels * ah * aw
                );
            }
            match g.output {
                OutputKind::Ab { .. } => {
                    contract::output_to_ab_planes(data, &mut self.a, &mut self.b)
                }
                OutputKind::Bins { .. } => {
                    colour_bins::decode_planes(data, &self.annealing, &mut self.a, &mut self.b)
                }
            }
            if !self.hints.is_empty() && self.model.takes_hints() {
                let (ah, aw) = g.ab_size();
                contract::hints_to_pins(&self.hints, aw, ah, &mut self.hint_plane);
                contract::pin_hints(&self.hint_plane, &mut self.a, &mut self.b);
            }
        }
        drop(out);
        let (height, width) = g.ab_size();
        Ok(AbPlanes {
            width,
            height,
            a: &self.a,
            b: &self.b,
        })
    }

    /// The colour hints of the next predictions, on the model's grid
    /// (positions as fractions of the image: the same for any resolution of
    /// it); empty for none. An error for a model that takes no hints, with
    /// hints given.
    pub fn set_hints(&mut self, hints: &[contract::GridHint]) -> Result<()> {
        ensure!(
            hints.is_empty() || self.model.takes_hints(),
            "{} takes no colour hints (it has no `{}` input); use a model trained with hints",
            self.model.source,
            contract::HINTS_NAME
        );
        self.hints.clear();
        self.hints.extend_from_slice(hints);
        Ok(())
    }

    /// The input tensor's data as the last [`Session::predict`] left it
    /// (`[1, 1, H, W]`, the contract's units): what the model saw, for the
    /// train/serve parity test.
    pub fn last_input(&self) -> Result<Vec<f32>> {
        let view = self.input.try_as_plain_ram()?;
        Ok(view.as_slice::<f32>()?.to_vec())
    }
}

impl colorize_io::pipeline::Colorize for Session<'_> {
    fn predict(&mut self, l: &[u16], width: usize, height: usize) -> Result<AbPlanes<'_>> {
        Session::predict(self, l, width, height)
    }

    fn provenance(&self) -> String {
        match self.hints.len() {
            0 => self.model.provenance(),
            1 => format!(
                "{}, with 1 colour hint from the user",
                self.model.provenance()
            ),
            n => format!(
                "{}, with {n} colour hints from the user",
                self.model.provenance()
            ),
        }
    }

    fn vividness(&self) -> Option<f32> {
        self.model.vividness().map(|_| self.vividness)
    }

    fn set_vividness(&mut self, v: f32) -> Result<()> {
        ensure!(
            (0.0..=1.0).contains(&v),
            "vividness must be between 0 and 1, got {v}"
        );
        ensure!(
            self.model.vividness().is_some(),
            "{} predicts a*b* directly and has no vividness control",
            self.model.source
        );
        self.vividness = v;
        self.annealing = self.model.decoding.annealing(v);
        Ok(())
    }

    fn set_hints(&mut self, hints: &[contract::GridHint]) -> Result<()> {
        Session::set_hints(self, hints)
    }
}
