//! The deepvis window's panes: the input (with the unit's receptive field), the attribution
//! maps (one method, or all side by side, with the sanity check's plot),
//! the layer grid, the selected unit, its preferred image with the optimization's plot, its
//! top-9 images and a status bar, drawn from the worker's [`Event`]s and turning the user's clicks,
//! sliders and keys into [`Command`]s. Knows nothing of the model or the device.

pub mod activity;
mod attribution;
pub mod grid;
mod method;
mod panes;
pub mod player;
pub mod words;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use deepvis_protocol::{
    BackInfo, BackMode, BackSettings, ClassProb, Command, ErrorKind, Event, Inbox, LayerSummary,
    OptimSettings, SourceSpec, StopReason, Telemetry, UnitMap,
};
use egui::{ColorImage, TextureHandle, TextureOptions};
use serde::{Deserialize, Serialize};

pub use activity::{Activity, SortMode};
pub use attribution::{CompareView, SanityView};
pub use grid::{DrawnGrid, GridPane};
pub use panes::BINDINGS;

/// What survives a restart of the program (eframe storage).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    /// The grid layer.
    pub layer: Option<String>,
    /// The selected channel.
    pub selected: Option<usize>,
    /// Preferred-image settings.
    pub optim: OptimSettings,
    /// Whether the preferred image runs.
    pub running: bool,
    /// The last source the user chose.
    pub source: Option<SourceSpec>,
    /// Widths of the side panes.
    pub left_width: f32,
    /// Width of the right pane.
    pub right_width: f32,
    /// Back-projection settings.
    pub back: BackSettings,
    /// Blend the back-projection over the input.
    pub overlay: bool,
    /// Draw the receptive field on the input.
    pub show_field: bool,
    /// The top-k index folder last loaded.
    pub topk_dir: Option<PathBuf>,
    /// The grid's tile order.
    pub grid_sort: SortMode,
    /// Seconds the grid's "recent" order averages over.
    pub recent_secs: f32,
    /// Screen pixels per map pixel of the grid's tiles (`None`: fit the pane).
    pub grid_zoom: Option<u32>,
}

impl Default for Persisted {
    fn default() -> Persisted {
        Persisted {
            layer: None,
            selected: None,
            optim: OptimSettings::default(),
            running: true,
            source: None,
            left_width: 440.0,
            right_width: 350.0,
            back: BackSettings::default(),
            overlay: false,
            show_field: true,
            topk_dir: None,
            grid_sort: SortMode::Channel,
            recent_secs: 10.0,
            grid_zoom: None,
        }
    }
}

/// The grid as last received.
#[derive(Clone, Debug)]
pub struct GridView {
    /// Its layer.
    pub layer: String,
    /// Tiles per row.
    pub cols: usize,
    /// Rows of tiles.
    pub rows: usize,
    /// Tile width in map pixels.
    pub tile_w: usize,
    /// Tile height.
    pub tile_h: usize,
    /// Each channel's maximum.
    pub maxima: Vec<f32>,
    /// Image size in pixels.
    pub size: [usize; 2],
}

impl GridView {
    /// The layout of the tiles (1-pixel separators).
    pub fn layout(&self) -> deepvis_viz::GridLayout {
        deepvis_viz::GridLayout::new(self.maxima.len(), self.tile_w, self.tile_h, 1)
    }
}

/// The optimization's telemetry, for the plot.
#[derive(Clone, Debug, Default)]
pub struct TelemetryView {
    /// The run the points belong to.
    pub run: u64,
    /// Every iteration (thinned to every other one past [`TELEMETRY_CAP`]).
    pub points: Vec<Telemetry>,
    /// The first iteration where the unit was its layer's argmax.
    pub first_argmax: Option<usize>,
}

/// Points kept for the plot before it is thinned.
pub const TELEMETRY_CAP: usize = 4000;

