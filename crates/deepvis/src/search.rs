//! `deepvis search`: the paper's random hyperparameter search over units or an objective by
//! composition, with any method, resumable and shardable.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use deepvis_model::ModelInfo;
use deepvis_optim::search::{in_shard, sample_params};
use deepvis_optim::{
    Goal, Init, Method, MethodKind, Objective, Optimizer, Params, RunConfig, StopReason, Term,
};

use crate::Global;
use crate::common::{load, log, save_image};
use crate::optimize::{UnitArgs, objective, render};

/// Arguments of `deepvis search`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    unit_args: UnitArgs,
    #[command(flatten)]
    method_args: crate::method_args::MethodArgs,
    /// Units (channels or classes), comma separated: `207,130`.
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "objective",
        conflicts_with = "objective"
    )]
    units: Vec<usize>,
    /// Make N images per trial, pushed apart by a diversity term on the objective's layer.
    #[arg(long, value_name = "N")]
    diversity: Option<usize>,
    /// The diversity term's weight.
    #[arg(long, default_value_t = 100.0)]
    diversity_weight: f32,
    /// Number of trials (random settings) per unit.
    #[arg(long)]
    trials: u64,
    /// Iterations per trial.
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// This machine's share: `I/N` runs the trials t with t % N == I.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Base seed of the start noise (trial t starts from seed + t).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder: trials.tsv, one PNG per trial and a contact sheet per unit.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
}

const HEADER: &str = "trial\tunit\tdecay\tblur_radius\tblur_every\tnorm_pct\tcontrib_pct\tlr_policy\tlr\tmax_lr\tdesired_prog\titers\tbest_obj\tbest_iter\tmajority_iter\tstop\tseconds\timage";

fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let (i, n) = s
        .split_once('/')
        .context("--shard must look like I/N, e.g. 0/4")?;
    let (i, n): (u64, u64) = (i.trim().parse()?, n.trim().parse()?);
    if n == 0 || i >= n {
        bail!("--shard {s}: need 0 <= I < N");
    }
    Ok((i, n))
}

/// What a search makes pictures of: a unit of `--layer`, or the `--objective`.
struct Target {
    /// The table's `unit` column: the unit's number, or `objective`.
    key: String,
    /// Its folder and contact sheet's name: `unit207`, `objective`.
    dir: String,
    goal: Goal,
}

/// (trial, target) pairs already in the table.
fn done_rows(tsv: &Path) -> Result<HashSet<(u64, String)>> {
    let mut done = HashSet::new();
    let Ok(text) = std::fs::read_to_string(tsv) else {
        return Ok(done);
    };
    for line in text.lines().skip(1) {
        let mut f = line.split('\t');
        // a line cut short by an interruption has too few fields: it is ignored and redone
        if line.split('\t').count() != HEADER.split('\t').count() {
            continue;
        }
        if let (Some(t), Some(u)) = (f.next(), f.next())
            && let Ok(t) = t.parse()
        {
            done.insert((t, u.to_string()));
        }
    }
    Ok(done)
}

fn fmt_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// What the search makes pictures of: each of `--units`, or the `--objective`, with the
/// diversity term when `images` > 1.
fn targets(a: &Args, arch: &ModelInfo, images: usize) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = match &a.unit_args.objective {
        Some(text) => vec![Target {
            key: "objective".into(),
            dir: "objective".into(),
            goal: Goal::parse(text, arch)?,
        }],
        None => a
            .units
            .iter()
            .map(|&u| {
                Ok(Target {
                    key: u.to_string(),
                    dir: format!("unit{u}"),
                    goal: objective(arch, &a.unit_args, u, None)?.into(),
                })
            })
            .collect::<Result<_>>()?,
    };
    if images > 1 {
        for t in &mut targets {
            let layer = t.goal.layer().unwrap_or_default().to_string();
            t.goal = t.goal.clone().with_diversity(a.diversity_weight, &layer);
        }
    }
    Ok(targets)
}

/// The trials of this shard not yet in the table, each with the targets (their indexes) it
/// still has to run.
fn todo(
    a: &Args,
    targets: &[Target],
    done: &HashSet<(u64, String)>,
    (shard_i, shard_n): (u64, u64),
) -> Vec<(u64, Vec<usize>)> {
    let mut todo = Vec::new();
    for t in (0..a.trials).filter(|&t| in_shard(t, shard_i, shard_n)) {
        let units: Vec<usize> = (0..targets.len())
            .filter(|&k| !done.contains(&(t, targets[k].key.clone())))
            .collect();
        if !units.is_empty() {
            todo.push((t, units));
        }
    }
    todo
}

