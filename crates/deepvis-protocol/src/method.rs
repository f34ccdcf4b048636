//! How a preferred image is made, beyond the paper's hyperparameters: the image's
//! parameterization, the random transforms it must survive, the penalties on it and the update
//! rule (the parts of lucent's `optvis`). The paper's method is pixels, no transforms, no
//! penalties and its own SGD; "Fourier + transforms" and MACO are presets of the same knobs.

use serde::{Deserialize, Serialize};

use crate::canvas::Canvas;
use crate::penalty::Penalties;
use crate::transforms::Transforms;

/// The three methods the window's picker and `--method` offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    /// Yosinski et al. 2015: pixels, its regularizers, its SGD.
    #[default]
    Paper,
    /// Lucid/lucent's recipe: a decorrelated Fourier parameterization, random transforms, Adam.
    Fourier,
    /// Fel et al. 2023: only the spectrum's phase is optimized, its magnitude fixed to that of
    /// natural images.
    Maco,
}

impl MethodKind {
    /// Every method, in the picker's order.
    pub const ALL: [MethodKind; 3] = [MethodKind::Paper, MethodKind::Fourier, MethodKind::Maco];

    /// `paper`, `fourier` or `maco`.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Paper => "paper",
            MethodKind::Fourier => "fourier",
            MethodKind::Maco => "maco",
        }
    }

    /// What the window shows.
    pub fn label(self) -> &'static str {
        match self {
            MethodKind::Paper => "paper 2015",
            MethodKind::Fourier => "Fourier + transforms",
            MethodKind::Maco => "MACO",
        }
    }

    /// The method's knobs.
    pub fn method(self) -> Method {
        match self {
            MethodKind::Paper => Method::PAPER,
            MethodKind::Fourier => Method::FOURIER,
            MethodKind::Maco => Method::MACO,
        }
    }
}

/// `--method NAME` of `optimize` and `search`.
#[cfg(feature = "clap")]
impl clap::ValueEnum for MethodKind {
    fn value_variants<'a>() -> &'a [MethodKind] {
        &MethodKind::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.label()))
    }
}

/// What the optimizer changes to make the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// The pixels themselves (the paper).
    #[default]
    Pixel,
    /// The image's spectrum, each frequency scaled by `1 / f^decay_power`, colours decorrelated,
    /// squashed into valid pixels by a sigmoid (lucent's `fft_image` + `to_valid_rgb`).
    Fourier,
    /// The phase of the spectrum under a fixed natural-image magnitude (MACO).
    Maco,
}

impl ParamKind {
    /// `pixel`, `fourier` or `maco`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Pixel => "pixel",
            ParamKind::Fourier => "fourier",
            ParamKind::Maco => "maco",
        }
    }
}

/// The knobs of a method other than the paper's hyperparameters ([`crate::Params`], whose
/// regularizers apply where they make sense: blur and clipping to pixels only, decay to any
/// parameter but a phase; its learning-rate policy is the SGD's).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "MethodWire")]
pub struct Method {
    /// What is optimized.
    pub param: ParamKind,
    /// Fourier: the power of the frequency decay (lucent: 1).
    pub decay_power: f64,
    /// Fourier and MACO: colours decorrelated with ImageNet's colour covariance (lucent's).
    pub decorrelate: bool,
    /// Fourier: the standard deviation of the random start spectrum (lucent: 0.01).
    pub init_sd: f64,
    /// The transforms.
    pub transforms: Transforms,
    /// Adam instead of the paper's SGD.
    pub adam: bool,
    /// Adam's learning rate.
    pub adam_lr: f64,
    /// Adam with Nesterov momentum (NAdam, Dozat 2016, as PyTorch writes it: what MACO's
    /// authors optimize with).
    pub nesterov: bool,
    /// The penalties on the picture (0..1 pixel units, subtracted from the objective).
    pub penalties: Penalties,
    /// Crops of a large canvas (the spectral parameterizations; off for pixels).
    pub canvas: Canvas,
}

/// [`Method`] as stored, reading also the penalty weights `tv` and `l1` that earlier versions
/// kept beside the other knobs.
#[derive(Deserialize)]
#[serde(default)]
struct MethodWire {
    param: ParamKind,
    decay_power: f64,
    decorrelate: bool,
    init_sd: f64,
    transforms: Transforms,
    adam: bool,
    adam_lr: f64,
    nesterov: bool,
    penalties: Penalties,
    canvas: Canvas,
    tv: Option<f64>,
    l1: Option<f64>,
}

