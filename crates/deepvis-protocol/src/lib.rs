//! What the UI and the worker say to each other: two enums, [`Command`] (UI to worker) and
//! [`Event`] (worker to UI), and the settings they carry. No model, no window.

pub mod canvas;
pub mod circuit;
pub mod concept;
pub mod failure;
pub mod method;
mod named;
pub mod params;
pub mod penalty;
pub mod queue;
pub mod regularizer;
pub mod run;
pub mod transforms;
pub mod video;

use std::path::PathBuf;

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

pub use canvas::Canvas;
pub use circuit::{CircuitInput, CircuitSide, CircuitView, ThumbOf};
pub use concept::{ConceptFit, ConceptSide};
pub use deepvis_viz::mode::{
    AttrKnob, AttrKnobKind, AttrOptions, Baseline, IgOptions, MAX_PASSES, OcclusionOptions,
    SmoothGradOptions,
};
pub use deepvis_viz::{
    BackFilter, BackMode, ClassProb, ColorMap, Detection, OutputKind, OutputReading,
};
pub use failure::{Doing, ErrorKind, Failure, Mended, Preparing, SourceState};
pub use method::{Method, MethodKind, ParamKind};
pub use params::{LrPolicy, Params};
pub use penalty::{Axis, Penalties, PenaltyKind, PixelOps};
pub use queue::{Inbox, Outbox, queue};
pub use regularizer::{Knob, RegularizerKind, RegularizerSpec};
pub use run::{RunMode, StopReason, Telemetry};
pub use transforms::{Affine, TransformKind, Transforms};
pub use video::{Playback, PlayerCommand, RecordTarget, RecordingStatus};

/// Where frames come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceSpec {
    /// A webcam, by index, at a requested resolution (the command line's `--camera`; the
    /// same as the `camera` device).
    Camera {
        /// The camera's index (0 = the first).
        index: u32,
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// An image file, or a folder of images (next / previous).
    Path(PathBuf),
    /// A moving synthetic pattern (tests, demos without a camera; the command line's
    /// `--synthetic`).
    Synthetic {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Frames per second produced.
        fps: u32,
    },
    /// A device of a kind the sources' device table lists (the window offers what
    /// [`Event::Devices`] says, and knows no kind by name).
    Device(DeviceRef),
}

/// One device: its kind (a key of the sources' device table, e.g. `camera`), its number
/// among that kind's devices, and the size asked of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    /// The kind's key in the device table.
    pub kind: String,
    /// Which of the kind's devices (0 = the first).
    pub index: u32,
    /// Requested width.
    pub width: u32,
    /// Requested height.
    pub height: u32,
}

/// A device the window may offer in its source picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceOffer {
    /// How the picker names it (`camera 0: Integrated Webcam`).
    pub label: String,
    /// What choosing it asks for.
    pub device: DeviceRef,
}

/// When the objective uses the layer's value before its ReLU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PreReluMode {
    /// Never (the paper's algorithm: a silent unit stops with a zero gradient).
    Off,
    /// Always.
    On,
    /// Before the unit is alive (its post-ReLU value is zero), then the faithful objective.
    #[default]
    Auto,
}

/// Where the preferred image starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum StartFrom {
    /// Seeded N(0, 10) noise.
    #[default]
    Noise,
    /// The current input frame.
    Frame,
}

/// What the preferred-image pane runs: one image, or several side by side in one batch (one
/// forward and backward pass per step for all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OptimView {
    /// One image of the selected unit.
    #[default]
    Single,
    /// The paper's four presets side by side.
    ComparePresets,
    /// The three methods (paper 2015, Fourier + transforms, MACO) side by side.
    CompareMethods,
    /// Several images of the unit that differ (a diversity term across them).
    Diversity,
}

impl OptimView {
    /// Every view, in the picker's order.
    pub const ALL: [OptimView; 4] = [
        OptimView::Single,
        OptimView::ComparePresets,
        OptimView::CompareMethods,
        OptimView::Diversity,
    ];

