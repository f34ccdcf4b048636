//! `deepvis soak`: the chaos soak. The worker on a synthetic source is driven by a seeded random
//! stream of every kind of command (layers of every model it switches to and unknown ones,
//! units out of range, NaN and extreme settings, failing sources and model files, pauses,
//! resets, injected crashes) while the window's state takes every event and draws a
//! 1280x800 frame after each burst, headless. Counts frames, commands, errors and crashes, the
//! event queue's largest backlog, the process's memory and the window's frame times.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use deepvis_engine::{EngineConfig, spawn};
use deepvis_model::BackendChoice;
use deepvis_protocol::{
    BackFilter, BackMode, BackSettings, Baseline, Canvas, ColorMap, Command, Event, LrPolicy,
    MethodKind, OptimSettings, PlayerCommand, PreReluMode, SourceSpec, StartFrom,
};
use deepvis_ui::{DeepvisApp, Persisted};

use crate::Global;

/// Arguments of `deepvis soak`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stop after this many grid frames (and `--commands` commands).
    #[arg(long, default_value_t = 10_000)]
    frames: u64,
    /// Stop after this many commands (and `--frames` frames).
    #[arg(long, default_value_t = 100_000)]
    commands: u64,
    /// The random stream's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give up after this many seconds (the counts say how far it got).
    #[arg(long, default_value_t = 3600)]
    max_seconds: u64,
    /// Other model files the stream switches to (`Command::OpenModel`), besides bad ones.
    #[arg(long = "switch-model")]
    switch_models: Vec<PathBuf>,
    /// One JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

/// What a soak saw.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Grid frames received.
    pub frames: u64,
    /// Commands sent.
    pub commands: u64,
    /// Error events (bad commands, failing sources and files).
    pub errors: u64,
    /// Panics injected on purpose.
    pub injected_panics: u64,
    /// Worker crashes reported (restarted, or paused after too many).
    pub crashes: u64,
    /// Crashes beyond the injected ones: panics of the worker's own (an injected panic that
    /// arrives while the worker is paused is ignored, so crashes can be fewer).
    pub unexpected_crashes: u64,
    /// Models the worker became ready with.
    pub ready: u64,
    /// The most events ever waiting in the queue.
    pub max_queue: usize,
    /// Resident memory after the first tenth of the frames (MB; 0 where the system does not
    /// say).
    pub rss_warm_mb: f64,
    /// Resident memory at half the frames (MB).
    pub rss_mid_mb: f64,
    /// Resident memory at the end (MB).
    pub rss_end_mb: f64,
    /// Window frames drawn.
    pub ui_frames: u64,
    /// Their median time (ms).
    pub ui_median_ms: f64,
    /// Their 99th percentile (ms).
    pub ui_p99_ms: f64,
    /// The slowest (ms).
    pub ui_max_ms: f64,
    /// Window frames over 16 ms.
    pub ui_over_16ms: u64,
    /// Seconds the soak ran.
    pub seconds: f64,
    /// Whether it reached both counts before `--max-seconds`.
    pub finished: bool,
    /// The most frequent errors (what the worker was doing and the message's start), with
    /// their counts, most frequent first.
    pub top_errors: Vec<(String, u64)>,
}

/// The resident memory of this process in MB (Linux), else 0.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A small seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_thousand: u64) -> bool {
        self.below(1000) < per_thousand
    }
    fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize].clone()
    }
    /// A float that is sometimes ordinary, sometimes extreme or not a number.
    fn wild(&mut self, ordinary: f64) -> f64 {
        match self.below(10) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => -ordinary * 10.0,
            3 => ordinary * 1e9,
            4 => 0.0,
            _ => ordinary * (self.below(2000) as f64 / 1000.0),
        }
    }
}

