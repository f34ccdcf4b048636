//! The attribution methods: what a map of a unit on an input is, and their settings (patch
//! sizes, sample counts, baselines) with the table of knobs the window's sliders and the
//! command line's `--set` read. One file that the window's picker, the attribution jobs, the
//! model's backward pass and the command line all read: a method is its variant here (with
//! its settings, if any) and how it computes (`deepvis-attribution`'s `job.rs`).

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

    /// Their names, in the same order.
    pub const NAMES: [&'static str; 2] = ["black", "blur"];

    /// `black` or `blur`.
    pub fn as_str(self) -> &'static str {
        Baseline::NAMES[self as usize]
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

/// What a setting holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrKnobKind {
    /// A whole number; the window's slider spans `min..=max`.
    Count {
        /// The slider's least value.
        min: usize,
        /// The slider's largest value.
        max: usize,
    },
    /// A number; the window's slider spans `min..=max`.
    Number {
        /// The slider's least value.
        min: f64,
        /// The slider's largest value.
        max: f64,
    },
    /// On or off.
    Switch,
    /// One of named choices (its value: the choice's place in the list).
    Choice(&'static [&'static str]),
}

/// One of the attribution methods' settings: the window draws its slider, checkbox or choice
/// from this row, and the command line takes it as `--set NAME=VALUE`. A method's new setting
/// is a field of its options and a row of [`AttrOptions::KNOBS`].
#[derive(Clone, Copy, Debug)]
pub struct AttrKnob {
    /// Its name on the command line (`occlusion.patch`).
    pub name: &'static str,
    /// The window's label (`occlusion patch px`).
    pub label: &'static str,
    /// What it does, in the window's hover text.
    pub hover: &'static str,
    /// What it holds.
    pub kind: AttrKnobKind,
    /// Its value (a count, a number, 0 or 1 for a switch, the place of a choice).
    pub get: fn(&AttrOptions) -> f64,
    /// Sets it (the value as `get` gives it).
    pub set: fn(&mut AttrOptions, f64),
}

impl AttrKnob {
    /// Sets it from text (`12`, `0.2`, `on`, `blur`); the sentence says what it takes.
    pub fn parse_into(&self, o: &mut AttrOptions, text: &str) -> Result<(), String> {
        let t = text.trim();
        let bad = |what: &str| format!("{} takes {what}, not `{t}`", self.name);
        let v = match self.kind {
            AttrKnobKind::Count { .. } => {
                t.parse::<usize>().map_err(|_| bad("a whole number"))? as f64
            }
            AttrKnobKind::Number { .. } => t
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad("a number"))?,
            AttrKnobKind::Switch => match t.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => 1.0,
                "off" | "false" | "no" | "0" => 0.0,
                _ => return Err(bad("on or off")),
            },
            AttrKnobKind::Choice(names) => names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(t))
                .ok_or_else(|| bad(&crate::one_of(names)))?
                as f64,
        };
        (self.set)(o, v);
        Ok(())
    }
}

/// A count as a knob's value holds it (never below zero, never past `usize`).
fn count(v: f64) -> usize {
    v.clamp(0.0, usize::MAX as f64).round() as usize
}