    /// What the window shows.
    pub fn label(self) -> &'static str {
        match self {
            OptimView::Single => "single",
            OptimView::ComparePresets => "compare presets",
            OptimView::CompareMethods => "compare methods",
            OptimView::Diversity => "diversity",
        }
    }
}

/// Everything the user controls about the preferred image. A field missing from saved settings
/// (an older version's) takes the default's value; the others are kept.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimSettings {
    /// The values of every knob (kept while a regularizer is switched off).
    pub params: Params,
    /// L2 decay on.
    pub decay_on: bool,
    /// Blur on.
    pub blur_on: bool,
    /// Small-norm clipping on.
    pub norm_on: bool,
    /// Small-contribution clipping on.
    pub contrib_on: bool,
    /// Seed of the start noise.
    pub seed: u64,
    /// Start image.
    pub start: StartFrom,
    /// Pre-ReLU objective.
    pub pre_relu: PreReluMode,
    /// Push the unit down instead of up.
    pub suppress: bool,
    /// Keep going past `max_iter` (the live view never ends by itself).
    pub endless: bool,
    /// The parameterization, transforms, penalties and update rule.
    pub method: Method,
    /// One image, a comparison, or diverse images.
    pub view: OptimView,
    /// How many images the diversity view makes (2..=8).
    pub diversity: u32,
    /// The diversity term's weight.
    pub diversity_weight: f32,
    /// Optimize the direction of the grid layer's activation vector at this map position of
    /// the current frame (what the network sees there) instead of the selected unit.
    pub direction_at: Option<(usize, usize)>,
    /// Tint the pixels the paper's norm and contribution clipping zeroed.
    pub show_clipped: bool,
    /// Whether the user chose the method (`Some(false)`: the model's default set it;
    /// `None`: not said, as in older settings, see [`OptimSettings::method_was_chosen`]). A
    /// method the user did not choose follows the model's default when another model loads.
    pub method_chosen: Option<bool>,
}

impl Default for OptimSettings {
    fn default() -> OptimSettings {
        OptimSettings::from_preset(Params::PRESET_3)
    }
}

impl OptimSettings {
    /// Settings with every regularizer that `params` uses switched on.
    pub fn from_preset(params: Params) -> OptimSettings {
        let mut o = OptimSettings {
            params,
            decay_on: false,
            blur_on: false,
            norm_on: false,
            contrib_on: false,
            seed: 0,
            start: StartFrom::Noise,
            pre_relu: PreReluMode::Auto,
            suppress: false,
            endless: true,
            method: Method::PAPER,
            view: OptimView::Single,
            diversity: 4,
            diversity_weight: 100.0,
            direction_at: None,
            show_clipped: false,
            method_chosen: None,
        };
        o.switch_on_used();
        o
    }

    /// Whether the user chose the method. Settings that do not say (older ones, saved when the
    /// paper's method was every network's default) chose it where it is not the paper's.
    pub fn method_was_chosen(&self) -> bool {
        self.method_chosen
            .unwrap_or(self.method.kind() != MethodKind::Paper)
    }

    /// Takes method `kind` with its own knobs and its default hyperparameters (the
    /// regularizers they use switched on); `chosen`: by the user, not as a model's default.
    pub fn use_method(&mut self, kind: MethodKind, chosen: bool) {
        self.method = kind.method();
        self.params = Method::default_params(kind);
        self.switch_on_used();
        self.method_chosen = Some(chosen);
    }

    /// Switches on exactly the regularizers whose values in `params` act.
    pub fn switch_on_used(&mut self) {
        for r in RegularizerKind::ALL {
            *r.on_mut(self) = r.acts_in(&self.params);
        }
    }

    /// The parameters the optimizer runs with: switched-off regularizers are zero.
    pub fn effective(&self) -> Params {
        let mut p = self.params;
        for r in RegularizerKind::ALL {
            if !r.is_on(self) {
                r.switch_off(&mut p);
            }
        }
        if self.endless {
            p.max_iter = usize::MAX / 2;
        }
        p
    }
}

