//! `--judge MODEL`: a second network classifies a finished picture, and reports the rank and
//! probability of the class the picture was made for (a class picture that a different network
//! also recognises is a recognisable picture).

use anyhow::{Result, bail};
use deepvis_model::{Labels, ModelInfo};

use crate::Global;
use crate::common::{Loaded, load};

/// A loaded judge.
pub struct Judge {
    l: Loaded,
    labels: Labels,
}

/// What the judge said of one picture.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    /// The target class's rank among the judge's classes (1 = its top class), if a class was
    /// the target.
    pub rank: Option<usize>,
    /// The target class's probability.
    pub prob: Option<f32>,
    /// The judge's top class and its probability.
    pub top: (String, f32),
}

impl Judge {
    /// Loads `model` (an ONNX file, or a built-in network's name) on the same backend.
    pub fn load(g: &Global, model: &str) -> Result<Judge> {
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
        let l = load(&jg)?;
        let classes = l.info.layer(l.info.logits_layer())?.channels;
        if classes != 1000 {
            bail!(
                "the judge {} has {classes} classes; it must be an ImageNet classifier (1000)",
                l.info.name(),
            );
        }
        Ok(Judge {
            l,
            labels: Labels::imagenet(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.l.info.name()
    }

    /// Classifies `chw`, a picture in `from`'s normalized input space; `class`: the target.
    pub fn judge(&self, chw: &[f32], from: &ModelInfo, class: Option<usize>) -> Result<Verdict> {
        let s = from.input_size() as u32;
        let img = from.norm().invert(chw, s, s)?;
        let t = self.l.info.input_size() as u32;
        let img = deepvis_model::preprocess::resize_bilinear(&img, t, t);
        let x = deepvis_model::tensor4(
            self.l.info.norm().apply(&img),
            [1, 3, t as usize, t as usize],
            &self.l.device.device,
        )?;
        let probs = deepvis_model::to_vec(self.l.net.probabilities(x)?)?;
        let (best, &p) = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .ok_or_else(|| anyhow::anyhow!("the judge returned no classes"))?;
        let (rank, prob) = match class.and_then(|c| probs.get(c).map(|&pc| (c, pc))) {
            Some((_, pc)) => (
                Some(1 + probs.iter().filter(|&&q| q > pc).count()),
                Some(pc),
            ),
            None => (None, None),
        };
        Ok(Verdict {
            rank,
            prob,
            top: (self.labels.name(best), p),
        })
    }
}
