//! `deepvis classify`: top-5 classes of photos.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use deepvis_model::{Labels, top_k};

use crate::Global;
use crate::common::{load, read_input};

/// Arguments of `deepvis classify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Photos, videos (`VIDEO@SECONDS` for a frame; a video alone: its first frame), or
    /// `.safetensors` files holding a preprocessed 1x3xHxW tensor.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// The frame of each video (0 = the first).
    #[arg(long, value_name = "N")]
    frame: Option<u64>,
    /// One JSON object a line instead of a table.
    #[arg(long)]
    json: bool,
    /// How many classes to list.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// The tensor to read from a `.safetensors` input.
    #[arg(long, value_name = "NAME")]
    tensor: Option<String>,
}

/// Runs the command; an unreadable image is reported and the others are still classified.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let l = load(g)?;
    let labels = Labels::imagenet();
    let mut failed = 0;
    for path in &a.images {
        let result = read_input(path, a.tensor.as_deref(), a.frame, &l)
            .and_then(|input| Ok(l.net.probabilities(input.tensor)?))
            .and_then(|p| Ok(deepvis_model::to_vec(p)?));
        let probs = match result {
            Ok(p) => p,
            Err(e) => {
                failed += 1;
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"image": path, "error": format!("{e:#}")})
                    );
                } else {
                    eprintln!("deepvis: {}: {e:#}", path.display());
                }
                continue;
            }
        };
        let top = top_k(&probs, a.top, &labels);
        if a.json {
            let top: Vec<_> = top
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "index": p.index,
                        "label": p.label,
                        "prob": (p.prob as f64 * 1e6).round() / 1e6,
                    })
                })
                .collect();
            println!("{}", serde_json::json!({"image": path, "top5": top}));
        } else {
            println!("{}", path.display());
            for p in &top {
                println!("  {:>4}  {:<28} {:.3}", p.index, p.label, p.prob);
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
