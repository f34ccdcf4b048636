//! Start images (the parameterization is the image itself, in the network's normalized input
//! space): seeded Gaussian noise, the mean, uniform noise, a photo, or a given tensor.

use deepvis_model::ModelInfo;
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};

/// Where a run starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// `N(0, std)` per element, `std` in grey levels (the toolbox's `mean_plus_rand`: 10).
    Noise {
        /// Seed of the generator.
        seed: u64,
        /// Standard deviation in grey levels.
        std: f32,
    },
    /// The mean image (all zeros in the normalized space).
    Mean,
    /// Uniform pixels in 0..255.
    Uniform {
        /// Seed of the generator.
        seed: u64,
    },
    /// A given image in the normalized space, CHW (a preprocessed photo or a tensor file).
    Image {
        /// Values, `3 x size x size`.
        #[serde(skip)]
        chw: Vec<f32>,
        /// Where it came from, for reports.
        label: String,
    },
}

impl Default for Init {
    fn default() -> Init {
        Init::Noise { seed: 0, std: 10.0 }
    }
}

pub use deepvis_model::rng::Rng;

impl Init {
    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Init::Noise { seed, std } => format!("noise N(0,{std}) seed {seed}"),
            Init::Mean => "mean".into(),
            Init::Uniform { seed } => format!("uniform seed {seed}"),
            Init::Image { label, .. } => label.clone(),
        }
    }

    /// The start image for the network of `info`, CHW in the normalized input space.
    pub fn materialize(&self, info: &ModelInfo) -> Result<Vec<f32>> {
        let s = info.input_size();
        let plane = s * s;
        let norm = info.norm();
        // one grey level in each tensor channel
        let level: Vec<f32> = (0..3).map(|c| norm.scale / norm.std[c]).collect();
        match self {
            Init::Noise { seed, std } => {
                if !std.is_finite() || *std < 0.0 {
                    return Err(OptimError::BadInit(format!(
                        "noise standard deviation is {std}; it must be finite and >= 0"
                    )));
                }
                let mut rng = Rng::new(*seed);
                Ok((0..3 * plane)
                    .map(|i| (rng.normal() * *std as f64) as f32 * level[i / plane])
                    .collect())
            }
            Init::Mean => Ok(vec![0.0; 3 * plane]),
            Init::Uniform { seed } => {
                let mut rng = Rng::new(*seed);
                Ok((0..3 * plane)
                    .map(|i| {
                        let c = i / plane;
                        let px = (rng.uniform() * 255.0) as f32;
                        (px * norm.scale - norm.mean[c]) / norm.std[c]
                    })
                    .collect())
            }
            Init::Image { chw, label } => {
                if chw.len() != 3 * plane {
                    return Err(OptimError::BadInit(format!(
                        "{label} has {} values; {} needs 3x{s}x{s} = {}",
                        chw.len(),
                        info.name(),
                        3 * plane
                    )));
                }
                if let Some(i) = chw.iter().position(|v| !v.is_finite()) {
                    return Err(OptimError::BadInit(format!(
                        "{label} holds a non-finite value at index {i}"
                    )));
                }
                Ok(chw.clone())
            }
        }
    }
}