/// A loaded `deepvis topk` index.
#[derive(Clone, Debug)]
pub struct TopkView {
    /// Its folder.
    pub dir: PathBuf,
    /// The index.
    pub index: deepvis_topk::Index,
    /// The (layer, channel) whose montage is in the texture.
    pub shown: Option<(String, usize)>,
}

/// The preferred image's latest state.
#[derive(Clone, Debug, Default)]
pub struct PreferredView {
    /// Layer.
    pub layer: String,
    /// Channel.
    pub channel: usize,
    /// Iterations.
    pub iteration: usize,
    /// Objective.
    pub objective: f32,
    /// Activation.
    pub activation: f32,
    /// Mode in words.
    pub mode: String,
    /// What each tile is (several images side by side).
    pub captions: Vec<String>,
}

/// A line of the status bar's messages: a notice, or an error of a kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The error's kind (`None`: a notice).
    pub kind: Option<ErrorKind>,
    /// The sentence.
    pub text: String,
}

impl Message {
    /// Whether the sentence holds `s`.
    pub fn contains(&self, s: &str) -> bool {
        self.text.contains(s)
    }

    /// The line the status bar shows: an error's kind first.
    pub fn line(&self) -> String {
        match self.kind {
            Some(k) => format!("{}: {}", words::error_kind(k), self.text),
            None => self.text.clone(),
        }
    }

    /// Its colour: notices in the text's colour, errors by kind (the user's own input amber,
    /// files orange, the model and the device red, deepvis's defects magenta).
    pub fn color(&self, visuals: &egui::Visuals) -> egui::Color32 {
        match self.kind {
            None => visuals.text_color(),
            Some(ErrorKind::Input) => egui::Color32::from_rgb(220, 170, 40),
            Some(ErrorKind::File) => egui::Color32::from_rgb(220, 120, 40),
            Some(ErrorKind::Model | ErrorKind::Device) => egui::Color32::from_rgb(225, 70, 60),
            Some(ErrorKind::Internal) => egui::Color32::from_rgb(210, 80, 200),
        }
    }
}

/// The whole window's state.
pub struct DeepvisApp {
    commands: Sender<Command>,
    events: Inbox,
    /// What persists.
    pub persisted: Persisted,
    /// Model name, once ready.
    pub model: Option<String>,
    /// Backend in words.
    pub backend: String,
    /// The network's layers.
    pub layers: Vec<LayerSummary>,
    /// A line while the worker prepares.
    pub preparing: Option<String>,
    /// Source label and state.
    pub source: (String, bool, String),
    /// Whether frames are frozen.
    pub frozen: bool,
    /// The cameras the worker found.
    pub cameras: Vec<(u32, String)>,
    /// Camera resolution asked for.
    pub resolution: (u32, u32),
    /// The grid.
    pub grid: Option<GridView>,
    /// The unit map.
    pub unit: Option<UnitMap>,
    /// Top-5 classes.
    pub predictions: Vec<ClassProb>,
    /// The preferred image.
    pub preferred: Option<PreferredView>,
    /// The judge's latest verdicts on the preferred image(s), with the layer and unit judged.
    pub judged: Option<(String, usize, Vec<deepvis_protocol::Verdict>)>,
    /// The back-projection.
    pub back: Option<BackInfo>,
    /// The pane's method of many passes under way: (method, done, total).
    pub back_progress: Option<(BackMode, usize, usize)>,
    /// Every method side by side.
    pub compare: CompareView,
    /// The sanity check.
    pub sanity: SanityView,
    /// The optimization's plot data.
    pub telemetry: TelemetryView,
    /// The session top-9: (layer, channel, scores).
    pub session: Option<(String, usize, Vec<f32>)>,
    /// The loaded top-k index.
    pub topk: Option<TopkView>,
    /// The index folder typed in the top-9 pane.
    pub topk_input: String,
    /// The model file typed in the model picker.
    pub model_input: String,
    /// Why the preferred image stopped.
    pub stopped: Option<(StopReason, String)>,
    /// Frames per second of the grid pipeline.
    pub grid_fps: f32,
    /// Optimizer iterations per second.
    pub optim_ips: f32,
    /// Back-projections per second.
    pub back_fps: f32,
    /// Recent errors and notices (newest last).
    pub messages: Vec<Message>,
    /// The worker crashed this many times within this many seconds and waits for a restart.
    pub worker_paused: Option<(u32, u32)>,
    /// Whether the help overlay shows.
    pub show_help: bool,
    /// Hovered tile and its maximum.
    pub hover: Option<(usize, f32)>,
    /// The UI's own frame time.
    pub ui_frame_ms: f32,
    /// The grid pane's own state (activity history, where the tiles went).
    pub grid_pane: GridPane,
    /// The video player and the recordings.
    pub player: player::PlayerPane,
    /// The last exported picture and its sidecar.
    pub exported: Option<(PathBuf, PathBuf)>,
    started: Instant,
    pub(crate) pics: Pictures,
    /// Commands sent, newest last (for tests and the status bar).
    pub sent: Vec<Command>,
}