/// Optimizer settings for the storm: any method, a canvas now and then, wild numbers.
fn optim_settings(r: &mut Rng) -> OptimSettings {
    let mut o = OptimSettings::default();
    if r.chance(300) {
        o.use_method(r.pick(&MethodKind::ALL), true);
    }
    if r.chance(200) {
        // crops of a canvas, some of them out of range (a method on pixels refuses one)
        o.method.canvas = Canvas {
            side: r.pick(&[0, 8, 96, 300, 5000]),
            crops: r.below(20) as usize,
            crop_min: r.wild(0.3),
            crop_max: r.wild(0.5),
            noise: r.wild(0.01),
        };
    }
    let p = &mut o.params;
    p.decay = r.wild(0.01);
    p.blur_radius = r.wild(1.0);
    p.blur_every = r.below(12) as u32;
    p.norm_pct = r.wild(50.0);
    p.contrib_pct = r.wild(50.0);
    p.lr_policy = r.pick(&[LrPolicy::Constant, LrPolicy::Progress]);
    p.lr = r.wild(100.0);
    p.max_lr = r.wild(1e5);
    p.desired_prog = r.wild(2.0);
    p.max_iter = r.below(3000) as usize;
    o.decay_on = r.chance(500);
    o.blur_on = r.chance(500);
    o.norm_on = r.chance(500);
    o.contrib_on = r.chance(500);
    o.seed = r.next();
    o.start = r.pick(&[StartFrom::Noise, StartFrom::Frame]);
    o.pre_relu = r.pick(&[PreReluMode::Auto, PreReluMode::On, PreReluMode::Off]);
    o.suppress = r.chance(200);
    o.endless = r.chance(500);
    o
}

/// The stream's next command, given the layers of the model now loaded.
fn command(r: &mut Rng, layers: &[String], bad_files: &[PathBuf], models: &[PathBuf]) -> Command {
    match r.below(100) {
        0..=9 if !layers.is_empty() && !r.chance(100) => Command::SelectLayer(r.pick(layers)),
        0..=9 => Command::SelectLayer(format!("no-such-layer-{}", r.below(100))),
        10..=24 => Command::SelectUnit(match r.below(10) {
            0 => usize::MAX,
            1 => 1 << 40,
            _ => r.below(600) as usize,
        }),
        25..=36 => Command::SetOptim(optim_settings(r)),
        37..=42 => Command::SetRunning(r.chance(700)),
        43..=47 => Command::ResetOptim,
        48..=57 => {
            let mut b = BackSettings {
                mode: r.pick(&BackMode::ALL),
                filter: r.pick(&BackFilter::ALL),
                cmap: r.pick(&ColorMap::ALL),
                whole_map: r.chance(300),
                pos: match r.below(3) {
                    0 => Some((r.below(40) as usize, r.below(40) as usize)),
                    _ => None,
                },
                ..BackSettings::default()
            };
            let o = &mut b.options;
            o.occlusion.patch = r.below(130) as usize;
            o.occlusion.stride = r.below(130) as usize;
            o.smoothgrad.samples = r.below(12) as usize;
            o.smoothgrad.noise = r.wild(0.1) as f32;
            o.ig.steps = r.below(20) as usize;
            o.ig.baseline = r.pick(&Baseline::ALL);
            o.batch = r.below(20) as usize;
            if r.chance(300) && !layers.is_empty() {
                o.target_layer = Some(r.pick(layers));
            }
            Command::SetBack(b)
        }
        58..=63 => Command::Freeze(r.chance(150)),
        64..=65 => Command::StepFile(if r.chance(500) { 1 } else { -1 }),
        66..=67 => Command::Player(match r.below(5) {
            0 => PlayerCommand::Step(r.pick(&[1, -1, i64::MIN, i64::MAX])),
            1 => PlayerCommand::Seek(r.pick(&[0, 17, u64::MAX])),
            2 => PlayerCommand::SeekTime(r.pick(&[f64::NAN, -1.0, 1.5, f64::INFINITY])),
            3 => PlayerCommand::Speed(r.pick(&[f32::NAN, 0.0, 2.0, f32::INFINITY, -4.0])),
            _ => PlayerCommand::Loop(r.chance(500)),
        }),
        68..=71 => Command::SetSource(match r.below(6) {
            0 => SourceSpec::Path(r.pick(bad_files)),
            5 => SourceSpec::Device(deepvis_protocol::DeviceRef {
                kind: r.pick(&["synthetic", "camera", "no such kind"]).into(),
                index: r.pick(&[0, 1, u32::MAX]),
                width: r.pick(&[0, 160, 4000]),
                height: r.pick(&[0, 120, 3000]),
            }),
            1 => SourceSpec::Path(PathBuf::from("/no/such/folder/or/file.png")),
            2 => SourceSpec::Synthetic {
                width: r.pick(&[0, 1, 7, 4000]),
                height: r.pick(&[0, 1, 5, 3000]),
                fps: r.pick(&[0, 1, 500]),
            },
            _ => SourceSpec::Synthetic {
                width: 160,
                height: 120,
                fps: 120,
            },
        }),
        72..=73 => Command::OpenModel(match r.below(3) {
            0 if !models.is_empty() => r.pick(models),
            0 | 1 => r.pick(bad_files),
            _ => PathBuf::from("/no/such/model.onnx"),
        }),
        74..=76 => Command::SetCompare(r.chance(300)),
        77..=78 => Command::Sanity(r.chance(300)),
        79 => Command::RestartWorker,
        81..=84 => concept_command(r, bad_files),
        80 | 85..=87 => view_command(r, layers),
        _ => Command::SetRunning(true),
    }
}

