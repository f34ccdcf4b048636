//! The worker's body: load, warm up, then interleave frames and optimizer steps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::prelude::*;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use deepvis_model::{BackProjector, Labels, ModelInfo, Net, Request, to_vec, top_k};
use deepvis_optim::recipe::{RunRecord, Which, WindowSettings};
use deepvis_optim::{
    Change, Goal, Init, Method, MethodKind, Objective, Optimizer, Recipe, RunConfig, Sidecar, Term,
};
use deepvis_protocol::{
    BackInfo, ClassProb, Command, Doing, ErrorKind, Event, Failure, LayerSummary, OptimView,
    Outbox, Preparing, RecordTarget, SourceState, StartFrom, Telemetry, UnitMap,
};
use deepvis_sources::{FrameSlot, SourceCommand, SourceStatus, SourceThread};
use image::RgbImage;

use crate::attr::{Lanes, Out, Subject};
use crate::policy::{Action, Policy, Setup};
use crate::schedule::{Handover, Scheduler};
use crate::tape::Tape;
use crate::{EngineConfig, Exit};

type Wake = Arc<dyn Fn() + Send + Sync>;

/// How often the preferred image is sent while it forms.
const PREFERRED_EVERY: Duration = Duration::from_millis(100);
/// How often the judge classifies the preferred image while it forms.
const JUDGE_EVERY: Duration = Duration::from_secs(2);

/// Frames kept in the session top-k, and the side of their crops.
const SESSION_K: usize = 9;
const SESSION_TILE: u32 = 64;

/// The frames that excited the selected unit most since it was selected.
struct SessionTop {
    layer: String,
    channel: usize,
    /// (score, frame, crop), best first.
    items: Vec<(f32, u64, RgbImage)>,
}

impl SessionTop {
    /// Offers frame number `frame` (the worker's count of frames taken); true if it was kept.
    /// A frame already kept (a still photo processed again) is not kept twice; different
    /// frames with equal scores are all kept, the earlier first.
    fn offer(&mut self, frame: u64, score: f32, crop: impl FnOnce() -> RgbImage) -> bool {
        if !score.is_finite() || self.items.iter().any(|(_, f, _)| *f == frame) {
            return false;
        }
        let at = self
            .items
            .iter()
            .position(|(s, _, _)| score > *s)
            .unwrap_or(self.items.len());
        if at >= SESSION_K {
            return false;
        }
        self.items.insert(at, (score, frame, crop()));
        self.items.truncate(SESSION_K);
        true
    }
}

struct Run {
    /// The primary run (the telemetry, the policy and exports follow it).
    id: usize,
    /// Every run shown, the primary first (several in the compare views).
    ids: Vec<usize>,
    /// What each run's tiles are (empty for one image).
    captions: Vec<String>,
    layer: String,
    channel: usize,
    /// Which objective, the automatic switches, the one fallback to the frame, the report.
    policy: Policy,
    last_sent: Option<Instant>,
    last_act: f32,
    /// Telemetry not sent yet.
    points: Vec<Telemetry>,
    /// Everything that made its image so far (for an export).
    recipe: Recipe,
}

struct Worker<'a> {
    state: &'a Mutex<EngineConfig>,
    events: &'a Outbox,
    wake: &'a Wake,
    info: Arc<ModelInfo>,
    net: Net,
    device: Device,
    labels: Labels,
    opt: Optimizer,
    /// A copy of the network on the autodiff device, for back-projections.
    back: BackProjector,
    run: Option<Run>,
    /// Counts (re)starts of the preferred image, so the UI knows when a plot starts over.
    generation: u64,
    /// The newest frame, preprocessed (CHW).
    frame: Option<Vec<f32>>,
    /// The newest frame's crop as the network sees it.
    crop: Option<RgbImage>,
    /// How many frames were taken from the source (the newest frame's number).
    frame_id: u64,
    session: Option<SessionTop>,
    /// The attribution lanes (the pane, the compare view, the sanity check).
    lanes: Lanes,
    /// When attribution turns run and how long the optimizer steps.
    schedule: Scheduler,
    /// The layer/unit outputs must be recomputed for the current frame.
    dirty: bool,
    frames_done: u32,
    iters_done: u32,
    backs_done: u32,
    stats_at: Instant,
    /// The network was replaced: the loop returns to be started again.
    reload: bool,
    /// A frozen input takes the next frame anyway (a video stepped or sought while paused).
    take_one: bool,
    /// The backend in words (for exports).
    backend: String,
    /// The window recording (a cell: every `send` shows it the event).
    tape: std::cell::RefCell<Tape>,
    /// The second network that judges the preferred image, and when it last did.
    judge: Option<(Net, Option<Instant>)>,
}