/// The pictures the window shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pic {
    Input,
    Grid,
    Unit,
    Preferred,
    Back,
    Session,
    Topk,
    TopkBack,
}

impl Pic {
    const ALL: [Pic; 8] = [
        Pic::Input,
        Pic::Grid,
        Pic::Unit,
        Pic::Preferred,
        Pic::Back,
        Pic::Session,
        Pic::Topk,
        Pic::TopkBack,
    ];
}

/// Each picture's texture, and the newest image waiting to be uploaded into it (older ones
/// are dropped unseen).
#[derive(Default)]
pub(crate) struct Pictures {
    tex: [Option<TextureHandle>; 8],
    pending: [Option<ColorImage>; 8],
}

impl Pictures {
    fn set(&mut self, p: Pic, img: ColorImage) {
        self.pending[p as usize] = Some(img);
    }

    fn clear(&mut self, p: Pic) {
        self.tex[p as usize] = None;
        self.pending[p as usize] = None;
    }

    /// The texture of a picture, once one has arrived.
    pub(crate) fn get(&self, p: Pic) -> Option<&TextureHandle> {
        self.tex[p as usize].as_ref()
    }

    fn upload(&mut self, ctx: &egui::Context) {
        let opts = TextureOptions::NEAREST;
        for p in Pic::ALL {
            let i = p as usize;
            if let Some(img) = self.pending[i].take() {
                match &mut self.tex[i] {
                    Some(t) => t.set(img, opts),
                    None => self.tex[i] = Some(ctx.load_texture(format!("{p:?}"), img, opts)),
                }
            }
        }
    }
}

/// A resizable side panel of `width` with a vertical scroll area; returns its new width.
fn side_panel(
    ui: &mut egui::Ui,
    panel: egui::Panel,
    width: f32,
    content: impl FnOnce(&mut egui::Ui),
) -> f32 {
    let r = panel.resizable(true).default_size(width).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, content);
    });
    r.response.rect.width()
}

/// How long one frame may spend draining events.
pub const DRAIN_BUDGET: Duration = Duration::from_millis(4);

fn rgb_to_color(img: &image::RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

fn gray_to_color(img: &image::GrayImage) -> ColorImage {
    ColorImage::from_gray([img.width() as usize, img.height() as usize], img.as_raw())
}

/// The largest montage the window reads (a 3 x 3 montage of 1024-pixel crops fits).
pub const MAX_MONTAGE_SIDE: u32 = 8192;

/// Reads a montage of a top-k index folder, refusing what no montage can be (a size or a
/// decoder allocation beyond [`MAX_MONTAGE_SIDE`]) before decoding it.
pub fn read_montage(path: &Path) -> Result<image::RgbImage, String> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_MONTAGE_SIDE);
    limits.max_image_height = Some(MAX_MONTAGE_SIDE);
    limits.max_alloc = Some(4 * MAX_MONTAGE_SIDE as u64 * MAX_MONTAGE_SIDE as u64);
    let mut reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| e.to_string())?;
    reader.limits(limits);
    reader
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| e.to_string())
}

