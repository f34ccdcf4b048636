//! `deepvis activations`: a layer's channels as one tiled grid image.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use deepvis_model::Request;

use crate::Global;
use crate::common::{load, log, read_input};

/// Arguments of `deepvis activations`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A photo, a video (`VIDEO@SECONDS` for a frame), or a `.safetensors` file holding a
    /// preprocessed 1x3xHxW tensor.
    image: PathBuf,
    /// The frame of a video (0 = the first).
    #[arg(long, value_name = "N")]
    frame: Option<u64>,
    /// The layer (see `deepvis layers`).
    #[arg(long)]
    layer: String,
    /// Where to write the grid PNG (default: `<image stem>_<layer>.png`; none with --json).
    #[arg(short, long, value_name = "PNG")]
    output: Option<PathBuf>,
    /// Print per-channel max and mean as JSON.
    #[arg(long)]
    json: bool,
    /// Show the layer's value before its ReLU.
    #[arg(long)]
    pre_relu: bool,
    /// Enlarge each map pixel to NxN pixels.
    #[arg(long, default_value_t = 1)]
    scale: u32,
    /// The tensor to read from a `.safetensors` input.
    #[arg(long, value_name = "NAME")]
    tensor: Option<String>,
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let l = load(g)?;
    let info = l.info.layer(&a.layer)?;
    let input = read_input(&a.image, a.tensor.as_deref(), a.frame, &l)?;
    // asked by its node's name (`--layer` may name the node's output tensor)
    let req = if a.pre_relu {
        Request::default().with_pre_relu(&info.name)
    } else {
        Request::layers(&[&info.name])
    };
    let mut taps = l.net.forward(input.tensor, &req)?;
    let t = if a.pre_relu {
        taps.take_pre_relu(&info.name)
    } else {
        taps.take(&info.name)
    }
    .context("the forward pass did not return the layer")?;
    let [_, c, h, w] = t.dims();
    let data = deepvis_model::to_vec(t)?;
    let (grid, layout) =
        deepvis_viz::channel_grid(&data, c, h, w, 40).context("the layer has no values to draw")?;
    let grid = if a.scale > 1 {
        image::imageops::resize(
            &grid,
            grid.width() * a.scale.min(64),
            grid.height() * a.scale.min(64),
            image::imageops::FilterType::Nearest,
        )
    } else {
        grid
    };
    let out = match (&a.output, a.json) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => {
            let stem = a
                .image
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "input".into());
            // the layer is a node name a model file chose: made a plain file name
            let layer = deepvis_topk::safe_file_name(&info.name);
            Some(PathBuf::from(format!("{stem}_{layer}.png")))
        }
    };
    if let Some(p) = &out {
        crate::common::save_image(&grid, p)?;
        log(
            g,
            format!(
                "wrote {} ({} channels of {h}x{w} in {}x{} tiles)",
                p.display(),
                c,
                layout.cols,
                layout.rows
            ),
        );
    }
    if a.json {
        let plane = h * w;
        let channels: Vec<_> = (0..c)
            .map(|i| {
                let s = &data[i * plane..(i + 1) * plane];
                let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mean = s.iter().sum::<f32>() / plane as f32;
                serde_json::json!({"index": i, "max": max, "mean": mean})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "image": a.image, "layer": info.name, "pre_relu": a.pre_relu,
                "shape": [c, h, w], "grid": {"cols": layout.cols, "rows": layout.rows, "png": out},
                "channels": channels,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}
