//! The render loop (lucent's `render`), as a stepper: `step(n)` advances every active run by up
//! to `n` iterations in one batched forward/backward per iteration (every run's images, whatever
//! their method, in one batch), and reports per-iteration telemetry. Each run composes a
//! parameterization, transforms, an objective, penalties, an update rule and the paper's
//! regularizers; settings can change between calls (warm start); images cross to the host only
//! when asked.

use burn::prelude::*;
use std::sync::Arc;

use deepvis_model::preprocess::Normalization;
use deepvis_model::{ModelInfo, Net, Request};
use serde::{Deserialize, Serialize};

pub use deepvis_protocol::run::{StopReason, Telemetry};

use deepvis_model::rng::Rng;
use deepvis_protocol::{Method, ParamKind};

use crate::error::{OptimError, Result};
use crate::goal::Goal;
use crate::init::Init;
use crate::param::Parameterization;
use crate::params::Params;
use crate::regularize::{clip_to_pixels, penalties as penalty_of, regularize};
use crate::transform::{Affine, resample, resample_to};
use crate::update::Adam;

/// A run to start.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// What to maximize.
    pub objective: Goal,
    /// The paper's hyperparameters (its regularizers apply where they make sense; its
    /// learning-rate policy drives the SGD; `max_iter` ends every run).
    pub params: Params,
    /// The start image.
    pub init: Init,
    /// The parameterization, transforms, penalties and update rule.
    pub method: Method,
    /// How many images the run makes at once (a diversity term makes them differ).
    pub images: usize,
}

impl RunConfig {
    /// One image by the paper's method.
    pub fn paper(objective: impl Into<Goal>, params: Params, init: Init) -> RunConfig {
        RunConfig {
            objective: objective.into(),
            params,
            init,
            method: Method::PAPER,
            images: 1,
        }
    }
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
    param: Parameterization,
    /// The parameter (for pixels: the image, in the normalized space), `[images, ...]`.
    p: Tensor<4>,
    adam: Option<Adam>,
    best_x: Option<Tensor<4>>,
    status: RunStatus,
    ii: usize,
    /// The start pictures in 0..1 units (what "keep to the start" measures from).
    start: Tensor<4>,
    /// The transparency map: the absolute gradient on the pictures' pixels, summed over the
    /// steps since the start (MACO's), `[images, 3, side, side]`.
    seen: Option<Tensor<4>>,
}

impl Run {
    /// Adds one step's gradient on the pictures to the transparency map.
    fn saw(&mut self, g: Tensor<4>) {
        let g = g.abs();
        self.seen = Some(match self.seen.take() {
            Some(s) => s + g,
            None => g,
        });
    }

    /// The seed of the run's random transforms.
    fn seed(&self) -> u64 {
        match self.cfg.init {
            Init::Noise { seed, .. } | Init::Uniform { seed } => seed,
            _ => 0,
        }
    }

    /// The images as the network sees them before the transforms (pixels clipped).
    fn images(&self, norm: &Normalization) -> Result<Tensor<4>> {
        match self.param.kind() {
            ParamKind::Pixel => Ok(clip_to_pixels(self.p.clone(), norm)),
            _ => self.param.render(self.p.clone()),
        }
    }
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

    fn start_tensor(&self, param: &Parameterization, init: &Init, n: usize) -> Result<Tensor<4>> {
        let values = param.start(init, n, &self.info)?;
        Ok(deepvis_model::tensor4(
            values,
            param.shape(n),
            &self.device,
        )?)
    }

    /// The most images one run makes at once.
    pub const MAX_IMAGES: usize = 16;

    fn check_config(&self, cfg: &RunConfig) -> Result<()> {
        cfg.params.validate().map_err(OptimError::BadParam)?;
        cfg.method.validate().map_err(OptimError::BadParam)?;
        cfg.objective.validate(&self.info)?;
        if cfg.images == 0 || cfg.images > Self::MAX_IMAGES {
            return Err(OptimError::BadParam(format!(
                "a run makes 1 to {} images, not {}",
                Self::MAX_IMAGES,
                cfg.images
            )));
        }
        Ok(())
    }

