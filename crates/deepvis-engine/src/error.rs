//! The engine's errors, typed: what went wrong (the libraries' own errors kept whole), the kind
//! of trouble the window words and colours it by, and the [`Failure`] it becomes.

use std::path::PathBuf;

use deepvis_protocol::{Doing, ErrorKind, Event, Failure};

/// Everything that can go wrong in the worker and in the engine's files (exports, sidecars,
/// verdicts).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The network could not run, or a layer or a unit it was asked for does not exist.
    #[error(transparent)]
    Model(Box<deepvis_model::Error>),
    /// The optimizer refused a setting, an objective or a run.
    #[error(transparent)]
    Optim(Box<deepvis_optim::OptimError>),
    /// An attribution method failed.
    #[error(transparent)]
    Attribution(Box<deepvis_attribution::Error>),
    /// A file could not be written whole.
    #[error(transparent)]
    Write(Box<deepvis_topk::Error>),
    /// A concept could not be fitted, saved, loaded or used here.
    #[error(transparent)]
    Concept(Box<deepvis_concepts::Error>),
    /// A concept of another layer than the one its examples or the grid are of.
    #[error("{0}")]
    ConceptLayer(String),
    /// A model loader's own message (an ONNX file's, a test's graph).
    #[error("{0}")]
    Load(String),
    /// A model file could not be opened (the opener's message).
    #[error("{0}")]
    Open(String),
    /// The program gives the worker no way to open model files.
    #[error("this program cannot open model files")]
    NoOpener,
    /// A setting out of its range (the settings' own check).
    #[error("{0}")]
    Setting(String),
    /// The GPU warming up beside the CPU failed.
    #[error(transparent)]
    Gpu(Box<EngineError>),
    /// The GPU's warm-up thread ended without a word.
    #[error("its warm-up thread crashed")]
    GpuCrashed,
    /// There is no source.
    #[error("no source to record")]
    NoSource,
    /// No unit is selected, so there is no preferred image.
    #[error("select a unit first: no preferred image yet")]
    NoPicture,
    /// No frame has come yet.
    #[error("no frame yet to take a direction from")]
    NoFrame,
    /// The sanity check has nothing to explain.
    #[error("the sanity check needs a selected unit and a frame")]
    NoSubject,
    /// The network did not give what was asked of it.
    #[error("the network did not compute {0}")]
    NotComputed(&'static str),
    /// The network's output holds fewer values than its shape says.
    #[error(transparent)]
    Output(#[from] deepvis_viz::output::OutputError),
    /// A picture or a map of the wrong size.
    #[error("{0} has the wrong size")]
    WrongSize(&'static str),
    /// The judge's network gave no class.
    #[error("the judge returned no classes")]
    NoClasses,
    /// A picture could not be encoded.
    #[error("{0}")]
    Encode(Box<image::ImageError>),
    /// A sidecar could not be written as JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// A picture's path has no file name.
    #[error("{}: not a file name", .0.display())]
    NotAFile(PathBuf),
    /// A sidecar could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The sidecar.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file far larger than any sidecar.
    #[error("{}: {len} bytes: no sidecar is that large", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A file that is not a sidecar.
    #[error("{}: not a deepvis picture's sidecar: {source}", path.display())]
    Sidecar {
        /// The file.
        path: PathBuf,
        /// What the JSON reader said.
        source: serde_json::Error,
    },
    /// A sidecar's start image could not be read.
    #[error("{}: its start image {label}: {source}", path.display())]
    StartImage {
        /// The sidecar.
        path: PathBuf,
        /// The start image's file name.
        label: String,
        /// Why.
        source: Box<deepvis_model::Error>,
    },
    /// A sidecar without runs.
    #[error("{}: it names no run", .0.display())]
    NoRuns(PathBuf),
    /// The attention view was asked of a network without attention layers.
    #[error("{0} has no attention layers: the attention view is for vision transformers")]
    NoAttentionView(String),
    /// A command no stage carries out (a new command without its stage's arm).
    #[error("no stage of the worker carries out the command {0}")]
    Unrouted(String),
    /// Several runs that changed while they ran.
    #[error("runs that changed while they ran are replayed one at a time")]
    ReplayMany,
}

/// The libraries' errors, kept whole (boxed: the engine's results stay small).
macro_rules! from_boxed {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for EngineError {
            fn from(e: $t) -> EngineError {
                EngineError::$v(Box::new(e))
            }
        })*
    };
}

