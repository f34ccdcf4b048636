//! Errors of the ONNX reader: each names the file, and the node or tensor where there is one.

use std::path::PathBuf;

/// Everything that can go wrong reading an ONNX file.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX model (truncated, another format, random bytes).
    #[error("{path} is not a readable ONNX model: {reason}")]
    NotOnnx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The default operator set's version is outside what deepvis reads.
    #[error(
        "{path} uses ONNX opset {found}; deepvis reads opsets {lo} to {hi} (convert the model \
         with onnx.version_converter or re-export it)"
    )]
    Opset {
        /// The file.
        path: PathBuf,
        /// The opset found.
        found: i64,
        /// Lowest supported.
        lo: i64,
        /// Highest supported.
        hi: i64,
    },
    /// An operator deepvis does not implement.
    #[error("{path}: unsupported operator `{op}` at node `{node}`{more}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The operator (with its domain when not the default).
        op: String,
        /// The first node using it.
        node: String,
        /// Other unsupported operators, if any.
        more: String,
    },
    /// A node whose attributes or operands deepvis cannot use.
    #[error("{path}: node `{node}` ({op}): {reason}")]
    BadNode {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// Its operator.
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// Shape arithmetic that cannot be folded to constants at load (a shape computed from the
    /// data's values, or from the batch size in a way one graph cannot run every batch).
    #[error(
        "{path}: node `{node}` ({op}) computes a shape that cannot be folded at load for the \
         {h}x{w} input: {reason}"
    )]
    NotFoldable {
        /// The file.
        path: PathBuf,
        /// The node.
        node: String,
        /// Its operator.
        op: String,
        /// The input height and width folded for.
        h: usize,
        /// Width.
        w: usize,
        /// Why.
        reason: String,
    },
    /// The graph's input is not one float image batch.
    #[error("{path}: {reason}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor whose values cannot be read (external data missing, wrong length, dtype).
    #[error("{path}: tensor `{tensor}`: {reason}")]
    Tensor {
        /// The model file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A preprocessing sidecar (or the flags) that cannot be used.
    #[error("{path}: preprocessing: {reason}")]
    Sidecar {
        /// The sidecar (or model) file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The graph read but does not hold together.
    #[error("{path}: {source}")]
    Graph {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<deepvis_model::Error>,
    },
}

/// The crate's result type.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;