/// A concept command: gathering either side or stopping, fitting, clearing, saving where no
/// folder is, loading files that are no concept, the frame's parts (0 to 9 of them) and a part
/// as the concept.
fn concept_command(r: &mut Rng, bad_files: &[PathBuf]) -> Command {
    use deepvis_protocol::{ConceptFit, ConceptSide};
    match r.below(9) {
        7 => Command::ConceptParts(r.chance(700).then(|| r.below(10) as usize)),
        8 => Command::ConceptFromPart(r.below(10) as usize),
        0 => Command::ConceptRecord(Some(ConceptSide::Concept)),
        1 => Command::ConceptRecord(Some(ConceptSide::Others)),
        2 => Command::ConceptRecord(None),
        3 => Command::ConceptFit(r.pick(&ConceptFit::ALL)),
        4 => Command::ConceptClear,
        5 => Command::ConceptSave(PathBuf::from("/no/such/folder/concept.json")),
        _ if bad_files.is_empty() => Command::ConceptLoad(PathBuf::from("/no/such/concept.json")),
        _ => Command::ConceptLoad(r.pick(bad_files)),
    }
}

/// A view of what is under the unit: the attention (out of range as often as not), the
/// circuit shown (0 to 40 inputs of each sign, or off) or a thumbnail of a unit of any layer
/// (out of range at times), of the concept or of a part (there may be none).
fn view_command(r: &mut Rng, layers: &[String]) -> Command {
    use deepvis_protocol::ThumbOf;
    match r.below(6) {
        5 => Command::SetAttention(r.chance(500).then(|| attention_ask(r))),
        0 | 1 => Command::Circuit(r.chance(700).then(|| r.below(40) as usize)),
        2 => Command::Thumbnail(ThumbOf::Concept),
        3 => Command::Thumbnail(ThumbOf::Part(r.below(10) as usize)),
        _ => Command::Thumbnail(ThumbOf::Unit {
            layer: match layers.is_empty() || r.chance(100) {
                true => "no-such-layer".into(),
                false => r.pick(layers),
            },
            channel: match r.below(10) {
                0 => usize::MAX,
                _ => r.below(600) as usize,
            },
        }),
    }
}

/// An attention view's ask, out of range as often as not (a CNN has no attention at all).
fn attention_ask(r: &mut Rng) -> deepvis_protocol::AttentionAsk {
    deepvis_protocol::AttentionAsk {
        block: r.below(20) as usize,
        head: r.chance(500).then(|| r.below(20) as usize),
        from: r
            .chance(500)
            .then(|| (r.below(40) as usize, r.below(40) as usize)),
    }
}

