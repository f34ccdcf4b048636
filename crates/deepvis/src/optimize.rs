//! `deepvis optimize`: a unit's preferred image, by the paper's regularized gradient ascent or
//! a modern method (Fourier + transforms, MACO), several units or methods in one batch, judged
//! by a second network if asked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use deepvis_model::{ModelInfo, preprocess, tensor_file};
use deepvis_optim::recipe::{ModelFile, RunRecord, Which};
use deepvis_optim::{
    Goal, Init, LrPolicy, Method, MethodKind, Objective, Optimizer, Params, RunConfig, RunStatus,
    Sidecar, Term,
};

use crate::Global;
use crate::common::{Loaded, load, log};
use crate::method_args::MethodArgs;

/// Settings shared by `optimize` and `search`: the objective.
#[derive(clap::Args, Debug, Clone)]
pub struct UnitArgs {
    /// The layer (see `deepvis layers`); pool10 / fc8 are the class scores.
    #[arg(long, required_unless_present_any = ["from", "objective"], default_value = "")]
    pub layer: String,
    /// An objective by composition instead of --layer/--unit: terms joined by ` + ` or
    /// ` - `, each `[W*]neuron:LAYER:CH[@Y,X]`, `neuron-pre:LAYER:CH`, `channel:LAYER:CH`,
    /// `class:N` or `diversity:LAYER` (e.g. "channel:fire9:12 + 0.5*class:130").
    #[arg(long, value_name = "TERMS")]
    pub objective: Option<String>,
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
    #[command(flatten)]
    method_args: MethodArgs,
    /// The unit: a channel of the layer (a class for pool10 / fc8).
    #[arg(long, default_value_t = 0)]
    unit: usize,
    /// Several units, comma separated, one run each in one batch (`207,130,1`).
    #[arg(long, value_delimiter = ',', conflicts_with = "objective")]
    units: Vec<usize>,
    /// The objective is the direction of --layer's activation vector in this photo, at --y /
    /// --x (or the mean vector over the map): a picture of what the network sees there.
    #[arg(long, value_name = "PHOTO", conflicts_with_all = ["objective", "units"])]
    direction_from: Option<PathBuf>,
    /// Run the three methods (paper preset 3, Fourier, MACO) side by side in one batch.
    #[arg(long, conflicts_with = "all_presets")]
    all_methods: bool,
    /// Make N images of each unit at once, pushed apart by a diversity term on the unit's
    /// layer (lucent's `diversity`).
    #[arg(long, value_name = "N")]
    diversity: Option<usize>,
    /// The diversity term's weight.
    #[arg(long, default_value_t = 100.0)]
    diversity_weight: f32,
    /// Classify each finished image with this second network (an ONNX file such as
    /// EfficientNet-Lite0, or a built-in network) and report the target class's rank and
    /// probability.
    #[arg(long, value_name = "MODEL")]
    judge: Option<String>,
    /// Make a picture again from its sidecar (the JSON `optimize` or the window's export
    /// wrote beside it): the same runs with the same changes, step for step; on the backend
    /// that made it, the very same image. The other settings are ignored (but `-o`, `--json`).
    #[arg(long, value_name = "JSON", conflicts_with_all = ["all_presets", "iters", "init"])]
    from: Option<PathBuf>,
    /// Row of the unit in its map (default: the centre).
    #[arg(long)]
    y: Option<usize>,
    /// Column of the unit in its map (default: the centre).
    #[arg(long)]
    x: Option<usize>,
    /// Token I of a vision transformer layer's sequence instead of --y/--x (I counts every
    /// token, the leading CLS/register ones first): patch token I is the unit at row
    /// (I - leading) / w, column (I - leading) % w of the patch grid.
    #[arg(long, value_name = "I", conflicts_with_all = ["y", "x"])]
    token: Option<usize>,
    /// The paper's settings 1..4 (default 3, the one used for most figures); giving it
    /// chooses the paper's method where --method does not say.
    #[arg(long, value_name = "N")]
    preset: Option<u8>,
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
    /// Output PNG (the best image scaled about zero); `OUT.json` is written beside it, with
    /// everything that made it (`--from OUT.json` makes it again).
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
    fn params(&self, preset: u8, kind: MethodKind) -> Result<Params> {
        let mut p = match kind {
            MethodKind::Paper => Params::preset(preset).map_err(anyhow::Error::msg)?,
            k => Method::default_params(k),
        };
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

/// The best image of a run as its method draws it (`deepvis_engine::export::look`).
pub fn render(
    chw: &[f32],
    arch: &ModelInfo,
    scale: u32,
    param: deepvis_optim::ParamKind,
) -> Result<image::RgbImage> {
    deepvis_engine::export::render(chw, arch, scale, param).map_err(anyhow::Error::msg)
}

fn report(
    objective: &Goal,
    unit: usize,
    preset: Option<u8>,
    st: &RunStatus,
    seconds: f64,
) -> serde_json::Value {
    serde_json::json!({
        "layer": objective.layer(),
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

/// The model file of the run, for the sidecar.
pub(crate) fn model_file(g: &Global) -> Option<ModelFile> {
    let path = crate::model::ModelSource::resolve(g).ok()?.file(g).ok()?;
    let sha256 = deepvis_onnx::spec::sha256_file(&path).ok()?;
    Some(ModelFile { path, sha256 })
}

/// `--from`: the sidecar's runs again.
fn run_from(g: &Global, a: &Args, json: &Path) -> Result<ExitCode> {
    let mut sidecar = deepvis_engine::export::read(json).map_err(anyhow::Error::msg)?;
    // the very model file that made it, when it is still there and the same, unless the
    // command names one
    let mut g = g.clone();
    let default_model = g.model == "squeezenet1_0";
    if let Some(f) = &sidecar.model_file
        && g.weights.is_none()
        && deepvis_engine::sha256_file(&f.path).is_ok_and(|s| s == f.sha256)
    {
        let is_onnx = f
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        if is_onnx && default_model {
            g.model = f.path.display().to_string();
        } else if !is_onnx && deepvis_model::Arch::from_name(&sidecar.model).is_ok() {
            if default_model {
                g.model = sidecar.model.clone();
            }
            if g.model == sidecar.model {
                g.weights = Some(f.path.clone());
            }
        }
    }
    let g = &g;
    let l = load(g)?;
    if sidecar.model != l.info.name() {
        bail!(
            "{} was made with the model {}{}; this is {} (give that model with --model)",
            json.display(),
            sidecar.model,
            sidecar
                .model_file
                .as_ref()
                .map(|f| format!(" ({})", f.path.display()))
                .unwrap_or_default(),
            l.info.name()
        );
    }
    let here = model_file(g);
    if let (Some(then), Some(now)) = (&sidecar.model_file, &here)
        && then.sha256 != now.sha256
    {
        log(
            g,
            format!(
                "warning: {} was made with the weights {} (sha256 {}), not found; these are {} \
                 (sha256 {}): the picture may differ",
                json.display(),
                then.path.display(),
                then.sha256,
                now.path.display(),
                now.sha256
            ),
        );
    }
    if sidecar.backend != l.device.description {
        log(
            g,
            format!(
                "made on {}, replayed on {}: the image may differ in its last bits",
                sidecar.backend, l.device.description
            ),
        );
    }
    let device = l.device.device.clone();
    let mut opt = Optimizer::new(l.net, &device);
    let t0 = Instant::now();
    let ids = deepvis_engine::export::replay(&sidecar, &mut opt).map_err(anyhow::Error::msg)?;
    let seconds = t0.elapsed().as_secs_f64();
    let picture = deepvis_engine::export::picture(&opt, &ids, sidecar.image, sidecar.scale)
        .map_err(anyhow::Error::msg)?;
    for (&id, r) in ids.iter().zip(&sidecar.runs) {
        let st = opt.status(id)?;
        if st.iterations != r.iterations {
            log(
                g,
                format!(
                    "{} {}: replayed {} iterations, the sidecar says {}",
                    r.layer, r.unit, st.iterations, r.iterations
                ),
            );
        }
        if a.json {
            println!(
                "{}",
                report(&opt.config(id)?.objective, r.unit, r.preset, st, seconds)
            );
        }
    }
    sidecar.backend = l.device.description.clone();
    let json_out = deepvis_engine::export::write(&a.output, &picture, &mut sidecar)
        .map_err(anyhow::Error::msg)?;
    log(
        g,
        format!("wrote {} and {}", a.output.display(), json_out.display()),
    );
    write_transparency(g, &a.output, &opt, &ids, sidecar.image, sidecar.scale)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the runs' transparency picture beside `png` (`NAME.transparency.png`: each image
/// with its accumulated absolute gradient as its alpha), and says so.
fn write_transparency(
    g: &Global,
    png: &std::path::Path,
    opt: &Optimizer,
    ids: &[usize],
    which: Which,
    scale: u32,
) -> Result<()> {
    let path = deepvis_engine::export::write_transparency(png, opt, ids, which, scale)
        .map_err(anyhow::Error::msg)?;
    if let Some(path) = path {
        log(
            g,
            format!("wrote {} (where the network looked)", path.display()),
        );
    }
    Ok(())
}

/// One run of the batch: its configuration, the unit it is for, its preset and method, the
/// class its objective is a score of (what the judge checks), and its pre-ReLU fallback.
pub(crate) struct Plan {
    pub config: RunConfig,
    pub unit: usize,
    pub preset: Option<u8>,
    pub kind: MethodKind,
    pub class: Option<usize>,
    /// The goal the run switches to when its unit is silent on the start image (its value
    /// before the ReLU, as the window does), where the unit has one and it was not asked for.
    pub pre: Option<Goal>,
}

/// One picture's run, as the atlas and `fv-quality` make them: unit `unit` of `layer` at the
/// centre of its map (or at `pos`), from seeded noise, method `m` with its defaults (the
/// paper's preset 3), `iters` iterations where given; its pre-ReLU goal as the fallback.
pub(crate) fn unit_plan(
    info: &ModelInfo,
    layer: &str,
    unit: usize,
    m: MethodKind,
    pos: Option<(usize, usize)>,
    iters: Option<usize>,
    seed: u64,
) -> Result<Plan> {
    let o = Objective::new(info, layer, unit, pos, false, 1.0)?;
    o.validate(info)?;
    let pre = Objective {
        pre_relu: true,
        ..o.clone()
    };
    let pre = pre.validate(info).is_ok().then(|| Goal::from(pre));
    let mut params = match m {
        MethodKind::Paper => deepvis_optim::Params::preset(3).map_err(anyhow::Error::msg)?,
        k => deepvis_optim::Method::default_params(k),
    };
    if let Some(n) = iters {
        params.max_iter = n;
    }
    params.validate().map_err(anyhow::Error::msg)?;
    let class = (info
        .layer(layer)
        .is_ok_and(|i| i.name == info.logits_layer()))
    .then_some(unit);
    Ok(Plan {
        config: RunConfig {
            objective: o.into(),
            params,
            init: Init::Noise { seed, std: 10.0 },
            method: m.method(),
            images: 1,
        },
        unit,
        preset: (m == MethodKind::Paper).then_some(3),
        kind: m,
        class,
        pre,
    })
}

/// `--y` and `--x`: both or neither (the centre); or `--token`'s patch on `info`'s layer.
fn position(a: &Args, info: &ModelInfo) -> Result<Option<(usize, usize)>> {
    match (a.y, a.x, a.token) {
        (_, _, Some(i)) => Ok(Some(crate::common::token_place(
            info,
            &a.unit_args.layer,
            i,
        )?)),
        (Some(y), Some(x), None) => Ok(Some((y, x))),
        (None, None, None) => Ok(None),
        _ => bail!("give both --y and --x, or neither (the centre)"),
    }
}

/// The paper's preset that `--preset` names (3 when it names none).
fn preset(a: &Args) -> u8 {
    a.preset.unwrap_or(3)
}

/// The method of a run that is not a comparison: `--method`, else the paper's where
/// `--preset` asks for one of its presets, else the network's default (the paper's on the
/// paper's networks, MACO on any other).
fn method_kind(a: &Args, info: &ModelInfo) -> MethodKind {
    match (a.method_args.method, a.preset) {
        (None, Some(_)) => MethodKind::Paper,
        _ => a.method_args.kind(info),
    }
}

/// The variants of each unit: (preset, method).
fn variants(a: &Args, info: &ModelInfo) -> Vec<(Option<u8>, MethodKind)> {
    if a.all_presets {
        (1..=4).map(|p| (Some(p), MethodKind::Paper)).collect()
    } else if a.all_methods {
        MethodKind::ALL
            .iter()
            .map(|&k| ((k == MethodKind::Paper).then_some(preset(a)), k))
            .collect()
    } else {
        let k = method_kind(a, info);
        vec![((k == MethodKind::Paper).then_some(preset(a)), k)]
    }
}

/// `--direction-from`: the direction of the layer's activation vector in the photo.
fn direction(a: &Args, l: &Loaded, pos: Option<(usize, usize)>) -> Result<Option<Goal>> {
    let Some(photo) = &a.direction_from else {
        return Ok(None);
    };
    let chw = preprocess::preprocess_file(photo, &l.info.input)
        .with_context(|| format!("--direction-from {}", photo.display()))?
        .chw;
    let s = l.info.input_size();
    let x = deepvis_model::tensor4(chw, [1, 3, s, s], &l.device.device)?;
    let term = Term::direction_in(&l.net, x, &a.unit_args.layer, pos)
        .with_context(|| format!("--direction-from {}", photo.display()))?;
    Ok(Some(Goal {
        terms: vec![(1.0, term)],
    }))
}

/// Every run of the batch: each unit's goal in each variant.
fn plans(
    a: &Args,
    info: &ModelInfo,
    pos: Option<(usize, usize)>,
    direction: Option<&Goal>,
    init: &Init,
) -> Result<Vec<Plan>> {
    let variants = variants(a, info);
    let units = if a.units.is_empty() {
        vec![a.unit]
    } else {
        a.units.clone()
    };
    let images = a.diversity.unwrap_or(1);
    let mut plans = Vec::new();
    for &unit in &units {
        let mut goal: Goal = match (direction, &a.unit_args.objective) {
            (Some(d), _) => d.clone(),
            (None, Some(text)) => Goal::parse(text, info)?,
            (None, None) => objective(info, &a.unit_args, unit, pos)?.into(),
        };
        // a unit's own objective falls back to its value before the ReLU where it is silent
        let mut pre: Option<Goal> = match (direction, &a.unit_args.objective) {
            (None, None) if !a.unit_args.pre_relu => {
                let asked = UnitArgs {
                    pre_relu: true,
                    ..a.unit_args.clone()
                };
                objective(info, &asked, unit, pos).ok().map(Goal::from)
            }
            _ => None,
        };
        if images > 1 {
            let layer = goal.layer().unwrap_or_default().to_string();
            goal = goal.with_diversity(a.diversity_weight, &layer);
            pre = pre.map(|p| p.with_diversity(a.diversity_weight, &layer));
        }
        // the class a picture is for, when its objective is a class score
        let class = goal
            .primary()
            .filter(|o| {
                info.layer(&o.layer)
                    .is_ok_and(|i| i.name == info.logits_layer())
            })
            .map(|o| o.unit.channel());
        for &(preset, kind) in &variants {
            let config = RunConfig {
                objective: goal.clone(),
                params: a.params(preset.unwrap_or_else(|| self::preset(a)), kind)?,
                init: init.clone(),
                method: a.method_args.method(kind)?,
                images,
            };
            plans.push(Plan {
                config,
                unit,
                preset,
                kind,
                class,
                pre: pre.clone(),
            });
        }
    }
    Ok(plans)
}

/// `--judge`: the second network that classifies the finished pictures, and the labels of
/// its classes.
pub(crate) struct Judge {
    pub net: deepvis_model::Net,
    pub labels: deepvis_model::Labels,
}

impl Judge {
    /// The judge `model` (an ImageNet classifier: an ONNX file or a built-in network's name)
    /// on `device`.
    pub fn load(g: &Global, model: &str, device: &burn::prelude::Device) -> Result<Judge> {
        let j = crate::judge::loader(g, model)?
            .load(device)
            .map_err(anyhow::Error::msg)?;
        let classes = j.info().layer(j.info().logits_layer())?.channels;
        if classes != 1000 {
            bail!("the judge {model} has {classes} classes; it must be an ImageNet classifier");
        }
        Ok(Judge {
            net: j,
            labels: deepvis_model::Labels::imagenet(),
        })
    }
}

/// The runs of one `optimize`, in one batch of the optimizer.
pub(crate) struct Batch {
    pub opt: Optimizer,
    /// The network's description and device (the judge reads the pictures through them).
    info: std::sync::Arc<ModelInfo>,
    device: burn::prelude::Device,
    plans: Vec<Plan>,
    pub ids: Vec<usize>,
    recipes: Vec<deepvis_optim::Recipe>,
}

impl Batch {
    /// An optimizer of the network with every planned run added.
    pub fn new(l: &Loaded, plans: Vec<Plan>) -> Result<Batch> {
        let device = l.device.device.clone();
        let mut opt = Optimizer::new(l.net.clone(), &device);
        let mut recipes = Vec::new();
        let ids: Vec<usize> = plans
            .iter()
            .map(|p| {
                recipes.push(deepvis_optim::Recipe::new(&p.config));
                opt.add_run(p.config.clone())
            })
            .collect::<Result<_, _>>()?;
        Ok(Batch {
            opt,
            info: l.info.clone(),
            device,
            plans,
            ids,
            recipes,
        })
    }

    /// Steps every run to its end under a progress bar (unless `quiet`), a run whose unit is
    /// silent switching to its pre-ReLU goal as the window's does (recorded in its recipe);
    /// the seconds it took.
    pub fn optimize(&mut self, g: &Global, quiet: bool) -> Result<f64> {
        let total = self
            .plans
            .iter()
            .map(|p| p.config.params.max_iter)
            .max()
            .unwrap_or(0) as u64;
        let bar = if g.quiet || quiet {
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
        while self.opt.any_active() {
            let tel = self.opt.step(1)?;
            if let Some(t) = tel.first() {
                bar.set_position(t.iter as u64 + 1);
                bar.set_message(format!("obj {:.3}", t.obj));
            }
            self.fall_back_before_relu(g, &bar)?;
        }
        bar.finish_and_clear();
        Ok(t0.elapsed().as_secs_f64())
    }

    /// Switches each run stopped by a zero gradient (its unit silent) to its pre-ReLU goal,
    /// once, noting the change in its recipe: the run goes on from where it is.
    fn fall_back_before_relu(&mut self, g: &Global, bar: &indicatif::ProgressBar) -> Result<()> {
        for (i, plan) in self.plans.iter_mut().enumerate() {
            let id = self.ids[i];
            let st = self.opt.status(id)?;
            if st.stop != Some(deepvis_optim::StopReason::ZeroGrad) {
                continue;
            }
            let Some(pre) = plan.pre.take() else {
                continue;
            };
            let at = st.iterations;
            bar.suspend(|| {
                log(
                    g,
                    format!(
                        "unit {} ({}): silent at iteration {at}; going on with its value \
                         before the ReLU",
                        plan.unit,
                        plan.kind.as_str()
                    ),
                )
            });
            self.recipes[i].record(at, deepvis_optim::recipe::Change::Objective(pre.clone()));
            self.opt.set_objective(id, pre)?;
        }
        Ok(())
    }

    /// Whether run `id` optimizes its unit's value before the ReLU (asked, or fallen back on).
    pub fn before_relu(&self, id: usize) -> Result<bool> {
        Ok(self
            .opt
            .config(id)?
            .objective
            .primary()
            .is_some_and(|o| o.pre_relu))
    }

    /// The runs that ended with nothing: stopped by a zero gradient with no fallback left,
    /// or with no best image. A message naming each, or None.
    pub fn empty_runs(&self) -> Result<Option<String>> {
        let mut said = Vec::new();
        for (plan, &id) in self.plans.iter().zip(&self.ids) {
            let st = self.opt.status(id)?;
            let zero = st.stop == Some(deepvis_optim::StopReason::ZeroGrad);
            if zero || st.best_obj.is_none() {
                said.push(format!(
                    "unit {} ({}) stopped at iteration {} with a zero gradient: it is silent on \
                     the start image{}",
                    plan.unit,
                    plan.kind.as_str(),
                    st.iterations,
                    if self.before_relu(id)? {
                        " even before its ReLU"
                    } else {
                        " and has no value before a ReLU to fall back on (a photo as the start \
                         image may wake it: --init PHOTO)"
                    }
                ));
            }
        }
        Ok((!said.is_empty()).then(|| said.join("; ")))
    }

    /// Each run's record for a sidecar.
    pub fn records(&mut self) -> Result<Vec<RunRecord>> {
        let recipes = std::mem::take(&mut self.recipes);
        let mut records = Vec::new();
        for ((&id, plan), recipe) in self.ids.iter().zip(&self.plans).zip(recipes) {
            let preset = plan.preset.filter(|&p| p > 0);
            records.push(RunRecord::of(&self.opt, id, plan.unit, preset, recipe)?);
        }
        Ok(records)
    }

    /// The judge's verdict on each image of run `id`, logged.
    fn verdicts(
        &self,
        g: &Global,
        id: usize,
        plan: &Plan,
        judge: &Judge,
    ) -> Result<Vec<serde_json::Value>> {
        let mut verdicts = Vec::new();
        for chw in self.opt.best_images(id)? {
            let v = deepvis_engine::judge::judge(
                &judge.net,
                &self.device,
                &chw,
                &self.info,
                plan.class,
                &judge.labels,
            )
            .map_err(anyhow::Error::msg)?;
            log(
                g,
                format!(
                    "judge {}: unit {} ({}): {}; its top class {} ({:.3})",
                    v.judge,
                    plan.unit,
                    plan.kind.as_str(),
                    match (&v.class, v.rank, v.prob) {
                        (Some(c), Some(r), Some(p)) => {
                            format!("{c} rank {r}, probability {p:.4}")
                        }
                        _ => "not a class objective".into(),
                    },
                    v.top,
                    v.top_prob
                ),
            );
            verdicts.push(serde_json::to_value(v)?);
        }
        Ok(verdicts)
    }

    /// Each run's report (with its method, settings and verdicts) and its record for the
    /// sidecar; a run that stopped before its last iteration is logged.
    fn results(
        &mut self,
        g: &Global,
        a: &Args,
        seconds: f64,
        judge: Option<&Judge>,
    ) -> Result<(Vec<serde_json::Value>, Vec<RunRecord>)> {
        let mut reports = Vec::new();
        for (&id, plan) in self.ids.iter().zip(&self.plans) {
            let (unit, preset) = (plan.unit, plan.preset);
            let st = self.opt.status(id)?.clone();
            let goal = &self.opt.config(id)?.objective;
            let mut r = report(goal, unit, preset, &st, seconds);
            if let Some(obj) = r.as_object_mut() {
                obj.insert("method".into(), plan.kind.as_str().into());
                // whether the unit was silent and the run went on before its ReLU
                let pre = goal.primary().is_some_and(|o| o.pre_relu);
                obj.insert("pre_relu".into(), pre.into());
                obj.insert(
                    "params".into(),
                    serde_json::to_value(self.opt.config(id)?.params)?,
                );
                if let Some(j) = judge {
                    obj.insert("judge".into(), self.verdicts(g, id, plan, j)?.into());
                }
            }
            reports.push(r);
            log_early_stop(g, a, id, &st);
        }
        Ok((reports, self.records()?))
    }
}

/// Says why a run stopped before its last iteration.
fn log_early_stop(g: &Global, a: &Args, id: usize, st: &RunStatus) {
    if let Some(reason) = st.stop
        && reason != deepvis_optim::StopReason::MaxIter
    {
        log(
            g,
            format!(
                "run {id}: stopped at iteration {} ({}){}",
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

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    if let Some(json) = &a.from {
        return run_from(g, &a, json);
    }
    if a.y.is_some() != a.x.is_some() {
        bail!("give both --y and --x, or neither (the centre)");
    }
    let l = load(g)?;
    let pos = position(&a, &l.info)?;
    let judge = match &a.judge {
        Some(m) => Some(Judge::load(g, m, &l.device.device)?),
        None => None,
    };
    let model_file = model_file(g);
    let init = parse_init(&a.init, a.seed, &l.info)?;
    let direction = direction(&a, &l, pos)?;
    let plans = plans(&a, &l.info, pos, direction.as_ref(), &init)?;
    let (model, backend) = (l.info.name().to_string(), l.device.description.clone());
    let mut batch = Batch::new(&l, plans)?;
    drop(l);
    let seconds = batch.optimize(g, false)?;
    if let Some(nothing) = batch.empty_runs()? {
        bail!("no picture: {nothing}; nothing was written");
    }
    let (reports, records) = batch.results(g, &a, seconds, judge.as_ref())?;
    let picture = deepvis_engine::export::picture(&batch.opt, &batch.ids, Which::Best, a.scale)
        .map_err(anyhow::Error::msg)?;
    let mut sidecar = Sidecar {
        app: format!("deepvis {}", env!("CARGO_PKG_VERSION")),
        model,
        model_file,
        backend,
        image: Which::Best,
        scale: a.scale,
        runs: records,
        window: None,
    };
    let json_path = deepvis_engine::export::write(&a.output, &picture, &mut sidecar)
        .map_err(anyhow::Error::msg)?;
    log(
        g,
        format!("wrote {} and {}", a.output.display(), json_path.display()),
    );
    write_transparency(g, &a.output, &batch.opt, &batch.ids, Which::Best, a.scale)?;
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
