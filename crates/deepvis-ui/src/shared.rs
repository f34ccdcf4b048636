//! The state every pane reads, and the actions any pane may take through it.

use std::path::Path;
use std::time::Instant;

use crossbeam_channel::Sender;
use deepvis_protocol::{
    Backend, Command, ErrorKind, Event, LayerSummary, Mended, OptimSettings, Params, Playback,
    Preparing, RecordingStatus, SourceSpec,
};
use serde::Deserialize;

use crate::{Activity, Message, Persisted, words};

/// The frame source as the window shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceLine {
    /// Its label.
    pub label: String,
    /// Whether it delivers frames.
    pub ok: bool,
    /// How it stands, in words.
    pub message: String,
}

/// What the panes share.
pub struct Shared {
    commands: Sender<Command>,
    /// What persists.
    pub persisted: Persisted,
    /// Model name, once ready.
    pub model: Option<String>,
    /// Where the network runs.
    pub backend: Backend,
    /// The network's layers.
    pub layers: Vec<LayerSummary>,
    /// A line while the worker prepares.
    pub preparing: Option<String>,
    /// The frame source.
    pub source: SourceLine,
    /// Whether frames are frozen.
    pub frozen: bool,
    /// Where the clip stands (None: the source is no video).
    pub playback: Option<Playback>,
    /// The grid layer's maxima over time (the grid's order, the unit's sparkline).
    pub activity: Activity,
    /// Whether the help overlay shows.
    pub show_help: bool,
    /// What the attention view shows (a vision transformer's), while it is open.
    pub attention: Option<deepvis_protocol::AttentionAsk>,
    /// Recent errors and notices (newest last).
    pub messages: Vec<Message>,
    /// Commands sent, newest last (for tests and the status bar).
    pub sent: Vec<Command>,
    /// Commands the panes have not seen yet.
    unseen: Vec<Command>,
    started: Instant,
}

/// The part of an exported picture's sidecar the window restores.
#[derive(Deserialize)]
struct SidecarWindow {
    layer: String,
    unit: usize,
    optim: OptimSettings,
}

impl Shared {
    /// The state of a window sending to `commands`.
    pub(crate) fn new(commands: Sender<Command>, persisted: Persisted) -> Shared {
        Shared {
            commands,
            persisted,
            model: None,
            backend: Backend::default(),
            layers: Vec::new(),
            preparing: Some(words::preparing(&Preparing::Starting)),
            source: SourceLine {
                ok: true,
                ..SourceLine::default()
            },
            frozen: false,
            playback: None,
            activity: Activity::default(),
            show_help: false,
            attention: None,
            messages: Vec::new(),
            sent: Vec::new(),
            unseen: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Takes the shared part of an event (the panes take theirs after).
    pub(crate) fn apply(&mut self, e: &Event) {
        match e {
            Event::Preparing(p) => self.preparing = Some(words::preparing(p)),
            Event::Ready {
                model,
                backend,
                layers,
                grid_layer,
            } => self.ready(model, backend, layers, grid_layer),
            Event::Mended { model, mended } => self.mended(model, mended),
            Event::Source { label, state } => {
                self.source = SourceLine {
                    label: label.clone(),
                    ok: state.ok(),
                    message: words::source(label, state),
                }
            }
            Event::Playback(p) => {
                // the worker's report is the truth on whether the clip plays
                if let Some(p) = p {
                    self.frozen = p.paused;
                }
                self.playback = p.clone();
            }
            Event::Exported { png, json } => {
                self.note(format!("saved {} and {}", png.display(), json.display()))
            }
            Event::Recording { status, .. } => self.recording_note(status),
            Event::Grid { layer, maxima, .. } => {
                let t = self.started.elapsed().as_secs_f64();
                self.activity.push(layer, t, maxima);
            }
            Event::Error(f) => {
                // an error before the model is ready ends the preparing
                if self.model.is_none() {
                    self.preparing = None;
                }
                self.error(f.kind, words::failure(f))
            }
            Event::WorkerPaused { crashes, seconds } => {
                self.preparing = None;
                self.note(format!(
                    "the worker crashed {crashes} times within {seconds} s and is paused"
                ));
            }
            Event::Restarted { panic, crashes } => {
                self.preparing = Some(words::preparing(&Preparing::Restarting));
                // the source is opened anew
                self.playback = None;
                self.note(words::restarted(panic.as_deref(), *crashes))
            }
            _ => {}
        }
    }

    /// The model is ready: its layers; a layer of another model (a switch, or older settings)
    /// is replaced by the model's grid layer.
    fn ready(&mut self, model: &str, backend: &Backend, layers: &[LayerSummary], grid_layer: &str) {
        self.preparing = None;
        self.model = Some(model.to_string());
        self.backend = backend.clone();
        let known = |l: &String| layers.iter().any(|x| &x.name == l);
        if !self.persisted.layer.as_ref().is_some_and(known) {
            self.persisted.layer = Some(grid_layer.to_string());
            self.persisted.selected = None;
        }
        self.layers = layers.to_vec();
    }

    /// Settings of another model were mended by the worker at load: its settings are the
    /// truth, the window's follow them, and it says so once.
    fn mended(&mut self, model: &str, mended: &[Mended]) {
        for m in mended {
            match m {
                Mended::Layer { now, .. } => self.persisted.layer = Some(now.clone()),
                Mended::Unit { now, .. } => self.persisted.selected = *now,
                Mended::BackPos { .. } => self.persisted.back.pos = None,
                Mended::DirectionAt { .. } => self.persisted.optim.direction_at = None,
                Mended::Attribution { now, .. } => self.persisted.back.mode = *now,
                Mended::Method { now, .. } => self.persisted.optim.use_method(*now, false),
            }
        }
        self.note(words::mended(model, mended));
    }

    /// A recording failed (an error) or was saved (a notice).
    fn recording_note(&mut self, status: &RecordingStatus) {
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
    }

    /// Sends a command to the worker (remembered in `sent`; the panes see it next).
    pub fn send(&mut self, c: Command) {
        // a worker that is gone is restarted or reported by the window's owner; the window
        // keeps working meanwhile
        let _ = self.commands.send(c.clone());
        self.unseen.push(c.clone());
        self.sent.push(c);
        if self.sent.len() > 200 {
            self.sent.drain(..100);
        }
    }

    /// The commands sent since the panes last saw them.
    pub(crate) fn take_unseen(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.unseen)
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

    /// The index of the current layer in the layer list.
    pub fn layer_index(&self) -> Option<usize> {
        let name = self.persisted.layer.as_deref()?;
        self.layers.iter().position(|l| l.name == name)
    }

    /// Shows layer `i` of the list (the panes forget the previous layer's views).
    pub fn select_layer(&mut self, i: usize) {
        if let Some(l) = self.layers.get(i) {
            let name = l.name.clone();
            let channels = l.channels;
            self.persisted.layer = Some(name.clone());
            self.persisted.selected = self.persisted.selected.filter(|&c| c < channels);
            self.forget_position();
            self.send(Command::SelectLayer(name));
        }
    }

    /// Shows the previous (`forward` false) or next layer, wrapping.
    pub fn step_layer(&mut self, forward: bool) {
        let len = self.layers.len();
        if len > 0 {
            let cur = self.layer_index().unwrap_or(0);
            let next = if forward {
                (cur + 1) % len
            } else {
                (cur + len - 1) % len
            };
            self.select_layer(next);
        }
    }

    /// Selects a channel of the grid layer (the panes forget the previous unit's views).
    pub fn select_unit(&mut self, c: usize) {
        self.persisted.selected = Some(c);
        self.forget_position();
        self.send(Command::SelectUnit(c));
    }

    /// Drops the position chosen in the previous unit's map.
    fn forget_position(&mut self) {
        if self.persisted.back.pos.take().is_some() {
            self.back_changed();
        }
    }

    /// Switches to another frame source (remembered for the next start).
    pub fn set_source(&mut self, spec: SourceSpec) {
        self.persisted.source = Some(spec.clone());
        self.send(Command::SetSource(spec));
    }

    /// Freezes or unfreezes the frames (a clip: pauses or plays it).
    pub fn freeze(&mut self, on: bool) {
        self.frozen = on;
        self.send(Command::Freeze(on));
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
                self.freeze(true);
            }
            None => self.set_source(SourceSpec::Path(path.to_path_buf())),
        }
    }