/// A map normalized to 0..255 gray (its own min to max).
pub fn map_to_color(values: &[f32], width: usize, height: usize) -> ColorImage {
    let px = deepvis_viz::gray_levels(values);
    if px.len() == width * height {
        ColorImage::from_gray([width, height], &px)
    } else {
        ColorImage::from_gray([1, 1], &[0])
    }
}

impl DeepvisApp {
    /// A window speaking to a worker through these channels.
    pub fn new(commands: Sender<Command>, events: Inbox, persisted: Persisted) -> Self {
        let topk_dir = persisted.topk_dir.clone();
        let mut app = DeepvisApp {
            commands,
            events,
            persisted,
            model: None,
            backend: String::new(),
            layers: Vec::new(),
            preparing: Some(words::preparing(&deepvis_protocol::Preparing::Starting)),
            source: (String::new(), true, String::new()),
            frozen: false,
            cameras: Vec::new(),
            resolution: (640, 480),
            grid: None,
            unit: None,
            predictions: Vec::new(),
            preferred: None,
            judged: None,
            back: None,
            back_progress: None,
            compare: CompareView::default(),
            sanity: SanityView::default(),
            telemetry: TelemetryView::default(),
            session: None,
            topk: None,
            topk_input: String::new(),
            model_input: String::new(),
            stopped: None,
            grid_fps: 0.0,
            optim_ips: 0.0,
            back_fps: 0.0,
            messages: Vec::new(),
            worker_paused: None,
            show_help: false,
            hover: None,
            ui_frame_ms: 0.0,
            grid_pane: GridPane::default(),
            player: player::PlayerPane::default(),
            exported: None,
            started: Instant::now(),
            pics: Pictures::default(),
            sent: Vec::new(),
        };
        if let Some(d) = topk_dir {
            app.topk_input = d.display().to_string();
            if d.join("index.json").is_file() {
                app.load_topk(&d);
            }
        }
        app
    }

    /// Shows a picture a top-k index names as the source: a photo, or a clip paused on the
    /// frame `CLIP@SECONDS` names.
    pub fn open_picture(&mut self, path: &Path) {
        match deepvis_protocol::video::split_at_time(path) {
            Some((clip, t)) => {
                self.set_source(SourceSpec::Path(clip));
                self.send(Command::Player(deepvis_protocol::PlayerCommand::SeekTime(
                    t,
                )));
                self.frozen = true;
                self.send(Command::Freeze(true));
            }
            None => self.set_source(SourceSpec::Path(path.to_path_buf())),
        }
    }

