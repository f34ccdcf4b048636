//! A class and its probability: what `deepvis classify` prints and the window lists.

/// A class and its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassProb {
    /// Class index.
    pub index: usize,
    /// Class name.
    pub label: String,
    /// Probability.
    pub prob: f32,
}
