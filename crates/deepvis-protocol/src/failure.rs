//! What the worker reports when something goes wrong or is under way, as data: the kind of
//! trouble, what it was doing, and the library's own message. The window turns these into
//! sentences and colours (the UI's `words`); the worker writes no prose of its own.

use std::path::PathBuf;

use crate::{BackMode, MethodKind};

/// What kind of trouble an error is; the window words and colours it by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The user's input: a setting refused, a layer or unit that does not exist, a file that is
    /// no model. The user can mend it.
    Input,
    /// The network: it cannot be loaded, or a pass through it failed.
    Model,
    /// The device: none could be had, or it failed.
    Device,
    /// A file or folder could not be read or written.
    File,
    /// A defect of deepvis itself (worth a report).
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order the window lists them.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Input,
        ErrorKind::Model,
        ErrorKind::Device,
        ErrorKind::File,
        ErrorKind::Internal,
    ];
}

/// What the worker was doing when an error came.
#[derive(Clone, Debug, PartialEq)]
pub enum Doing {
    /// Starting the worker thread.
    StartWorker,
    /// Choosing the device.
    ChooseDevice,
    /// Loading the network at start.
    LoadModel,
    /// The first forward pass (it compiles the kernels on a GPU).
    WarmUp,
    /// Moving to the GPU while the CPU served: the GPU failed, and the CPU goes on.
    MoveToGpu,
    /// Loading the judge network; the preferred image is not judged.
    LoadJudge {
        /// The judge's name.
        judge: String,
    },
    /// Opening a model file (`Command::OpenModel`); the current network stays.
    OpenModel {
        /// The file asked for.
        path: PathBuf,
        /// The network that stays.
        keeping: String,
    },
    /// Taking new settings: they were refused and the old ones stay.
    Setting,
    /// Selecting a layer or a unit: the selection stays as it was.
    Select,
    /// Computing the grid, the unit's map and the classes of a frame.
    Frame,
    /// Drawing the attribution pane's map.
    Attribution,
    /// Drawing one method's map for the compare view.
    Compare {
        /// The method.
        method: BackMode,
    },
    /// Running the sanity check of the pane's method.
    Sanity,
    /// Forming the preferred image: the run was dropped.
    Optimize,
    /// Saving the preferred image and its sidecar.
    Export,
    /// Recording.
    Record,
    /// Gathering, fitting, saving or loading the concept.
    Concept,
    /// Finding the circuit under the selected unit.
    Circuit,
    /// Making a thumbnail (a small preferred image).
    Thumbnail,
}

/// An error the worker reports; the worker goes on (an error that stops it comes before
/// `Event::Ready`, or as `Event::WorkerPaused`).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// What kind of trouble.
    pub kind: ErrorKind,
    /// What the worker was doing.
    pub doing: Doing,
    /// The library's message (it names the file, the tensor or the layer).
    pub message: String,
}

impl Failure {
    /// A failure of `kind` while `doing`, with the library error's message.
    pub fn new(kind: ErrorKind, doing: Doing, message: impl std::fmt::Display) -> Failure {
        Failure {
            kind,
            doing,
            message: message.to_string(),
        }
    }
}

/// What the worker is getting ready.
#[derive(Clone, Debug, PartialEq)]
pub enum Preparing {
    /// Its thread is starting.
    Starting,
    /// Loading a network's weights.
    Loading {
        /// The model's name.
        model: String,
    },
    /// The first forward pass on a device (it compiles the kernels on a GPU).
    WarmingUp {
        /// The device in words.
        backend: String,
    },
    /// Starting again after a crash.
    Restarting,
}

/// How the frame source stands.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceState {
    /// Frames arrive.
    Running,
    /// It failed: the last frame stays and it is tried again every `retry_secs`.
    Failed {
        /// The source's error.
        error: String,
        /// Seconds between tries.
        retry_secs: u32,
    },
    /// Something the source says (a clip cut short, a folder's progress).
    Notice(String),
}

impl SourceState {
    /// Whether frames are arriving.
    pub fn ok(&self) -> bool {
        !matches!(self, SourceState::Failed { .. })
    }
}

/// A setting the worker started with that did not fit the network (settings kept from a
/// session on another model), and what it became. The worker reports them once, after
/// `Event::Ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mended {
    /// The model has no such layer: its default layer shows instead.
    Layer {
        /// The layer asked for.
        asked: String,
        /// The model's default layer.
        now: String,
    },
    /// The unit is not in the layer (`now`: the last channel), or it was a unit of a layer
    /// the model does not have (`now` is `None`: no unit is selected).
    Unit {
        /// The channel asked for.
        asked: usize,
        /// The channel selected instead.
        now: Option<usize>,
    },
    /// The attribution pane's position is not on the layer's map: it is dropped (the map's
    /// maximum is projected).
    BackPos {
        /// The position asked for, `(y, x)`.
        asked: (usize, usize),
    },
    /// The position whose direction the preferred image followed is not on the layer's map:
    /// it is dropped (the unit's own objective).
    DirectionAt {
        /// The position asked for, `(y, x)`.
        asked: (usize, usize),
    },
    /// The attribution method cannot be drawn on this network (attention rollout without
    /// attention): the default method is drawn instead.
    Attribution {
        /// The method asked for.
        asked: BackMode,
        /// The method drawn instead.
        now: BackMode,
    },
    /// The preferred image's method was a default, not the user's choice, and this network's
    /// default is another (the paper's method on the paper's networks, MACO on any other):
    /// the network's default takes over, with its own hyperparameters.
    Method {
        /// The method the settings held.
        asked: MethodKind,
        /// The network's default.
        now: MethodKind,
    },
}
