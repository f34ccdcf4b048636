//! Errors of the optimizer.

/// What can go wrong when setting up or stepping an optimization.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A hyperparameter outside its range.
    #[error("bad setting: {0}")]
    BadParam(String),
    /// An objective that does not fit the network.
    #[error(transparent)]
    Model(#[from] deepvis_model::Error),
    /// A run id that does not exist.
    #[error("no optimization run {0}")]
    NoRun(usize),
    /// A start image of the wrong size.
    #[error("bad start image: {0}")]
    BadInit(String),
}

/// The crate's result type.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;

impl From<String> for OptimError {
    fn from(message: String) -> OptimError {
        OptimError::BadParam(message)
    }
}