/// The attribution pane's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct BackSettings {
    /// Mode.
    pub mode: BackMode,
    /// Filter.
    pub filter: BackFilter,
    /// The position in the unit's map to project (`None`: where the map is largest).
    pub pos: Option<(usize, usize)>,
    /// Colour map of the picture (gray: the original toolbox's look).
    #[serde(default)]
    pub cmap: ColorMap,
    /// Explain the whole channel (the mean of its map) rather than one unit of it.
    #[serde(default)]
    pub whole_map: bool,
    /// The methods' own settings.
    #[serde(default)]
    pub options: AttrOptions,
}

/// A layer of the network, as the UI lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    /// Its name.
    pub name: String,
    /// Channels.
    pub channels: usize,
    /// Map height.
    pub height: usize,
    /// Map width.
    pub width: usize,
    /// Whether it has a ReLU (so a pre-ReLU value).
    pub relu: bool,
    /// Whether it is a block's attention probabilities over a sequence of patch tokens (a
    /// vision transformer's, which the attention view shows).
    pub attention: bool,
    /// Whether it is a GELU's output: a transformer MLP's hidden units, worth visualizing.
    pub gelu: bool,
}

/// What the attention view of a vision transformer shows: one block's attention, of one
/// head or their mean, from the CLS token or from a patch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionAsk {
    /// The block (0: the first; past the last: the last).
    pub block: usize,
    /// A head, or `None` for the heads' mean.
    pub head: Option<usize>,
    /// From which token: `None` the first leading one (CLS), `Some((y, x))` the patch at row
    /// `y`, column `x` of the patch grid.
    pub from: Option<(usize, usize)>,
}

/// The selected channel's map on a frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnitMap {
    /// Channel.
    pub channel: usize,
    /// Map values, row-major.
    pub values: Vec<f32>,
    /// Map width.
    pub width: usize,
    /// Map height.
    pub height: usize,
    /// Where the map is largest, `(y, x)`.
    pub argmax: (usize, usize),
    /// The input pixels the unit sees at the projected position (the chosen one, else the
    /// argmax): `[y0, x0, y1, x1]`, half-open, in the input crop's pixels.
    pub field: [i64; 4],
}

/// What an attribution map of the selected unit was (its picture travels beside it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackInfo {
    /// Layer.
    pub layer: String,
    /// Channel.
    pub channel: usize,
    /// The projected position (`None` for vector layers).
    pub pos: Option<(usize, usize)>,
    /// The method.
    pub method: BackMode,
    /// How the map was drawn.
    pub filter: BackFilter,
    /// The layer the unit was explained through, when not its own (a softmax's units
    /// through the class scores).
    pub through: Option<String>,
    /// Network passes it took (images through the network).
    pub passes: usize,
    /// The layer Grad-CAM explained the unit by.
    pub cam_layer: Option<String>,
    /// Every value of the map is zero (deconvolution can lose the whole signal at a
    /// rectifier).
    pub all_zero: bool,
    /// The unit's value there.
    pub value: f32,
    /// What it cost, in milliseconds.
    pub ms: f32,
}

/// One map of the sanity check: the network with its top `randomized` parametric nodes
/// re-initialised (down to `node`), compared with the trained network's map.
#[derive(Clone, Debug, PartialEq)]
pub struct SanityStep {
    /// The lowest node randomized.
    pub node: String,
    /// How many parametric nodes are randomized.
    pub randomized: usize,
    /// Spearman rank correlation of the absolute maps with the original's.
    pub spearman: f32,
    /// Structural similarity with the original.
    pub ssim: f32,
}

