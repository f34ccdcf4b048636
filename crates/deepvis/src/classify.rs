//! `deepvis classify`: the top-5 classes of photos, or what the output shows when the network's
//! output is not class scores (a map's range and peak, the strongest boxes, a vector's norm).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use deepvis_model::{Labels, OutputReading, top_k};

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
        let result = read_input(path, a.tensor.as_deref(), a.frame, &l).and_then(|input| {
            match l.net.read_output(input.tensor.clone())? {
                Some(r) => Ok(Said::Output(r)),
                None => Ok(Said::Classes(deepvis_model::to_vec(
                    l.net.probabilities(input.tensor)?,
                )?)),
            }
        });
        match result {
            Ok(Said::Classes(probs)) => print_classes(path, &top_k(&probs, a.top, &labels), a.json),
            Ok(Said::Output(r)) => print_output(path, &r, a.json),
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
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What the network said of one input.
enum Said {
    /// Its class probabilities.
    Classes(Vec<f32>),
    /// Its output, which is not class scores.
    Output(OutputReading),
}

/// The top classes of one input.
fn print_classes(path: &std::path::Path, top: &[deepvis_model::ClassProb], json: bool) {
    if json {
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
        for p in top {
            println!("  {:>4}  {:<28} {:.3}", p.index, p.label, p.prob);
        }
    }
}

/// Rounded for JSON (6 decimals).
fn r6(v: f32) -> f64 {
    (f64::from(v) * 1e6).round() / 1e6
}

/// What an output that is not class scores shows, for one input.
fn print_output(path: &std::path::Path, r: &OutputReading, json: bool) {
    let value = match r {
        OutputReading::Map { image, min, max } => {
            let (w, h) = (image.width(), image.height());
            // where the map peaks (its first brightest pixel)
            let peak = image
                .as_raw()
                .iter()
                .enumerate()
                .max_by_key(|&(i, &v)| (v, std::cmp::Reverse(i)))
                .map(|(i, _)| (i as u32 % w.max(1), i as u32 / w.max(1)))
                .unwrap_or((0, 0));
            serde_json::json!({"map": {"width": w, "height": h, "min": r6(*min), "max": r6(*max),
                "peak": {"x": peak.0, "y": peak.1}}})
        }
        OutputReading::Boxes(b) => {
            let boxes: Vec<_> = b
                .iter()
                .map(|d| {
                    serde_json::json!({"class": d.class, "score": r6(d.score),
                        "box": [r6(d.x0), r6(d.y0), r6(d.x1), r6(d.y1)]})
                })
                .collect();
            serde_json::json!({ "boxes": boxes })
        }
        OutputReading::Embedding { dim, norm } => {
            serde_json::json!({"embedding": {"dim": dim, "norm": r6(*norm)}})
        }
    };
    if json {
        let mut v = value;
        if let Some(o) = v.as_object_mut() {
            o.insert("image".into(), serde_json::json!(path));
        }
        println!("{v}");
        return;
    }
    println!("{}", path.display());
    match r {
        OutputReading::Map { image, min, max } => {
            let peak = &value["map"]["peak"];
            println!(
                "  a map over the image, {}x{}: values {min:.4} to {max:.4}, peak at x {} y {}",
                image.width(),
                image.height(),
                peak["x"],
                peak["y"]
            );
        }
        OutputReading::Boxes(b) => {
            println!("  {} strongest boxes (input pixels):", b.len());
            for d in b {
                println!(
                    "  class {:>3}  {:.3}  ({:.1}, {:.1}) to ({:.1}, {:.1})",
                    d.class, d.score, d.x0, d.y0, d.x1, d.y1
                );
            }
        }
        OutputReading::Embedding { dim, norm } => {
            println!("  an embedding of {dim} values, norm {norm:.4}");
        }
    }
}
