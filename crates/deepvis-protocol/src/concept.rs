//! A concept taught in the window: which side a recording is of, and how it is fitted.

use serde::{Deserialize, Serialize};

/// Which examples a recording gathers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConceptSide {
    /// The concept's own (the thing held up to the camera).
    Concept,
    /// Others (anything else).
    Others,
}

/// How the concept's direction is fitted (`deepvis_concepts::Fit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ConceptFit {
    /// The normalised difference of the two sides' means (FastCAV).
    #[default]
    Mean,
    /// L2-regularised logistic regression.
    Logistic,
}

impl ConceptFit {
    /// Both, in the window's order.
    pub const ALL: [ConceptFit; 2] = [ConceptFit::Mean, ConceptFit::Logistic];

    /// What the window shows.
    pub fn label(self) -> &'static str {
        match self {
            ConceptFit::Mean => "mean difference",
            ConceptFit::Logistic => "logistic regression",
        }
    }
}