impl AttrOptions {
    /// Every setting of the methods (the layer Grad-CAM looks at, a choice of the network's
    /// layers, is the window's own picker and `--target-layer`), in the window's order.
    pub const KNOBS: &'static [AttrKnob] = &[
        AttrKnob {
            name: "occlusion.patch",
            label: "occlusion patch px",
            hover: "the side of the gray square slid over the frame",
            kind: AttrKnobKind::Count { min: 4, max: 112 },
            get: |o| o.occlusion.patch as f64,
            set: |o, v| o.occlusion.patch = count(v),
        },
        AttrKnob {
            name: "occlusion.stride",
            label: "occlusion stride px",
            hover: "how far the square moves between two tries",
            kind: AttrKnobKind::Count { min: 2, max: 112 },
            get: |o| o.occlusion.stride as f64,
            set: |o, v| o.occlusion.stride = count(v),
        },
        AttrKnob {
            name: "smoothgrad.samples",
            label: "SmoothGrad samples",
            hover: "how many noisy copies of the frame are averaged",
            kind: AttrKnobKind::Count { min: 1, max: 100 },
            get: |o| o.smoothgrad.samples as f64,
            set: |o, v| o.smoothgrad.samples = count(v),
        },
        AttrKnob {
            name: "smoothgrad.noise",
            label: "SmoothGrad noise (of range)",
            hover: "the noise's standard deviation, as a share of the input's range",
            kind: AttrKnobKind::Number { min: 0.0, max: 0.5 },
            get: |o| f64::from(o.smoothgrad.noise),
            set: |o, v| o.smoothgrad.noise = v as f32,
        },
        AttrKnob {
            name: "smoothgrad.guided",
            label: "SmoothGrad over guided backprop",
            hover: "average guided backprop instead of the plain gradient",
            kind: AttrKnobKind::Switch,
            get: |o| f64::from(u8::from(o.smoothgrad.guided)),
            set: |o, v| o.smoothgrad.guided = v != 0.0,
        },
        AttrKnob {
            name: "ig.steps",
            label: "IG steps",
            hover: "integrated gradients: points on the path from the baseline",
            kind: AttrKnobKind::Count { min: 1, max: 256 },
            get: |o| o.ig.steps as f64,
            set: |o, v| o.ig.steps = count(v),
        },
        AttrKnob {
            name: "ig.baseline",
            label: "IG baseline",
            hover: "the image the path to the frame starts from",
            kind: AttrKnobKind::Choice(&Baseline::NAMES),
            get: |o| o.ig.baseline as usize as f64,
            set: |o, v| o.ig.baseline = Baseline::ALL.get(count(v)).copied().unwrap_or_default(),
        },
        AttrKnob {
            name: "batch",
            label: "images per pass",
            hover: "how many images one forward pass takes (memory against speed)",
            kind: AttrKnobKind::Count { min: 1, max: 64 },
            get: |o| o.batch as f64,
            set: |o, v| o.batch = count(v),
        },
    ];

    /// The setting called `name`; the sentence lists the names there are.
    pub fn knob(name: &str) -> Result<&'static AttrKnob, String> {
        AttrOptions::KNOBS
            .iter()
            .find(|k| k.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = AttrOptions::KNOBS.iter().map(|k| k.name).collect();
                format!(
                    "no attribution setting is called `{name}`: use {}",
                    crate::one_of(&names)
                )
            })
    }

    /// Sets `NAME=VALUE` (`ig.steps=64`) when every value then passes the check; a refused
    /// value changes nothing.
    pub fn set_text(&mut self, assignment: &str) -> Result<(), String> {
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(format!("`{assignment}` is no NAME=VALUE"));
        };
        let mut next = self.clone();
        AttrOptions::knob(name)?.parse_into(&mut next, value)?;
        next.check()?;
        *self = next;
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_sets_what_it_reads_and_is_named_once() {
        for k in AttrOptions::KNOBS {
            let mut o = AttrOptions::default();
            let v = match k.kind {
                AttrKnobKind::Count { max, .. } => max as f64,
                AttrKnobKind::Number { max, .. } => max,
                AttrKnobKind::Switch => 1.0 - (k.get)(&o),
                AttrKnobKind::Choice(names) => (names.len() - 1) as f64,
            };
            assert_ne!((k.get)(&o), v, "{}: the test must change it", k.name);
            (k.set)(&mut o, v);
            assert_eq!((k.get)(&o), v, "{}", k.name);
            assert_ne!(o, AttrOptions::default(), "{}", k.name);
            let named = AttrOptions::KNOBS.iter().filter(|j| j.name == k.name);
            assert_eq!(named.count(), 1, "{}", k.name);
            let found = AttrOptions::knob(&k.name.to_ascii_uppercase()).map(|j| j.label);
            assert_eq!(found, Ok(k.label));
        }
    }

    #[test]
    fn settings_are_taken_as_text_and_checked() {
        let mut o = AttrOptions::default();
        o.set_text("ig.baseline=BLUR").unwrap();
        o.set_text(" smoothgrad.noise = 0.3").unwrap();
        o.set_text("smoothgrad.guided=yes").unwrap();
        assert_eq!(o.ig.baseline, Baseline::Blur);
        assert!((o.smoothgrad.noise - 0.3).abs() < 1e-6 && o.smoothgrad.guided);
        let before = o.clone();
        let e = o.set_text("batch=0").unwrap_err();
        assert!(e.contains("batch size is 0"), "{e}");
        assert!(
            o.set_text("occlusion.size=3")
                .unwrap_err()
                .contains("occlusion.patch")
        );
        assert!(
            o.set_text("ig.steps=-1")
                .unwrap_err()
                .contains("whole number")
        );
        assert!(
            o.set_text("smoothgrad.guided=maybe")
                .unwrap_err()
                .contains("on or off")
        );
        // a refused value changes nothing
        assert_eq!(o, before);
    }
}
