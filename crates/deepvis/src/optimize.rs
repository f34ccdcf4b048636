//! `deepvis optimize`: a unit's preferred image by the paper's regularized gradient ascent.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use deepvis_model::{ModelInfo, preprocess, tensor_file};
use deepvis_optim::{Init, LrPolicy, Objective, Optimizer, Params, RunConfig, RunStatus};

use crate::Global;
use crate::common::{load, log};

/// Settings shared by `optimize` and `search`: the objective.
#[derive(clap::Args, Debug, Clone)]
pub struct UnitArgs {
    /// The layer (see `deepvis layers`); pool10 / fc8 are the class scores.
    #[arg(long)]
    pub layer: String,
    /// Use the value before the layer's ReLU (for pool10: the mean of conv10 before its ReLU),
    /// which has a gradient even where the unit is silent.
    #[arg(long)]
    pub pre_relu: bool,
    /// Maximize the mean of the whole channel instead of one position.
    #[arg(long)]
    pub channel_mean: bool,
    /// Push the unit down instead of up.
    #[arg(long)]
    pub suppress: bool,
}

/// Arguments of `deepvis optimize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    unit_args: UnitArgs,
    /// The unit: a channel of the layer (a class for pool10 / fc8).
    #[arg(long)]
    unit: usize,
    /// Row of the unit in its map (default: the centre).
    #[arg(long)]
    y: Option<usize>,
    /// Column of the unit in its map (default: the centre).
    #[arg(long)]
    x: Option<usize>,
    /// The paper's settings 1..4 (3 is the one used for most figures).
    #[arg(long, default_value_t = 3)]
    preset: u8,
    /// Run the four presets side by side (one batch) and write a 2x2 montage.
    #[arg(long)]
    all_presets: bool,
    /// Iterations (default: the preset's).
    #[arg(long)]
    iters: Option<usize>,
    /// Seed of the start noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start image: noise (N(0,10), the default), mean, uniform, a photo, or a .safetensors
    /// tensor (`x0` or its only tensor, 3x227x227 or 1x3x227x227, mean-subtracted BGR).
    #[arg(long, default_value = "noise")]
    init: String,
    /// L2 decay (0 = off).
    #[arg(long)]
    decay: Option<f64>,
    /// Gaussian blur sigma (0 = off).
    #[arg(long)]
    blur_radius: Option<f64>,
    /// Blur every N iterations (0 = off).
    #[arg(long)]
    blur_every: Option<u32>,
    /// Small-norm pixel clipping percentile (0 = off).
    #[arg(long)]
    norm_pct: Option<f64>,
    /// Small-contribution pixel clipping percentile (0 = off).
    #[arg(long)]
    contrib_pct: Option<f64>,
    /// Learning rate of the constant policy.
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate policy: constant or progress.
    #[arg(long)]
    lr_policy: Option<String>,
    /// Cap of the progress policy.
    #[arg(long)]
    max_lr: Option<f64>,
    /// Desired progress per step of the progress policy.
    #[arg(long)]
    desired_prog: Option<f64>,
    /// Output PNG (the best image scaled about zero); `OUT.json` is written beside it.
    #[arg(short, long, value_name = "PNG", default_value = "optimized.png")]
    output: PathBuf,
    /// Enlarge the image NxN.
    #[arg(long, default_value_t = 1)]
    scale: u32,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl Args {
    fn params(&self, preset: u8) -> Result<Params> {
        let mut p = Params::preset(preset).map_err(anyhow::Error::msg)?;
        if let Some(v) = self.decay {
            p.decay = v;
        }
        if let Some(v) = self.blur_radius {
            p.blur_radius = v;
        }
        if let Some(v) = self.blur_every {
            p.blur_every = v;
        }
        if let Some(v) = self.norm_pct {
            p.norm_pct = v;
        }
        if let Some(v) = self.contrib_pct {
            p.contrib_pct = v;
        }
        if let Some(v) = self.lr {
            p.lr = v;
        }
        if let Some(v) = &self.lr_policy {
            p.lr_policy = LrPolicy::from_name(v).map_err(anyhow::Error::msg)?;
        }
        if let Some(v) = self.max_lr {
            p.max_lr = v;
        }
        if let Some(v) = self.desired_prog {
            p.desired_prog = v;
        }
        if let Some(v) = self.iters {
            p.max_iter = v;
        }
        p.validate().map_err(anyhow::Error::msg)?;
        Ok(p)
    }
}

/// Builds the objective of `unit` from the shared arguments.
pub fn objective(
    arch: &ModelInfo,
    a: &UnitArgs,
    unit: usize,
    pos: Option<(usize, usize)>,
) -> Result<Objective> {
    let mut o = if a.channel_mean {
        Objective::channel_mean(arch, &a.layer, unit)?
    } else {
        Objective::new(arch, &a.layer, unit, pos, false, 1.0)?
    };
    o.pre_relu = a.pre_relu;
    o.sign = if a.suppress { -1.0 } else { 1.0 };
    o.validate(arch)?;
    Ok(o)
}