    /// The pictures of parameter `p` in 0..1 units (pixels clipped), without gradients.
    fn start_pictures(&self, param: &Parameterization, p: &Tensor<4>) -> Result<Tensor<4>> {
        let x = match param.kind() {
            ParamKind::Pixel => clip_to_pixels(p.clone(), &self.norm),
            _ => param.render(p.clone())?,
        };
        Ok(param.pixels01(x).without_autodiff())
    }

    /// Adds a run; returns its id.
    pub fn add_run(&mut self, cfg: RunConfig) -> Result<usize> {
        self.check_config(&cfg)?;
        let param = Parameterization::new(&cfg.method, &self.info)?;
        let p = self.start_tensor(&param, &cfg.init, cfg.images)?;
        let start = self.start_pictures(&param, &p)?;
        self.runs.push(Some(Run {
            cfg,
            param,
            p,
            adam: None,
            best_x: None,
            status: RunStatus::default(),
            ii: 0,
            start,
            seen: None,
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
        params.validate().map_err(OptimError::BadParam)?;
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
    pub fn set_objective(&mut self, id: usize, objective: impl Into<Goal>) -> Result<()> {
        let objective = objective.into();
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
        self.set_init(id, init)
    }

    /// Replaces a run's start image and restarts it.
    pub fn set_init(&mut self, id: usize, init: Init) -> Result<()> {
        let run = self.run(id)?;
        let p = self.start_tensor(&run.param, &init, run.cfg.images)?;
        let start = self.start_pictures(&run.param, &p)?;
        let run = self.run_mut(id)?;
        run.cfg.init = init;
        run.p = p;
        run.start = start;
        run.seen = None;
        run.adam = None;
        run.best_x = None;
        run.status = RunStatus::default();
        run.ii = 0;
        Ok(())
    }

    /// Changes a run's method, keeping its place and its picture: a new parameterization
    /// starts from the current images (turned into its parameter), Adam starts afresh when
    /// switched on or when the parameterization changed.
    pub fn set_method(&mut self, id: usize, method: Method) -> Result<()> {
        method.validate().map_err(OptimError::BadParam)?;
        let norm = self.norm;
        let run = self.run(id)?;
        let old = run.cfg.method;
        let same_param = old.param == method.param
            && old.canvas.side == method.canvas.side
            && (method.param == ParamKind::Pixel
                || (old.decorrelate == method.decorrelate
                    && old.decay_power == method.decay_power));
        let (param, p) = if same_param {
            (run.param.clone(), run.p.clone())
        } else {
            let param = Parameterization::new(&method, &self.info)?;
            let n = run.cfg.images;
            let host = deepvis_model::to_vec(run.images(&norm)?)?;
            let per = host.len() / n.max(1);
            let mut values = Vec::new();
            for i in 0..n {
                values.extend(param.from_image(&host[i * per..(i + 1) * per])?);
            }
            let p = deepvis_model::tensor4(values, param.shape(n), &self.device)?;
            (param, p)
        };
        let run = self.run_mut(id)?;
        if !same_param || method.adam != old.adam || method.nesterov != old.nesterov {
            run.adam = None;
        }
        if run.param.side() != param.side() {
            // the map of another canvas does not carry over
            run.seen = None;
        }
        run.param = param;
        run.p = p;
        run.cfg.method = method;
        run.status.best_obj = None;
        run.status.best_iter = None;
        run.best_x = None;
        if run.ii + 1 < run.cfg.params.max_iter {
            run.status.stop = None;
        }
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

    fn split(all: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
        let per = all.len() / n.max(1);
        all.chunks(per.max(1)).map(<[f32]>::to_vec).collect()
    }

    /// The current images of a run (valid pixels), each CHW in the normalized space.
    pub fn current_images(&self, id: usize) -> Result<Vec<Vec<f32>>> {
        let run = self.run(id)?;
        let all = deepvis_model::to_vec(run.images(&self.norm)?)?;
        Ok(Self::split(all, run.cfg.images))
    }

    /// The current image of a run (its first), CHW in the normalized space.
    pub fn current_image(&self, id: usize) -> Result<Vec<f32>> {
        let mut all = self.current_images(id)?;
        Ok(if all.is_empty() {
            Vec::new()
        } else {
            all.swap_remove(0)
        })
    }

    /// The images with the best objective so far (the current ones before the first step).
    pub fn best_images(&self, id: usize) -> Result<Vec<Vec<f32>>> {
        let run = self.run(id)?;
        match &run.best_x {
            Some(x) => Ok(Self::split(
                deepvis_model::to_vec(x.clone())?,
                run.cfg.images,
            )),
            None => self.current_images(id),
        }
    }

    /// The image with the best objective so far (the first of the run's).
    pub fn best_image(&self, id: usize) -> Result<Vec<f32>> {
        let mut all = self.best_images(id)?;
        Ok(if all.is_empty() {
            Vec::new()
        } else {
            all.swap_remove(0)
        })
    }

    /// The side of a run's pictures: the network's input, or its canvas.
    pub fn picture_side(&self, id: usize) -> Result<usize> {
        Ok(self.run(id)?.param.side())
    }

    /// A run's transparency map per image (`side x side`, row-major): the absolute gradient on
    /// each pixel, summed over the colours and the steps since the start (where the network
    /// looked); None before the first step.
    pub fn transparency(&self, id: usize) -> Result<Option<Vec<Vec<f32>>>> {
        let run = self.run(id)?;
        let Some(seen) = &run.seen else {
            return Ok(None);
        };
        let [n, _, h, w] = seen.dims();
        let map = seen.clone().sum_dim(1).reshape([n, h * w]);
        Ok(Some(Self::split(deepvis_model::to_vec(map)?, n)))
    }

    /// The raw state of a run: its parameter (for pixels, the unclipped image, as the
    /// reference files' `x_out`).
    pub fn state(&self, id: usize) -> Result<Vec<f32>> {
        Ok(deepvis_model::to_vec(self.run(id)?.p.clone())?)
    }

    /// For a pixel run whose paper clipping is on: which pixels of its first image the last
    /// step's small-norm or small-contribution clipping zeroed (`size x size`, row-major);
    /// None for runs without it.
    pub fn clip_mask(&self, id: usize) -> Result<Option<Vec<bool>>> {
        let run = self.run(id)?;
        let p = &run.cfg.params;
        if run.param.kind() != ParamKind::Pixel
            || (p.norm_pct <= 0.0 && p.contrib_pct <= 0.0)
            || run.ii == 0
        {
            return Ok(None);
        }
        let s = self.info.input_size();
        let plane = s * s;
        let x = deepvis_model::to_vec(run.p.clone())?;
        Ok(Some(
            (0..plane)
                .map(|i| (0..3).all(|c| x.get(c * plane + i) == Some(&0.0)))
                .collect(),
        ))
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
        let mut batch = self.prepare(active)?;
        // 2-3. forward and backward, all runs in one batch
        let taps = self.net.forward(
            Tensor::cat(std::mem::take(&mut batch.inputs), 0),
            &batch.req,
        )?;
        let mut total: Option<Tensor<1>> = None;
        let mut scalars = Vec::with_capacity(active.len() * 5);
        for ((k, &id), penalty) in active
            .iter()
            .enumerate()
            .zip(std::mem::take(&mut batch.penalties))
        {
            let goal = &self.run(id)?.cfg.objective;
            let v = goal.evaluate(&self.info, &taps, batch.ranges[k].clone())?;
            scalars.push(v.report.without_autodiff());
            scalars.push(v.act.without_autodiff());
            scalars.push(v.is_max.without_autodiff());
            let loss = match penalty {
                Some(p) => v.loss - p,
                None => v.loss,
            };
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
        }
        let Some(total) = total else {
            return Ok(());
        };
        let grads = total.backward();
        let (gs, on_pictures) = Self::gradients(&batch, &grads)?;
        for g in &gs {
            scalars.push(g.clone().abs().max().reshape([1]));
            scalars.push(g.clone().powi_scalar(2).sum().reshape([1]));
        }
        let host = deepvis_model::to_vec(Tensor::cat(scalars, 0))?;
        let k = active.len();
        for (item, ((&id, g), seen)) in active.iter().zip(gs).zip(on_pictures).enumerate() {
            self.run_mut(id)?.saw(seen);
            let read = Readings {
                obj: host[3 * item],
                act: host[3 * item + 1],
                is_max: host[3 * item + 2],
                gmax: host[3 * k + 2 * item],
                g2: host[3 * k + 2 * item + 1] as f64,
            };
            let shown = batch.pictures[item].0.clone().without_autodiff();
            out.push(self.advance(id, read, g, &shown)?);
        }
        Ok(())
    }

    /// Each run's gradient on its parameter and on its picture (the same for pixels): the
    /// spectral pictures' gradients go on to their parameters in a second backward pass, all
    /// runs at once.
    fn gradients(
        batch: &Batch,
        grads: &burn::tensor::Gradients,
    ) -> Result<(Vec<Tensor<4>>, Vec<Tensor<4>>)> {
        let none = || OptimError::BadParam("no gradient reached the image".into());
        let mut on_pictures = Vec::with_capacity(batch.leaves.len());
        let mut second: Option<Tensor<1>> = None;
        for (picture, link) in &batch.pictures {
            let g = picture.grad(grads).ok_or_else(none)?;
            if let Some(link) = link {
                let t = (link.clone() * g.clone().autodiff()).sum();
                second = Some(match second {
                    Some(s) => s + t,
                    None => t,
                });
            }
            on_pictures.push(g);
        }
        let grads2 = second.map(|s| s.backward());
        let mut gs = Vec::with_capacity(batch.leaves.len());
        for ((leaf, (_, link)), on_picture) in
            batch.leaves.iter().zip(&batch.pictures).zip(&on_pictures)
        {
            gs.push(match (link, &grads2) {
                (Some(_), Some(g2)) => leaf.grad(g2).ok_or_else(none)?,
                _ => on_picture.clone(),
            });
        }
        Ok((gs, on_pictures))
    }

    /// Step 1 of an iteration: each run's images from its parameter (pixels clipped to valid
    /// values), through its transforms, and its penalties; the layers every objective reads.
    fn prepare(&mut self, active: &[usize]) -> Result<Batch> {
        let info = self.info.clone();
        let norm = self.norm;
        let size = info.input_size();
        let mut batch = Batch {
            leaves: Vec::with_capacity(active.len()),
            pictures: Vec::with_capacity(active.len()),
            inputs: Vec::with_capacity(active.len()),
            penalties: Vec::with_capacity(active.len()),
            ranges: Vec::with_capacity(active.len()),
            req: Request::default(),
        };
        let mut at = 0;
        for &id in active {
            let run = self.run_mut(id)?;
            if run.param.kind() == ParamKind::Pixel {
                run.p = clip_to_pixels(run.p.clone(), &norm);
            }
            let leaf = run.p.clone().autodiff().require_grad();
            let rendered = run.param.render(leaf.clone())?;
            // the spectral pictures are leaves of their own, so that the gradient on their
            // pixels (the transparency map) is read; it then goes on to the parameter
            let (image, link) = match run.param.kind() {
                ParamKind::Pixel => (rendered, None),
                _ => (rendered.clone().detach().require_grad(), Some(rendered)),
            };
            let n = run.cfg.images;
            let method = run.cfg.method;
            let mut rng =
                Rng::new(run.seed().wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((run.ii as u64) << 8));
            let input = if method.canvas.on() {
                let mut picks = Vec::with_capacity(n * method.canvas.crops);
                for i in 0..n {
                    for crop in method.canvas.draw(size, &mut || rng.uniform()) {
                        let moved = match method.transforms.any() {
                            true => method.transforms.draw(size, &mut || rng.uniform()),
                            false => Affine::IDENTITY,
                        };
                        picks.push((i, crop.then(moved)));
                    }
                }
                let crops = resample_to(image.clone(), &picks, [size, size])?;
                run.param.add_noise(crops, method.canvas.noise, &mut rng)?
            } else if method.transforms.any() {
                let maps: Vec<Affine> = (0..n)
                    .map(|_| method.transforms.draw(size, &mut || rng.uniform()))
                    .collect();
                resample(image.clone(), &maps)?
            } else {
                image.clone()
            };
            let seen = input.dims()[0];
            let pen = match method.penalties.active().next() {
                Some(_) => penalty_of(
                    &method.penalties,
                    run.param.pixels01(image.clone()),
                    Some(run.start.clone().autodiff()),
                ),
                None => None,
            };
            run.cfg.objective.request(&info, &mut batch.req)?;
            batch.leaves.push(leaf);
            batch.pictures.push((image, link));
            batch.inputs.push(input);
            batch.penalties.push(pen);
            batch.ranges.push(at..at + seen);
            at += seen;
        }
        batch.req.layers.sort();
        batch.req.layers.dedup();
        batch.req.pre_relu.sort();
        batch.req.pre_relu.dedup();
        Ok(batch)
    }

    /// Step 4 of an iteration for run `id`: its status from what was read back, then (unless
    /// it stops) the update along its gradient `g`. `shown` is the image it was at.
    fn advance(
        &mut self,
        id: usize,
        read: Readings,
        g: Tensor<4>,
        shown: &Tensor<4>,
    ) -> Result<Telemetry> {
        let Readings {
            obj,
            act,
            is_max,
            gmax,
            g2,
        } = read;
        let device = self.device.clone();
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
            run.best_x = Some(shown.clone());
        }
        if !obj.is_finite() || !g2.is_finite() || !gmax.is_finite() {
            run.status.stop = Some(StopReason::NonFinite);
            return Ok(tel);
        }
        if is_argmax && run.status.majority_iter.is_none() {
            run.status.majority_iter = Some(ii);
        }
        if gmax == 0.0 {
            run.status.stop = Some(StopReason::ZeroGrad);
        } else if ii + 1 >= run.cfg.params.max_iter {
            run.status.stop = Some(StopReason::MaxIter);
        } else {
            let lr = Self::update(run, g, g2, &device);
            tel.lr = Some(lr);
            run.ii += 1;
        }
        Ok(tel)
    }

    /// Steps 5 to 10: the update of one run's parameter along its gradient `g` (of squared
    /// norm `g2`), then the paper's regularizers where they apply. Returns the learning rate.
    fn update(run: &mut Run, g: Tensor<4>, g2: f64, device: &Device) -> f64 {
        let (p, m, ii) = (run.cfg.params, run.cfg.method, run.ii);
        let (lr, stepped) = if m.adam {
            let adam = run
                .adam
                .get_or_insert_with(|| Adam::new(run.p.dims(), device));
            let stepped = match m.nesterov {
                true => adam.step_nesterov(run.p.clone(), g.clone(), m.adam_lr),
                false => adam.step(run.p.clone(), g.clone(), m.adam_lr),
            };
            (m.adam_lr, stepped)
        } else {
            let lr = p.learning_rate(g2);
            (lr, run.p.clone() + g.clone() * lr)
        };
        run.p = match run.param.kind() {
            ParamKind::Pixel => {
                let n = run.cfg.images;
                if n == 1 {
                    regularize(stepped, g, &p, ii)
                } else {
                    // the percentiles of the clipping are each image's own
                    let [_, c, h, w] = stepped.dims();
                    let each = (0..n)
                        .map(|i| {
                            regularize(
                                stepped.clone().slice([i..i + 1, 0..c, 0..h, 0..w]),
                                g.clone().slice([i..i + 1, 0..c, 0..h, 0..w]),
                                &p,
                                ii,
                            )
                        })
                        .collect();
                    Tensor::cat(each, 0)
                }
            }
            // decay shrinks a spectrum towards grey; a phase has nothing to shrink
            ParamKind::Fourier if p.decay > 0.0 => stepped * (1.0 - p.decay),
            _ => stepped,
        };
        lr
    }
}

/// One iteration's batch: every active run's leaf (its parameter, requiring a gradient), its
/// picture (also as shown), its transformed images (or crops), its penalty and where its images
/// sit in the batch, and the layers the objectives read.
struct Batch {
    leaves: Vec<Tensor<4>>,
    /// Each run's picture as the network's crops read it (a leaf) and, for the spectral
    /// parameterizations, the same picture rendered from the parameter (the link the
    /// gradient goes on through).
    pictures: Vec<(Tensor<4>, Option<Tensor<4>>)>,
    inputs: Vec<Tensor<4>>,
    penalties: Vec<Option<Tensor<1>>>,
    ranges: Vec<std::ops::Range<usize>>,
    req: Request,
}

/// What an iteration read back of one run: its objective, activation and whether its unit
/// was its layer's argmax, and its gradient's largest magnitude and squared norm.
#[derive(Clone, Copy, Debug)]
struct Readings {
    obj: f32,
    act: f32,
    is_max: f32,
    gmax: f32,
    g2: f64,
}
