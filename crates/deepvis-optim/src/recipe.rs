//! A run as data: its objective, hyperparameters and start image, every change made to it
//! between two of its steps (a slider moved while it ran, the automatic pre-ReLU switch, a
//! new start image), and how many iterations it had run; replayed step for step, it gives the
//! very same image on the same backend.

use serde::{Deserialize, Serialize};

use crate::{Goal, Init, Method, Optimizer, Params, Result, RunConfig};

/// One change to a run, made between two of its steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// New hyperparameters ([`Optimizer::set_params`]).
    Params(Params),
    /// A new objective ([`Optimizer::set_objective`]).
    Objective(Goal),
    /// A new method ([`Optimizer::set_method`]).
    Method(Method),
    /// A new start image, and the run starts over ([`Optimizer::set_init`]).
    Init(Init),
    /// A stopped run goes on ([`Optimizer::resume`]).
    Resume,
}

/// Everything that made a run's image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The objective it started with.
    pub objective: Goal,
    /// The hyperparameters it started with.
    pub params: Params,
    /// The method it started with (the paper's in files of earlier versions).
    #[serde(default)]
    pub method: Method,
    /// Images made at once.
    #[serde(default = "one")]
    pub images: usize,
    /// The start image.
    pub init: Init,
    /// The changes in the order they were made, each with the run's iteration count then.
    pub changes: Vec<(usize, Change)>,
    /// The iteration count when the image was taken.
    pub iterations: usize,
}

impl Recipe {
    /// A run about to start.
    pub fn new(cfg: &RunConfig) -> Recipe {
        Recipe {
            objective: cfg.objective.clone(),
            params: cfg.params,
            method: cfg.method,
            images: cfg.images,
            init: cfg.init.clone(),
            changes: Vec::new(),
            iterations: 0,
        }
    }

    /// Notes a change made when the run had `iterations` iterations.
    pub fn record(&mut self, iterations: usize, change: Change) {
        self.changes.push((iterations, change));
    }

    /// Every start image it uses (the first, then those of its changes), to be filled in or
    /// saved beside it (an image's pixels are not in its JSON).
    pub fn inits_mut(&mut self) -> impl Iterator<Item = &mut Init> {
        std::iter::once(&mut self.init).chain(self.changes.iter_mut().filter_map(
            |(_, c)| match c {
                Change::Init(i) => Some(i),
                _ => None,
            },
        ))
    }

    fn apply(opt: &mut Optimizer, id: usize, c: &Change) -> Result<()> {
        match c {
            Change::Params(p) => opt.set_params(id, *p),
            Change::Objective(o) => opt.set_objective(id, o.clone()),
            Change::Method(m) => opt.set_method(id, *m),
            Change::Init(i) => opt.set_init(id, i.clone()),
            Change::Resume => opt.resume(id),
        }
    }

    /// Replays the run on `opt` (which should hold no other active run): the same steps with
    /// the same changes between them, up to its iteration count. Returns the run's id.
    pub fn replay(&self, opt: &mut Optimizer) -> Result<usize> {
        let id = opt.add_run(RunConfig {
            objective: self.objective.clone(),
            params: self.params,
            init: self.init.clone(),
            method: self.method,
            images: self.images,
        })?;
        let mut next = 0;
        loop {
            // (a new start image sets the count back to 0: it is read anew after each change)
            while let Some((at, c)) = self.changes.get(next) {
                if *at != opt.status(id)?.iterations {
                    break;
                }
                Self::apply(opt, id, c)?;
                next += 1;
            }
            let it = opt.status(id)?.iterations;
            let done = next == self.changes.len() && it >= self.iterations;
            if done || opt.status(id)?.stop.is_some() {
                break;
            }
            opt.step(1)?;
        }
        Ok(id)
    }
}

fn one() -> usize {
    1
}

/// Which image of a run a picture is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    /// The image as it stood (what the window shows).
    Current,
    /// The image of the best objective so far (what `optimize` writes).
    Best,
}

/// The model file a run used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Where it was.
    pub path: std::path::PathBuf,
    /// Its sha256, hex.
    pub sha256: String,
}

/// One run of a picture: what it optimized, with what, and how it went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The layer.
    pub layer: String,
    /// The unit (channel, or class).
    pub unit: usize,
    /// The paper's preset it started from, if one.
    pub preset: Option<u8>,
    /// The start image, in words (`noise N(0,10) seed 0`, a file).
    pub start: String,
    /// The objective at the end (the recipe has the one it started with).
    pub objective: Goal,
    /// Every regularizer and the learning-rate policy at the end.
    pub params: Params,
    /// The method at the end.
    #[serde(default)]
    pub method: Method,
    /// Iterations run.
    pub iterations: usize,
    /// The best objective.
    pub best_obj: Option<f32>,
    /// Its iteration.
    pub best_iter: Option<usize>,
    /// Why it stopped, if it had.
    pub stop: Option<String>,
    /// Everything needed to run it again.
    pub recipe: Recipe,
}

impl RunRecord {
    /// Run `id` of `opt` as it stands (its settings and results), with its recipe.
    pub fn of(
        opt: &Optimizer,
        id: usize,
        unit: usize,
        preset: Option<u8>,
        mut recipe: Recipe,
    ) -> Result<RunRecord> {
        let st = opt.status(id)?.clone();
        let config = opt.config(id)?.clone();
        recipe.iterations = st.iterations;
        Ok(RunRecord {
            layer: config.objective.layer().unwrap_or_default().to_string(),
            unit,
            preset,
            start: config.init.describe(),
            objective: config.objective,
            params: config.params,
            method: config.method,
            iterations: st.iterations,
            best_obj: st.best_obj,
            best_iter: st.best_iter,
            stop: st.stop.map(|s| s.as_str().to_string()),
            recipe,
        })
    }
}

/// The window's settings when a picture was exported (the window can restore them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowSettings {
    /// The grid layer.
    pub layer: String,
    /// The selected unit.
    pub unit: usize,
    /// The preferred image's settings.
    pub optim: deepvis_protocol::OptimSettings,
}

/// The JSON beside a preferred image: everything that made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// The program and its version.
    pub app: String,
    /// The model's name.
    pub model: String,
    /// The model's file, when it came from one.
    pub model_file: Option<ModelFile>,
    /// The backend it ran on (a replay is bit for bit on the same one).
    pub backend: String,
    /// Which image of each run the picture shows.
    pub image: Which,
    /// Each image enlarged this many times.
    pub scale: u32,
    /// The runs (several: a 2 x 2 montage of the four presets).
    pub runs: Vec<RunRecord>,
    /// The window's settings, when the window exported it.
    pub window: Option<WindowSettings>,
}
