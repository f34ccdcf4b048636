//! `deepvis circuit`: a unit's strongest inputs in the layer below, positive and negative, by
//! weight (the expanded kernel of the path between them) and on a picture (activation times
//! gradient, summed over the places).

use std::process::ExitCode;

use anyhow::{Result, bail};
use deepvis_model::circuit::{Input, by_weight, layer_below, on_picture, ranked};

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

/// A unit's `top` strongest inputs of each sign by weight in the layer below it: the layer's
/// name and `(channel, sum)` lists, strongest first; None where the layer has none below it or
/// the path between them is not linear.
pub fn strongest(l: &Loaded, layer: &str, unit: usize, top: usize) -> Option<Weighted> {
    let info = l.info.layer(layer).ok()?;
    let below = layer_below(&l.info, &info.name).ok()?;
    let w = by_weight(&l.net, &below, &info.name, unit).ok()?;
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
        None => layer_below(&l.info, &info.name)?,
    };
    let weight = by_weight(&l.net, &below, &info.name, a.unit);
    let picture = match &a.image {
        Some(p) => {
            let img = crate::common::read_picture(p, None)?;
            let p = l.info.input.apply(&img);
            let dims = p.dims();
            let x = deepvis_model::tensor4(p.chw, dims, &l.device.device)?;
            Some(on_picture(&l.net, x, &below, &info.name, a.unit)?.inputs)
        }
        None => None,
    };
    let weight = match (weight, &picture) {
        (Ok(w), _) => Some(w),
        (Err(e), None) => return Err(anyhow::Error::new(e).context("by weight")),
        (Err(e), Some(_)) => {
            crate::common::log(g, format!("by weight: not available: {e:#}"));
            None
        }
    };
    let top = a.top.max(1);
    let w = weight.as_ref().map(|w| ranked(w, top));
    let p = picture.as_ref().map(|p| ranked(p, top));
    if a.json {
        let one = |i: &Input| match i.norm {
            Some(n) => serde_json::json!({"channel": i.channel, "value": i.value, "norm": n}),
            None => serde_json::json!({"channel": i.channel, "value": i.value}),
        };
        let all = |v: &[Input]| v.iter().map(one).collect::<Vec<_>>();
        let side = |r: &Option<(Vec<Input>, Vec<Input>)>| {
            r.as_ref()
                .map(|(pos, neg)| serde_json::json!({"positive": all(pos), "negative": all(neg)}))
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
