//! A second network judges a finished picture: the target class's rank and probability among
//! its classes, and its own top class (a class picture that a different, modern network also
//! recognises is a recognisable picture).

use deepvis_model::{Labels, ModelInfo, Net};
pub use deepvis_protocol::Verdict;

use crate::error::{EngineError, Result};

/// Classifies `chw` (a picture in `from`'s normalized input space, as the optimizer holds it,
/// of any side: it is resized to the judge's input)
/// with `judge` (on `device`); `class`: the class the picture was made for, if any.
pub fn judge(
    judge: &Net,
    device: &burn::prelude::Device,
    chw: &[f32],
    from: &ModelInfo,
    class: Option<usize>,
    labels: &Labels,
) -> Result<Verdict> {
    let info = judge.info();
    // the picture's side: the network's input, or a canvas
    let s = crate::export::side(chw) as u32;
    let img = from.norm().invert(chw, s, s)?;
    let t = info.input_size() as u32;
    let img = deepvis_model::preprocess::resize_bilinear(&img, t, t);
    let x = deepvis_model::tensor4(
        info.norm().apply(&img),
        [1, 3, t as usize, t as usize],
        device,
    )?;
    let probs = judge.probabilities(x).and_then(deepvis_model::to_vec)?;
    let (best, &top_prob) = probs
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .ok_or(EngineError::NoClasses)?;
    let target = class.and_then(|c| probs.get(c).map(|&p| (c, p)));
    Ok(Verdict {
        judge: info.name().to_string(),
        class: target.map(|(c, _)| labels.name(c)),
        rank: target.map(|(_, p)| 1 + probs.iter().filter(|&&q| q > p).count()),
        prob: target.map(|(_, p)| p),
        top: labels.name(best),
        top_prob,
    })
}

/// The class a goal's unit stands for: its channel, when the unit is on the class-score layer.
pub fn target_class(info: &ModelInfo, layer: &str, channel: usize) -> Option<usize> {
    let l = info.layer(layer).ok()?;
    (l.name == info.logits_layer() || l.kind == "Softmax").then_some(channel)
}
