//! A model that takes colour hints, past its automatic plan: the hinted
//! plan, built from the model's bytes on the first hint.

use std::sync::{Arc, OnceLock};

use anyhow::{ensure, Context, Result};
use colorize_model::pb::ModelProto;
use colorize_shared::contract::meta;
use prost::Message;
use tract_onnx::prelude::*;

/// Where a model's bytes can be read again: a model that takes hints
/// builds its hinted plan from them on first use, rather than holding its
/// whole graph (5 MB of weights for the default) from the start.
#[derive(Clone, Debug)]
pub(super) enum Bytes {
    /// In the binary (the embedded default).
    Static(&'static [u8]),
    /// A file, read again (and checked to be the same model).
    File(std::path::PathBuf),
    /// A copy, for a model given as bytes.
    Copy(Arc<[u8]>),
}

/// The whole graph of a model that takes hints, optimised when a hint is
/// first given (most runs give none, and pay nothing for the branch).
#[derive(Debug)]
pub(super) struct HintedPlan {
    pub(super) bytes: Bytes,
    /// The card's initializers hash of the model as loaded: a file that
    /// changed since is refused, not mixed with the loaded model.
    pub(super) initializers: Option<String>,
    /// Built once, inside the lock, so that workers reaching their first
    /// hinted image together wait for one build instead of each making
    /// one; a failure is kept too, not retried for every image.
    pub(super) plan: OnceLock<Result<Arc<TypedRunnableModel>, String>>,
}

impl HintedPlan {
    pub(super) fn plan(&self, source: &str) -> Result<&Arc<TypedRunnableModel>> {
        self.plan
            .get_or_init(|| self.build(source).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn build(&self, source: &str) -> Result<Arc<TypedRunnableModel>> {
        let read;
        let bytes: &[u8] = match &self.bytes {
            Bytes::Static(b) => b,
            Bytes::Copy(b) => b,
            Bytes::File(path) => {
                read = std::fs::read(path)
                    .with_context(|| format!("{}: can not read the model again", path.display()))?;
                &read
            }
        };
        let proto = ModelProto::decode(bytes).context("the model's bytes")?;
        colorize_model::integrity::verify(&proto, source)?;
        let hash = proto
            .metadata_props
            .iter()
            .find(|e| e.key == meta::INITIALIZERS_SHA256)
            .map(|e| e.value.clone());
        ensure!(
            hash == self.initializers,
            "{source}: the model file changed since it was loaded; run again"
        );
        drop(proto);
        tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|m| m.into_typed())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .with_context(|| format!("{source}: tract can not optimise this model's hint branch"))
    }
}