/// The sanity check of one method on one unit.
#[derive(Clone, Debug, PartialEq)]
pub struct SanityReport {
    /// The method checked.
    pub method: BackMode,
    /// Layer of the unit.
    pub layer: String,
    /// Channel of the unit.
    pub channel: usize,
    /// The comparisons so far, top layer first.
    pub steps: Vec<SanityStep>,
    /// Maps done (the original and one per step).
    pub done: usize,
    /// Maps in all.
    pub total: usize,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// What a second network said of a preferred image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The judging network's name.
    pub judge: String,
    /// The class the picture was made for, when its unit is a class score.
    pub class: Option<String>,
    /// That class's rank among the judge's classes (1 = its top class).
    pub rank: Option<usize>,
    /// That class's probability.
    pub prob: Option<f32>,
    /// The judge's top class.
    pub top: String,
    /// Its probability.
    pub top_prob: f32,
}

/// UI to worker.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Take frames from this source (the old one is stopped).
    SetSource(SourceSpec),
    /// Show this layer's channels in the grid.
    SelectLayer(String),
    /// Select channel `n` of the grid layer: its map, and its preferred image.
    SelectUnit(usize),
    /// Stop taking new frames and keep the last one (true), or resume (false).
    Freeze(bool),
    /// Use these optimizer settings from the next step on (nothing restarts).
    SetOptim(OptimSettings),
    /// Run (true) or pause (false) the preferred-image optimization.
    SetRunning(bool),
    /// Restart the preferred image from its start image.
    ResetOptim,
    /// Project the selected unit back onto the input this way.
    SetBack(BackSettings),
    /// Step a folder source by this many files (+1 next, -1 previous).
    StepFile(i32),
    /// Save the preferred image as it stands as this PNG, with `NAME.json` beside it holding
    /// everything that made it (`deepvis optimize --from NAME.json` makes it again).
    Export(PathBuf),
    /// Control a video source: step, seek, speed, loop (other sources ignore it).
    Player(PlayerCommand),
    /// Start recording into this file (Some) or stop (None): the window's pictures as an
    /// MP4, or the source's own frames losslessly (see [`RecordTarget`]).
    Record {
        /// What to record.
        what: RecordTarget,
        /// The file (`.mp4` for the window, `.mkv` for the source), or None to stop.
        path: Option<PathBuf>,
    },
    /// Load another network from this file (an `.onnx` model): the worker restarts with it,
    /// keeping the source; a file that cannot be read is an error and the current network
    /// stays.
    OpenModel(std::path::PathBuf),
    /// Show every attribution method side by side on the current frame (true), or stop
    /// (false).
    SetCompare(bool),
    /// Run the cascading-randomization sanity check of the current method on the selected
    /// unit and the current frame (true; a running one starts over), or cancel it (false).
    Sanity(bool),
    /// Show a vision transformer's attention (Some) with each frame, or stop (None).
    SetAttention(Option<AttentionAsk>),
    /// Gather the grid layer's activations (averaged over the map) of each frame shown as
    /// examples of the concept or of others (Some), or stop gathering (None).
    ConceptRecord(Option<ConceptSide>),
    /// Fit the concept on the examples gathered: from the next frame on, its score and map.
    ConceptFit(ConceptFit),
    /// Forget the examples and the concept.
    ConceptClear,
    /// Save the concept (with its examples) as this JSON file.
    ConceptSave(PathBuf),
    /// Load a concept file of this network (its layer becomes the grid's).
    ConceptLoad(PathBuf),
    /// Factorise each frame's grid layer into this many non-negative parts (NMF, warm-started
    /// from the last frame's) and show them over the frame (Some), or stop (None).
    ConceptParts(Option<usize>),
    /// Make part `n` of the newest frame's parts the concept.
    ConceptFromPart(usize),
    /// Show the circuit under the selected unit (its strongest inputs of each sign in the
    /// layer below, by weight and on each frame) with this many of each (Some), or stop (None).
    Circuit(Option<usize>),
    /// Make a small preferred image of this (with the current method, from noise); it comes
    /// back as [`Event::Thumbnail`]s as it forms. Asked again while it forms: nothing new.
    Thumbnail(ThumbOf),
    /// Make the worker panic (to test and demonstrate its recovery).
    InjectPanic,
    /// Start a worker paused after repeated crashes again (ignored by a running one).
    RestartWorker,
    /// Stop the worker and its source.
    Shutdown,
}