/// Parses `--init`.
pub fn parse_init(spec: &str, seed: u64, arch: &ModelInfo) -> Result<Init> {
    match spec {
        "noise" => Ok(Init::Noise { seed, std: 10.0 }),
        "mean" | "zeros" => Ok(Init::Mean),
        "uniform" => Ok(Init::Uniform { seed }),
        path => {
            let p = Path::new(path);
            let is_tensor = p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
            let chw = if is_tensor {
                match tensor_file::read_input_tensor(p, Some("x0")) {
                    Ok(t) => t.data,
                    Err(_) => tensor_file::read_input_tensor(p, None)?.data,
                }
            } else if p.exists() {
                preprocess::preprocess_file(p, &arch.input)?.chw
            } else {
                bail!("--init {path}: not noise, mean or uniform, and no such file");
            };
            Ok(Init::Image {
                chw,
                label: path.to_string(),
            })
        }
    }
}

/// The best image of a run scaled about zero, as the toolbox showed preferred images.
pub fn render(chw: &[f32], arch: &ModelInfo, scale: u32) -> Result<image::RgbImage> {
    let s = arch.input_size();
    let img = deepvis_viz::scaled_about_zero(chw, s, s, arch.norm().order)
        .context("the image has the wrong size")?;
    Ok(if scale > 1 {
        let k = scale.min(16);
        image::imageops::resize(
            &img,
            s as u32 * k,
            s as u32 * k,
            image::imageops::FilterType::Nearest,
        )
    } else {
        img
    })
}

fn report(
    objective: &Objective,
    unit: usize,
    preset: Option<u8>,
    st: &RunStatus,
    seconds: f64,
) -> serde_json::Value {
    serde_json::json!({
        "layer": objective.layer,
        "unit": unit,
        "preset": preset,
        "best_obj": st.best_obj,
        "best_iter": st.best_iter,
        "majority_iter": st.majority_iter,
        "stop": st.stop.map(|s| s.as_str()),
        "iterations": st.iterations,
        "seconds": seconds,
        "iters_per_sec": if seconds > 0.0 { st.iterations as f64 / seconds } else { 0.0 },
    })
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let pos = match (a.y, a.x) {
        (Some(y), Some(x)) => Some((y, x)),
        (None, None) => None,
        _ => bail!("give both --y and --x, or neither (the centre)"),
    };
    let presets: Vec<u8> = if a.all_presets {
        vec![1, 2, 3, 4]
    } else {
        vec![a.preset]
    };
    let params: Vec<Params> = presets
        .iter()
        .map(|&p| a.params(p))
        .collect::<Result<_>>()?;
    let l = load(g)?;
    let objective = objective(&l.info, &a.unit_args, a.unit, pos)?;
    let init = parse_init(&a.init, a.seed, &l.info)?;
    let device = l.device.device.clone();
    let mut opt = Optimizer::new(l.net, &device);
    let ids: Vec<usize> = params
        .iter()
        .map(|p| {
            opt.add_run(RunConfig {
                objective: objective.clone(),
                params: *p,
                init: init.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    let total = params.iter().map(|p| p.max_iter).max().unwrap_or(0) as u64;
    let bar = if g.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = Instant::now();
    while opt.any_active() {
        let tel = opt.step(1)?;
        if let Some(t) = tel.first() {
            bar.set_position(t.iter as u64 + 1);
            bar.set_message(format!("obj {:.3}", t.obj));
        }
    }
    bar.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();

    let mut images = Vec::new();
    let mut reports = Vec::new();
    for (&id, &preset) in ids.iter().zip(&presets) {
        let st = opt.status(id)?.clone();
        images.push(render(&opt.best_image(id)?, &l.info, a.scale)?);
        let mut r = report(&objective, a.unit, Some(preset), &st, seconds);
        if let Some(obj) = r.as_object_mut() {
            obj.insert(
                "params".into(),
                serde_json::to_value(opt.config(id)?.params)?,
            );
        }
        reports.push(r);
        if let Some(reason) = st.stop
            && reason != deepvis_optim::StopReason::MaxIter
        {
            log(
                g,
                format!(
                    "preset {preset}: stopped at iteration {} ({}){}",
                    st.iterations,
                    reason.as_str(),
                    if reason == deepvis_optim::StopReason::ZeroGrad && !a.unit_args.pre_relu {
                        ": the unit is silent and its gradient is zero; try --pre-relu"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    let picture = if images.len() == 1 {
        images.remove(0)
    } else {
        deepvis_viz::montage(&images, 2, 4, [255, 255, 255])
    };
    crate::common::save_image(&picture, &a.output)?;
    let sidecar = a.output.with_extension("json");
    let doc = serde_json::json!({
        "model": l.info.name(),
        "objective": objective,
        "init": init.describe(),
        "seed": a.seed,
        "backend": l.device.description,
        "runs": reports,
    });
    deepvis_topk::write_atomic(&sidecar, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    log(
        g,
        format!("wrote {} and {}", a.output.display(), sidecar.display()),
    );
    if a.json {
        for mut r in reports {
            if let Some(obj) = r.as_object_mut() {
                obj.remove("params");
            }
            println!("{r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
