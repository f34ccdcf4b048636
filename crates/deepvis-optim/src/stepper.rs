//! The render loop, as a stepper: `step(n)` advances every active run by up to `n` iterations
//! in one batched forward/backward per iteration, and reports per-iteration telemetry. Settings
//! can change between calls (warm start); images cross to the host only when asked.

use burn::prelude::*;
use std::sync::Arc;

use deepvis_model::preprocess::Normalization;
use deepvis_model::{ModelInfo, Net, Request};
use serde::{Deserialize, Serialize};

pub use deepvis_protocol::run::{StopReason, Telemetry};

use crate::error::{OptimError, Result};
use crate::init::Init;
use crate::objective::Objective;
use crate::params::Params;
use crate::regularize::{clip_to_pixels, regularized_update};

/// A run to start.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// What to maximize.
    pub objective: Objective,
    /// The hyperparameters.
    pub params: Params,
    /// The start image.
    pub init: Init,
}

/// The state of a run's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// Iterations evaluated so far.
    pub iterations: usize,
    /// The best objective seen.
    pub best_obj: Option<f32>,
    /// The iteration of the best objective.
    pub best_iter: Option<usize>,
    /// The first iteration at which the unit was the argmax of its layer.
    pub majority_iter: Option<usize>,
    /// The latest objective.
    pub last_obj: Option<f32>,
    /// Why it stopped, if it did.
    pub stop: Option<StopReason>,
}

struct Run {
    cfg: RunConfig,
    x: Tensor<4>,
    best_x: Option<Tensor<4>>,
    status: RunStatus,
    ii: usize,
}

/// Regularized gradient ascent on one network, several runs at once.
pub struct Optimizer {
    info: Arc<ModelInfo>,
    net: Net,
    device: Device,
    norm: Normalization,
    runs: Vec<Option<Run>>,
}

impl Optimizer {
    /// Takes a network; it is moved to `device` with autodiff enabled.
    pub fn new(net: Net, device: &Device) -> Optimizer {
        let info = net.info().clone();
        let ad = device.clone().autodiff();
        Optimizer {
            norm: info.norm(),
            info,
            net: net.to_device(&ad).no_grad(),
            device: device.clone(),
            runs: Vec::new(),
        }
    }

    /// What is known of the network.
    pub fn info(&self) -> &Arc<ModelInfo> {
        &self.info
    }

    fn start_tensor(&self, init: &Init) -> Result<Tensor<4>> {
        let s = self.info.input_size();
        let chw = init.materialize(&self.info)?;
        Ok(deepvis_model::tensor4(chw, [1, 3, s, s], &self.device)?)
    }

    /// Adds a run; returns its id.
    pub fn add_run(&mut self, cfg: RunConfig) -> Result<usize> {
        cfg.params.validate()?;
        cfg.objective.validate(&self.info)?;
        let x = self.start_tensor(&cfg.init)?;
        self.runs.push(Some(Run {
            cfg,
            x,
            best_x: None,
            status: RunStatus::default(),
            ii: 0,
        }));
        Ok(self.runs.len() - 1)
    }

