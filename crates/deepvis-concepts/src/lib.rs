//! Concepts in a layer's channel space, no model: CAVs, TCAV and its t-test, NMF parts, files.
//!
//! Data are plain `f32` slices with explicit shapes, row-major: an activation vector is `[C]`,
//! a layer's map `[C, H, W]`, a matrix of positions by channels `[N, C]`. Sums are taken in
//! `f64`. Every function is deterministic (seeded where it draws numbers).

#![warn(missing_docs)]

pub mod cav;
mod error;
pub mod file;
pub mod nmf;
pub mod rng;
pub mod tcav;

pub use cav::{Cav, Fit, FitOptions};
pub use error::{Error, Result};
pub use file::{ConceptFile, Examples, MAX_CONCEPT_FILE_BYTES};
pub use nmf::{Nmf, NmfOptions, Transform};
pub use rng::SplitMix64;
pub use tcav::{
    TTest, Tcav, regularized_incomplete_beta, significance, student_t_two_sided_p, tcav_score,
    tcav_score_of_derivatives, tcav_test,
};

/// The dot product of two slices of equal length, summed in `f64`.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// The first index of a value that is not finite, if any.
pub(crate) fn first_non_finite(v: &[f32]) -> Option<usize> {
    v.iter().position(|x| !x.is_finite())
}
