//! `deepvis layers`: the layer table of a built-in network or an ONNX file.

use std::process::ExitCode;

use anyhow::Result;

use crate::Global;

/// Arguments of `deepvis layers` (`--input-size N` computes the shapes for another side).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the table: every layer (every node of an ONNX file) with its op, output shape, the
/// receptive field of its centre unit and whether it has a pre-activation value. Needs no
/// weights.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let info = crate::model::ModelSource::resolve(g)?.info(g)?;
    let size = g.input_size.unwrap_or(info.input_size());
    if size < info.min_input_size() {
        anyhow::bail!(
            "{} needs an input side of at least {}",
            info.name(),
            info.min_input_size()
        );
    }
    let layers = info.layers_for(size)?;
    let fields: Vec<[i64; 4]> = layers
        .iter()
        .map(|l| info.field_bounds(&l.name, l.centre(), size, false))
        .collect();
    let channels = info.graph().input_channels;
    if a.json {
        let rows: Vec<_> = layers
            .iter()
            .zip(&fields)
            .map(|(l, f)| {
                serde_json::json!({
                    "name": l.name, "kind": l.kind, "channels": l.channels,
                    "height": l.height, "width": l.width, "relu": l.relu, "gelu": l.gelu, "field": f,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "model": info.name(), "input": [channels, size, size], "layers": rows,
                "logits": info.logits_layer(),
            })
        );
    } else {
        println!(
            "{} (input {channels}x{size}x{size}, {} layers, class scores: {})",
            info.name(),
            layers.len(),
            info.logits_layer()
        );
        let w = layers
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        println!(
            "{:<w$} {:<18} {:>8} {:>9} {:>9}  pre-activation",
            "layer", "op", "channels", "HxW", "field"
        );
        for (l, f) in layers.iter().zip(&fields) {
            println!(
                "{:<w$} {:<18} {:>8} {:>9} {:>9}  {}",
                l.name,
                l.kind,
                l.channels,
                format!("{}x{}", l.height, l.width),
                format!("{}x{}", f[2] - f[0], f[3] - f[1]),
                if l.relu { "yes" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
