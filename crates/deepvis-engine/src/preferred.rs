//! The preferred-image stage: owns the optimizer and its settings, the runs of the selected unit
//! with their policy, the judge, and the export of the picture with its sidecar.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burn::prelude::Device;
use deepvis_model::{Labels, Net};
use deepvis_optim::recipe::{ModelFile, RunRecord, Which, WindowSettings};
use deepvis_optim::{Change, Optimizer, ParamKind, Recipe, Sidecar};
use deepvis_protocol::{Command, Doing, Event, OptimSettings, Telemetry, Verdict};
use image::RgbImage;

use crate::device::Model;
use crate::error::{EngineError, Result};
use crate::policy::{Action, Policy, Retune, Setup, retune};
use crate::runs::{self, Scene};
use crate::stage::{Cx, Ripple, Took};

/// How often the preferred image is sent while it forms.
const PREFERRED_EVERY: Duration = Duration::from_millis(100);
/// How often the judge classifies the preferred image while it forms.
const JUDGE_EVERY: Duration = Duration::from_secs(2);

/// The runs of the selected unit.
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

/// The second network that judges the preferred image, where it runs, and when it last did.
struct Judge {
    net: Net,
    device: Device,
    last: Option<Instant>,
}

/// The preferred-image stage.
pub(crate) struct PreferredStage {
    opt: Optimizer,
    settings: OptimSettings,
    running: bool,
    run: Option<Run>,
    /// Counts (re)starts of the preferred image, so the window knows when a plot starts over.
    generation: u64,
    judge: Option<Judge>,
    labels: Labels,
    /// Iterations done since the statistics last took them.
    iterations: u32,
    /// The model's file, named in the sidecars of exports.
    model_file: Option<ModelFile>,
}

impl PreferredStage {
    /// A stage on `model` with these settings; `judge` (loaded on `judge_device`) judges its
    /// pictures.
    pub fn new(
        model: &Model,
        settings: OptimSettings,
        running: bool,
        judge: Option<(Net, Device)>,
        model_file: Option<ModelFile>,
    ) -> PreferredStage {
        PreferredStage {
            opt: deepvis_optim::Optimizer::new(model.net.clone(), &model.device),
            settings,
            running,
            run: None,
            generation: 0,
            judge: judge.map(|(net, device)| Judge {
                net,
                device,
                last: None,
            }),
            labels: Labels::imagenet(),
            iterations: 0,
            model_file,
        }
    }

    /// Carries out a command for the preferred image of the unit in `scene` (the optimizer's
    /// settings, its runs, the export; any other is passed on).
    pub fn command(&mut self, c: Command, scene: &Scene, cx: &mut Cx) -> Took {
        match c {
            Command::SetOptim(o) => match self.set(o, scene) {
                Ok(events) => {
                    cx.keep.update(|s| s.optim = o);
                    cx.out.send_all(events);
                }
                Err(e) => cx.out.fail(Doing::Setting, &e),
            },
            Command::SetRunning(r) => {
                cx.keep.update(|s| s.running = r);
                self.set_running(r);
            }
            Command::ResetOptim => {
                return Took::Done(Ripple {
                    restart_preferred: true,
                    ..Ripple::NONE
                });
            }
            Command::Export(png) => match self.export(&png, cx.model) {
                Ok(json) => cx.out.send(Event::Exported { png, json }),
                Err(e) => cx.out.fail(Doing::Export, &e),
            },
            other => return Took::Passed(other),
        }
        Took::Done(Ripple::NONE)
    }

    /// The optimizer's settings (the thumbnails use its method too).
    pub fn settings(&self) -> &OptimSettings {
        &self.settings
    }

    /// Whether a run is under way and stepping (not paused, not stopped).
    pub fn stepping(&self) -> bool {
        self.running
            && self
                .run
                .as_ref()
                .is_some_and(|r| self.opt.status(r.id).is_ok_and(|s| s.stop.is_none()))
    }

    /// Whether a run is under way.
    pub fn has_run(&self) -> bool {
        self.run.is_some()
    }

