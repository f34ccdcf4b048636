//! The worker's loop: it sets up the device stage and the stages that own the work (frames,
//! preferred images, attribution, source), then offers each command to its stages, takes frames
//! and shares the worker's time between the stages as the [`Scheduler`] says.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use deepvis_protocol::{
    BackSettings, Backend, Command, Doing, Event, Mended, OptimSettings, Outbox, Preparing,
    RecordTarget,
};

use crate::attribution::AttributionStage;
use crate::circuit::CircuitStage;
use crate::concept::ConceptStage;
use crate::device::{GpuWarmUp, Loaded, Model};
use crate::error::EngineError;
use crate::fit::{Asked, Fitted, Shape, fit, fit_attribution, fit_method};
use crate::frame::FrameStage;
use crate::outlet::Outlet;
use crate::preferred::PreferredStage;
use crate::schedule::{Handover, Scheduler};
use crate::source::SourceStage;
use crate::stage::{Cx, Keep, Ripple, Took};
use crate::thumbs::ThumbStage;
use crate::{EngineConfig, Exit, ModelOpener, Wake};

/// How long an idle worker waits for a command before it looks at its stages again.
const IDLE_WAIT: Duration = Duration::from_millis(10);
/// How often the throughput is reported.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Whether the loop goes on.
enum Flow {
    Go,
    Exit(Exit),
}

/// The work counted for the throughput report.
struct Stats {
    frames: u32,
    since: Instant,
}

/// The worker: the network and the stages.
struct Worker<'a> {
    keep: Keep<'a>,
    out: Outlet<'a>,
    model: Model,
    /// The GPU warming up while the CPU serves.
    gpu: Option<GpuWarmUp>,
    frames: FrameStage,
    preferred: PreferredStage,
    attribution: AttributionStage,
    source: SourceStage,
    concepts: ConceptStage,
    circuit: CircuitStage,
    thumbs: ThumbStage,
    /// Frames processed so far (the circuit follows the newest).
    frame_seq: u64,
    schedule: Scheduler,
    /// Fraction of the worker's time given to the optimizer while frames arrive.
    optim_share: f32,
    stats: Stats,
    /// How `Command::OpenModel` reads a file.
    opener: Option<ModelOpener>,
}

/// The worker's body; returns when asked to stop, to load another model, or with a fatal error.
pub(crate) fn run(
    state: &Mutex<EngineConfig>,
    commands: &Receiver<Command>,
    events: &Outbox,
    wake: &Wake,
) -> Exit {
    let keep = Keep(state);
    let c = keep.get();
    let mut out = Outlet::new(events, wake);
    let loaded = match crate::device::load(&c, wake, &mut |e| out.send(e)) {
        Ok(l) => l,
        Err(f) => return Exit::Fatal(f),
    };
    Worker::start(keep, out, c, loaded, wake).serve(commands)
}

/// Fits the settings to the model (a layer, a unit or a place of another model's).
fn fit_to(model: &Model, c: &EngineConfig) -> Fitted {
    let asked = Asked {
        layer: c.grid_layer.clone(),
        unit: c.selected,
        back_pos: c.back.pos,
        direction_at: c.optim.direction_at,
    };
    fit(&asked, model.info.default_grid_layer(), |name| {
        model.info.layer(name).ok().map(|l| Shape {
            channels: l.channels,
            height: l.height,
            width: l.width,
        })
    })
}

