//! The circuit under a unit: how strongly each channel of the layer below feeds it, by weight
//! (the expanded kernel of the path between them) and on a picture (the channel's activation
//! times the unit's gradient with respect to it, summed over the places), ranked by sign.

use burn::prelude::*;

use crate::graph::Seed;
use crate::{BackMode, Error, ModelInfo, Net, Result};

/// An input channel of the layer below and its pull on the unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    /// The channel.
    pub channel: usize,
    /// The sum of its expanded kernel (by weight) or of activation x gradient (on a picture).
    pub value: f32,
    /// Its expanded kernel's L2 norm (by weight only).
    pub norm: Option<f32>,
}

/// The strongest `top` inputs of each sign, strongest first: `(excite, inhibit)`.
pub fn ranked(inputs: &[Input], top: usize) -> (Vec<Input>, Vec<Input>) {
    let mut pos: Vec<Input> = inputs.iter().copied().filter(|i| i.value > 0.0).collect();
    let mut neg: Vec<Input> = inputs.iter().copied().filter(|i| i.value < 0.0).collect();
    pos.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.channel.cmp(&b.channel)));
    neg.sort_by(|a, b| a.value.total_cmp(&b.value).then(a.channel.cmp(&b.channel)));
    pos.truncate(top);
    neg.truncate(top);
    (pos, neg)
}

/// The layer before `layer` in the model's layer table (the default "layer below").
pub fn layer_below(info: &ModelInfo, layer: &str) -> Result<String> {
    let name = info.layer(layer)?.name;
    let layers = info.layers();
    let i = layers
        .iter()
        .position(|r| r.name == name)
        .ok_or_else(|| Error::BadInput(format!("{name} is not in the layer table")))?;
    match i.checked_sub(1) {
        Some(j) => Ok(layers[j].name.clone()),
        None => Err(Error::BadInput(format!(
            "{name} is the first layer: its inputs are the picture's colours"
        ))),
    }
}

/// By weight: each channel of `below` with its expanded kernel on unit `unit` of `layer`.
/// Errors: a path between them that is not linear, or `layer` not computed from `below`.
pub fn by_weight(net: &Net, below: &str, layer: &str, unit: usize) -> Result<Vec<Input>> {
    let info = net.info().layer(layer)?;
    let below = net.info().layer(below)?.name;
    let g = net.graph().graph();
    let value = |name: &str| -> Result<String> {
        let i = g.node_index(name).ok_or_else(|| Error::UnknownNode {
            graph: net.info().name().to_string(),
            name: name.to_string(),
        })?;
        Ok(g.nodes[i].output.clone())
    };
    let e = g
        .expanded_kernel(&value(&below)?, &value(&info.name)?, info.channels, unit)?
        .ok_or_else(|| Error::BadInput(format!("{} is not computed from {below}", info.name)))?;
    Ok((0..e.channels)
        .map(|c| {
            let (norm, sum) = e.strength(c);
            Input {
                channel: c,
                value: sum,
                norm: Some(norm),
            }
        })
        .collect())
}

/// What a picture gave: each channel's pull, and `below`'s activation maps on it.
pub struct OnPicture {
    /// Every channel of `below`, in order.
    pub inputs: Vec<Input>,
    /// `below`'s maps, `[C, H, W]` flattened.
    pub maps: Vec<f32>,
    /// `[C, H, W]`.
    pub dims: [usize; 3],
}

/// On the picture `x` (`[1, 3, s, s]`, the network's input): each channel of `below`'s
/// activation times unit `unit`'s gradient with respect to it, summed over the places (the
/// unit where it peaks on the picture).
pub fn on_picture(
    net: &Net,
    x: Tensor<4>,
    below: &str,
    layer: &str,
    unit: usize,
) -> Result<OnPicture> {
    let layer = net.info().layer(layer)?;
    layer.check_unit(unit, None)?;
    let below = net.info().layer(below)?.name;
    let b = net.graph().backward(
        x,
        &layer.name,
        unit,
        Seed::Peak,
        BackMode::Grad,
        Some(&below),
    )?;
    let (act, grad) = b
        .captured
        .ok_or_else(|| Error::BadInput(format!("no gradient reaches {below}")))?;
    let [_, c, h, w] = act.dims();
    let (act, grad) = (crate::to_vec(act)?, crate::to_vec(grad)?);
    let plane = h * w;
    let inputs = (0..c)
        .map(|ch| Input {
            channel: ch,
            value: (ch * plane..(ch + 1) * plane)
                .map(|i| act[i] * grad[i])
                .sum(),
            norm: None,
        })
        .collect();
    Ok(OnPicture {
        inputs,
        maps: act,
        dims: [c, h, w],
    })
}
