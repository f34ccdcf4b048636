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
pub mod reservoir;
pub mod rng;
pub mod tcav;

pub use cav::{Cav, Fit, FitOptions};
pub use error::{Error, Result};
pub use file::{ConceptFile, Examples, MAX_CONCEPT_FILE_BYTES};
pub use nmf::{Nmf, NmfOptions, Transform};
pub use reservoir::Reservoir;
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

/// Each channel's mean over the places of a `[C, H, W]` map (an activation vector, as a
/// concept reads a frame). Errors: a map of another size.
pub fn channel_means(map: &[f32], [c, h, w]: [usize; 3]) -> Result<Vec<f32>> {
    let plane = h.checked_mul(w).filter(|&p| p > 0);
    let Some(plane) = plane.filter(|&p| p.checked_mul(c) == Some(map.len())) else {
        return Err(Error::Length {
            what: format!("a {c} x {h} x {w} map"),
            expected: c.saturating_mul(h).saturating_mul(w),
            found: map.len(),
        });
    };
    Ok(map
        .chunks_exact(plane)
        .map(|p| (p.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64) as f32)
        .collect())
}

#[cfg(test)]
mod lib_tests {
    use super::*;

    #[test]
    fn channel_means_of_a_map() {
        let m = [1.0, 3.0, 0.0, 0.0, 2.0, 2.0, 2.0, 6.0];
        assert_eq!(channel_means(&m, [2, 2, 2]).ok(), Some(vec![1.0, 3.0]));
        assert!(channel_means(&m[1..], [2, 2, 2]).is_err());
        assert!(channel_means(&[], [0, 0, 0]).is_err());
    }
}