fn cfg(state: &Mutex<EngineConfig>) -> EngineConfig {
    match state.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn update(state: &Mutex<EngineConfig>, f: impl FnOnce(&mut EngineConfig)) {
    match state.lock() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

impl<'a> Worker<'a> {
    fn send(&self, e: Event) {
        let status = match self.tape.try_borrow_mut() {
            Ok(mut t) if t.running() => t.observe(&e),
            _ => None,
        };
        let _ = self.events.send(e);
        if let Some(status) = status {
            let _ = self.events.send(Event::Recording {
                what: RecordTarget::Window,
                status,
            });
        }
        (self.wake)();
    }

    fn grid_layer(&self) -> String {
        cfg(self.state)
            .grid_layer
            .unwrap_or_else(|| self.info.default_grid_layer().to_string())
    }

    /// Forward of the current frame: grid, selected unit map, top-5.
    fn process_frame(&mut self) -> Result<(), String> {
        let Some(chw) = self.frame.clone() else {
            return Ok(());
        };
        let s = self.info.input_size();
        let layer = self.grid_layer();
        let info = self.info.clone();
        let logits = info.logits_layer();
        let x =
            deepvis_model::tensor4(chw, [1, 3, s, s], &self.device).map_err(|e| e.to_string())?;
        let mut taps = self
            .net
            .forward(x.clone(), &Request::layers(&[layer.as_str(), logits]))
            .map_err(|e| e.to_string())?;
        // the grid layer may be the class-score layer itself
        let logit_t = taps.get(logits).cloned().ok_or("no class scores")?;
        let t = taps.take(&layer).ok_or("the grid layer was not computed")?;
        let [_, c, h, w] = t.dims();
        let data = to_vec(t).map_err(|e| e.to_string())?;
        // class probabilities when the output is a vector of scores; a network whose output
        // is a map (a detector, a test's graph) has no top-5
        let [_, k, oh, ow] = logit_t.dims();
        let probs = match oh * ow {
            1 => to_vec(burn::tensor::activation::softmax(
                logit_t.reshape([1, k]),
                1,
            ))
            .map_err(|e| e.to_string())?,
            _ => Vec::new(),
        };
        let plane = h * w;
        let maxima: Vec<f32> = (0..c)
            .map(|i| {
                data[i * plane..(i + 1) * plane]
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect();
        if let Some((image, layout)) = deepvis_viz::channel_grid(&data, c, h, w, 40) {
            self.send(Event::Grid {
                layer: layer.clone(),
                image,
                cols: layout.cols,
                rows: layout.rows,
                tile_w: w,
                tile_h: h,
                maxima,
            });
        }
        let mut request = None;
        if let Some(ch) = cfg(self.state).selected.filter(|&ch| ch < c) {
            let map = &data[ch * plane..(ch + 1) * plane];
            let (best, best_v) =
                map.iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                    );
            let argmax = (best / w, best % w);
            let back = cfg(self.state).back;
            let pos = back.pos.filter(|&(y, x)| y < h && x < w).unwrap_or(argmax);
            let field = self
                .info
                .field_bounds(&layer, pos, self.info.input_size(), true);
            self.send(Event::UnitMap(UnitMap {
                channel: ch,
                values: map.to_vec(),
                width: w,
                height: h,
                argmax,
                field,
            }));
            // the same frame offered twice (same score) is kept once
            self.offer_session(&layer, ch, best_v, argmax);
            request = Some(Subject {
                x,
                through: self.optimizable(&layer).to_string(),
                layer: layer.clone(),
                channel: ch,
                pos: back.pos.filter(|&(y, x)| y < h && x < w),
                whole_map: back.whole_map,
            });
        }
        self.lanes.set_frame(request);
        let top = top_k(&probs, 5, &self.labels)
            .into_iter()
            .map(|p| ClassProb {
                index: p.index,
                label: p.label,
                prob: p.prob,
            })
            .collect();
        self.send(Event::Predictions(top));
        self.frames_done += 1;
        Ok(())
    }

    /// Offers the newest frame to the session top-k of the selected unit.
    fn offer_session(&mut self, layer: &str, channel: usize, score: f32, pos: (usize, usize)) {
        let same = self
            .session
            .as_ref()
            .is_some_and(|t| t.layer == layer && t.channel == channel);
        if !same {
            self.session = Some(SessionTop {
                layer: layer.to_string(),
                channel,
                items: Vec::new(),
            });
        }
        let region = self
            .info
            .field_bounds(layer, pos, self.info.input_size(), false);
        let (Some(crop), Some(top)) = (self.crop.as_ref(), self.session.as_mut()) else {
            return;
        };
        if top.offer(self.frame_id, score, || {
            deepvis_viz::field_crop(crop, region, SESSION_TILE)
        }) {
            // always 3 x 3, empty places dark, so the pane keeps its size as frames gather
            let mut tiles: Vec<RgbImage> = top.items.iter().map(|(_, _, t)| t.clone()).collect();
            tiles.resize(
                SESSION_K,
                RgbImage::from_pixel(SESSION_TILE, SESSION_TILE, image::Rgb([40, 40, 40])),
            );
            let ev = Event::SessionTop {
                layer: top.layer.clone(),
                channel: top.channel,
                montage: deepvis_viz::montage(&tiles, 3, 2, [0, 0, 0]),
                scores: top.items.iter().map(|(s, _, _)| *s).collect(),
            };
            self.send(ev);
        }
    }

    /// Sends what an attribution lane produced, drawing maps with the pane's filter and
    /// colour map.
    fn send_attr(&mut self, out: Out) {
        match out {
            Out::Map {
                compare,
                layer,
                channel,
                attribution: a,
                through,
                ms,
            } => {
                let back = cfg(self.state).back;
                let order = self.info.norm().order;
                let Some(image) = deepvis_viz::attribution_image(
                    &a.map,
                    a.channels,
                    a.height,
                    a.width,
                    order,
                    back.filter,
                    back.cmap,
                ) else {
                    self.send(Event::Error(Failure::new(
                        ErrorKind::Internal,
                        Doing::Attribution,
                        "the attribution map has the wrong size",
                    )));
                    return;
                };
                let through = through
                    .map(|t| format!(" (through {t})"))
                    .unwrap_or_default();
                // deconvolution can lose every signal at a rectifier: say so, not a blank
                let all_zero = a.map.iter().all(|v| *v == 0.0);
                let zero = match all_zero {
                    true => " (all zero: no signal reached the input)",
                    false => "",
                };
                let by = a
                    .cam_layer
                    .as_ref()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                let info = BackInfo {
                    layer,
                    channel,
                    pos: a.pos,
                    method: a.method,
                    mode: format!(
                        "{}{by}, {}{through}{zero}",
                        a.method.title(),
                        back.filter.as_str()
                    ),
                    passes: a.passes,
                    cam_layer: a.cam_layer.clone(),
                    all_zero,
                    value: a.value,
                    ms,
                };
                if compare {
                    self.send(Event::Compare { info, image });
                } else {
                    self.backs_done += 1;
                    self.send(Event::Back { info, image });
                }
            }
            Out::Progress {
                compare,
                method,
                done,
                total,
            } => self.send(Event::BackProgress {
                compare,
                method,
                done,
                total,
            }),
            Out::Sanity(r) => self.send(Event::Sanity(r)),
            Out::Error(e) => self.send(Event::Error(Failure::new(
                ErrorKind::Model,
                Doing::Attribution,
                e,
            ))),
        }
    }

    /// The layer a unit of `layer` is optimized on: the softmax's units through the class
    /// scores (the softmax's own gradient vanishes once one class dominates).
    fn optimizable<'l>(&'l self, layer: &'l str) -> &'l str {
        let softmax = self.info.layer(layer).is_ok_and(|l| l.kind == "Softmax");
        if softmax {
            self.info.logits_layer()
        } else {
            layer
        }
    }

    fn objective(&self, layer: &str, channel: usize, pre: bool) -> Result<Objective, String> {
        let layer = self.optimizable(layer);
        let c = cfg(self.state);
        let mut o = Objective::new(&self.info, layer, channel, None, false, 1.0)
            .map_err(|e| e.to_string())?;
        o.pre_relu = pre;
        o.sign = if c.optim.suppress { -1.0 } else { 1.0 };
        o.validate(&self.info).map_err(|e| e.to_string())?;
        Ok(o)
    }

    fn has_pre_relu(&self, layer: &str) -> bool {
        let layer = self.optimizable(layer);
        self.objective(layer, 0, true).is_ok()
    }

    /// The run's start image and where it came from (the frame only when there is one).
    fn init(&self) -> (Init, StartFrom) {
        let c = cfg(self.state);
        match (c.optim.start, &self.frame) {
            (StartFrom::Frame, Some(chw)) => (
                Init::Image {
                    chw: chw.clone(),
                    label: "the current frame".into(),
                },
                StartFrom::Frame,
            ),
            _ => (
                Init::Noise {
                    seed: c.optim.seed,
                    std: 10.0,
                },
                StartFrom::Noise,
            ),
        }
    }

    /// The direction of `layer`'s activation vector at `at` on the current frame.
    fn frame_direction(&self, layer: &str, at: (usize, usize)) -> Result<Term, String> {
        let chw = self
            .frame
            .clone()
            .ok_or("no frame yet to take a direction from")?;
        let s = self.info.input_size();
        let t =
            deepvis_model::tensor4(chw, [1, 3, s, s], &self.device).map_err(|e| e.to_string())?;
        Term::direction_in(&self.net, t, layer, Some(at)).map_err(|e| e.to_string())
    }

    /// The goal of the run(s): the unit's objective, or the direction at a clicked place, with
    /// the diversity term in the diversity view.
    fn goal(&self, objective: Objective) -> Result<Goal, String> {
        let c = cfg(self.state);
        let layer = objective.layer.clone();
        let mut goal: Goal = match c.optim.direction_at {
            Some(at) => Goal {
                terms: vec![(1.0, self.frame_direction(&self.grid_layer(), at)?)],
            },
            None => objective.into(),
        };
        if c.optim.view == OptimView::Diversity {
            goal = goal.with_diversity(c.optim.diversity_weight, &layer);
        }
        goal.validate(&self.info).map_err(|e| e.to_string())?;
        Ok(goal)
    }

    /// The runs of the view: (config, caption).
    fn configs(&self, goal: Goal, init: Init) -> Vec<(RunConfig, String)> {
        let c = cfg(self.state);
        let o = c.optim;
        let one = |params, method, images| RunConfig {
            objective: goal.clone(),
            params,
            init: init.clone(),
            method,
            images,
        };
        let endless = |mut p: deepvis_optim::Params| {
            if o.endless {
                p.max_iter = usize::MAX / 2;
            }
            p
        };
        match o.view {
            OptimView::Single => vec![(one(o.effective(), o.method, 1), String::new())],
            OptimView::Diversity => {
                let n = o.diversity.clamp(2, 8) as usize;
                vec![(one(o.effective(), o.method, n), String::new())]
            }
            OptimView::ComparePresets => (1..=4u8)
                .filter_map(|n| deepvis_optim::Params::preset(n).ok().map(|p| (n, p)))
                .map(|(n, p)| (one(endless(p), Method::PAPER, 1), format!("preset {n}")))
                .collect(),
            OptimView::CompareMethods => MethodKind::ALL
                .iter()
                .map(|&k| {
                    // the method being tuned keeps its knobs; the others their defaults
                    let (params, method) = if k == o.method.kind() {
                        (o.effective(), o.method)
                    } else {
                        (endless(Method::default_params(k)), k.method())
                    };
                    (one(params, method, 1), k.label().to_string())
                })
                .collect(),
        }
    }

    /// (Re)starts the preferred image of the selected unit.
    fn start_run(&mut self) -> Result<(), String> {
        if let Some(r) = self.run.take() {
            for id in r.ids {
                let _ = self.opt.remove_run(id);
            }
        }
        let c = cfg(self.state);
        let Some(channel) = c.selected else {
            return Ok(());
        };
        let layer = self.grid_layer();
        let (init, start) = self.init();
        let policy = Policy::new(Setup {
            pre_relu: c.optim.pre_relu,
            start,
            has_pre: self.has_pre_relu(&layer),
        });
        let objective = self.objective(&layer, channel, policy.pre_relu())?;
        let goal = self.goal(objective)?;
        let mut ids = Vec::new();
        let mut captions = Vec::new();
        let mut recipe = None;
        for (config, caption) in self.configs(goal, init) {
            if recipe.is_none() {
                recipe = Some(Recipe::new(&config));
            }
            match self.opt.add_run(config) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        let _ = self.opt.remove_run(id);
                    }
                    return Err(e.to_string());
                }
            }
            captions.push(caption);
        }
        let (Some(&id), Some(recipe)) = (ids.first(), recipe) else {
            return Ok(());
        };
        if captions.len() == 1 {
            captions.clear();
        }
        self.generation += 1;
        self.run = Some(Run {
            id,
            ids,
            captions,
            layer,
            channel,
            policy,
            last_sent: None,
            last_act: 0.0,
            points: Vec::new(),
            recipe,
        });
        Ok(())
    }

    /// Notes a change to the run (at its iteration count now) for an export.
    fn record(&mut self, change: Change) {
        if let Some(run) = self.run.as_mut()
            && let Ok(st) = self.opt.status(run.id)
        {
            run.recipe.record(st.iterations, change);
        }
    }

    /// Saves the preferred image as the window shows it, with its sidecar.
    fn export(&mut self, png: &std::path::Path) -> Result<std::path::PathBuf, String> {
        let run = self
            .run
            .as_ref()
            .ok_or("select a unit first: no preferred image yet")?;
        let c = cfg(self.state);
        let record = RunRecord::of(&self.opt, run.id, run.channel, None, run.recipe.clone())
            .map_err(|e| e.to_string())?;
        let mut sidecar = Sidecar {
            app: format!("deepvis {}", env!("CARGO_PKG_VERSION")),
            model: self.info.name().to_string(),
            model_file: c.model.file.clone(),
            backend: self.backend.clone(),
            image: Which::Current,
            scale: 1,
            runs: vec![record],
            window: Some(WindowSettings {
                layer: run.layer.clone(),
                unit: run.channel,
                optim: c.optim,
            }),
        };
        let img = crate::export::picture(&self.opt, &[run.id], Which::Current, 1)?;
        crate::export::write(png, &img, &mut sidecar)
    }

    fn send_preferred(&mut self) -> Result<(), String> {
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let s = self.info.input_size();
        let order = self.info.norm().order;
        let tint = cfg(self.state).optim.show_clipped;
        let mut tiles = Vec::new();
        for &id in &run.ids {
            let mask = if tint {
                self.opt.clip_mask(id).map_err(|e| e.to_string())?
            } else {
                None
            };
            for (i, chw) in self
                .opt
                .current_images(id)
                .map_err(|e| e.to_string())?
                .iter()
                .enumerate()
            {
                let mut tile =
                    deepvis_viz::scaled_about_zero(chw, s, s, order).ok_or("bad image size")?;
                if let (0, Some(mask)) = (i, &mask) {
                    tint_clipped(&mut tile, mask);
                }
                tiles.push(tile);
            }
        }
        let image = match tiles.len() {
            1 => tiles.swap_remove(0),
            4 => deepvis_viz::montage(&tiles, 2, 2, [0, 0, 0]),
            _ => deepvis_viz::montage(&tiles, 4, 2, [0, 0, 0]),
        };
        let st = self.opt.status(run.id).map_err(|e| e.to_string())?.clone();
        run.last_sent = Some(Instant::now());
        let points = std::mem::take(&mut run.points);
        let verdict = self.judge_due(false)?;
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let ev = Event::Preferred {
            layer: run.layer.clone(),
            channel: run.channel,
            image,
            captions: run.captions.clone(),
            iteration: st.iterations,
            objective: st.last_obj.unwrap_or(0.0),
            activation: run.last_act,
            mode: run.policy.mode(),
        };
        let judged = verdict.map(|verdicts| Event::Judged {
            layer: run.layer.clone(),
            channel: run.channel,
            verdicts,
        });
        self.send(ev);
        if let Some(j) = judged {
            self.send(j);
        }
        if !points.is_empty() {
            self.send(Event::Telemetry {
                run: self.generation,
                points,
            });
        }
        Ok(())
    }

    /// The judge's verdicts on the runs' current images (every image, in the tiles' order),
    /// when a judge is loaded and its last verdict is older than [`JUDGE_EVERY`] (or `now`).
    fn judge_due(&mut self, now: bool) -> Result<Option<Vec<deepvis_protocol::Verdict>>, String> {
        let (Some((net, last)), Some(run)) = (self.judge.as_ref(), self.run.as_ref()) else {
            return Ok(None);
        };
        if !now && last.is_some_and(|t| t.elapsed() < JUDGE_EVERY) {
            return Ok(None);
        }
        let layer = self.optimizable(&run.layer).to_string();
        let class = crate::judge::target_class(&self.info, &layer, run.channel);
        let mut verdicts = Vec::with_capacity(run.ids.len());
        for &id in &run.ids {
            for chw in self.opt.current_images(id).map_err(|e| e.to_string())? {
                verdicts.push(crate::judge::judge(
                    net,
                    &self.device,
                    &chw,
                    &self.info,
                    class,
                    &self.labels,
                )?);
            }
        }
        if let Some((_, last)) = self.judge.as_mut() {
            *last = Some(Instant::now());
        }
        Ok(Some(verdicts))
    }

    /// Steps the optimizer for about `budget`, doing what the run's policy decides (the
    /// automatic pre-ReLU switch and back, the fallback to the frame, the stop report).
    fn step_optimizer(&mut self, budget: Duration) -> Result<bool, String> {
        let c = cfg(self.state);
        if !c.running {
            return Ok(false);
        }
        let Some(id) = self.run.as_ref().map(|r| r.id) else {
            return Ok(false);
        };
        let t0 = Instant::now();
        let mut did = false;
        while t0.elapsed() < budget {
            let st = self.opt.status(id).map_err(|e| e.to_string())?.clone();
            if st.stop.is_some() {
                break;
            }
            let tel = self.opt.step(1).map_err(|e| e.to_string())?;
            did = true;
            self.iters_done += tel.len() as u32;
            let Some(t) = tel.last().copied() else { break };
            let Some(run) = self.run.as_mut() else { break };
            run.points
                .extend(tel.iter().filter(|p| p.run == id).copied());
            run.last_act = t.act;
            let action = run.policy.stepped(t.act);
            self.act_on(action)?;
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(did);
        };
        let st = self.opt.status(run.id).map_err(|e| e.to_string())?.clone();
        let action = run.policy.status(st.stop, self.frame.is_some());
        let due = run.last_sent.is_none_or(|t| t.elapsed() >= PREFERRED_EVERY);
        match action {
            Action::Objective(_) | Action::StartFromFrame => {
                self.act_on(action)?;
                return Ok(true);
            }
            Action::Report(reason) => {
                if let Some((_, last)) = self.judge.as_mut() {
                    // the finished picture is judged
                    *last = None;
                }
                self.send_preferred()?;
                self.send(Event::Stopped {
                    reason,
                    iterations: st.iterations,
                });
            }
            Action::Continue if did && due => self.send_preferred()?,
            Action::Continue => {}
        }
        Ok(did)
    }

    /// Carries out a policy's decision on the current run.
    fn act_on(&mut self, action: Action) -> Result<(), String> {
        let Some(run) = self.run.as_ref() else {
            return Ok(());
        };
        let (ids, layer, channel) = (run.ids.clone(), run.layer.clone(), run.channel);
        match action {
            Action::Objective(pre) => {
                let o = self.objective(&layer, channel, pre)?;
                let goal = self.goal(o)?;
                self.record(Change::Objective(goal.clone()));
                for &id in &ids {
                    self.opt
                        .set_objective(id, goal.clone())
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Action::StartFromFrame => {
                let init = Init::Image {
                    chw: self.frame.clone().unwrap_or_default(),
                    label: "the current frame".into(),
                };
                self.record(Change::Init(init.clone()));
                for &id in &ids {
                    self.opt
                        .set_init(id, init.clone())
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Action::Continue | Action::Report(_) => Ok(()),
        }
    }

    fn handle(&mut self, c: Command, source: &mut Option<SourceThread>, slot: &FrameSlot) -> bool {
        match c {
            Command::Shutdown => return false,
            Command::OpenModel(path) => match cfg(self.state).opener {
                None => self.send(Event::Error(Failure::new(
                    ErrorKind::Input,
                    Doing::OpenModel {
                        path,
                        keeping: self.info.name().to_string(),
                    },
                    "this program cannot open model files",
                ))),
                Some(opener) => match opener.open(&path) {
                    Ok(loader) => {
                        self.send(Event::Preparing(Preparing::Loading {
                            model: loader.name.clone(),
                        }));
                        update(self.state, |s| {
                            s.model = loader;
                            s.grid_layer = None;
                            s.selected = None;
                        });
                        self.reload = true;
                    }
                    Err(e) => self.send(Event::Error(Failure::new(
                        ErrorKind::Input,
                        Doing::OpenModel {
                            path,
                            keeping: self.info.name().to_string(),
                        },
                        e,
                    ))),
                },
            },
            Command::SetSource(spec) => {
                update(self.state, |s| s.source = spec.clone());
                if let Some(old) = source.take() {
                    for st in old.stop() {
                        self.send(source_event(st));
                    }
                }
                self.send(Event::Playback(None));
                let s = SourceThread::spawn(spec, slot.clone(), self.wake.clone());
                s.command(SourceCommand::Pause(cfg(self.state).frozen));
                *source = Some(s);
            }
            Command::Export(png) => match self.export(&png) {
                Ok(json) => self.send(Event::Exported { png, json }),
                Err(e) => self.send(Event::Error(Failure::new(
                    ErrorKind::File,
                    Doing::Export,
                    e,
                ))),
            },
            Command::Player(c) => {
                if let Some(s) = source.as_ref() {
                    s.command(SourceCommand::Player(c));
                    self.take_one = true;
                }
            }
            Command::Record {
                what: RecordTarget::Source,
                path,
            } => match source.as_ref() {
                Some(s) => s.command(SourceCommand::Record(path)),
                None => self.send(Event::Error(Failure::new(
                    ErrorKind::Input,
                    Doing::Record,
                    "no source to record",
                ))),
            },
            Command::Record {
                what: RecordTarget::Window,
                path,
            } => {
                let stopped = self.tape.borrow_mut().stop();
                if let Some(status) = stopped {
                    self.send(Event::Recording {
                        what: RecordTarget::Window,
                        status,
                    });
                }
                if let Some(p) = path {
                    self.tape.borrow_mut().start(&p);
                }
            }
            Command::SelectLayer(name) => match self.info.layer(&name) {
                Ok(info) => {
                    update(self.state, |s| {
                        s.grid_layer = Some(info.name.to_string());
                        s.selected = s.selected.filter(|&c| c < info.channels);
                    });
                    self.dirty = true;
                    self.schedule.force();
                    self.reset_lanes(true);
                    self.restart_run();
                }
                Err(e) => self.send(Event::Error(Failure::new(
                    ErrorKind::Input,
                    Doing::Select,
                    e,
                ))),
            },
            Command::SelectUnit(ch) => {
                let layer = self.grid_layer();
                match self.info.layer(&layer).map(|l| l.check_unit(ch, None)) {
                    Ok(Ok(())) => {
                        update(self.state, |s| s.selected = Some(ch));
                        self.dirty = true;
                        self.schedule.force();
                        self.reset_lanes(true);
                        self.restart_run();
                    }
                    Ok(Err(e)) | Err(e) => self.send(Event::Error(Failure::new(
                        ErrorKind::Input,
                        Doing::Select,
                        e,
                    ))),
                }
            }
            Command::Freeze(f) => {
                update(self.state, |s| s.frozen = f);
                // a clip pauses where it is (a camera goes on; its frames are not taken)
                if let Some(s) = source.as_ref() {
                    s.command(SourceCommand::Pause(f));
                }
            }
            Command::SetOptim(o) => {
                if let Err(e) = o.effective().validate() {
                    self.send(Event::Error(Failure::new(
                        ErrorKind::Input,
                        Doing::Setting,
                        e,
                    )));
                    return true;
                }
                if let Err(e) = o.method.validate() {
                    self.send(Event::Error(Failure::new(
                        ErrorKind::Input,
                        Doing::Setting,
                        e,
                    )));
                    return true;
                }
                let old = cfg(self.state).optim;
                update(self.state, |s| s.optim = o);
                let restart = old.suppress != o.suppress
                    || old.pre_relu != o.pre_relu
                    || old.start != o.start
                    || old.view != o.view
                    || old.direction_at != o.direction_at
                    || (o.view == OptimView::Diversity
                        && (old.diversity != o.diversity
                            || old.diversity_weight != o.diversity_weight))
                    || (o.view != OptimView::Single && old.method.kind() != o.method.kind());
                if restart {
                    self.restart_run();
                } else if let Some(run) = self.run.as_mut() {
                    // the run of the method being tuned (the only one outside the comparisons)
                    let id = match o.view {
                        OptimView::CompareMethods => MethodKind::ALL
                            .iter()
                            .position(|&k| k == o.method.kind())
                            .and_then(|i| run.ids.get(i).copied())
                            .unwrap_or(run.id),
                        _ => run.id,
                    };
                    let tuned = o.view != OptimView::ComparePresets;
                    if tuned && old.method != o.method {
                        match self.opt.set_method(id, o.method) {
                            Ok(()) => self.record(Change::Method(o.method)),
                            Err(e) => self.send(Event::Error(Failure::new(
                                ErrorKind::Input,
                                Doing::Setting,
                                e,
                            ))),
                        }
                    }
                    if tuned {
                        match self.opt.set_params(id, o.effective()) {
                            Ok(()) => self.record(Change::Params(o.effective())),
                            Err(e) => self.send(Event::Error(Failure::new(
                                ErrorKind::Input,
                                Doing::Setting,
                                e,
                            ))),
                        }
                    }
                    if let Some(run) = self.run.as_mut() {
                        run.policy.resumed();
                        for &id in &run.ids {
                            let _ = self.opt.resume(id);
                        }
                    }
                    self.record(Change::Resume);
                }
            }
            Command::SetRunning(r) => update(self.state, |s| s.running = r),
            Command::ResetOptim => self.restart_run(),
            Command::SetBack(b) => {
                if let Err(e) = b.options.check() {
                    self.send(Event::Error(Failure::new(
                        ErrorKind::Input,
                        Doing::Setting,
                        e,
                    )));
                    return true;
                }
                let old = cfg(self.state).back;
                let unit_changed = old.pos != b.pos || old.whole_map != b.whole_map;
                update(self.state, |s| s.back = b);
                self.reset_lanes(unit_changed);
                self.dirty = true;
                self.schedule.force();
            }
            Command::SetCompare(on) => {
                self.lanes.set_compare(on);
                self.schedule.force();
            }
            Command::Sanity(true) => {
                if let Some(out) = self.lanes.start_sanity(self.back.net()) {
                    self.send_attr(out);
                }
                self.schedule.force();
            }
            Command::Sanity(false) => self.lanes.cancel_sanity(),
            Command::StepFile(d) => {
                if let Some(s) = source.as_ref() {
                    s.command(SourceCommand::Step(d));
                }
            }
            Command::InjectPanic => panic!("panic injected by the user"),
            Command::RestartWorker => {}
        }
        true
    }

    /// The attribution lanes start over with the current settings.
    fn reset_lanes(&mut self, unit_changed: bool) {
        let back = cfg(self.state).back;
        self.lanes.reset(back.mode, back.options, unit_changed);
    }

    fn restart_run(&mut self) {
        if let Err(e) = self.start_run() {
            self.send(Event::Error(Failure::new(
                ErrorKind::Model,
                Doing::Optimize,
                e,
            )));
        }
    }
}

/// Tints in red the pixels a clipping zeroed (`mask`, row-major over the tile).
fn tint_clipped(tile: &mut RgbImage, mask: &[bool]) {
    for (p, &m) in tile.pixels_mut().zip(mask) {
        if m {
            p.0 = [p.0[0] / 2 + 128, p.0[1] / 2, p.0[2] / 2];
        }
    }
}

/// One forward pass to the class probabilities (compiles the kernels on a GPU).
fn warm_up(net: &Net, device: &Device) -> Result<(), String> {
    let s = net.info().input_size();
    let warm = Tensor::<4>::zeros([1, 3, s, s], device);
    net.logits(warm)
        .and_then(to_vec)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The worker's body; returns when asked to stop, or with a fatal error.
pub(crate) fn run(
    state: &Mutex<EngineConfig>,
    commands: &Receiver<Command>,
    events: &Outbox,
    wake: &Wake,
) -> Exit {
    let c = cfg(state);
    let send = |e: Event| {
        let _ = events.send(e);
        wake();
    };
    send(Event::Preparing(Preparing::Loading {
        model: c.model.name.clone(),
    }));
    let selected = match deepvis_model::device::select(c.backend) {
        Ok(d) => d,
        Err(e) => return Exit::Fatal(Failure::new(ErrorKind::Device, Doing::ChooseDevice, e)),
    };
    // On a GPU, the CPU serves frames while the GPU loads and compiles its kernels.
    let mut pending = None;
    let selected = if selected.kind == deepvis_model::BackendKind::Wgpu {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Net, String>>(1);
        let (model, gpu) = (c.model.clone(), selected.clone());
        let wake2 = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("deepvis-gpu-warmup".into())
            .spawn(move || {
                let r = model
                    .load(&gpu.device)
                    .and_then(|n| warm_up(&n, &gpu.device).map(|_| n));
                let _ = tx.send(r);
                wake2();
            });
        if spawned.is_ok() {
            pending = Some((rx, selected));
            deepvis_model::device::cpu()
        } else {
            selected
        }
    } else {
        selected
    };
    let net = match c.model.load(&selected.device) {
        Ok(n) => n,
        Err(e) => return Exit::Fatal(Failure::new(ErrorKind::Model, Doing::LoadModel, e)),
    };
    send(Event::Preparing(Preparing::WarmingUp {
        backend: selected.description.clone(),
    }));
    if let Err(e) = warm_up(&net, &selected.device) {
        return Exit::Fatal(Failure::new(ErrorKind::Model, Doing::WarmUp, e));
    }
    let judge = match &c.judge {
        Some(loader) => match loader.load(&selected.device) {
            Ok(j) => Some((j, None)),
            Err(e) => {
                send(Event::Error(Failure::new(
                    ErrorKind::Model,
                    Doing::LoadJudge {
                        judge: loader.name.clone(),
                    },
                    e,
                )));
                None
            }
        },
        None => None,
    };
    let opt = Optimizer::new(net.clone(), &selected.device);
    let back = BackProjector::new(net.clone(), &selected.device);
    let info = net.info().clone();
    let layers: Vec<LayerSummary> = info
        .layers()
        .iter()
        .map(|l| LayerSummary {
            name: l.name.clone(),
            channels: l.channels,
            height: l.height,
            width: l.width,
            relu: l.relu,
        })
        .collect();
    let grid_layer = c
        .grid_layer
        .clone()
        .filter(|l| info.layer(l).is_ok())
        .unwrap_or_else(|| info.default_grid_layer().to_string());
    let backend = match &pending {
        Some((_, gpu)) => format!(
            "{} while {} warms up",
            selected.description, gpu.description
        ),
        None => selected.description.clone(),
    };
    send(Event::Ready {
        model: info.name().to_string(),
        backend,
        layers: layers.clone(),
        grid_layer: grid_layer.clone(),
    });
    send(Event::Cameras(
        deepvis_sources::list_cameras().unwrap_or_default(),
    ));
    let mut w = Worker {
        state,
        events,
        wake,
        info: info.clone(),
        net,
        device: selected.device.clone(),
        labels: Labels::imagenet(),
        opt,
        back,
        run: None,
        generation: 0,
        frame: None,
        crop: None,
        frame_id: 0,
        session: None,
        lanes: {
            let back = cfg(state).back;
            Lanes::new(back.mode, back.options)
        },
        schedule: Scheduler::new(Instant::now()),
        dirty: false,
        frames_done: 0,
        iters_done: 0,
        backs_done: 0,
        stats_at: Instant::now(),
        reload: false,
        take_one: false,
        backend: selected.description.clone(),
        tape: Default::default(),
        judge,
    };
    let slot = FrameSlot::new();
    let mut source = Some(SourceThread::spawn(
        c.source.clone(),
        slot.clone(),
        wake.clone(),
    ));
    w.restart_run();
    loop {
        if let Some((rx, gpu)) = &pending {
            let got = match rx.try_recv() {
                Ok(r) => Ok(Some(r)),
                Err(crossbeam_channel::TryRecvError::Empty) => Ok(None),
                Err(crossbeam_channel::TryRecvError::Disconnected) => Err(()),
            };
            match Handover::from_channel(got) {
                Handover::Waiting => {}
                Handover::Switch(net) => {
                    w.opt = Optimizer::new(net.clone(), &gpu.device);
                    w.back = BackProjector::new(net.clone(), &gpu.device);
                    w.lanes.drop_jobs();
                    w.net = net;
                    w.device = gpu.device.clone();
                    w.backend = gpu.description.clone();
                    w.run = None;
                    w.restart_run();
                    w.dirty = true;
                    w.send(Event::Ready {
                        model: info.name().to_string(),
                        backend: gpu.description.clone(),
                        layers: layers.clone(),
                        grid_layer: grid_layer.clone(),
                    });
                    pending = None;
                }
                Handover::Stay(why) => {
                    w.send(Event::Error(Failure::new(
                        ErrorKind::Device,
                        Doing::MoveToGpu,
                        why,
                    )));
                    pending = None;
                }
            }
        }
        for cmd in commands.try_iter() {
            if !w.handle(cmd, &mut source, &slot) {
                return Exit::Shutdown;
            }
            if w.reload {
                return Exit::Reload;
            }
        }
        if let Some(src) = source.as_ref() {
            for st in src.statuses() {
                w.send(source_event(st));
            }
        }
        let t0 = Instant::now();
        let mut busy = false;
        if (!cfg(state).frozen || w.take_one)
            && let Some(f) = slot.take()
        {
            w.take_one = false;
            let p = w.info.input.apply(&image::DynamicImage::ImageRgb8(f.image));
            w.frame = Some(p.chw);
            w.frame_id += 1;
            w.crop = Some(p.crop.clone());
            w.send(Event::Input(p.crop));
            w.dirty = true;
            if w.run.is_none() && cfg(state).selected.is_some() {
                w.restart_run();
            }
        }
        if w.dirty {
            w.dirty = false;
            busy = true;
            if let Err(e) = w.process_frame() {
                w.send(Event::Error(Failure::new(
                    ErrorKind::Model,
                    Doing::Frame,
                    e,
                )));
            }
        }
        // the optimizer's share is of the grid's time; the back-projection has its own spacing
        let frame_time = t0.elapsed();
        if w.schedule.attribution_due(w.lanes.busy(), Instant::now()) {
            busy = true;
            let started = Instant::now();
            let outs = w.lanes.step(w.back.net());
            for out in outs {
                w.send_attr(out);
            }
            // a forced turn is the pane's: the compare view and the sanity check wait theirs
            let main_due = w.lanes.main_due();
            w.schedule
                .attribution_done(started, Instant::now(), main_due);
        }
        let budget =
            Scheduler::optimizer_budget(cfg(state).optim_share, busy.then_some(frame_time));
        match w.step_optimizer(budget) {
            Ok(did) => busy |= did,
            Err(e) => {
                w.send(Event::Error(Failure::new(
                    ErrorKind::Model,
                    Doing::Optimize,
                    e,
                )));
                if let Some(r) = w.run.take() {
                    let _ = w.opt.remove_run(r.id);
                }
            }
        }
        if w.stats_at.elapsed() >= Duration::from_secs(1) {
            let secs = w.stats_at.elapsed().as_secs_f32();
            let ev = Event::Stats {
                grid_fps: w.frames_done as f32 / secs,
                optim_ips: w.iters_done as f32 / secs,
                back_fps: w.backs_done as f32 / secs,
            };
            w.send(ev);
            w.frames_done = 0;
            w.iters_done = 0;
            w.backs_done = 0;
            w.stats_at = Instant::now();
        }
        if !busy {
            match commands.recv_timeout(Duration::from_millis(10)) {
                Ok(cmd) => {
                    if !w.handle(cmd, &mut source, &slot) {
                        return Exit::Shutdown;
                    }
                    if w.reload {
                        return Exit::Reload;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Exit::Shutdown,
            }
        }
    }
}

/// What the window hears of the source thread's report.
fn source_event(st: SourceStatus) -> Event {
    match st {
        SourceStatus::Running { label } => Event::Source {
            label,
            state: SourceState::Running,
        },
        SourceStatus::Failed { label, error } => Event::Source {
            label,
            state: SourceState::Failed {
                error,
                retry_secs: deepvis_sources::RETRY_EVERY.as_secs() as u32,
            },
        },
        SourceStatus::Notice { label, message } => Event::Source {
            label,
            state: SourceState::Notice(message),
        },
        SourceStatus::Playback(p) => Event::Playback(p),
        SourceStatus::Recording(status) => Event::Recording {
            what: deepvis_protocol::RecordTarget::Source,
            status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top() -> SessionTop {
        SessionTop {
            layer: "fire9".into(),
            channel: 3,
            items: Vec::new(),
        }
    }

    fn tile() -> RgbImage {
        RgbImage::new(2, 2)
    }

    #[test]
    fn the_session_top_keeps_different_frames_with_equal_scores_and_a_frame_once() {
        let mut t = top();
        // a silent unit: every frame scores 0, and each is a different frame
        for frame in 1..=4 {
            assert!(t.offer(frame, 0.0, tile), "frame {frame}");
        }
        // the same frame processed again (a still photo, a new selection) is not kept twice
        assert!(!t.offer(4, 0.0, tile));
        assert!(!t.offer(2, 5.0, tile));
        assert!(t.offer(5, 2.0, tile));
        assert!(!t.offer(6, f32::NAN, tile));
        let frames: Vec<u64> = t.items.iter().map(|(_, f, _)| *f).collect();
        assert_eq!(frames, [5, 1, 2, 3, 4]);
        // only the best nine stay
        for frame in 10..20 {
            t.offer(frame, frame as f32, tile);
        }
        assert_eq!(t.items.len(), SESSION_K);
        assert_eq!(t.items[0].1, 19);
        assert!(!t.offer(30, -1.0, tile));
    }
}
