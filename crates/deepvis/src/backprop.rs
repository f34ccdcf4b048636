//! `deepvis backprop`: a unit's gradient, deconv or guided backprop onto a photo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use deepvis_model::{BackMode, BackProjector};
use deepvis_viz::BackFilter;

use crate::Global;
use crate::common::{UnitArgs, load, log, read_input};

/// Arguments of `deepvis backprop`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    on: UnitArgs,
    /// grad (the gradient), deconv (Zeiler & Fergus) or guided (guided backprop).
    #[arg(long, default_value = "grad", value_parser = BackMode::parse_projection)]
    mode: BackMode,
    /// How to draw it.
    #[arg(long, value_enum, default_value = "raw")]
    filter: BackFilter,
    /// Where to write the picture (default: `<image stem>_<layer>_<unit>_<mode>.png`).
    #[arg(short, long, value_name = "PNG")]
    output: Option<PathBuf>,
    /// Also write the unfiltered result as tensor `grad` (1x3xHxW, model input space).
    #[arg(long, value_name = "SAFETENSORS")]
    raw: Option<PathBuf>,
    /// Print what was projected as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let (mode, filter) = (a.mode, a.filter);
    let l = load(g)?;
    let info = l.info.layer(&a.on.layer)?;
    let pos = a.on.position(&l.info)?;
    info.check_unit(a.on.unit, pos.filter(|_| info.height * info.width > 1))?;
    let input = read_input(&a.on.image, a.on.tensor.as_deref(), a.on.frame, &l)?;
    let bp = BackProjector::new(l.net, &l.device.device);
    let t0 = Instant::now();
    let p = bp.project(input.tensor, &info.name, a.on.unit, pos, mode)?;
    let [_, c, h, w] = p.grad.dims();
    let data = deepvis_model::to_vec(p.grad)?;
    let secs = t0.elapsed().as_secs_f64();
    let order = l.info.norm().order;
    let img = deepvis_viz::back_image(&data, h, w, order, filter)
        .context("the back-projection has the wrong size")?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| a.on.default_png(&info.name, mode.as_str()));
    crate::common::save_image(&img, &out)?;
    if let Some(r) = &a.raw {
        crate::common::save_tensor(r, "grad", &[1, c, h, w], &data)?;
    }
    let rf = l
        .info
        .field_bounds(&info.name, p.pos.unwrap_or((0, 0)), h, true);
    let nonzero = data.iter().filter(|v| **v != 0.0).count();
    log(
        g,
        format!(
            "{} of {} unit {}{} (value {:.4}) onto the input in {:.0} ms: {nonzero} of {} \
             values non-zero; wrote {}",
            mode.as_str(),
            info.name,
            a.on.unit,
            p.pos
                .map(|(y, x)| format!(" at (y {y}, x {x})"))
                .unwrap_or_default(),
            p.value,
            secs * 1e3,
            data.len(),
            out.display()
        ),
    );
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "image": a.on.image, "layer": info.name, "unit": a.on.unit,
                "y": p.pos.map(|p| p.0), "x": p.pos.map(|p| p.1),
                "value": p.value, "mode": mode.as_str(), "filter": filter.as_str(),
                "png": out, "raw": a.raw, "nonzero": nonzero, "ms": secs * 1e3,
                "receptive_field": rf,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: Args,
    }

    fn parse(extra: &[&str]) -> Result<Args, clap::Error> {
        let base = ["deepvis", "photo.png", "--layer", "fire9", "--unit", "0"];
        Cli::try_parse_from(base.iter().chain(extra)).map(|c| c.a)
    }

    #[test]
    fn the_mode_is_a_back_projection_by_its_name() {
        assert_eq!(parse(&[]).unwrap().mode, BackMode::Grad);
        for m in BackMode::PROJECTIONS {
            assert_eq!(parse(&["--mode", m.as_str()]).unwrap().mode, m);
        }
        for bad in ["gradcam", "backwards"] {
            let e = parse(&["--mode", bad]).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains("grad, deconv or guided"), "{e}");
        }
        for f in BackFilter::ALL {
            assert_eq!(parse(&["--filter", f.as_str()]).unwrap().filter, f);
        }
    }
}
