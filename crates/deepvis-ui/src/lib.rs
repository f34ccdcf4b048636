//! The deepvis window: its panes (the input with its attribution maps, the layer grid, the
//! selected unit, its preferred image with the optimization's plots, its top-9 images, the bars
//! and the help) drawn from the worker's [`Event`]s, turning the user's clicks, sliders and keys
//! into [`Command`]s. Knows nothing of the model or the device.
//!
//! [`DeepvisApp`] holds the [`Shared`] state (the persisted settings, the layers, the command
//! sender) and the [`Panes`], each a struct owning its state ([`Pane`]); it routes every event
//! to them and draws each where its [`Place`] says.

pub mod activity;
pub mod attention;
pub mod attribution;
mod compare;
pub mod input;
pub mod keys;
mod method;
pub mod pane;
mod picture;
pub mod player;
mod settings;
mod shared;
mod tcav;
pub mod telemetry;
pub mod tiles;
pub mod words;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use deepvis_protocol::{BackSettings, Command, ErrorKind, Event, Inbox, OptimSettings, SourceSpec};
use serde::{Deserialize, Serialize};

pub use activity::{Activity, SortMode};
pub use atlas::{AtlasProgram, Ended as AtlasEnded};
pub use attention::AttentionView;
pub use attribution::{CompareView, SanityView};
pub use grid::{DrawnGrid, GridFit, GridPane, GridView};
pub use keys::{BINDINGS, Binding};
pub use pane::{Pane, Place};
pub use picture::map_to_color;
pub use preferred::PreferredView;
pub use shared::{Shared, SourceLine};
pub use tcav::TcavAsk;
pub use telemetry::{TELEMETRY_CAP, TelemetryView};
pub use topk::{MAX_MONTAGE_SIDE, TopkView, read_montage};

// The registry: every pane's module and type, in drawing order within each place. Adding a pane
// is its file and one line here.
pane::registry! {
    /// The bar on top: model, layer, source, freeze, help, theme.
    top::TopBar,
    /// The status bar: model, backend, source, speeds, the latest message.
    status::StatusBar,
    /// The input beside its attribution, every method side by side, the sanity check.
    frame::FramePane,
    /// The selected unit's map, activity and the top-5 classes.
    unit::UnitPane,
    /// A concept taught with the camera: its gauge and its map over the frame.
    concept::ConceptPane,
    /// The preferred image, its run, its plots and its settings.
    preferred::PreferredPane,
    circuit::CircuitPane,
    /// The selected unit's top-9 images.
    topk::TopkPane,
    /// The atlas of the grid's layer as a web site, made in a process of its own.
    atlas::AtlasPane,
    /// Every channel of the layer.
    grid::GridPane,
    /// The key bindings.
    help::HelpOverlay,
}

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
    /// Draw the network's output over the input when it is a map or boxes.
    pub show_output: bool,
    /// The top-k index folder last loaded.
    pub topk_dir: Option<PathBuf>,
    /// The grid's tile order.
    pub grid_sort: SortMode,
    /// Seconds the grid's "recent" order averages over.
    pub recent_secs: f32,
    /// Screen pixels per map pixel of the grid's tiles (`None`: fit the pane).
    pub grid_zoom: Option<u32>,
    /// How the tiles fit the pane when `grid_zoom` is `None` (older settings: "fill").
    pub grid_fit: GridFit,
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
            show_output: true,
            topk_dir: None,
            grid_sort: SortMode::Channel,
            recent_secs: 10.0,
            grid_zoom: None,
            grid_fit: GridFit::Fill,
        }
    }
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

/// The whole window: the state the panes share, and the panes.
pub struct DeepvisApp {
    shared: Shared,
    /// Every pane, each with its own state.
    pub panes: Panes,
    events: Inbox,
}

/// The app reads as its shared state (`app.persisted`, `app.select_unit(c)`, ...).
impl Deref for DeepvisApp {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl DerefMut for DeepvisApp {
    fn deref_mut(&mut self) -> &mut Shared {
        &mut self.shared
    }
}

/// How long one frame may spend draining events.
pub const DRAIN_BUDGET: Duration = Duration::from_millis(4);

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

impl DeepvisApp {
    /// A window speaking to a worker through these channels.
    pub fn new(commands: Sender<Command>, events: Inbox, persisted: Persisted) -> Self {
        let topk_dir = persisted.topk_dir.clone();
        let mut app = DeepvisApp {
            shared: Shared::new(commands, persisted),
            panes: Panes::default(),
            events,
        };
        if let Some(d) = topk_dir {
            app.panes.topk.input = d.display().to_string();
            if d.join("index.json").is_file() {
                app.load_topk(&d);
            }
        }
        app
    }

    /// How the atlas pane starts `deepvis atlas` and the concept pane `deepvis concept tcav`
    /// (without it, they cannot).
    pub fn set_atlas_program(&mut self, program: AtlasProgram) {
        self.panes.concept.program = Some(program.clone());
        self.panes.atlas.program = Some(program);
    }

    /// Loads the index a `deepvis topk` run left in `dir`; a bad folder is a message.
    pub fn load_topk(&mut self, dir: &Path) {
        self.panes.topk.load(dir, &mut self.shared);
    }

    /// Handles one event: the shared state takes its part, then every pane its own.
    pub fn apply(&mut self, e: Event) {
        // what the window asked before this event happened first
        self.flush();
        self.shared.apply(&e);
        for p in self.panes.all_mut() {
            p.apply(&e, &mut self.shared);
        }
        self.flush();
    }

    /// Shows the panes the commands sent since they last looked.
    fn flush(&mut self) {
        for c in self.shared.take_unseen() {
            for p in self.panes.all_mut() {
                p.seen(&c);
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
        self.flush();
        self.drain(DRAIN_BUDGET);
        for p in self.panes.all_mut() {
            p.prepare(ui.ctx(), &mut self.shared);
        }
        self.keyboard(ui);
        egui::Panel::top("top").show(ui, |ui| self.draw(ui, Place::Top));
        egui::Panel::bottom("status").show(ui, |ui| self.draw(ui, Place::Bottom));
        let lw = self.persisted.left_width;
        let lw = side_panel(ui, egui::Panel::left("left"), lw, |ui| {
            self.draw(ui, Place::Left)
        });
        self.shared.persisted.left_width = lw;
        let rw = self.persisted.right_width;
        let rw = side_panel(ui, egui::Panel::right("right"), rw, |ui| {
            self.draw(ui, Place::Right)
        });
        self.shared.persisted.right_width = rw;
        egui::CentralPanel::default().show(ui, |ui| self.draw(ui, Place::Center));
        self.draw(ui, Place::Overlay);
        self.panes.status.ui_frame_ms = t0.elapsed().as_secs_f32() * 1e3;
    }

    /// Draws the panes of `place` in registry order, each in a region of its name; then they
    /// see what any of them sent.
    fn draw(&mut self, ui: &mut egui::Ui, place: Place) {
        for p in self.panes.all_mut() {
            if p.place() == place {
                pane::labelled(ui, p.name(), |ui| p.ui(ui, &mut self.shared));
            }
        }
        self.flush();
    }

    /// The key presses of this frame, looked up in the key table (none while a text field
    /// has the keyboard).
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
            keys::on_key(self, key, shift);
        }
        self.flush();
    }
}
