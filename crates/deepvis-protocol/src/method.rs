//! How a preferred image is made, beyond the paper's hyperparameters: the image's
//! parameterization, the random transforms it must survive, the penalties on it and the update
//! rule (the parts of lucent's `optvis`). The paper's method is pixels, no transforms, no
//! penalties and its own SGD; "Fourier + transforms" and MACO are presets of the same knobs.

use serde::{Deserialize, Serialize};

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

/// Random transforms applied to the image before each forward pass (a fresh draw per image and
/// step), so that the picture must work wherever it lands. The network's input keeps its size:
/// the image is resampled once through the composed map. Each is off at 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Transforms {
    /// A grey frame this many pixels wide around the image (lucent's `pad(12)`; the padded
    /// image is shrunk back to the input size).
    pub pad: u32,
    /// Random shift of up to this many pixels each way, before and (half as much) after the
    /// scaling and rotation (lucent's `jitter(8)` ... `jitter(4)`).
    pub jitter: u32,
    /// Random scale in `1 ± scale` (lucent: 0.1, scales 0.9 to 1.1).
    pub scale: f64,
    /// Random rotation of up to this many degrees each way (lucent: 10).
    pub rotate: f64,
}

impl Transforms {
    /// None at all.
    pub const OFF: Transforms = Transforms {
        pad: 0,
        jitter: 0,
        scale: 0.0,
        rotate: 0.0,
    };

    /// lucent's `standard_transforms`.
    pub const STANDARD: Transforms = Transforms {
        pad: 12,
        jitter: 8,
        scale: 0.1,
        rotate: 10.0,
    };

    /// Wider ranges, tuned for SqueezeNet with the judge (`scripts/judge-table.sh`): pictures
    /// that must survive larger moves are recognised more often by a second network.
    pub const WIDE: Transforms = Transforms {
        pad: 16,
        jitter: 16,
        scale: 0.2,
        rotate: 15.0,
    };

    /// Whether any transform is on.
    pub fn any(&self) -> bool {
        *self != Transforms::OFF
    }

    /// Checks the ranges: pad and jitter at most 64 pixels, scale in 0..0.9, rotation at most
    /// 180 degrees.
    pub fn validate(&self) -> Result<(), String> {
        if self.pad > 64 || self.jitter > 64 {
            return Err(format!(
                "pad {} / jitter {}: at most 64 pixels each",
                self.pad, self.jitter
            ));
        }
        if !self.scale.is_finite() || !(0.0..0.9).contains(&self.scale) {
            return Err(format!(
                "random scale is {}; it must lie in 0..0.9 (scales 1 - s to 1 + s)",
                self.scale
            ));
        }
        if !self.rotate.is_finite() || !(0.0..=180.0).contains(&self.rotate) {
            return Err(format!(
                "random rotation is {} degrees; it must lie in 0..180",
                self.rotate
            ));
        }
        Ok(())
    }
}

/// The knobs of a method other than the paper's hyperparameters ([`crate::Params`], whose
/// regularizers apply where they make sense: blur and clipping to pixels only, decay to any
/// parameter but a phase; its learning-rate policy is the SGD's).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Total-variation penalty weight (mean absolute difference of neighbouring pixels, in
    /// 0..1 pixel units, subtracted from the objective).
    pub tv: f64,
    /// L1 penalty weight (mean absolute distance of the pixels from grey, 0..1 units).
    pub l1: f64,
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
        tv: 0.0,
        l1: 0.0,
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
            ("total variation weight", self.tv),
            ("L1 weight", self.l1),
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
        self.transforms.validate()
    }
}
