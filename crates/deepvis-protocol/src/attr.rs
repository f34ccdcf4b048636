//! The attribution methods' own settings (patch sizes, sample counts, baselines), checked
//! before a method runs.

use serde::{Deserialize, Serialize};

/// Occlusion sensitivity: a grey patch slid over the input.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OcclusionOptions {
    /// Side of the square patch, in input pixels.
    pub patch: usize,
    /// Step between patch positions, in input pixels.
    pub stride: usize,
}

impl Default for OcclusionOptions {
    fn default() -> OcclusionOptions {
        OcclusionOptions {
            patch: 32,
            stride: 16,
        }
    }
}

/// SmoothGrad: gradients of noisy copies of the input, averaged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SmoothGradOptions {
    /// Noisy copies.
    pub samples: usize,
    /// Noise standard deviation as a fraction of the input's range (max - min).
    pub noise: f32,
    /// Average guided backprop instead of the gradient.
    pub guided: bool,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for SmoothGradOptions {
    fn default() -> SmoothGradOptions {
        SmoothGradOptions {
            samples: 16,
            noise: 0.15,
            guided: false,
            seed: 0,
        }
    }
}

/// Where integrated gradients start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Baseline {
    /// A black image.
    #[default]
    Black,
    /// The input blurred (a Gaussian of sigma a tenth of its side).
    Blur,
}

impl Baseline {
    /// Every baseline.
    pub const ALL: [Baseline; 2] = [Baseline::Black, Baseline::Blur];

    /// `black` or `blur`.
    pub fn as_str(self) -> &'static str {
        match self {
            Baseline::Black => "black",
            Baseline::Blur => "blur",
        }
    }
}

/// `--baseline NAME` on the command line.
#[cfg(feature = "clap")]
impl clap::ValueEnum for Baseline {
    fn value_variants<'a>() -> &'a [Baseline] {
        &Baseline::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Integrated gradients: the gradient averaged along the straight path from a baseline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgOptions {
    /// Points on the path (a Gauss-Legendre rule of this many points; where the map misses
    /// f(x) - f(baseline) by more than 1%, the path is taken again with twice the points, up
    /// to four times these).
    pub steps: usize,
    /// The path's start.
    pub baseline: Baseline,
}

impl Default for IgOptions {
    fn default() -> IgOptions {
        IgOptions {
            steps: 32,
            baseline: Baseline::Black,
        }
    }
}

/// Every attribution method's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrOptions {
    /// The layer Grad-CAM and Grad-CAM++ explain the unit by (`None`: the last layer with a
    /// spatial map below the unit's).
    #[serde(default)]
    pub target_layer: Option<String>,
    /// Occlusion.
    #[serde(default)]
    pub occlusion: OcclusionOptions,
    /// SmoothGrad.
    #[serde(default)]
    pub smoothgrad: SmoothGradOptions,
    /// Integrated gradients.
    #[serde(default)]
    pub ig: IgOptions,
    /// Inputs per network pass for the methods that need many (occlusion, SmoothGrad,
    /// integrated gradients).
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    8
}

impl Default for AttrOptions {
    fn default() -> AttrOptions {
        AttrOptions {
            target_layer: None,
            occlusion: OcclusionOptions::default(),
            smoothgrad: SmoothGradOptions::default(),
            ig: IgOptions::default(),
            batch: default_batch(),
        }
    }
}

/// Largest number of passes a method may ask for (samples, steps, batch).
pub const MAX_PASSES: usize = 4096;

impl AttrOptions {
    /// Checks every value: counts in `1..=MAX_PASSES`, a patch and a stride of at least one
    /// pixel, a finite noise level in `[0, 10]`; the sentence says which is wrong.
    pub fn check(&self) -> Result<(), String> {
        let count = |what: &str, v: usize| match (1..=MAX_PASSES).contains(&v) {
            true => Ok(()),
            false => Err(format!("{what} is {v}; it must be 1 to {MAX_PASSES}")),
        };
        count("the SmoothGrad sample count", self.smoothgrad.samples)?;
        count("the integrated-gradients step count", self.ig.steps)?;
        count("the batch size", self.batch)?;
        if self.occlusion.patch == 0 || self.occlusion.stride == 0 {
            return Err(format!(
                "the occlusion patch ({}) and stride ({}) must be at least one pixel",
                self.occlusion.patch, self.occlusion.stride
            ));
        }
        let n = self.smoothgrad.noise;
        if !n.is_finite() || !(0.0..=10.0).contains(&n) {
            return Err(format!(
                "the SmoothGrad noise level is {n}; it must be a number from 0 to 10"
            ));
        }
        Ok(())
    }
}