impl Default for MethodWire {
    fn default() -> MethodWire {
        let m = Method::PAPER;
        MethodWire {
            param: m.param,
            decay_power: m.decay_power,
            decorrelate: m.decorrelate,
            init_sd: m.init_sd,
            transforms: m.transforms,
            adam: m.adam,
            adam_lr: m.adam_lr,
            nesterov: m.nesterov,
            penalties: m.penalties,
            canvas: m.canvas,
            tv: None,
            l1: None,
        }
    }
}

impl From<MethodWire> for Method {
    fn from(w: MethodWire) -> Method {
        use crate::penalty::PenaltyKind;
        let mut penalties = w.penalties;
        for (kind, legacy) in [(PenaltyKind::Tv, w.tv), (PenaltyKind::L1, w.l1)] {
            if let Some(v) = legacy {
                *penalties.get_mut(kind) = v;
            }
        }
        Method {
            param: w.param,
            decay_power: w.decay_power,
            decorrelate: w.decorrelate,
            init_sd: w.init_sd,
            transforms: w.transforms,
            adam: w.adam,
            adam_lr: w.adam_lr,
            nesterov: w.nesterov,
            penalties,
            canvas: w.canvas,
        }
    }
}

impl Default for Method {
    fn default() -> Method {
        Method::PAPER
    }
}

impl Method {
    /// The paper's: pixels, no transforms, no penalties, its SGD.
    pub const PAPER: Method = Method {
        param: ParamKind::Pixel,
        decay_power: 1.0,
        decorrelate: true,
        init_sd: 0.01,
        transforms: Transforms::OFF,
        adam: false,
        adam_lr: 0.05,
        nesterov: false,
        penalties: Penalties::OFF,
        canvas: Canvas::OFF,
    };

    /// Lucent's recipe (`fft_image` with decay power 1 and decorrelated colours, Adam) tuned
    /// for SqueezeNet: the wide transforms and Adam at 0.02 (lucent: its standard transforms and
    /// 0.05; see the closing note of issue 10 for the judge's ranks before and after).
    pub const FOURIER: Method = Method {
        param: ParamKind::Fourier,
        transforms: Transforms::WIDE,
        adam: true,
        adam_lr: 0.02,
        ..Method::PAPER
    };

    /// MACO: the phase alone, the wide transforms, Adam at 0.2 (on angles, a larger step).
    pub const MACO: Method = Method {
        param: ParamKind::Maco,
        transforms: Transforms::WIDE,
        adam: true,
        adam_lr: 0.2,
        ..Method::PAPER
    };

    /// The picker's method these knobs started from (by parameterization).
    pub fn kind(&self) -> MethodKind {
        match self.param {
            ParamKind::Pixel => MethodKind::Paper,
            ParamKind::Fourier => MethodKind::Fourier,
            ParamKind::Maco => MethodKind::Maco,
        }
    }

    /// The paper's hyperparameters a method runs with: the paper's own preset, or for the
    /// modern methods every paper regularizer off and `iters` iterations.
    pub fn default_params(kind: MethodKind) -> crate::Params {
        match kind {
            MethodKind::Paper => crate::Params::PRESET_3,
            MethodKind::Fourier | MethodKind::Maco => crate::Params {
                decay: 0.0,
                blur_radius: 0.0,
                blur_every: 0,
                norm_pct: 0.0,
                contrib_pct: 0.0,
                max_iter: 512,
                ..crate::Params::PRESET_3
            },
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("decay power", self.decay_power),
            ("start spectrum sd", self.init_sd),
            ("Adam learning rate", self.adam_lr),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} is {v}; it must be finite and >= 0"));
            }
        }
        if self.decay_power > 4.0 {
            return Err(format!(
                "decay power is {}; at most 4 is supported",
                self.decay_power
            ));
        }
        self.penalties.validate()?;
        self.canvas.validate()?;
        if self.canvas.on() && self.param == ParamKind::Pixel {
            return Err(
                "a canvas needs a spectral parameterization (fourier or maco), not pixels".into(),
            );
        }
        self.transforms.validate()
    }
}