    /// Iterations done since the last call.
    pub fn take_iterations(&mut self) -> u32 {
        std::mem::take(&mut self.iterations)
    }

    /// The network moved to another device: the optimizer follows it, the runs are gone.
    pub fn moved(&mut self, model: &Model) {
        self.opt = Optimizer::new(model.net.clone(), &model.device);
        self.run = None;
    }

    /// Runs (true) or pauses (false) the optimization.
    pub fn set_running(&mut self, running: bool) {
        self.running = running;
    }

    /// Drops the runs under way.
    pub fn drop_runs(&mut self) {
        if let Some(r) = self.run.take() {
            for id in r.ids {
                let _ = self.opt.remove_run(id);
            }
        }
    }

    /// (Re)starts the preferred image of the selected unit (nothing runs when none is).
    pub fn start(&mut self, scene: &Scene) -> Result<()> {
        self.drop_runs();
        let Some(channel) = scene.unit else {
            return Ok(());
        };
        let o = self.settings;
        let (init, start) = runs::init(&o, scene.frame);
        let policy = Policy::new(Setup {
            pre_relu: o.pre_relu,
            start,
            has_pre: runs::has_pre_relu(scene.model, scene.layer),
        });
        let objective = runs::objective(scene.model, &o, scene.layer, channel, policy.pre_relu())?;
        let goal = runs::goal(&o, scene, objective)?;
        let configs = runs::configs(&o, &goal, &init);
        let Some(recipe) = configs.first().map(|(c, _)| Recipe::new(c)) else {
            return Ok(());
        };
        let (mut ids, mut captions) = (Vec::new(), Vec::new());
        for (config, caption) in configs {
            match self.opt.add_run(config) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        let _ = self.opt.remove_run(id);
                    }
                    return Err(e.into());
                }
            }
            captions.push(caption);
        }
        let Some(&id) = ids.first() else {
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
            layer: scene.layer.to_string(),
            channel,
            policy,
            last_sent: None,
            last_act: 0.0,
            points: Vec::new(),
            recipe,
        });
        Ok(())
    }

    /// New settings: refused when out of range (the old ones stay); else the runs start over
    /// or go on with them, as [`retune`] says. What went wrong after they were taken comes
    /// back as error events.
    pub fn set(&mut self, o: OptimSettings, scene: &Scene) -> Result<Vec<Event>> {
        o.effective().validate().map_err(EngineError::Setting)?;
        o.method.validate().map_err(EngineError::Setting)?;
        let old = std::mem::replace(&mut self.settings, o);
        let mut events = Vec::new();
        match retune(&old, &o) {
            Retune::Restart => {
                if let Err(e) = self.start(scene) {
                    events.push(e.event(Doing::Optimize));
                }
            }
            Retune::Keep { tune, method } => self.retune(tune, method, &mut events),
        }
        Ok(events)
    }

    /// Gives the run shown at `tune` the new parameters (and method), and resumes the runs.
    fn retune(&mut self, tune: Option<usize>, method: bool, events: &mut Vec<Event>) {
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let o = self.settings;
        if let Some(i) = tune {
            let id = run.ids.get(i).copied().unwrap_or(run.id);
            if method {
                match self.opt.set_method(id, o.method) {
                    Ok(()) => self.record(Change::Method(o.method)),
                    Err(e) => events.push(EngineError::from(e).event(Doing::Setting)),
                }
            }
            match self.opt.set_params(id, o.effective()) {
                Ok(()) => self.record(Change::Params(o.effective())),
                Err(e) => events.push(EngineError::from(e).event(Doing::Setting)),
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

    /// Notes a change to the run (at its iteration count now) for an export.
    fn record(&mut self, change: Change) {
        if let Some(run) = self.run.as_mut()
            && let Ok(st) = self.opt.status(run.id)
        {
            run.recipe.record(st.iterations, change);
        }
    }

    /// Saves the preferred image as the window shows it, with its sidecar; the sidecar's path.
    pub fn export(&self, png: &Path, model: &Model) -> Result<PathBuf> {
        let run = self.run.as_ref().ok_or(EngineError::NoPicture)?;
        let record = RunRecord::of(&self.opt, run.id, run.channel, None, run.recipe.clone())?;
        let mut sidecar = Sidecar {
            app: format!("deepvis {}", env!("CARGO_PKG_VERSION")),
            model: model.info.name().to_string(),
            model_file: self.model_file.clone(),
            backend: model.backend.clone(),
            image: Which::Current,
            scale: 1,
            runs: vec![record],
            window: Some(WindowSettings {
                layer: run.layer.clone(),
                unit: run.channel,
                optim: self.settings,
            }),
        };
        let img = crate::export::picture(&self.opt, &[run.id], Which::Current, 1)?;
        let json = crate::export::write(png, &img, &mut sidecar)?;
        crate::export::write_transparency(png, &self.opt, &[run.id], Which::Current, 1)?;
        Ok(json)
    }

    /// Steps the optimizer for about `budget`, doing what the run's policy decides (the
    /// automatic pre-ReLU switch and back, the fallback to the frame, the stop report); the
    /// picture, the verdicts, the plot's points and the stop go to `events`. Whether it did
    /// anything.
    pub fn step(
        &mut self,
        budget: Duration,
        scene: &Scene,
        events: &mut Vec<Event>,
    ) -> Result<bool> {
        if !self.running {
            return Ok(false);
        }
        let Some(id) = self.run.as_ref().map(|r| r.id) else {
            return Ok(false);
        };
        let t0 = Instant::now();
        let mut did = false;
        while t0.elapsed() < budget {
            if self.opt.status(id)?.stop.is_some() {
                break;
            }
            let tel = self.opt.step(1)?;
            did = true;
            self.iterations += tel.len() as u32;
            let Some(t) = tel.last().copied() else { break };
            let Some(run) = self.run.as_mut() else { break };
            run.points
                .extend(tel.iter().filter(|p| p.run == id).copied());
            run.last_act = t.act;
            let action = run.policy.stepped(t.act);
            self.act_on(action, scene)?;
        }
        self.after_steps(did, scene, events)
    }

    /// What the run's policy decides once the steps are done: switch or fall back (and go on
    /// at once), report the stop, or send the picture when it is due.
    fn after_steps(&mut self, did: bool, scene: &Scene, events: &mut Vec<Event>) -> Result<bool> {
        let Some(run) = self.run.as_mut() else {
            return Ok(did);
        };
        let st = self.opt.status(run.id)?.clone();
        let action = run.policy.status(st.stop, scene.frame.is_some());
        let due = run.last_sent.is_none_or(|t| t.elapsed() >= PREFERRED_EVERY);
        match action {
            Action::Objective(_) | Action::StartFromFrame => {
                self.act_on(action, scene)?;
                return Ok(true);
            }
            Action::Report(reason) => {
                if let Some(judge) = self.judge.as_mut() {
                    // the finished picture is judged
                    judge.last = None;
                }
                self.send_preferred(scene.model, events)?;
                events.push(Event::Stopped {
                    reason,
                    iterations: st.iterations,
                });
            }
            Action::Continue if did && due => self.send_preferred(scene.model, events)?,
            Action::Continue => {}
        }
        Ok(did)
    }

    /// Carries out a policy's decision on the current run.
    fn act_on(&mut self, action: Action, scene: &Scene) -> Result<()> {
        let Some(run) = self.run.as_ref() else {
            return Ok(());
        };
        let (ids, layer, channel) = (run.ids.clone(), run.layer.clone(), run.channel);
        match action {
            Action::Objective(pre) => {
                let o = runs::objective(scene.model, &self.settings, &layer, channel, pre)?;
                let goal = runs::goal(&self.settings, scene, o)?;
                self.record(Change::Objective(goal.clone()));
                for &id in &ids {
                    self.opt.set_objective(id, goal.clone())?;
                }
            }
            Action::StartFromFrame => {
                let init = runs::frame_init(scene.frame.unwrap_or_default());
                self.record(Change::Init(init.clone()));
                for &id in &ids {
                    self.opt.set_init(id, init.clone())?;
                }
            }
            Action::Continue | Action::Report(_) => {}
        }
        Ok(())
    }

    /// The runs' current images as the window shows them: one, or tiles (the pixels the
    /// paper's clipping zeroed tinted when asked); and for the spectral methods, the same seen
    /// through their transparency maps.
    fn picture(&self, model: &Model, ids: &[usize]) -> Result<(RgbImage, Option<RgbImage>)> {
        let mut tiles = Vec::new();
        let mut seen = Vec::new();
        for &id in ids {
            let mask = match self.settings.show_clipped {
                true => self.opt.clip_mask(id)?,
                false => None,
            };
            let param = self.opt.config(id)?.method.param;
            let maps = match param {
                ParamKind::Pixel => None,
                _ => self.opt.transparency(id)?,
            };
            for (i, chw) in self.opt.current_images(id)?.iter().enumerate() {
                let mut tile = crate::export::look(chw, &model.info, param)?;
                if let (0, Some(mask)) = (i, &mask) {
                    tint_clipped(&mut tile, mask);
                }
                if let Some(map) = maps.as_ref().and_then(|m| m.get(i)) {
                    let alpha = crate::export::opacity(map);
                    seen.push(crate::export::see_through(&tile, &alpha));
                }
                tiles.push(tile);
            }
        }
        let lay = |mut tiles: Vec<RgbImage>| match tiles.len() {
            1 => tiles.swap_remove(0),
            4 => deepvis_viz::montage(&tiles, 2, 2, [0, 0, 0]),
            _ => deepvis_viz::montage(&tiles, 4, 2, [0, 0, 0]),
        };
        let seen = (!seen.is_empty() && seen.len() == tiles.len()).then(|| lay(seen));
        Ok((lay(tiles), seen))
    }

    /// The picture as it forms, the judge's verdicts when due, the plot's new points.
    fn send_preferred(&mut self, model: &Model, events: &mut Vec<Event>) -> Result<()> {
        let Some(run) = self.run.as_ref() else {
            return Ok(());
        };
        let (image, transparency) = self.picture(model, &run.ids)?;
        let st = self.opt.status(run.id)?.clone();
        let points = match self.run.as_mut() {
            Some(run) => {
                run.last_sent = Some(Instant::now());
                std::mem::take(&mut run.points)
            }
            None => Vec::new(),
        };
        let verdicts = self.judge_due(model)?;
        let Some(run) = self.run.as_ref() else {
            return Ok(());
        };
        events.push(Event::Preferred {
            layer: run.layer.clone(),
            channel: run.channel,
            image,
            transparency,
            captions: run.captions.clone(),
            iteration: st.iterations,
            objective: st.last_obj.unwrap_or(0.0),
            activation: run.last_act,
            mode: run.policy.mode(),
        });
        if let Some(verdicts) = verdicts {
            events.push(Event::Judged {
                layer: run.layer.clone(),
                channel: run.channel,
                verdicts,
            });
        }
        if !points.is_empty() {
            events.push(Event::Telemetry {
                run: self.generation,
                points,
            });
        }
        Ok(())
    }

    /// The judge's verdicts on the runs' current images (every image, in the tiles' order),
    /// when a judge is loaded and its last verdict is older than [`JUDGE_EVERY`].
    fn judge_due(&mut self, model: &Model) -> Result<Option<Vec<Verdict>>> {
        let (Some(judge), Some(run)) = (self.judge.as_ref(), self.run.as_ref()) else {
            return Ok(None);
        };
        if judge.last.is_some_and(|t| t.elapsed() < JUDGE_EVERY) {
            return Ok(None);
        }
        let layer = model.optimizable(&run.layer);
        let class = crate::judge::target_class(&model.info, layer, run.channel);
        let mut verdicts = Vec::with_capacity(run.ids.len());
        for &id in &run.ids {
            for chw in self.opt.current_images(id)? {
                verdicts.push(crate::judge::judge(
                    &judge.net,
                    &judge.device,
                    &chw,
                    &model.info,
                    class,
                    &self.labels,
                )?);
            }
        }
        if let Some(judge) = self.judge.as_mut() {
            judge.last = Some(Instant::now());
        }
        Ok(Some(verdicts))
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
