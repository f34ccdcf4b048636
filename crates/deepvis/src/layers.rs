//! `deepvis layers`: the layer table.

use std::process::ExitCode;

use anyhow::Result;
use deepvis_model::Arch;

use crate::Global;

/// Arguments of `deepvis layers`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Input side to compute the shapes for (default: the network's own).
    #[arg(long)]
    input_size: Option<usize>,
}

/// Prints the table (needs no weights).
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let arch = Arch::from_name(&g.model)?;
    let size = a.input_size.unwrap_or(arch.input_size());
    if size < arch.min_input_size() {
        anyhow::bail!(
            "{} needs an input side of at least {}",
            arch.name(),
            arch.min_input_size()
        );
    }
    let layers = arch.layers_for(size);
    if a.json {
        let rows: Vec<_> = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name, "kind": l.kind.as_str(), "channels": l.channels,
                    "height": l.height, "width": l.width, "relu": l.relu,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"model": arch.name(), "input": [3, size, size], "layers": rows})
        );
    } else {
        println!("{} (input 3x{size}x{size})", arch.name());
        println!(
            "{:<8} {:<8} {:>8} {:>9}  relu",
            "layer", "kind", "channels", "HxW"
        );
        for l in &layers {
            println!(
                "{:<8} {:<8} {:>8} {:>9}  {}",
                l.name,
                l.kind.as_str(),
                l.channels,
                format!("{}x{}", l.height, l.width),
                if l.relu { "yes" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
