//! What a run maximizes: a class unit, a conv unit at one position, or a whole channel's mean,
//! on the post- or pre-ReLU value, pushed up or down.

use burn::prelude::*;
use deepvis_model::{LayerInfo, ModelInfo, Request, Taps};
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};

/// Which value of a layer is the objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Channel `channel` at map position `(y, x)` (vector layers: `(0, 0)`).
    At {
        /// Channel (class for the score layers).
        channel: usize,
        /// Row.
        y: usize,
        /// Column.
        x: usize,
    },
    /// The mean of channel `channel` over its whole map.
    ChannelMean {
        /// Channel.
        channel: usize,
    },
}

impl Unit {
    /// The channel.
    pub fn channel(&self) -> usize {
        match *self {
            Unit::At { channel, .. } | Unit::ChannelMean { channel } => channel,
        }
    }
}

/// A fully specified objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// The layer's canonical name.
    pub layer: String,
    /// The unit.
    pub unit: Unit,
    /// Use the value before the layer's ReLU (for a SqueezeNet class unit: the mean of conv10
    /// before its ReLU).
    pub pre_relu: bool,
    /// +1 excites the unit, -1 suppresses it.
    pub sign: f32,
}

/// Where an objective reads its value from (the model's [`deepvis_model::PreSource`], or the
/// layer itself).
type Source = deepvis_model::PreSource;

impl Objective {
    /// A unit of `layer` (`pos` = None: the centre of the map), validated against the model.
    pub fn new(
        arch: &ModelInfo,
        layer: &str,
        channel: usize,
        pos: Option<(usize, usize)>,
        pre_relu: bool,
        sign: f32,
    ) -> Result<Objective> {
        let info = arch.layer(layer)?;
        let (y, x) = pos.unwrap_or(info.centre());
        let o = Objective {
            layer: info.name.clone(),
            unit: Unit::At { channel, y, x },
            pre_relu,
            sign,
        };
        o.validate(arch)?;
        Ok(o)
    }

    /// The class score `class` (`pool10` on SqueezeNet, `fc8` on AlexNet).
    pub fn class(arch: &ModelInfo, class: usize) -> Result<Objective> {
        Objective::new(arch, arch.logits_layer(), class, Some((0, 0)), false, 1.0)
    }

    /// The mean of a whole channel.
    pub fn channel_mean(arch: &ModelInfo, layer: &str, channel: usize) -> Result<Objective> {
        let info = arch.layer(layer)?;
        let o = Objective {
            layer: info.name.clone(),
            unit: Unit::ChannelMean { channel },
            pre_relu: false,
            sign: 1.0,
        };
        o.validate(arch)?;
        Ok(o)
    }

    /// Checks the layer, the unit and the flags against the model.
    pub fn validate(&self, arch: &ModelInfo) -> Result<LayerInfo> {
        let info = arch.layer(&self.layer)?;
        match self.unit {
            Unit::At { channel, y, x } => info.check_unit(channel, Some((y, x)))?,
            Unit::ChannelMean { channel } => info.check_unit(channel, None)?,
        }
        if !(self.sign == 1.0 || self.sign == -1.0) {
            return Err(OptimError::BadParam(format!(
                "push direction is {}; it must be +1 (excite) or -1 (suppress)",
                self.sign
            )));
        }
        if info.kind == "Softmax" {
            return Err(OptimError::BadParam(format!(
                "optimize the class scores ({}), not the softmax: its gradient vanishes as \
                 soon as one class dominates",
                arch.logits_layer()
            )));
        }
        self.source(arch)?;
        Ok(info)
    }

    fn source(&self, arch: &ModelInfo) -> Result<Source> {
        let info = arch.layer(&self.layer)?;
        if !self.pre_relu {
            return Ok(Source {
                layer: info.name,
                pre: false,
                mean_map: false,
            });
        }
        Ok(arch.pre_source(&info.name)?)
    }

    /// What the forward pass must return for this objective (its value and the post-ReLU
    /// activation, for telemetry).
    pub fn request(&self, arch: &ModelInfo, req: &mut Request) -> Result<()> {
        let s = self.source(arch)?;
        let info = arch.layer(&self.layer)?;
        if s.pre {
            req.pre_relu.push(s.layer.clone());
        } else {
            req.layers.push(s.layer.clone());
        }
        req.layers.push(info.name.clone());
        Ok(())
    }

    /// For batch item `item`: the objective's value (unsigned), the post-ReLU activation of
    /// the unit, and 1.0 where the unit is the argmax of the layer it is read from, as
    /// `[1]` tensors.
    pub fn evaluate(
        &self,
        arch: &ModelInfo,
        taps: &Taps,
        item: usize,
    ) -> Result<(Tensor<1>, Tensor<1>, Tensor<1>)> {
        let s = self.source(arch)?;
        let missing =
            || OptimError::BadParam(format!("the forward pass did not return `{}`", s.layer));
        let layer = if s.pre {
            taps.pre_relu(&s.layer)
        } else {
            taps.get(&s.layer)
        }
        .ok_or_else(missing)?
        .clone();
        let [_, c, h, w] = layer.dims();
        let mut map = layer.slice([item..item + 1, 0..c, 0..h, 0..w]);
        let (mut h, mut w) = (h, w);
        if s.mean_map {
            map = map.mean_dim(2).mean_dim(3);
            h = 1;
            w = 1;
        }
        let (channel, flat) = match self.unit {
            Unit::At { channel, y, x } if !s.mean_map => (channel, Some((channel * h + y) * w + x)),
            Unit::At { channel, .. } => (channel, Some(channel)),
            Unit::ChannelMean { channel } => (channel, None),
        };
        let value = match (self.unit, s.mean_map) {
            (Unit::At { channel, y, x }, false) => map
                .clone()
                .slice([0..1, channel..channel + 1, y..y + 1, x..x + 1])
                .reshape([1]),
            (Unit::At { channel, .. }, true) => map
                .clone()
                .slice([0..1, channel..channel + 1, 0..1, 0..1])
                .reshape([1]),
            (Unit::ChannelMean { channel }, _) => map
                .clone()
                .slice([0..1, channel..channel + 1, 0..h, 0..w])
                .mean()
                .reshape([1]),
        };
        // argmax over the whole layer, as the toolbox's majority test
        let is_max = match flat {
            Some(flat) => {
                let idx = map.reshape([c * h * w]).argmax(0);
                idx.equal_elem(flat as i64).float()
            }
            None => {
                let means = map.mean_dim(2).mean_dim(3).reshape([c]);
                means.argmax(0).equal_elem(channel as i64).float()
            }
        };
        // the post-ReLU activation of the same unit, for telemetry
        let info = arch.layer(&self.layer)?;
        let post = taps.get(&info.name).ok_or_else(missing)?.clone();
        let [_, pc, ph, pw] = post.dims();
        let post = post.slice([item..item + 1, 0..pc, 0..ph, 0..pw]);
        let act = match self.unit {
            Unit::At { channel, y, x } => post
                .slice([0..1, channel..channel + 1, y..y + 1, x..x + 1])
                .reshape([1]),
            Unit::ChannelMean { channel } => post
                .slice([0..1, channel..channel + 1, 0..ph, 0..pw])
                .mean()
                .reshape([1]),
        };
        Ok((value, act, is_max))
    }
}
