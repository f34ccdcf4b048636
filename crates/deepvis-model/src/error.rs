//! Errors of the model crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model, its weights or an input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A weights file is malformed (truncated, not the format its name says, ...).
    #[error("malformed weights file {path}: {reason}")]
    WeightsFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the model needs is absent from the weights file.
    #[error("weights file {path} has no tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the model expects.
        expected: Vec<usize>,
    },
    /// A tensor has the wrong shape.
    #[error("tensor `{name}` in {path} has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape found.
        found: Vec<usize>,
        /// The shape expected.
        expected: Vec<usize>,
    },
    /// A tensor holds NaN or infinite values.
    #[error(
        "tensor `{name}` in {path} holds {count} non-finite value(s) (first at flat index {first})"
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// How many values are NaN or infinite.
        count: usize,
        /// The first such index.
        first: usize,
    },
    /// A tensor has a dtype that cannot be used.
    #[error("tensor `{name}` in {path} has dtype {dtype}, expected float32 or float64")]
    WrongDtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The dtype found.
        dtype: String,
    },
    /// An image could not be decoded.
    #[error("cannot decode image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A layer name that the model does not have.
    #[error("model {model} has no layer `{name}`; its layers are: {known}")]
    UnknownLayer {
        /// The model.
        model: String,
        /// The name asked for.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// A layer without a ReLU was asked for its pre-ReLU value.
    #[error("layer `{0}` has no ReLU, so it has no pre-ReLU value")]
    NoPreRelu(String),
    /// A unit (channel, class or position) outside the layer.
    #[error("unit {what} is out of range for layer `{layer}` ({limit})")]
    UnitOutOfRange {
        /// The layer.
        layer: String,
        /// The unit asked for.
        what: String,
        /// The valid range.
        limit: String,
    },
    /// An input tensor of the wrong size or shape.
    #[error("bad input: {0}")]
    BadInput(String),
    /// The network's output holds fewer values than its shape says.
    #[error(transparent)]
    Output(#[from] deepvis_viz::output::OutputError),
    /// A model name the registry does not know (its error lists the known names).
    #[error(transparent)]
    Registry(#[from] deepvis_weights::WeightsError),
    /// A known model whose network is not built in (it is read from its file).
    #[error("{0} is not built in: it is read from its ONNX file")]
    NotBuiltIn(String),
    /// A graph whose nodes do not hold together (shapes, operands, attributes).
    #[error("{0}")]
    Graph(#[from] crate::graph::GraphError),
    /// A node name a graph does not have.
    #[error("{graph} has no node `{name}` (see `deepvis layers`)")]
    UnknownNode {
        /// The graph.
        graph: String,
        /// The name asked for.
        name: String,
    },
    /// A backend that cannot be used.
    #[error("backend unavailable: {0}")]
    Backend(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