    /// Removes a run.
    pub fn remove_run(&mut self, id: usize) -> Result<()> {
        match self.runs.get_mut(id) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Ok(())
            }
            _ => Err(OptimError::NoRun(id)),
        }
    }

    fn run(&self, id: usize) -> Result<&Run> {
        self.runs
            .get(id)
            .and_then(|r| r.as_ref())
            .ok_or(OptimError::NoRun(id))
    }

    fn run_mut(&mut self, id: usize) -> Result<&mut Run> {
        self.runs
            .get_mut(id)
            .and_then(|r| r.as_mut())
            .ok_or(OptimError::NoRun(id))
    }

    /// Changes a run's hyperparameters; the next step uses them (nothing restarts). A run
    /// that had stopped at `max_iter` goes on if the new `max_iter` is larger.
    pub fn set_params(&mut self, id: usize, params: Params) -> Result<()> {
        params.validate()?;
        let run = self.run_mut(id)?;
        run.cfg.params = params;
        if run.status.stop == Some(StopReason::MaxIter) && run.ii + 1 < params.max_iter {
            // The stopping iteration made no update; it is evaluated again, then updated.
            run.status.stop = None;
        }
        Ok(())
    }

    /// Changes a run's objective, keeping its image and its place: the iteration count, the
    /// blur schedule and the iteration budget go on; a stop is lifted and the best image is
    /// tracked anew.
    pub fn set_objective(&mut self, id: usize, objective: Objective) -> Result<()> {
        objective.validate(&self.info)?;
        let run = self.run_mut(id)?;
        run.cfg.objective = objective;
        // the same run goes on: its iteration count, blur schedule and budget continue; the
        // best image is tracked anew, since the old objective's values do not compare
        run.status.best_obj = None;
        run.status.best_iter = None;
        run.status.last_obj = None;
        run.best_x = None;
        if run.ii + 1 < run.cfg.params.max_iter {
            run.status.stop = None;
        }
        Ok(())
    }

    /// Restarts a run from its start image (with a new seed for noise starts).
    pub fn reset(&mut self, id: usize, seed: Option<u64>) -> Result<()> {
        let mut init = self.run(id)?.cfg.init.clone();
        if let Some(s) = seed {
            match &mut init {
                Init::Noise { seed, .. } | Init::Uniform { seed } => *seed = s,
                Init::Mean | Init::Image { .. } => {}
            }
        }
        let x = self.start_tensor(&init)?;
        let run = self.run_mut(id)?;
        run.cfg.init = init;
        run.x = x;
        run.best_x = None;
        run.status = RunStatus::default();
        run.ii = 0;
        Ok(())
    }

    /// Replaces a run's start image and restarts it.
    pub fn set_init(&mut self, id: usize, init: Init) -> Result<()> {
        let x = self.start_tensor(&init)?;
        let run = self.run_mut(id)?;
        run.cfg.init = init;
        run.x = x;
        run.best_x = None;
        run.status = RunStatus::default();
        run.ii = 0;
        Ok(())
    }

    /// A run's settings.
    pub fn config(&self, id: usize) -> Result<&RunConfig> {
        Ok(&self.run(id)?.cfg)
    }

    /// A run's results so far.
    pub fn status(&self, id: usize) -> Result<&RunStatus> {
        Ok(&self.run(id)?.status)
    }

    /// Lets a stopped run go on (after a zero gradient, once its objective or image changed).
    pub fn resume(&mut self, id: usize) -> Result<()> {
        let run = self.run_mut(id)?;
        if run.status.stop.is_some() && run.ii + 1 < run.cfg.params.max_iter {
            run.status.stop = None;
        }
        Ok(())
    }

    /// Whether any run can still step.
    pub fn any_active(&self) -> bool {
        self.runs.iter().flatten().any(|r| r.status.stop.is_none())
    }

    /// The current image of a run (clipped to valid pixels), CHW in the normalized space.
    pub fn current_image(&self, id: usize) -> Result<Vec<f32>> {
        let run = self.run(id)?;
        Ok(deepvis_model::to_vec(clip_to_pixels(
            run.x.clone(),
            &self.norm,
        ))?)
    }

    /// The image with the best objective so far (the current one before the first step).
    pub fn best_image(&self, id: usize) -> Result<Vec<f32>> {
        let run = self.run(id)?;
        match &run.best_x {
            Some(x) => Ok(deepvis_model::to_vec(x.clone())?),
            None => self.current_image(id),
        }
    }

    /// The raw (unclipped) state of a run, as the reference files' `x_out`.
    pub fn state(&self, id: usize) -> Result<Vec<f32>> {
        Ok(deepvis_model::to_vec(self.run(id)?.x.clone())?)
    }

    /// Advances every active run by up to `n` iterations; returns the telemetry of each
    /// iteration of each run, in order.
    pub fn step(&mut self, n: usize) -> Result<Vec<Telemetry>> {
        let mut out = Vec::new();
        for _ in 0..n {
            let active: Vec<usize> = self
                .runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.as_ref().filter(|r| r.status.stop.is_none()).map(|_| i))
                .collect();
            if active.is_empty() {
                break;
            }
            self.iterate(&active, &mut out)?;
        }
        Ok(out)
    }

    fn iterate(&mut self, active: &[usize], out: &mut Vec<Telemetry>) -> Result<()> {
        let info = self.info.clone();
        // 1. clip to valid pixels
        let mut xs = Vec::with_capacity(active.len());
        let mut req = Request::default();
        let norm = self.norm;
        for &id in active {
            let run = self.run_mut(id)?;
            let x = clip_to_pixels(run.x.clone(), &norm);
            run.x = x.clone();
            xs.push(x);
            run.cfg.objective.request(&info, &mut req)?;
        }
        req.layers.sort();
        req.layers.dedup();
        req.pre_relu.sort();
        req.pre_relu.dedup();
        // 2-3. forward and backward, all runs in one batch
        let xb = Tensor::cat(xs.clone(), 0).autodiff().require_grad();
        let taps = self.net.forward(xb.clone(), &req)?;
        let mut total: Option<Tensor<1>> = None;
        let mut scalars = Vec::with_capacity(active.len() * 3);
        for (item, &id) in active.iter().enumerate() {
            let obj = &self.run(id)?.cfg.objective;
            let (value, act, is_max) = obj.evaluate(&info, &taps, item)?;
            let signed = value * obj.sign;
            scalars.push(signed.clone().without_autodiff());
            scalars.push(act.without_autodiff());
            scalars.push(is_max.without_autodiff());
            total = Some(match total {
                Some(t) => t + signed,
                None => signed,
            });
        }
        let Some(total) = total else {
            return Ok(());
        };
        let grads = total.backward();
        let g = xb
            .grad(&grads)
            .ok_or_else(|| OptimError::BadParam("no gradient reached the image".into()))?;
        let [_, c, h, w] = g.dims();
        let gs: Vec<Tensor<4>> = (0..active.len())
            .map(|i| g.clone().slice([i..i + 1, 0..c, 0..h, 0..w]))
            .collect();
        for gi in &gs {
            scalars.push(gi.clone().abs().max().reshape([1]));
            scalars.push(gi.clone().powi_scalar(2).sum().reshape([1]));
        }
        let host = deepvis_model::to_vec(Tensor::cat(scalars, 0))?;
        let k = active.len();
        for (item, &id) in active.iter().enumerate() {
            let (obj, act, is_max) = (host[3 * item], host[3 * item + 1], host[3 * item + 2]);
            let (gmax, g2) = (host[3 * k + 2 * item], host[3 * k + 2 * item + 1] as f64);
            let run = self.run_mut(id)?;
            let ii = run.ii;
            let is_argmax = is_max > 0.5;
            run.status.iterations = ii + 1;
            run.status.last_obj = Some(obj);
            let mut tel = Telemetry {
                run: id,
                iter: ii,
                obj,
                act,
                lr: None,
                grad_norm: g2.sqrt(),
                is_argmax,
            };
            if obj.is_finite() && run.status.best_obj.is_none_or(|b| obj > b) {
                run.status.best_obj = Some(obj);
                run.status.best_iter = Some(ii);
                run.best_x = Some(xs[item].clone());
            }
            if !obj.is_finite() || !g2.is_finite() || !gmax.is_finite() {
                run.status.stop = Some(StopReason::NonFinite);
                out.push(tel);
                continue;
            }
            if is_argmax && run.status.majority_iter.is_none() {
                run.status.majority_iter = Some(ii);
            }
            if gmax == 0.0 {
                run.status.stop = Some(StopReason::ZeroGrad);
            } else if ii + 1 >= run.cfg.params.max_iter {
                run.status.stop = Some(StopReason::MaxIter);
            } else {
                let p = run.cfg.params;
                let lr = p.learning_rate(g2);
                tel.lr = Some(lr);
                run.x = regularized_update(run.x.clone(), gs[item].clone(), lr, &p, ii);
                run.ii += 1;
            }
            out.push(tel);
        }
        Ok(())
    }
}
