//! `--judge MODEL` of `optimize` and the window: a second network loaded beside the first
//! (its verdicts: `deepvis_engine::judge`).

use anyhow::Result;
use deepvis_engine::ModelLoader;

use crate::Global;

/// The loader of `model` (an ONNX file with its own preprocessing, or a built-in network's
/// name), ignoring the first model's preprocessing flags.
pub fn loader(g: &Global, model: &str) -> Result<ModelLoader> {
    let jg = Global {
        model: model.to_string(),
        input_size: None,
        mean: None,
        std: None,
        bgr: false,
        input_range: None,
        weights: None,
        ..g.clone()
    };
    crate::common::model_loader(&jg)
}
