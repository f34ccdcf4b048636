//! Reads ONNX files (opset 9-20, float32) into deepvis graphs: every node named, every
//! weight a constant, unsupported operators refused at load time with the node and file. The
//! shape arithmetic of exported graphs (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`)
//! is folded to constants for the input size the graph runs at ([`load_at`]), the batch size
//! left free; only tensor ops reach the graph.

mod error;
mod load;
pub mod proto;
pub mod spec;
pub mod write;

pub use error::{OnnxError, Result};
pub use load::{DEFAULT_FOLD_SIDE, OPSETS, OnnxModel, load, load_at, read_bytes, read_bytes_at};