from_boxed! {
    deepvis_model::Error => Model,
    deepvis_optim::OptimError => Optim,
    deepvis_attribution::Error => Attribution,
    deepvis_topk::Error => Write,
    deepvis_concepts::Error => Concept,
    image::ImageError => Encode,
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The kind of a model error: a name or a unit that does not exist is the user's input, a
/// file that cannot be read a file's trouble, a backend the device's.
fn model_kind(e: &deepvis_model::Error) -> ErrorKind {
    use deepvis_model::Error as M;
    match e {
        M::Io { .. } => ErrorKind::File,
        M::UnknownLayer { .. }
        | M::NoPreRelu(_)
        | M::UnitOutOfRange { .. }
        | M::UnknownNode { .. }
        | M::Registry(_)
        | M::Image { .. } => ErrorKind::Input,
        M::Backend(_) => ErrorKind::Device,
        _ => ErrorKind::Model,
    }
}

impl EngineError {
    /// What kind of trouble it is.
    pub fn kind(&self) -> ErrorKind {
        use EngineError as E;
        match self {
            E::Model(e) => model_kind(e),
            E::Optim(e) => match e.as_ref() {
                deepvis_optim::OptimError::Model(e) => model_kind(e),
                deepvis_optim::OptimError::NoRun(_) => ErrorKind::Internal,
                _ => ErrorKind::Input,
            },
            E::Attribution(e) => match e.as_ref() {
                deepvis_attribution::Error::Model(e) => model_kind(e),
                _ => ErrorKind::Input,
            },
            E::Write(e) => match e.as_ref() {
                deepvis_topk::Error::Merge(_) => ErrorKind::Input,
                _ => ErrorKind::File,
            },
            E::Concept(e) => match e.as_ref() {
                deepvis_concepts::Error::Io { .. } => ErrorKind::File,
                _ => ErrorKind::Input,
            },
            E::ConceptLayer(_) => ErrorKind::Input,
            E::Load(_) | E::NoClasses => ErrorKind::Model,
            E::Open(_)
            | E::NoOpener
            | E::Setting(_)
            | E::NoSource
            | E::NoPicture
            | E::NoFrame
            | E::NoSubject
            | E::NotAFile(_)
            | E::NoAttentionView(_)
            | E::ReplayMany => ErrorKind::Input,
            E::Gpu(_) | E::GpuCrashed => ErrorKind::Device,
            E::NotComputed(_)
            | E::WrongSize(_)
            | E::Encode(_)
            | E::Json(_)
            | E::Output(_)
            | E::Unrouted(_) => ErrorKind::Internal,
            E::Read { .. }
            | E::TooLarge { .. }
            | E::Sidecar { .. }
            | E::StartImage { .. }
            | E::NoRuns(_) => ErrorKind::File,
        }
    }

    /// The failure the window is told of, while the worker was `doing` this.
    pub fn failure(&self, doing: Doing) -> Failure {
        Failure::new(self.kind(), doing, self)
    }

    /// The error event for the window.
    pub fn event(&self, doing: Doing) -> Event {
        Event::Error(self.failure(doing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_the_kind_the_window_colours_it_by() {
        let unknown = deepvis_model::Error::UnknownLayer {
            model: "m".into(),
            name: "fire10".into(),
            known: "fire9".into(),
        };
        assert_eq!(EngineError::from(unknown).kind(), ErrorKind::Input);
        let io = deepvis_model::Error::Io {
            path: "/x".into(),
            source: std::io::Error::other("gone"),
        };
        assert_eq!(EngineError::from(io).kind(), ErrorKind::File);
        let backend = deepvis_model::Error::Backend("no adapter".into());
        let gpu = EngineError::Gpu(Box::new(backend.into()));
        assert_eq!(gpu.kind(), ErrorKind::Device);
        assert_eq!(gpu.to_string(), "backend unavailable: no adapter");
        let param = deepvis_optim::OptimError::BadParam("decay".into());
        assert_eq!(EngineError::from(param).kind(), ErrorKind::Input);
        assert_eq!(EngineError::NotComputed("x").kind(), ErrorKind::Internal);
        let f = EngineError::Setting("decay is NaN".into()).failure(Doing::Setting);
        assert_eq!(
            (f.kind, f.doing, f.message.as_str()),
            (ErrorKind::Input, Doing::Setting, "decay is NaN")
        );
    }
}
