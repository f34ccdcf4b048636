//! The one error type of the crate: what was wrong with the input, named.

use std::path::PathBuf;

/// What can go wrong fitting, scoring, factorising or reading a concept.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No positive examples were given.
    #[error("no positive examples: record some frames of the concept first")]
    NoPositives,
    /// No negative examples were given.
    #[error("no negative examples: record some frames of other things first")]
    NoNegatives,
    /// A vector has no values.
    #[error("{what} has no values")]
    Empty {
        /// What was empty.
        what: String,
    },
    /// A vector or matrix does not have the length its shape says.
    #[error("{what} has {found} values, expected {expected}")]
    Length {
        /// What has the wrong length (e.g. "negative example 3").
        what: String,
        /// The length expected.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A value is NaN or infinite.
    #[error("{what} has a value that is not finite (NaN or infinite) at index {index}")]
    NonFinite {
        /// Where (e.g. "positive example 0").
        what: String,
        /// The index of the first such value.
        index: usize,
    },
    /// The examples do not define a direction.
    #[error("no direction: {0}")]
    NoDirection(&'static str),
    /// A name that is not a fit.
    #[error("unknown fit {0:?}: expected mean or logistic")]
    UnknownFit(String),
    /// Too few TCAV scores on one side of the t-test.
    #[error("the t-test needs at least 2 {side} scores, got {found}")]
    TooFewScores {
        /// "concept" or "random".
        side: &'static str,
        /// How many were given.
        found: usize,
    },
    /// Too few negative examples for TCAV's random concepts (two halves of them).
    #[error("TCAV's random concepts need at least 2 negative examples, the concept has {0}")]
    TooFewNegatives(usize),
    /// No images for TCAV.
    #[error("TCAV needs at least one image's gradient, got none")]
    NoImages,
    /// An NMF rank that does not fit the matrix.
    #[error("NMF with k = {k} parts of a {n} x {c} matrix: k must be between 1 and {}", n.min(c))]
    Rank {
        /// The rank asked for.
        k: usize,
        /// The matrix's rows (positions).
        n: usize,
        /// The matrix's columns (channels).
        c: usize,
    },
    /// A matrix with nothing to factorise (every value 0 after clamping negatives).
    #[error("nothing to factorise: every value of the {n} x {c} matrix is 0 or below")]
    AllZero {
        /// Rows.
        n: usize,
        /// Columns.
        c: usize,
    },
    /// A warm-start factor with a negative value.
    #[error("{what} has a negative value at index {index}")]
    Negative {
        /// Which factor.
        what: String,
        /// The index of the first negative value.
        index: usize,
    },
    /// A concept file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A concept file is not a valid concept.
    #[error("{path} is not a deepvis concept file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A concept file of a version this build does not read.
    #[error("{path} is a concept file of version {found}; this deepvis reads version {expected}")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The version this build reads.
        expected: u32,
    },
    /// A concept that cannot be saved as it is.
    #[error("cannot save the concept to {path}: {reason}")]
    Unsavable {
        /// The file it was to be saved to.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A concept used with another model, layer or channel count than its own.
    #[error("the concept {name:?} was made for {what} {concept}, but the {what} here is {here}")]
    Mismatch {
        /// The concept's name.
        name: String,
        /// "model", "layer" or "channel count".
        what: &'static str,
        /// The concept's own.
        concept: String,
        /// The one it is used with.
        here: String,
    },
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