impl<'a> Worker<'a> {
    /// The stages on the loaded model, with the settings fitted to it; the window hears that
    /// the model is ready, what was mended, and which cameras there are.
    fn start(
        keep: Keep<'a>,
        mut out: Outlet<'a>,
        c: EngineConfig,
        loaded: Loaded,
        wake: &Wake,
    ) -> Worker<'a> {
        let model = loaded.model;
        let mut fitted = fit_to(&model, &c);
        let drawable = deepvis_attribution::methods_for(&model.info);
        let (mode, attribution_mended) = fit_attribution(c.back.mode, &drawable);
        fitted.mended.extend(attribution_mended);
        let back = BackSettings {
            pos: fitted.settings.back_pos,
            mode,
            ..c.back
        };
        let mut optim = OptimSettings {
            direction_at: fitted.settings.direction_at,
            ..c.optim
        };
        // a method the user did not choose: the network's default
        let method = fit_method(&optim, deepvis_optim::default_method(&model.info));
        if let Some(Mended::Method { now, .. }) = method {
            optim.use_method(now, false);
        }
        fitted.mended.extend(method);
        if !fitted.mended.is_empty() {
            // once: a restarted worker starts from the mended settings
            keep.update(|s| {
                s.grid_layer = fitted.settings.layer.clone();
                s.selected = fitted.settings.unit;
                s.back.pos = back.pos;
                s.back.mode = back.mode;
                s.optim = optim;
            });
        }
        out.send(Event::Ready {
            model: model.info.name().to_string(),
            backend: loaded.backend,
            layers: model.layers(),
            grid_layer: fitted.layer.clone(),
        });
        if !fitted.mended.is_empty() {
            out.send(Event::Mended {
                model: model.info.name().to_string(),
                mended: fitted.mended,
            });
        }
        let (offers, notes) = deepvis_sources::devices(640, 480);
        out.send(Event::Devices { offers, notes });
        let judge = loaded.judge.map(|net| (net, model.device.clone()));
        let mut w = Worker {
            frames: FrameStage::new(fitted.layer, fitted.settings.unit),
            preferred: PreferredStage::new(&model, optim, c.running, judge, c.model.file),
            attribution: AttributionStage::new(&model, back),
            source: SourceStage::new(c.source, c.frozen, wake),
            concepts: ConceptStage::default(),
            circuit: CircuitStage::default(),
            thumbs: ThumbStage::new(&model),
            frame_seq: 0,
            schedule: Scheduler::new(Instant::now()),
            optim_share: c.optim_share,
            stats: Stats {
                frames: 0,
                since: Instant::now(),
            },
            opener: c.opener,
            gpu: loaded.gpu,
            model,
            keep,
            out,
        };
        w.restart_preferred();
        w
    }

    /// The loop: the GPU hand-over, commands, the source's reports, then a frame, an
    /// attribution turn and the optimizer's share of the time; an idle worker waits for a
    /// command.
    fn serve(mut self, commands: &Receiver<Command>) -> Exit {
        loop {
            self.poll_gpu();
            for cmd in commands.try_iter() {
                if let Flow::Exit(e) = self.handle(cmd) {
                    return e;
                }
            }
            let statuses = self.source.statuses();
            self.out.send_all(statuses);
            let t0 = Instant::now();
            let mut busy = self.frame_turn();
            // the optimizer's share is of the grid's time; the attribution has its own spacing
            let frame_time = t0.elapsed();
            busy |= self.attribution_turn();
            busy |= self.circuit_turn();
            let budget = Scheduler::optimizer_budget(self.optim_share, busy.then_some(frame_time));
            busy |= self.optimizer_turn(budget);
            self.stats_turn();
            if !busy {
                match commands.recv_timeout(IDLE_WAIT) {
                    Ok(cmd) => {
                        if let Flow::Exit(e) = self.handle(cmd) {
                            return e;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return Exit::Shutdown,
                }
            }
        }
    }

    /// Offers a command to each stage in turn until one carries it out (a stage names its
    /// commands in its own `command`), then carries out what it asks of the other stages.
    fn handle(&mut self, c: Command) -> Flow {
        let mut cx = Cx {
            model: &self.model,
            out: &mut self.out,
            keep: &self.keep,
        };
        let mut took = self.source.command(c, &mut cx);
        if let Took::Passed(c) = took {
            took = self.frames.command(c, &mut cx);
        }
        if let Took::Passed(c) = took {
            let scene = self.frames.scene(cx.model);
            took = self.preferred.command(c, &scene, &mut cx);
        }
        if let Took::Passed(c) = took {
            took = self.attribution.command(c, &mut cx);
        }
        if let Took::Passed(c) = took {
            took = self.concepts.command(c, self.frames.layer(), &mut cx);
        }
        if let Took::Passed(c) = took {
            took = self.circuit.command(c, &mut cx);
        }
        if let Took::Passed(c) = took {
            took = self.thumbs.command(c, &self.concepts, &mut cx);
        }
        match took {
            Took::Done(ripple) => {
                self.ripple(ripple);
                // a concept loaded of another layer shows that layer
                match self.concepts.take_wanted_layer() {
                    Some(l) if l != self.frames.layer() => self.handle(Command::SelectLayer(l)),
                    _ => Flow::Go,
                }
            }
            Took::Passed(c) => self.own(c),
        }
    }

    /// The commands for the loop itself (stopping, another model, the window's recording, the
    /// crash drills); one that no stage took is an internal error, said and dropped.
    fn own(&mut self, c: Command) -> Flow {
        match c {
            Command::Shutdown => return Flow::Exit(Exit::Shutdown),
            Command::OpenModel(path) => return self.open_model(path),
            Command::Record {
                what: RecordTarget::Window,
                path,
            } => self.out.record(path),
            Command::InjectPanic => panic!("panic injected by the user"),
            // a running worker ignores it; the engine restarts a paused one
            Command::RestartWorker => {}
            other => {
                let e = EngineError::Unrouted(format!("{other:?}").chars().take(80).collect());
                self.out.fail(Doing::Setting, &e);
            }
        }
        Flow::Go
    }

    /// What a command asks of the other stages ([`Ripple`]), in this order: a new selection is
    /// kept and resets the attribution, the frame is processed again, the attribution gets its
    /// turn, the preferred image restarts.
    fn ripple(&mut self, r: Ripple) {
        if r.selection {
            let (layer, unit) = (self.frames.layer().to_string(), self.frames.selected());
            self.keep.update(|s| {
                s.grid_layer = Some(layer);
                s.selected = unit;
            });
            self.attribution.reset(true);
        }
        if r.reprocess {
            self.frames.changed();
        }
        if r.attribute_now || r.selection {
            self.schedule.force();
        }
        if r.restart_preferred || r.selection {
            self.restart_preferred();
        }
    }

    /// Replaces the network by the model in `path`: the worker starts again with it (the
    /// current one stays when the file cannot be opened).
    fn open_model(&mut self, path: PathBuf) -> Flow {
        let opened = match &self.opener {
            Some(opener) => opener.open(&path),
            None => Err(EngineError::NoOpener),
        };
        match opened {
            Ok(loader) => {
                self.out.send(Event::Preparing(Preparing::Loading {
                    model: loader.name.clone(),
                }));
                self.keep.update(|s| {
                    s.model = loader;
                    s.grid_layer = None;
                    s.selected = None;
                });
                Flow::Exit(Exit::Reload)
            }
            Err(e) => {
                let keeping = self.model.info.name().to_string();
                self.out.fail(Doing::OpenModel { path, keeping }, &e);
                Flow::Go
            }
        }
    }

    /// (Re)starts the preferred image of the selected unit.
    fn restart_preferred(&mut self) {
        let scene = self.frames.scene(&self.model);
        if let Err(e) = self.preferred.start(&scene) {
            self.out.fail(Doing::Optimize, &e);
        }
    }

    /// Moves the work to the GPU once it is warm, or stays on the CPU when it failed.
    fn poll_gpu(&mut self) {
        let Some(gpu) = &self.gpu else {
            return;
        };
        match gpu.poll() {
            Handover::Waiting => {}
            Handover::Switch(model) => {
                self.gpu = None;
                self.preferred.moved(&model);
                self.attribution.moved(&model);
                self.thumbs.moved(&model);
                self.model = model;
                self.restart_preferred();
                self.frames.changed();
                self.out.send(Event::Ready {
                    model: self.model.info.name().to_string(),
                    backend: Backend {
                        serving: self.model.backend.clone(),
                        warming: None,
                    },
                    layers: self.model.layers(),
                    grid_layer: self.frames.layer().to_string(),
                });
            }
            Handover::Stay(e) => {
                self.gpu = None;
                self.out.fail(Doing::MoveToGpu, &e);
            }
        }
    }

    /// Takes the newest frame and computes what the window shows of it (again, when a setting
    /// changed); whether it did.
    fn frame_turn(&mut self) -> bool {
        if let Some(image) = self.source.take() {
            let input = self.frames.take(&self.model, image);
            self.out.send(input);
            if !self.preferred.has_run() && self.frames.selected().is_some() {
                self.restart_preferred();
            }
        }
        if !self.frames.due() {
            return false;
        }
        match self.frames.process(&self.model, self.attribution.look()) {
            Ok(p) => {
                self.out.send_all(p.events);
                if let Some(e) = p.attention_failed {
                    self.out.fail(Doing::Frame, &e);
                }
                self.attribution.set_frame(p.subject);
                if let Some(m) = &p.maps {
                    match self.concepts.frame(m) {
                        Ok(events) => self.out.send_all(events),
                        Err(e) => self.out.fail(Doing::Concept, &e),
                    }
                }
                self.stats.frames += 1;
                self.frame_seq += 1;
            }
            Err(e) => self.out.fail(Doing::Frame, &e),
        }
        true
    }

    /// One attribution turn when it is due; whether it ran.
    fn attribution_turn(&mut self) -> bool {
        if !self
            .schedule
            .attribution_due(self.attribution.busy(), Instant::now())
        {
            return false;
        }
        let started = Instant::now();
        let events = self.attribution.step(&self.model);
        self.out.send_all(events);
        // a forced turn is the pane's: the compare view and the sanity check wait theirs
        let main_due = self.attribution.main_due();
        self.schedule
            .attribution_done(started, Instant::now(), main_due);
        true
    }

    /// The circuit of the selected unit on the newest frame when it is due; whether it ran.
    fn circuit_turn(&mut self) -> bool {
        let scene = self.frames.scene(&self.model);
        if !self.circuit.due(&scene, self.frame_seq) {
            return false;
        }
        match self.circuit.compute(&scene, self.frame_seq) {
            Ok(e) => self.out.send(e),
            Err(e) => self.out.fail(Doing::Circuit, &e),
        }
        true
    }

    /// The optimizer steps for `budget` (shared with the thumbnails when both have work);
    /// whether it did. A run that fails is dropped.
    fn optimizer_turn(&mut self, budget: Duration) -> bool {
        let mut thumbs = false;
        let budget = if self.thumbs.busy() {
            let share = if self.preferred.stepping() {
                budget / 2
            } else {
                budget
            };
            let settings = *self.preferred.settings();
            thumbs = self.thumbs.step(share, &settings, &mut self.out);
            budget.saturating_sub(share)
        } else {
            budget
        };
        let scene = self.frames.scene(&self.model);
        let mut events = Vec::new();
        let stepped = self.preferred.step(budget, &scene, &mut events);
        self.out.send_all(events);
        match stepped {
            Ok(did) => did || thumbs,
            Err(e) => {
                self.out.fail(Doing::Optimize, &e);
                self.preferred.drop_runs();
                thumbs
            }
        }
    }

    /// The throughput, once a second.
    fn stats_turn(&mut self) {
        let elapsed = self.stats.since.elapsed();
        if elapsed < STATS_EVERY {
            return;
        }
        let secs = elapsed.as_secs_f32();
        let ev = Event::Stats {
            grid_fps: self.stats.frames as f32 / secs,
            optim_ips: self.preferred.take_iterations() as f32 / secs,
            back_fps: self.attribution.take_maps() as f32 / secs,
        };
        self.out.send(ev);
        self.stats = Stats {
            frames: 0,
            since: Instant::now(),
        };
    }
}
