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
    /// An objective's text that does not parse.
    #[error("bad setting: objective `{text}`: {source}")]
    BadObjective {
        /// The text.
        text: String,
        /// What is wrong with it.
        source: Box<TermError>,
    },
}

/// Why a term of an objective's text (see [`crate::Goal::parse`]) does not parse.
#[derive(Debug, thiserror::Error)]
pub enum TermError {
    /// A weight before `*` that is no number.
    #[error("`{0}` is not a weight")]
    Weight(String),
    /// A channel, class or position that is no number.
    #[error("`{0}` is not a number")]
    Number(String),
    /// A position not written `@Y,X`.
    #[error("`@{0}`: write the position as @Y,X")]
    Position(String),
    /// A layer the network does not have.
    #[error(transparent)]
    Model(#[from] deepvis_model::Error),
    /// A unit that does not fit its layer (or a flag it cannot take).
    #[error(transparent)]
    Unit(Box<OptimError>),
    /// Text that is no term.
    #[error(
        "`{0}` is not a term: use neuron:LAYER:CH[@Y,X], neuron-pre:LAYER:CH, \
         channel:LAYER:CH, class:N or diversity:LAYER"
    )]
    Unknown(String),
}

/// The crate's result type.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;

impl From<OptimError> for TermError {
    fn from(e: OptimError) -> TermError {
        TermError::Unit(Box::new(e))
    }
}