/// Files that exist but are not what they claim to be.
fn bad_files(dir: &std::path::Path, seed: u64) -> Result<Vec<PathBuf>> {
    let mut r = Rng(seed ^ 0xbad);
    let mut out = Vec::new();
    for name in [
        "noise.png",
        "noise.jpg",
        "noise.onnx",
        "empty.onnx",
        "empty.png",
    ] {
        let p = dir.join(name);
        let n = if name.starts_with("empty") { 0 } else { 4096 };
        let bytes: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        out.push(p);
    }
    Ok(out)
}

/// The source the soak returns to between the storms, so that frames keep coming.
fn live_source() -> SourceSpec {
    SourceSpec::Synthetic {
        width: 160,
        height: 120,
        fps: 120,
    }
}

/// One frame of input to the headless window: a 1280x800 screen.
fn screen() -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    }
}

/// A soak in progress: the worker, the window's state (drawn headless), the random stream and
/// what was counted so far.
struct Soak<'a> {
    a: &'a Args,
    h: deepvis_engine::EngineHandle,
    app: DeepvisApp,
    ctx: egui::Context,
    r: Rng,
    rep: Report,
    /// Files that are not what they claim to be.
    bad: Vec<PathBuf>,
    /// Each error's count, by what the worker was doing and the message's start.
    error_counts: std::collections::HashMap<String, u64>,
    /// The layers of the model now loaded.
    layers: Vec<String>,
    /// The window's frame times (ms).
    ui_ms: Vec<f64>,
    /// The grid frames counted at the last burst, and when it was.
    frames_at_burst: u64,
    last_burst: Instant,
    /// Whether the worker is paused after too many crashes.
    paused: bool,
}

