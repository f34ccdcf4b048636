//! `deepvis circuit`: a unit's strongest inputs in the layer below, positive and negative, by
//! weight (the expanded kernel of the path between them) and on a picture (activation times
//! gradient, summed over the places).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use deepvis_model::BackMode;
use deepvis_model::graph::Seed;

use crate::Global;
use crate::common::{Loaded, load};

/// Arguments of `deepvis circuit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The unit's layer (see `deepvis layers`).
    #[arg(long)]
    layer: String,
    /// The unit (a channel of the layer).
    #[arg(long)]
    unit: usize,
    /// The layer below whose channels are the inputs (default: the one before `--layer` in
    /// the layer table).
    #[arg(long)]
    below: Option<String>,
    /// How many inputs of each sign to list.
    #[arg(long, default_value_t = 8)]
    top: usize,
    /// Also rank the inputs on this picture: each input channel's activation times the
    /// unit's gradient with respect to it, summed over the places.
    #[arg(long, value_name = "PICTURE")]
    image: Option<std::path::PathBuf>,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

/// An input channel and its strength.
#[derive(serde::Serialize, Debug, Clone, Copy, PartialEq)]
struct Input {
    channel: usize,
    /// The sum of its expanded kernel (by weight) or of activation x gradient (on a picture).
    value: f32,
    /// Its expanded kernel's L2 norm (by weight only).
    #[serde(skip_serializing_if = "Option::is_none")]
    norm: Option<f32>,
}

/// The strongest `top` inputs of each sign, strongest first.
fn ranked(inputs: &[Input], top: usize) -> (Vec<Input>, Vec<Input>) {
    let mut pos: Vec<Input> = inputs.iter().copied().filter(|i| i.value > 0.0).collect();
    let mut neg: Vec<Input> = inputs.iter().copied().filter(|i| i.value < 0.0).collect();
    pos.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.channel.cmp(&b.channel)));
    neg.sort_by(|a, b| a.value.total_cmp(&b.value).then(a.channel.cmp(&b.channel)));
    pos.truncate(top);
    neg.truncate(top);
    (pos, neg)
}

/// The layer below `layer` in the table.
fn layer_below(l: &Loaded, layer: &str) -> Result<String> {
    let layers = l.info.layers();
    let i = layers
        .iter()
        .position(|r| r.name == layer)
        .with_context(|| format!("{layer} is not in the layer table: give --below"))?;
    match i.checked_sub(1) {
        Some(j) => Ok(layers[j].name.clone()),
        None => bail!("{layer} is the first layer: its inputs are the picture's colours"),
    }
}

/// By weight: each channel of `below`'s expanded kernel on the unit.
fn by_weight(
    l: &Loaded,
    below: &str,
    layer: &str,
    channels: usize,
    unit: usize,
) -> Result<Vec<Input>> {
    let g = l.net.graph().graph();
    let value = |name: &str| -> Result<String> {
        let i = g
            .node_index(name)
            .with_context(|| format!("no node {name}"))?;
        Ok(g.nodes[i].output.clone())
    };
    let e = g
        .expanded_kernel(&value(below)?, &value(layer)?, channels, unit)?
        .with_context(|| format!("{layer} is not computed from {below}"))?;
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

/// On a picture: each channel of `below`'s activation times the unit's gradient with respect
/// to it, summed over the places (the unit at its peak on the picture).
fn on_picture(
    l: &Loaded,
    picture: &std::path::Path,
    below: &str,
    layer: &str,
    unit: usize,
) -> Result<Vec<Input>> {
    let img = crate::common::read_picture(picture, None)?;
    let p = l.info.input.apply(&img);
    let dims = p.dims();
    let x = deepvis_model::tensor4(p.chw, dims, &l.device.device)?;
    let b = l
        .net
        .graph()
        .backward(x, layer, unit, Seed::Peak, BackMode::Grad, Some(below))?;
    let (act, grad) = b
        .captured
        .with_context(|| format!("no gradient at {below}"))?;
    let [_, c, h, w] = act.dims();
    let (act, grad) = (deepvis_model::to_vec(act)?, deepvis_model::to_vec(grad)?);
    let plane = h * w;
    Ok((0..c)
        .map(|ch| Input {
            channel: ch,
            value: (ch * plane..(ch + 1) * plane)
                .map(|i| act[i] * grad[i])
                .sum(),
            norm: None,
        })
        .collect())
}

/// A unit's `top` strongest inputs of each sign by weight in the layer below it: the layer's
/// name and `(channel, sum)` lists, strongest first; None where the layer has none below it or
/// the path between them is not linear.
pub fn strongest(l: &Loaded, layer: &str, unit: usize, top: usize) -> Option<Weighted> {
    let info = l.info.layer(layer).ok()?;
    let below = layer_below(l, &info.name).ok()?;
    let w = by_weight(l, &below, &info.name, info.channels, unit).ok()?;
    let (pos, neg) = ranked(&w, top);
    let pairs = |v: Vec<Input>| v.into_iter().map(|i| (i.channel, i.value)).collect();
    Some((below, pairs(pos), pairs(neg)))
}

/// The layer below and its strongest inputs of each sign, `(channel, sum)`.
pub type Weighted = (String, Vec<(usize, f32)>, Vec<(usize, f32)>);

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let l = load(g)?;
    let info = l.info.layer(&a.layer)?;
    if a.unit >= info.channels {
        bail!(
            "--unit {}: {} has units 0 to {}",
            a.unit,
            info.name,
            info.channels - 1
        );
    }
    let below = match &a.below {
        Some(b) => l.info.layer(b)?.name,
        None => layer_below(&l, &info.name)?,
    };
    let weight = by_weight(&l, &below, &info.name, info.channels, a.unit);
    let picture = match &a.image {
        Some(p) => Some(on_picture(&l, p, &below, &info.name, a.unit)?),
        None => None,
    };
    let weight = match (weight, &picture) {
        (Ok(w), _) => Some(w),
        (Err(e), None) => return Err(e.context("by weight")),
        (Err(e), Some(_)) => {
            crate::common::log(g, format!("by weight: not available: {e:#}"));
            None
        }
    };
    let top = a.top.max(1);
    let w = weight.as_ref().map(|w| ranked(w, top));
    let p = picture.as_ref().map(|p| ranked(p, top));
    if a.json {
        let side = |r: &Option<(Vec<Input>, Vec<Input>)>| {
            r.as_ref()
                .map(|(pos, neg)| serde_json::json!({"positive": pos, "negative": neg}))
        };
        println!(
            "{}",
            serde_json::json!({
                "layer": info.name, "unit": a.unit, "below": below,
                "by_weight": side(&w), "on_picture": side(&p),
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} unit {} from {below}:", info.name, a.unit);
    for (what, r) in [("by weight", &w), ("on the picture", &p)] {
        let Some((pos, neg)) = r else { continue };
        println!("  {what}:");
        let line = |i: &Input| match i.norm {
            Some(n) => format!("{} ({:+.4}, norm {n:.4})", i.channel, i.value),
            None => format!("{} ({:+.4})", i.channel, i.value),
        };
        let join = |v: &[Input]| v.iter().map(line).collect::<Vec<_>>().join(", ");
        println!("    excite: {}", join(pos));
        println!("    inhibit: {}", join(neg));
    }
    Ok(ExitCode::SUCCESS)
}