    /// Restores the settings an exported picture's sidecar holds (its layer, unit and every
    /// preferred-image setting); a file that is no such sidecar is a message.
    pub fn restore_settings(&mut self, json: &Path) {
        let w = match read_sidecar(json) {
            Ok(w) => w,
            Err(m) => return self.error(ErrorKind::Input, m),
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
        // a picture's settings restored are the user's choice, its method included
        self.set_optim(OptimSettings {
            method_chosen: Some(true),
            ..w.optim
        });
        self.note(format!("restored the settings of {}", json.display()));
    }

    /// Sends the back-projection settings after a change (what was under way for them starts
    /// over).
    pub fn back_changed(&mut self) {
        let b = self.persisted.back.clone();
        self.send(Command::SetBack(b));
    }

    /// Sends the optimizer settings after a change.
    pub fn optim_changed(&mut self) {
        let o = self.persisted.optim;
        self.send(Command::SetOptim(o));
    }

    /// Takes and sends new optimizer settings.
    pub fn set_optim(&mut self, o: OptimSettings) {
        self.persisted.optim = o;
        self.optim_changed();
    }

    /// The paper's regularization preset `n` (1..=4), keeping the seed, the start, the
    /// objective and whether the run ends.
    pub fn apply_preset(&mut self, n: u8) {
        if let Ok(p) = Params::preset(n) {
            let keep = self.persisted.optim;
            let mut o = OptimSettings::from_preset(p);
            o.seed = keep.seed;
            o.start = keep.start;
            o.pre_relu = keep.pre_relu;
            o.suppress = keep.suppress;
            o.endless = keep.endless;
            // a preset is the paper's method, chosen
            o.method_chosen = Some(true);
            self.set_optim(o);
        }
    }

    /// Runs or pauses the preferred image.
    pub fn set_running(&mut self, on: bool) {
        self.persisted.running = on;
        self.send(Command::SetRunning(on));
    }
}

/// The window settings of an exported picture's sidecar, or why there are none.
fn read_sidecar(json: &Path) -> Result<SidecarWindow, String> {
    #[derive(Deserialize)]
    struct Doc {
        window: Option<SidecarWindow>,
    }
    let read = std::fs::metadata(json)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            if !m.is_file() {
                Err("not a regular file (a named pipe, a device or a socket)".into())
            } else if m.len() > 64 << 20 {
                Err("too large for a sidecar".into())
            } else {
                std::fs::read(json).map_err(|e| e.to_string())
            }
        })
        .and_then(|b| serde_json::from_slice::<Doc>(&b).map_err(|e| e.to_string()));
    match read {
        Ok(Doc { window: Some(w) }) => Ok(w),
        Ok(Doc { window: None }) => Err(format!(
            "{} holds no window settings (`optimize` writes those; run \
             deepvis optimize --from on it)",
            json.display()
        )),
        Err(e) => Err(format!(
            "{} is no exported picture's sidecar: {e}",
            json.display()
        )),
    }
}
