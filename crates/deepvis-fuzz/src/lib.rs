//! A seeded mutation fuzzer, on stable Rust, for every decoder of files a user gives deepvis.

mod mutate;
mod pytorch;
mod runner;
mod structure;
mod targets;

use std::path::PathBuf;

pub use mutate::{Rng, mutate};
pub use runner::{Finding, Limit, Options, Report, fuzz};
pub use structure::CASE_BUDGET;
pub use targets::{Refusal, SETTINGS_KEY, Seed, Target, sample_index, sample_state};

/// What can stop a fuzzing run (a panic or a hang of a decoder is a finding, not an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A seed file could not be read.
    #[error("cannot read the seed {path}: {source}")]
    Seed {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A seed deepvis writes itself could not be made.
    #[error("cannot make the seed {what}: {reason}")]
    Generate {
        /// Which seed.
        what: String,
        /// Why.
        reason: String,
    },
    /// A target has no seeds to mutate.
    #[error("the target {0} has no seeds")]
    NoSeeds(&'static str),
    /// A worker's scratch folder could not be made.
    #[error("cannot make a scratch folder: {0}")]
    Scratch(std::io::Error),
    /// A worker thread could not be started.
    #[error("cannot start a fuzzing worker thread: {0}")]
    Spawn(std::io::Error),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
