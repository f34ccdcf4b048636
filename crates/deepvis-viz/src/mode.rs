//! The attribution methods: what a map of a unit on an input is. One table that the window's
//! picker, the attribution jobs, the model's backward pass and the command line all read.

use serde::{Deserialize, Serialize};

/// How the selected unit is attributed to the input: the back-projections (gradient, deconv,
/// guided backprop), the attribution maps (Grad-CAM, Grad-CAM++, occlusion, SmoothGrad,
/// integrated gradients) and, for vision transformers, attention rollout.
///
/// As the rule of a backward pass, [`BackMode::Deconv`] and [`BackMode::Guided`] change how a
/// ReLU passes the signal back; every other mode passes the plain gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum BackMode {
    /// Not computed (saves a backward pass per frame).
    Off,
    /// The gradient of the unit with respect to the input.
    #[default]
    Grad,
    /// Zeiler & Fergus deconvolution.
    Deconv,
    /// Guided backprop.
    Guided,
    /// Grad-CAM (Selvaraju et al. 2017) at a convolutional layer below the unit.
    GradCam,
    /// Grad-CAM++ (Chattopadhay et al. 2018) at a convolutional layer below the unit.
    GradCamPp,
    /// Occlusion sensitivity: how much the unit drops when a grey patch hides each place.
    Occlusion,
    /// SmoothGrad (Smilkov et al. 2017): gradients averaged over noisy copies of the input.
    SmoothGrad,
    /// Integrated gradients (Sundararajan et al. 2017) from a baseline to the input.
    Ig,
    /// Attention rollout (Abnar & Zuidema 2020) of a vision transformer: the CLS token's
    /// attention (or the unit's patch's, on a token layer) followed down through every block.
    Rollout,
}

impl BackMode {
    /// Every mode, in the order the `b` key cycles them.
    pub const ALL: [BackMode; 10] = [
        BackMode::Off,
        BackMode::Grad,
        BackMode::Deconv,
        BackMode::Guided,
        BackMode::GradCam,
        BackMode::GradCamPp,
        BackMode::Occlusion,
        BackMode::SmoothGrad,
        BackMode::Ig,
        BackMode::Rollout,
    ];

    /// Every mode that computes a map (all but [`BackMode::Off`]), as the compare view shows
    /// them.
    pub const METHODS: &'static [BackMode] = BackMode::ALL.split_at(1).1;

    /// The back-projections: one backward pass through the network, each with its own rule at
    /// a ReLU (`deepvis backprop --mode`, `deepvis topk --back`).
    pub const PROJECTIONS: [BackMode; 3] = [BackMode::Grad, BackMode::Deconv, BackMode::Guided];

    /// Its short name: `off`, `grad`, `deconv`, `guided`, `gradcam`, `gradcampp`,
    /// `occlusion`, `smoothgrad`, `ig` or `rollout`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackMode::Off => "off",
            BackMode::Grad => "grad",
            BackMode::Deconv => "deconv",
            BackMode::Guided => "guided",
            BackMode::GradCam => "gradcam",
            BackMode::GradCamPp => "gradcampp",
            BackMode::Occlusion => "occlusion",
            BackMode::SmoothGrad => "smoothgrad",
            BackMode::Ig => "ig",
            BackMode::Rollout => "rollout",
        }
    }

    /// Its name in titles (`Grad-CAM++`, `integrated gradients`, ...).
    pub fn title(self) -> &'static str {
        match self {
            BackMode::Off => "off",
            BackMode::Grad => "gradient",
            BackMode::Deconv => "deconv",
            BackMode::Guided => "guided backprop",
            BackMode::GradCam => "Grad-CAM",
            BackMode::GradCamPp => "Grad-CAM++",
            BackMode::Occlusion => "occlusion",
            BackMode::SmoothGrad => "SmoothGrad",
            BackMode::Ig => "integrated gradients",
            BackMode::Rollout => "attention rollout",
        }
    }

    /// Parses a short name ([`BackMode::as_str`], any case).
    pub fn from_name(s: &str) -> Option<BackMode> {
        BackMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// Parses the short name of a back-projection ([`BackMode::PROJECTIONS`]); the error says
    /// which names there are.
    pub fn parse_projection(s: &str) -> Result<BackMode, String> {
        BackMode::from_name(s)
            .filter(|m| m.is_projection())
            .ok_or_else(|| {
                let names = BackMode::PROJECTIONS.map(BackMode::as_str);
                format!(
                    "unknown back-projection `{s}`: use {}",
                    crate::one_of(&names)
                )
            })
    }

    /// Whether it is a back-projection ([`BackMode::PROJECTIONS`]).
    pub fn is_projection(self) -> bool {
        BackMode::PROJECTIONS.contains(&self)
    }

    /// Whether it takes many network passes (so it runs at its own pace, with progress).
    pub fn is_slow(self) -> bool {
        matches!(
            self,
            BackMode::Occlusion | BackMode::SmoothGrad | BackMode::Ig
        )
    }

    /// Whether its maps have a sign worth showing (a diverging colour map); Grad-CAM's are
    /// magnitudes.
    pub fn is_signed(self) -> bool {
        !matches!(
            self,
            BackMode::GradCam | BackMode::GradCamPp | BackMode::Rollout | BackMode::Off
        )
    }
}

/// `--method NAME` on the command line: every method by its short name (not `off`).
#[cfg(feature = "clap")]
impl clap::ValueEnum for BackMode {
    fn value_variants<'a>() -> &'a [BackMode] {
        BackMode::METHODS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        (*self != BackMode::Off)
            .then(|| clap::builder::PossibleValue::new(self.as_str()).help(self.title()))
    }
}
