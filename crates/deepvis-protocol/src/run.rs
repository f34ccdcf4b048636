//! What an optimization run reports.

use serde::{Deserialize, Serialize};

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It ran its `max_iter` iterations.
    MaxIter,
    /// The gradient was exactly zero everywhere (the unit is dead on this image).
    ZeroGrad,
    /// The objective or the gradient became NaN or infinite.
    NonFinite,
}

impl StopReason {
    /// `max_iter`, `zero_grad` or `non_finite`.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::MaxIter => "max_iter",
            StopReason::ZeroGrad => "zero_grad",
            StopReason::NonFinite => "non_finite",
        }
    }
}

/// What one iteration of one run measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// The run.
    pub run: usize,
    /// The iteration (0-based).
    pub iter: usize,
    /// The objective (signed: larger is better).
    pub obj: f32,
    /// The unit's post-ReLU activation.
    pub act: f32,
    /// The learning rate used for this iteration's update (none on a stopping iteration).
    pub lr: Option<f64>,
    /// `||g||`.
    pub grad_norm: f64,
    /// Whether the unit was the argmax of its layer.
    pub is_argmax: bool,
}

/// Which objective a preferred-image run optimizes and where it started: the reason, typed;
/// the window words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunMode {
    /// What the settings ask for: the unit's value after its ReLU (the paper's) or before it.
    Asked {
        /// The pre-ReLU value.
        pre_relu: bool,
        /// The start image.
        start: crate::StartFrom,
    },
    /// The pre-ReLU value because the unit is silent on the start image (its post-ReLU
    /// gradient is exactly zero), until it comes alive (automatic mode).
    SilentPre {
        /// The start image.
        start: crate::StartFrom,
    },
    /// Back to the post-ReLU value once the unit came alive at this step.
    AliveAt {
        /// The step.
        step: usize,
        /// The start image.
        start: crate::StartFrom,
    },
    /// Started over from the current frame: the unit is silent on noise and its layer has no
    /// pre-ReLU value to fall back to.
    FrameFallback,
}