/// The trials of a search, run one after another in one optimizer, each written to its PNG
/// and the table as it ends.
struct Trials<'a> {
    a: &'a Args,
    arch: &'a ModelInfo,
    targets: &'a [Target],
    tsv: &'a Path,
    method: Method,
    images: usize,
    opt: Optimizer,
    /// The trials that ended with nothing (silent even before the ReLU).
    nothing: Vec<String>,
}

/// The goal a run of `goal` goes on with when its unit is silent on the start image: the unit
/// before its ReLU, as the window does (None: no unit term, one already before its ReLU, or a
/// unit with no ReLU).
fn pre_relu_goal(goal: &Goal, arch: &ModelInfo) -> Option<Goal> {
    let mut g = goal.clone();
    let mut found = false;
    for (_, t) in &mut g.terms {
        if let Term::Unit(o) = t
            && !o.pre_relu
        {
            let pre = Objective {
                pre_relu: true,
                ..o.clone()
            };
            if pre.validate(arch).is_ok() {
                *o = pre;
                found = true;
            }
        }
    }
    found.then_some(g)
}

impl Trials<'_> {
    /// Runs trial `t` (its random settings) for the targets `units` side by side.
    fn run(&mut self, t: u64, units: &[usize]) -> Result<()> {
        let params = sample_params(t, self.a.iters);
        let ids: Vec<(usize, usize)> = units
            .iter()
            .map(|&k| {
                self.opt
                    .add_run(RunConfig {
                        objective: self.targets[k].goal.clone(),
                        params,
                        init: Init::Noise {
                            seed: self.a.seed.wrapping_add(t),
                            std: 10.0,
                        },
                        method: self.method,
                        images: self.images,
                    })
                    .map(|id| (k, id))
            })
            .collect::<Result<_, _>>()?;
        let t0 = Instant::now();
        let mut pre: Vec<Option<Goal>> = ids
            .iter()
            .map(|&(k, _)| pre_relu_goal(&self.targets[k].goal, self.arch))
            .collect();
        loop {
            while self.opt.any_active() {
                self.opt.step(1)?;
            }
            // a unit silent on the start image goes on before its ReLU, as in the window
            let mut again = false;
            for (&(_, id), pre) in ids.iter().zip(&mut pre) {
                if self.opt.status(id)?.stop == Some(StopReason::ZeroGrad)
                    && let Some(goal) = pre.take()
                {
                    self.opt.set_objective(id, goal)?;
                    again = true;
                }
            }
            if !again {
                break;
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        for (k, id) in ids {
            self.record(t, &self.targets[k], id, &params, seconds)?;
            self.opt.remove_run(id)?;
        }
        Ok(())
    }

    /// Writes the picture of run `id` (trial `t` of `target`) and its row of the table.
    fn record(
        &mut self,
        t: u64,
        target: &Target,
        id: usize,
        params: &Params,
        seconds: f64,
    ) -> Result<()> {
        let a = self.a;
        let unit = &target.key;
        let st = self.opt.status(id)?.clone();
        let dir = a.output.join(&target.dir);
        std::fs::create_dir_all(&dir)?;
        let png = dir.join(format!("trial{t:05}.png"));
        let nothing = st.stop == Some(StopReason::ZeroGrad) || st.best_obj.is_none();
        if nothing {
            // nothing to show: no flat picture, the row says so
            self.nothing.push(format!(
                "trial {t} of {unit} stopped at iteration {} with a zero gradient",
                st.iterations
            ));
        } else {
            self.save_picture(id, &png)?;
        }
        let row = format!(
            "{t}\t{unit}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{seconds:.3}\t{}\n",
            params.decay,
            params.blur_radius,
            params.blur_every,
            params.norm_pct,
            params.contrib_pct,
            params.lr_policy.as_str(),
            params.lr,
            params.max_lr,
            params.desired_prog,
            params.max_iter,
            fmt_opt(st.best_obj),
            fmt_opt(st.best_iter),
            fmt_opt(st.majority_iter),
            st.stop.map(|s| s.as_str()).unwrap_or(""),
            match nothing {
                true => "-".to_string(),
                false => png
                    .strip_prefix(&a.output)
                    .unwrap_or(&png)
                    .display()
                    .to_string(),
            },
        );
        append_row(self.tsv, &row)
    }

    /// Writes the best images of run `id` as `png` (a montage of several).
    fn save_picture(&self, id: usize, png: &Path) -> Result<()> {
        let param = self.opt.config(id)?.method.param;
        let tiles = self
            .opt
            .best_images(id)?
            .iter()
            .map(|chw| render(chw, self.arch, 1, param))
            .collect::<Result<Vec<_>>>()?;
        let picture = match tiles.len() {
            1 => tiles.into_iter().next().context("no picture")?,
            _ => deepvis_viz::montage(&tiles, tiles.len(), 4, [255, 255, 255]),
        };
        save_image(&picture, png)
    }
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let (shard_i, shard_n) = match &a.shard {
        Some(s) => parse_shard(s)?,
        None => (0, 1),
    };
    if a.iters == 0 {
        bail!("--iters must be at least 1");
    }
    // the search samples the paper's hyperparameters: its method stays the default on any
    // network
    let kind = a.method_args.method.unwrap_or(MethodKind::Paper);
    let method = a.method_args.method(kind)?;
    let images = a.diversity.unwrap_or(1);
    let l = load(g)?;
    let arch = l.info.clone();
    let targets = targets(&a, &arch, images)?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let tsv = a.output.join("trials.tsv");
    if !tsv.exists() {
        deepvis_topk::write_atomic(&tsv, format!("{HEADER}\n").as_bytes())?;
    }
    let done = done_rows(&tsv)?;
    let todo = todo(&a, &targets, &done, (shard_i, shard_n));
    log(
        g,
        format!(
            "search: {} trial(s) of {} to run in shard {shard_i}/{shard_n}, {} already done",
            todo.len(),
            a.trials,
            done.len()
        ),
    );
    let bar = if g.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(todo.len() as u64)
    };
    let device = l.device.device.clone();
    let mut trials = Trials {
        a: &a,
        arch: &arch,
        targets: &targets,
        tsv: &tsv,
        method,
        images,
        opt: Optimizer::new(l.net, &device),
        nothing: Vec::new(),
    };
    for (t, units) in todo {
        trials.run(t, &units)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    for target in &targets {
        let sheet = contact_sheet(&a.output, &tsv, target)?;
        if let Some(p) = sheet {
            log(g, format!("wrote {}", p.display()));
        }
    }
    if !trials.nothing.is_empty() {
        bail!(
            "{} trial(s) ended with nothing, silent even before the ReLU (their rows say so, \
             with no picture): {}",
            trials.nothing.len(),
            trials.nothing.join("; ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds one whole row to the table. Under a lock (shards sharing the folder wait for each
/// other) the table is read, the row appended and the table written back atomically: a full
/// disk or a vanished folder leaves it as it was, never with half a row.
fn append_row(tsv: &Path, row: &str) -> Result<()> {
    let lock_path = tsv.with_file_name(".trials.tsv.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let mut text = match std::fs::read_to_string(tsv) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{HEADER}\n"),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", tsv.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(row);
    deepvis_topk::write_atomic(tsv, text.as_bytes())?;
    Ok(())
}

/// A montage of every finished trial of `target`, best objective first.
fn contact_sheet(dir: &Path, tsv: &Path, target: &Target) -> Result<Option<PathBuf>> {
    let text = std::fs::read_to_string(tsv)?;
    let cols: Vec<&str> = HEADER.split('\t').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).unwrap_or(0);
    let (cu, cb, ci) = (col("unit"), col("best_obj"), col("image"));
    let mut rows: Vec<(f32, PathBuf)> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f.len() == cols.len() && f[cu] == target.key)
        .map(|f| {
            (
                f[cb].parse::<f32>().unwrap_or(f32::NEG_INFINITY),
                dir.join(f[ci]),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut images = Vec::new();
    for (_, p) in &rows {
        if let Ok(img) = deepvis_model::preprocess::load_image(p) {
            images.push(img.to_rgb8());
        }
    }
    if images.is_empty() {
        return Ok(None);
    }
    let cols = (images.len() as f64).sqrt().ceil() as usize;
    let sheet = deepvis_viz::montage(&images, cols, 4, [255, 255, 255]);
    let path = dir.join(format!("{}_sheet.png", target.dir));
    save_image(&sheet, &path)?;
    Ok(Some(path))
}