impl Soak<'_> {
    /// A burst of commands after each frame (or a quiet quarter second): about
    /// commands/frames of them, then, more often than not, the way back to a live source, so
    /// that frames keep coming between the storms.
    fn send_burst(&mut self) {
        let (a, h, rep) = (self.a, &self.h, &mut self.rep);
        let due = self.frames_at_burst != rep.frames
            || self.last_burst.elapsed() > Duration::from_millis(250);
        if due && rep.commands < a.commands {
            let per_frame = (a.commands / a.frames.max(1)).max(1);
            for _ in 0..self.r.below(2 * per_frame) + 1 {
                let c = if self.r.chance(1) {
                    rep.injected_panics += 1;
                    Command::InjectPanic
                } else {
                    command(&mut self.r, &self.layers, &self.bad, &a.switch_models)
                };
                h.send(c);
                rep.commands += 1;
            }
            if self.r.chance(600) {
                h.send(Command::Freeze(false));
                h.send(Command::SetSource(live_source()));
                rep.commands += 2;
            }
            self.frames_at_burst = rep.frames;
            self.last_burst = Instant::now();
        } else if due {
            // the commands are all sent: a live source for the remaining frames
            h.send(Command::Freeze(false));
            h.send(Command::SetSource(live_source()));
            self.last_burst = Instant::now();
        }
    }

    /// Takes the events that came, counting them, as the window does; how many there were.
    fn take_events(&mut self, warm_at: u64) -> usize {
        let (a, h, rep) = (self.a, &self.h, &mut self.rep);
        rep.max_queue = rep.max_queue.max(h.events.len());
        let mut got = 0;
        while let Ok(e) = h.events.try_recv() {
            got += 1;
            match &e {
                Event::Grid { .. } => {
                    rep.frames += 1;
                    if rep.frames == warm_at {
                        rep.rss_warm_mb = rss_mb();
                    }
                    if rep.frames == a.frames / 2 {
                        rep.rss_mid_mb = rss_mb();
                    }
                }
                Event::Error(f) => {
                    rep.errors += 1;
                    let head: String = f.message.chars().take(100).collect();
                    let key = format!("{:?}: {head}", f.doing);
                    *self.error_counts.entry(key).or_default() += 1;
                }
                Event::Ready { layers: l, .. } => {
                    rep.ready += 1;
                    self.layers = l.iter().map(|x| x.name.clone()).collect();
                }
                // a crash is a restart, or a pause (whose restart then is not another crash)
                Event::Restarted { .. } if self.paused => self.paused = false,
                Event::Restarted { .. } => rep.crashes += 1,
                Event::WorkerPaused { .. } => {
                    rep.crashes += 1;
                    self.paused = true;
                    h.send(Command::RestartWorker);
                }
                _ => {}
            }
            self.app.apply(e);
        }
        got
    }

    /// Draws one window frame, timing it.
    fn draw(&mut self) {
        let t = Instant::now();
        let _ = self.ctx.run_ui(screen(), |ui| self.app.ui(ui));
        // the first frames build the font atlas and the layout: not counted
        if self.ctx.cumulative_pass_nr() > 10 {
            self.ui_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }

    /// The report, with the memory at the end and the window's frame-time figures; the
    /// worker is shut down.
    fn finish(mut self, seconds: f64) -> Report {
        let mut rep = std::mem::take(&mut self.rep);
        rep.seconds = seconds;
        rep.unexpected_crashes = rep.crashes.saturating_sub(rep.injected_panics);
        rep.rss_end_mb = rss_mb();
        let mut top: Vec<(String, u64)> = self.error_counts.drain().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top.truncate(8);
        rep.top_errors = top;
        let ui_ms = &mut self.ui_ms;
        ui_ms.sort_by(f64::total_cmp);
        let q = |f: f64| {
            ui_ms
                .get(((ui_ms.len() as f64 - 1.0) * f) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        rep.ui_frames = ui_ms.len() as u64;
        rep.ui_median_ms = q(0.5);
        rep.ui_p99_ms = q(0.99);
        rep.ui_max_ms = q(1.0);
        rep.ui_over_16ms = ui_ms.iter().filter(|&&t| t > 16.0).count() as u64;
        self.h.shutdown();
        rep
    }
}

/// Runs the soak.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let model = crate::common::model_loader(g)?;
    let mut config = EngineConfig::new(model, live_source());
    config.opener = Some(crate::common::onnx_opener());
    config.backend = BackendChoice::from_name(&g.backend)?;
    let dir = tempfile::tempdir().context("a scratch folder")?;
    let bad = bad_files(dir.path(), a.seed)?;
    let h = spawn(config, Arc::new(|| {}));
    // the window's state, fed every event, drawn headless after each burst
    let (dummy_tx, dummy_rx) = deepvis_protocol::queue();
    let app = DeepvisApp::new(h.commands.clone(), dummy_rx, Persisted::default());
    let mut soak = Soak {
        a: &a,
        h,
        app,
        ctx: egui::Context::default(),
        r: Rng(a.seed.max(1)),
        rep: Report::default(),
        bad,
        error_counts: Default::default(),
        layers: Vec::new(),
        ui_ms: Vec::new(),
        frames_at_burst: 0,
        last_burst: Instant::now(),
        paused: false,
    };
    let t0 = Instant::now();
    let limit = Duration::from_secs(a.max_seconds);
    let warm_at = (a.frames / 10).max(1);
    while t0.elapsed() < limit {
        if soak.rep.frames >= a.frames && soak.rep.commands >= a.commands {
            soak.rep.finished = true;
            break;
        }
        soak.send_burst();
        let got = soak.take_events(warm_at);
        soak.draw();
        if got == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    drop(dummy_tx);
    let rep = soak.finish(t0.elapsed().as_secs_f64());
    if a.json {
        println!("{}", serde_json::to_string(&rep)?);
    } else {
        println!("{rep:#?}");
    }
    Ok(if rep.unexpected_crashes == 0 && rep.finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