impl Command {
    /// One command of each kind, for tests that must reach them all (that the worker carries
    /// out each one, and never routes one nowhere). The `match` below does not compile when a
    /// kind is added without its sample here.
    pub fn samples() -> Vec<Command> {
        let all = vec![
            Command::SetSource(SourceSpec::Synthetic {
                width: 64,
                height: 48,
                fps: 5,
            }),
            Command::SelectLayer(String::new()),
            Command::SelectUnit(0),
            Command::Freeze(false),
            Command::SetOptim(OptimSettings::default()),
            Command::SetRunning(false),
            Command::ResetOptim,
            Command::SetBack(BackSettings::default()),
            Command::StepFile(1),
            Command::Export(PathBuf::from("preferred.png")),
            Command::Player(PlayerCommand::Loop(true)),
            Command::Record {
                what: RecordTarget::Source,
                path: None,
            },
            Command::Record {
                what: RecordTarget::Window,
                path: None,
            },
            Command::OpenModel(PathBuf::from("model.onnx")),
            Command::SetCompare(false),
            Command::Sanity(false),
            Command::SetAttention(None),
            Command::ConceptRecord(None),
            Command::ConceptFit(ConceptFit::Mean),
            Command::ConceptClear,
            Command::ConceptSave(PathBuf::from("concept.json")),
            Command::ConceptLoad(PathBuf::from("concept.json")),
            Command::ConceptParts(None),
            Command::ConceptFromPart(0),
            Command::Circuit(None),
            Command::Thumbnail(ThumbOf::Concept),
            Command::InjectPanic,
            Command::RestartWorker,
            Command::Shutdown,
        ];
        for c in &all {
            match c {
                Command::SetSource(_)
                | Command::SelectLayer(_)
                | Command::SelectUnit(_)
                | Command::Freeze(_)
                | Command::SetOptim(_)
                | Command::SetRunning(_)
                | Command::ResetOptim
                | Command::SetBack(_)
                | Command::StepFile(_)
                | Command::Export(_)
                | Command::Player(_)
                | Command::Record { .. }
                | Command::OpenModel(_)
                | Command::SetCompare(_)
                | Command::Sanity(_)
                | Command::SetAttention(_)
                | Command::ConceptRecord(_)
                | Command::ConceptFit(_)
                | Command::ConceptClear
                | Command::ConceptSave(_)
                | Command::ConceptLoad(_)
                | Command::ConceptParts(_)
                | Command::ConceptFromPart(_)
                | Command::Circuit(_)
                | Command::Thumbnail(_)
                | Command::InjectPanic
                | Command::RestartWorker
                | Command::Shutdown => {}
            }
        }
        all
    }
}

/// Where the network runs, as the worker tells the window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backend {
    /// The device serving now, as the model crate describes it (the CPU backend and its
    /// threads, or a GPU adapter's name and API).
    pub serving: String,
    /// A GPU warming up beside it, described the same way: it takes over once its kernels are
    /// compiled (a second `Ready` says so).
    pub warming: Option<String>,
}