    /// Restores the settings an exported picture's sidecar holds (its layer, unit and every
    /// preferred-image setting); a file that is no such sidecar is a message.
    pub fn restore_settings(&mut self, json: &Path) {
        #[derive(Deserialize)]
        struct Window {
            layer: String,
            unit: usize,
            optim: OptimSettings,
        }
        #[derive(Deserialize)]
        struct Doc {
            window: Option<Window>,
        }
        let read = std::fs::metadata(json)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                if m.len() > 64 << 20 {
                    Err("too large for a sidecar".into())
                } else {
                    std::fs::read(json).map_err(|e| e.to_string())
                }
            })
            .and_then(|b| serde_json::from_slice::<Doc>(&b).map_err(|e| e.to_string()));
        let w = match read {
            Ok(Doc { window: Some(w) }) => w,
            Ok(Doc { window: None }) => {
                self.error(
                    ErrorKind::Input,
                    format!(
                        "{} holds no window settings (`optimize` writes those; run \
                     deepvis optimize --from on it)",
                        json.display()
                    ),
                );
                return;
            }
            Err(e) => {
                self.error(
                    ErrorKind::Input,
                    format!("{} is no exported picture's sidecar: {e}", json.display()),
                );
                return;
            }
        };
        if let Err(e) = w.optim.effective().validate() {
            self.error(ErrorKind::Input, format!("{}: {e}", json.display()));
            return;
        }
        match self.layers.iter().position(|l| l.name == w.layer) {
            Some(i) => {
                self.select_layer(i);
                if self.layers[i].channels > w.unit {
                    self.select_unit(w.unit);
                }
            }
            None => self.error(
                ErrorKind::Input,
                format!(
                    "{} is of layer {}, which this model does not have",
                    json.display(),
                    w.layer
                ),
            ),
        }
        self.persisted.optim = w.optim;
        self.optim_changed();
        self.note(format!("restored the settings of {}", json.display()));
    }

    /// Loads the index a `deepvis topk` run left in `dir`; a bad folder is a message.
    pub fn load_topk(&mut self, dir: &Path) {
        match deepvis_topk::Index::load(dir) {
            Ok(index) => {
                self.persisted.topk_dir = Some(dir.to_path_buf());
                self.topk_input = dir.display().to_string();
                self.topk = Some(TopkView {
                    dir: dir.to_path_buf(),
                    index,
                    shown: None,
                });
            }
            Err(e) => self.error(ErrorKind::File, format!("cannot load the top-k index: {e}")),
        }
    }

    /// The index entry of the selected unit, when the loaded index is of the grid layer.
    pub fn topk_entry(&self) -> Option<&deepvis_topk::IndexChannel> {
        let t = self.topk.as_ref()?;
        let layer = self.persisted.layer.as_deref()?;
        let c = self.persisted.selected?;
        let model_ok = self.model.as_deref().is_none_or(|m| m == t.index.model);
        (t.index.layer == layer && model_ok)
            .then(|| t.index.channels.get(c))
            .flatten()
    }

    /// Reads the selected unit's montage when the selection or the index changed.
    fn refresh_topk(&mut self) {
        let key = self.persisted.layer.clone().zip(self.persisted.selected);
        let Some(t) = self.topk.as_ref() else { return };
        if t.shown == key {
            return;
        }
        let c = self.topk_entry().and(key.as_ref()).map(|k| k.1);
        let pics = [
            (Pic::Topk, c.and_then(|c| t.index.montage(&t.dir, c))),
            (
                Pic::TopkBack,
                c.and_then(|c| t.index.back_montage(&t.dir, c)),
            ),
        ];
        for (pic, path) in pics {
            let img = match path {
                Some(p) => match read_montage(&p) {
                    Ok(i) => Some(rgb_to_color(&i)),
                    Err(e) => {
                        self.error(ErrorKind::File, format!("cannot read {}: {e}", p.display()));
                        None
                    }
                },
                None => None,
            };
            match img {
                Some(i) => self.pics.set(pic, i),
                None => self.pics.clear(pic),
            }
        }
        if let Some(t) = self.topk.as_mut() {
            t.shown = key;
        }
    }

    /// Sends a command to the worker (remembered in `sent`).
    pub fn send(&mut self, c: Command) {
        let _ = self.commands.send(c.clone());
        self.sent.push(c);
        if self.sent.len() > 200 {
            self.sent.drain(..100);
        }
    }

    /// Adds a notice to the messages the status bar shows.
    pub fn note(&mut self, m: String) {
        self.push_message(Message {
            kind: None,
            text: m,
        });
    }

    /// Adds an error of `kind` to the messages the status bar shows.
    pub fn error(&mut self, kind: ErrorKind, m: String) {
        self.push_message(Message {
            kind: Some(kind),
            text: m,
        });
    }

    fn push_message(&mut self, m: Message) {
        self.messages.push(m);
        if self.messages.len() > 20 {
            self.messages.remove(0);
        }
    }

    /// Handles one event.
    pub fn apply(&mut self, e: Event) {
        match e {
            Event::Preparing(p) => self.preparing = Some(words::preparing(&p)),
            Event::Ready {
                model,
                backend,
                layers,
                grid_layer,
            } => {
                self.preparing = None;
                self.model = Some(model);
                self.backend = backend;
                // a layer of another model (a switch, or older settings) is replaced
                let known = |l: &String| layers.iter().any(|x| &x.name == l);
                if !self.persisted.layer.as_ref().is_some_and(known) {
                    self.persisted.layer = Some(grid_layer);
                    self.persisted.selected = None;
                }
                self.layers = layers;
            }
            Event::Mended { model, mended } => {
                // the worker's settings are the truth: the window's follow them
                for m in &mended {
                    match m {
                        deepvis_protocol::Mended::Layer { now, .. } => {
                            self.persisted.layer = Some(now.clone())
                        }
                        deepvis_protocol::Mended::Unit { now, .. } => {
                            self.persisted.selected = *now
                        }
                        deepvis_protocol::Mended::BackPos { .. } => self.persisted.back.pos = None,
                        deepvis_protocol::Mended::DirectionAt { .. } => {
                            self.persisted.optim.direction_at = None
                        }
                    }
                }
                self.note(words::mended(&model, &mended));
            }
            Event::Source { label, state } => {
                let message = words::source(&label, &state);
                self.source = (label, state.ok(), message)
            }
            Event::Input(img) => self.pics.set(Pic::Input, rgb_to_color(&img)),
            Event::Playback(p) => {
                // the worker's report is the truth on whether the clip plays
                if let Some(p) = &p {
                    self.frozen = p.paused;
                }
                self.player.set_playback(p)
            }
            Event::Exported { png, json } => {
                self.note(format!("saved {} and {}", png.display(), json.display()));
                self.exported = Some((png, json));
            }
            Event::Recording { what, status } => {
                if let Some(e) = &status.error {
                    self.error(
                        ErrorKind::File,
                        format!("recording {}: {e}", status.path.display()),
                    );
                } else if status.done {
                    self.note(format!(
                        "saved {} ({} frames)",
                        status.path.display(),
                        status.frames
                    ));
                }
                self.player.set_recording(what, status)
            }
            Event::Grid {
                layer,
                image,
                cols,
                rows,
                tile_w,
                tile_h,
                maxima,
            } => {
                let t = self.started.elapsed().as_secs_f64();
                self.grid_pane.activity.push(&layer, t, &maxima);
                self.grid = Some(GridView {
                    layer,
                    cols,
                    rows,
                    tile_w,
                    tile_h,
                    maxima,
                    size: [image.width() as usize, image.height() as usize],
                });
                self.pics.set(Pic::Grid, gray_to_color(&image));
            }
            Event::UnitMap(m) => {
                self.pics
                    .set(Pic::Unit, map_to_color(&m.values, m.width, m.height));
                self.unit = Some(m);
            }
            Event::Back { info, image } => {
                self.pics.set(Pic::Back, rgb_to_color(&image));
                self.back_progress = None;
                self.back = Some(info);
            }
            Event::BackProgress {
                compare: false,
                method,
                done,
                total,
            } => self.back_progress = Some((method, done, total)),
            Event::BackProgress {
                compare: true,
                method,
                done,
                total,
            } => self.compare.set_progress(method, done, total),
            Event::Compare { info, image } => self.compare.set(info, &image),
            Event::Sanity(r) => self.sanity.set(r),
            Event::SessionTop {
                layer,
                channel,
                montage,
                scores,
            } => {
                self.pics.set(Pic::Session, rgb_to_color(&montage));
                self.session = Some((layer, channel, scores));
            }
            Event::Telemetry { run, points } => {
                let t = &mut self.telemetry;
                if t.run != run {
                    *t = TelemetryView {
                        run,
                        ..TelemetryView::default()
                    };
                }
                if t.first_argmax.is_none() {
                    t.first_argmax = points.iter().find(|p| p.is_argmax).map(|p| p.iter);
                }
                t.points.extend(points);
                if t.points.len() > TELEMETRY_CAP {
                    // keep every other point: the plot's shape, bounded memory
                    let mut i = 0;
                    t.points.retain(|_| {
                        i += 1;
                        i % 2 == 1
                    });
                }
            }
            Event::Predictions(p) => self.predictions = p,
            Event::Preferred {
                layer,
                channel,
                image,
                captions,
                iteration,
                objective,
                activation,
                mode,
            } => {
                if iteration > 0
                    && self
                        .stopped
                        .as_ref()
                        .is_some_and(|s| s.0 != StopReason::ZeroGrad)
                {
                    self.stopped = None;
                }
                self.pics.set(Pic::Preferred, rgb_to_color(&image));
                self.preferred = Some(PreferredView {
                    layer,
                    channel,
                    iteration,
                    objective,
                    activation,
                    mode: words::run_mode(mode),
                    captions,
                });
            }
            Event::Judged {
                layer,
                channel,
                verdicts,
            } => self.judged = Some((layer, channel, verdicts)),
            Event::Stopped { reason, iterations } => {
                self.stopped = Some((reason, words::stop_message(reason, iterations)))
            }
            Event::Cameras(c) => self.cameras = c,
            Event::Stats {
                grid_fps,
                optim_ips,
                back_fps,
            } => {
                self.grid_fps = grid_fps;
                self.optim_ips = optim_ips;
                self.back_fps = back_fps;
            }
            Event::Error(f) => {
                // an error before the model is ready ends the preparing
                if self.model.is_none() {
                    self.preparing = None;
                }
                self.error(f.kind, words::failure(&f))
            }
            Event::WorkerPaused { crashes, seconds } => {
                self.preparing = None;
                self.worker_paused = Some((crashes, seconds));
                self.note(format!(
                    "the worker crashed {crashes} times within {seconds} s and is paused"
                ));
            }
            Event::Restarted { panic, crashes } => {
                self.preparing = Some(words::preparing(&deepvis_protocol::Preparing::Restarting));
                self.worker_paused = None;
                // what the worker does not keep in its settings
                self.back_progress = None;
                self.sanity.running = false;
                // its recordings were closed with it (the files are whole)
                self.player.worker_restarted();
                if self.compare.on {
                    self.send(Command::SetCompare(true));
                }
                self.note(words::restarted(panic.as_deref(), crashes))
            }
        }
    }

    /// Drains waiting events for at most `budget`; keeps only the newest images.
    pub fn drain(&mut self, budget: Duration) -> usize {
        let t0 = Instant::now();
        let mut n = 0;
        while t0.elapsed() < budget {
            match self.events.try_recv() {
                Ok(e) => {
                    self.apply(e);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Draws the whole window into `ui` (after draining events).
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let t0 = Instant::now();
        self.drain(DRAIN_BUDGET);
        self.refresh_topk();
        self.pics.upload(ui.ctx());
        self.compare.upload(ui.ctx());
        self.keyboard(ui);
        panes::top_bar(self, ui);
        panes::status_bar(self, ui);
        let lw = self.persisted.left_width;
        self.persisted.left_width = side_panel(ui, egui::Panel::left("left"), lw, |ui| {
            // the input and its back-projection side by side
            ui.columns(2, |cols| {
                if let [a, b] = cols {
                    panes::input_pane(self, a);
                    attribution::attribution_pane(self, b);
                }
            });
            if self.compare.on {
                ui.separator();
                let under = self
                    .persisted
                    .overlay
                    .then(|| self.pics.get(Pic::Input).cloned())
                    .flatten();
                self.compare.ui(ui, under.as_ref());
            }
            if self.sanity.report.is_some() {
                ui.separator();
                self.sanity.ui(ui);
            }
            ui.separator();
            panes::unit_pane(self, ui);
        });
        let rw = self.persisted.right_width;
        self.persisted.right_width = side_panel(ui, egui::Panel::right("right"), rw, |ui| {
            // the essentials first (they fit 1280x800 unscrolled), the rest folds
            panes::preferred_pane(self, ui);
            ui.separator();
            panes::telemetry_pane(self, ui);
            egui::CollapsingHeader::new("regularizers and learning rate")
                .default_open(true)
                .show(ui, |ui| panes::optim_settings(self, ui));
            egui::CollapsingHeader::new("parameterization, transforms, update")
                .default_open(true)
                .show(ui, |ui| method::knobs(self, ui));
            egui::CollapsingHeader::new("start, seed and objective")
                .default_open(true)
                .show(ui, |ui| panes::start_settings(self, ui));
            egui::CollapsingHeader::new("learning rate and gradient norm")
                .show(ui, |ui| panes::gradient_plot(self, ui));
            egui::CollapsingHeader::new("top 9")
                .default_open(true)
                .show(ui, |ui| panes::topk_pane(self, ui));
        });
        egui::CentralPanel::default().show(ui, |ui| panes::grid_pane(self, ui));
        if self.show_help {
            panes::help_overlay(self, ui);
        }
        self.ui_frame_ms = t0.elapsed().as_secs_f32() * 1e3;
    }

    /// The index of the current layer in the layer list.
    pub fn layer_index(&self) -> Option<usize> {
        let name = self.persisted.layer.as_deref()?;
        self.layers.iter().position(|l| l.name == name)
    }

    /// Shows layer `i` of the list.
    pub fn select_layer(&mut self, i: usize) {
        if let Some(l) = self.layers.get(i) {
            let name = l.name.clone();
            let channels = l.channels;
            self.persisted.layer = Some(name.clone());
            self.persisted.selected = self.persisted.selected.filter(|&c| c < channels);
            self.grid = None;
            self.forget_unit_views();
            self.send(Command::SelectLayer(name));
        }
    }

    /// Selects a channel of the grid layer.
    pub fn select_unit(&mut self, c: usize) {
        self.persisted.selected = Some(c);
        self.stopped = None;
        self.preferred = None;
        self.forget_unit_views();
        self.send(Command::SelectUnit(c));
    }

    /// Drops what belonged to the previous unit: its back-projection, its session frames and
    /// the position chosen in its map.
    fn forget_unit_views(&mut self) {
        self.back = None;
        self.back_progress = None;
        self.compare.clear();
        self.sanity = SanityView::default();
        self.session = None;
        self.pics.clear(Pic::Back);
        self.pics.clear(Pic::Session);
        if self.persisted.back.pos.take().is_some() {
            self.back_changed();
        }
    }

    /// Switches to another frame source (remembered for the next start).
    pub fn set_source(&mut self, spec: SourceSpec) {
        self.persisted.source = Some(spec.clone());
        self.send(Command::SetSource(spec));
    }

    /// Shows every method side by side (true) or stops (false).
    pub fn set_compare(&mut self, on: bool) {
        self.compare.on = on;
        if !on {
            self.compare.clear();
        }
        self.send(Command::SetCompare(on));
    }

    /// Sends the back-projection settings after a change (what was under way for the pane
    /// starts over).
    pub fn back_changed(&mut self) {
        self.back_progress = None;
        let b = self.persisted.back.clone();
        self.send(Command::SetBack(b));
    }

    /// Sends the optimizer settings after a change.
    pub fn optim_changed(&mut self) {
        let o = self.persisted.optim;
        self.send(Command::SetOptim(o));
    }

    fn keyboard(&mut self, ui: &mut egui::Ui) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let keys: Vec<(egui::Key, bool)> = ui.input(|i| {
            i.events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::Key {
                        key,
                        pressed: true,
                        modifiers,
                        ..
                    } => Some((*key, modifiers.shift)),
                    _ => None,
                })
                .collect()
        });
        for (key, shift) in keys {
            panes::on_key(self, key, shift);
        }
    }
}