/// Worker to UI.
#[derive(Clone, Debug)]
pub enum Event {
    /// The worker is getting ready (loading weights, compiling kernels).
    Preparing(Preparing),
    /// The model is ready.
    Ready {
        /// Model name.
        model: String,
        /// Where it runs.
        backend: Backend,
        /// Every layer.
        layers: Vec<LayerSummary>,
        /// The layer shown first.
        grid_layer: String,
    },
    /// Settings the worker started with did not fit the model and were mended (sent once,
    /// after the first `Ready` of a model).
    Mended {
        /// The model.
        model: String,
        /// What was mended.
        mended: Vec<Mended>,
    },
    /// The state of the frame source.
    Source {
        /// What it is (`camera 0`, a path, `synthetic`).
        label: String,
        /// How it stands.
        state: SourceState,
    },
    /// Where the playing clip stands (with every frame it shows); `None` when the source
    /// is no video.
    Playback(Option<Playback>),
    /// The preferred image was saved: the PNG and its sidecar.
    Exported {
        /// The picture.
        png: PathBuf,
        /// Its JSON sidecar.
        json: PathBuf,
    },
    /// Where a recording stands (a few times a second while it runs, and once it is closed).
    Recording {
        /// What it records.
        what: RecordTarget,
        /// Frames, bytes, the file, how it ended.
        status: RecordingStatus,
    },
    /// The newest frame as the network sees it (the centre crop).
    Input(RgbImage),
    /// Every channel of the grid layer for the newest frame, tiled.
    Grid {
        /// The layer.
        layer: String,
        /// The tiled grayscale grid (1-pixel separators).
        image: GrayImage,
        /// Tiles per row.
        cols: usize,
        /// Rows of tiles.
        rows: usize,
        /// Width of one tile (the map's width).
        tile_w: usize,
        /// Height of one tile.
        tile_h: usize,
        /// Each channel's maximum.
        maxima: Vec<f32>,
    },
    /// The grid layer's leading tokens (CLS, registers) on the newest frame, when the layer
    /// holds a sequence of tokens (its patches are the grid): each token's value per channel.
    Leading {
        /// The layer.
        layer: String,
        /// Each leading token's values, one per channel.
        tokens: Vec<Vec<f32>>,
    },
    /// What the attention view asked for on the newest frame: the attention over the patches.
    Attention {
        /// What was asked (the block and head as computed).
        ask: AttentionAsk,
        /// The network's blocks with attention.
        blocks: usize,
        /// Heads per block.
        heads: usize,
        /// The attention from the token to each patch, row by row (`h x w`).
        map: Vec<f32>,
        /// Patch rows.
        h: usize,
        /// Patch columns.
        w: usize,
        /// The share of the token's attention that goes to the leading tokens (CLS, registers).
        to_leading: f32,
    },
    /// The selected channel's map on the newest frame.
    UnitMap(UnitMap),
    /// The selected unit projected back onto the newest frame.
    Back {
        /// What was projected.
        info: BackInfo,
        /// The picture, drawn with the chosen filter, the size of the input crop.
        image: RgbImage,
    },
    /// A method of many passes is under way for the attribution pane (`compare` false) or
    /// the compare view (true).
    BackProgress {
        /// For the compare view.
        compare: bool,
        /// The method.
        method: BackMode,
        /// Passes done.
        done: usize,
        /// Passes in all.
        total: usize,
    },
    /// One method's map of the selected unit for the compare view.
    Compare {
        /// What was computed.
        info: BackInfo,
        /// The picture, the size of the input crop.
        image: RgbImage,
    },
    /// The sanity check's state: every comparison so far.
    Sanity(SanityReport),
    /// The frames that excited the selected unit most since it was selected, best first.
    SessionTop {
        /// Layer.
        layer: String,
        /// Channel.
        channel: usize,
        /// Receptive-field crops of the frames, tiled 3 x 3.
        montage: RgbImage,
        /// Their scores (the unit's maximum on each), best first.
        scores: Vec<f32>,
    },
    /// The concept's examples gathered so far, and what is being gathered.
    ConceptExamples {
        /// The layer they are of.
        layer: String,
        /// Frames of the concept.
        positives: usize,
        /// Frames of others.
        negatives: usize,
        /// What the frames shown now are gathered as (None: nothing).
        recording: Option<ConceptSide>,
    },
    /// A concept was fitted or loaded.
    ConceptReady {
        /// Its name.
        name: String,
        /// Its layer.
        layer: String,
        /// How it was fitted.
        fit: ConceptFit,
        /// The share of its examples on their own side.
        train_accuracy: f32,
    },
    /// The concept on the current frame.
    ConceptScore {
        /// Its score (the projection of the frame's activations, averaged over the map; above
        /// 0: the concept's side for a logistic fit).
        score: f32,
        /// Its score at every place of the map, red on the concept's side, over the frame.
        overlay: RgbImage,
    },
    /// The frame's parts found by NMF of the grid layer (positions by channels).
    ConceptParts {
        /// Each place coloured by its strongest part, blended over the frame.
        overlay: RgbImage,
        /// Each part's colour.
        colors: Vec<[u8; 3]>,
        /// Each part's share of the layer's activation on the frame.
        shares: Vec<f32>,
        /// How far the parts are from the layer (`||V - WH|| / ||V||`).
        error: f32,
    },
    /// The concept was saved in this file.
    ConceptSaved(PathBuf),
    /// The concept and its examples were forgotten.
    ConceptCleared,
    /// The circuit of the selected unit on the newest frame.
    Circuit(CircuitView),
    /// A thumbnail as it forms (`done`: its last).
    Thumbnail {
        /// What it is of.
        of: ThumbOf,
        /// The picture.
        image: RgbImage,
        /// Whether it is finished.
        done: bool,
    },
    /// New iterations of the running optimization.
    Telemetry {
        /// Changes whenever the run restarts (the UI starts a new plot).
        run: u64,
        /// The iterations, in order.
        points: Vec<Telemetry>,
    },
    /// The top-5 classes of the newest frame (none when the network's output is not class
    /// scores).
    Predictions(Vec<ClassProb>),
    /// The newest frame's output, for a network whose output is not class scores: a map drawn
    /// over the frame, the strongest boxes, an embedding's norm.
    Output(OutputReading),
    /// The preferred image of the selected unit, as it forms.
    Preferred {
        /// Layer.
        layer: String,
        /// Channel.
        channel: usize,
        /// The current image, scaled about zero (several: tiles left to right, top to bottom).
        image: RgbImage,
        /// The Fourier and MACO pictures seen through their transparency maps (the absolute
        /// gradient on each pixel, accumulated since the start: where the network looked),
        /// tiled as `image`; None for the paper's pixels and before a first step.
        transparency: Option<RgbImage>,
        /// What each tile is, in order (empty for a single image).
        captions: Vec<String>,
        /// Iterations so far.
        iteration: usize,
        /// Latest objective.
        objective: f32,
        /// The unit's post-ReLU activation.
        activation: f32,
        /// Which objective and start the run uses, and why.
        mode: RunMode,
    },
    /// A second network's verdicts on the preferred image (every few seconds while it forms).
    Judged {
        /// The layer of the unit it was made for.
        layer: String,
        /// The unit.
        channel: usize,
        /// One verdict per run shown, in the order of the tiles (a run of several images: its
        /// first).
        verdicts: Vec<Verdict>,
    },
    /// The preferred-image run stopped, and why (reported once per run).
    Stopped {
        /// Why.
        reason: StopReason,
        /// Iterations done.
        iterations: usize,
    },
    /// The devices the sources' table finds (cameras, the synthetic pattern, any other kind),
    /// for the source picker, and what it could not look at (`no camera found`).
    Devices {
        /// What the picker offers.
        offers: Vec<DeviceOffer>,
        /// A word per kind that found nothing or failed to look.
        notes: Vec<String>,
    },
    /// Throughput.
    Stats {
        /// Grid pipeline frames per second.
        grid_fps: f32,
        /// Optimizer iterations per second.
        optim_ips: f32,
        /// Back-projections per second.
        back_fps: f32,
    },
    /// Something went wrong; the worker goes on.
    Error(Failure),
    /// The worker crashed and was restarted with the same settings, or was started again when
    /// asked after a pause.
    Restarted {
        /// The crash's message (`None`: started again after a pause, when asked).
        panic: Option<String>,
        /// Crashes this session.
        crashes: u32,
    },
    /// The worker crashed `crashes` times within `seconds`: it waits for
    /// [`Command::RestartWorker`] instead of restarting again.
    WorkerPaused {
        /// Crashes in the window.
        crashes: u32,
        /// The window, in seconds.
        seconds: u32,
    },
}
