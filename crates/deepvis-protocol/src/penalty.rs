//! Penalties on the picture (subtracted from the objective, each weighted), each defined once
//! here: its name, its knob and its formula, written in the few pixel operations of
//! [`PixelOps`] that the optimizer implements on its tensors. The window's sliders, the command
//! line's `--penalty NAME=W,...`, the sidecars and the optimizer all read this table, so adding
//! a penalty is a variant of [`PenaltyKind`] and its arms below.
//!
//! The paper's own regularizers (decay, blur, norm and contribution clipping) change the
//! picture between steps rather than the objective; they stay in [`crate::Params`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One penalty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PenaltyKind {
    /// Total variation: the mean absolute difference of vertical neighbours plus that of
    /// horizontal neighbours (lucent's `total_variation`).
    Tv,
    /// L1: the mean absolute distance of the pixels from grey (lucent's `L1(constant=0.5)`).
    L1,
    /// L2: the mean squared distance of the pixels from grey (lucent's `L2`, squared).
    L2,
    /// Keep to the start: the mean squared distance of the pixels from the run's start picture
    /// (feature accentuation, Hamblin et al. 2024: from a photo, what in it drives the unit).
    Start,
}

/// What the window, the command line and validation know of a penalty.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PenaltySpec {
    /// The name on the command line and in sidecars.
    pub name: &'static str,
    /// The slider's text.
    pub label: &'static str,
    /// The tip.
    pub help: &'static str,
    /// The slider's upper end (logarithmic); any finite weight >= 0 is valid.
    pub slider_max: f64,
}

/// Pixel operations a penalty is written in: images in 0..1 units (`[n, c, h, w]`, the
/// optimizer's tensors), with gradients.
pub trait PixelOps: Sized {
    /// A value per batch (the optimizer's `[1]` tensor).
    type Scalar: std::ops::Add<Output = Self::Scalar>;
    /// `x[y + 1] - x[y]` (height) or `x[.., x + 1] - x[.., x]` (width): one pixel shorter.
    fn diff(&self, axis: Axis) -> Self;
    /// `x - v` everywhere.
    fn minus(&self, v: f64) -> Self;
    /// `|x|`.
    fn abs(self) -> Self;
    /// `x²`.
    fn square(self) -> Self;
    /// The mean over everything, times the number of images (a sum over the batch's images
    /// of each one's mean).
    fn mean_per_image(self) -> Self::Scalar;
    /// The picture's height and width.
    fn size(&self) -> (usize, usize);
    /// The pictures minus the run's start pictures (None where they are not known).
    fn off_start(&self) -> Option<Self>;
}

/// An image axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Down.
    Height,
    /// Across.
    Width,
}

impl PenaltyKind {
    /// Every penalty, in the window's order (the declaration order).
    pub const ALL: [PenaltyKind; 4] = [
        PenaltyKind::Tv,
        PenaltyKind::L1,
        PenaltyKind::L2,
        PenaltyKind::Start,
    ];

    /// The names, in [`PenaltyKind::ALL`]'s order.
    pub const NAMES: [&'static str; 4] = ["tv", "l1", "l2", "start"];

    /// Its knob.
    pub fn spec(self) -> PenaltySpec {
        match self {
            PenaltyKind::Tv => PenaltySpec {
                name: "tv",
                label: "total variation",
                help: "penalty on differences between neighbouring pixels",
                slider_max: 100.0,
            },
            PenaltyKind::L1 => PenaltySpec {
                name: "l1",
                label: "L1",
                help: "penalty on the pixels' distance from grey",
                slider_max: 100.0,
            },
            PenaltyKind::L2 => PenaltySpec {
                name: "l2",
                label: "L2",
                help: "penalty on the pixels' squared distance from grey",
                slider_max: 100.0,
            },
            PenaltyKind::Start => PenaltySpec {
                name: "start",
                label: "keep to the start",
                help: "penalty on the pixels' squared distance from the start picture: start \
                       from the frame or a photo to see what in it drives the unit (feature \
                       accentuation)",
                slider_max: 1000.0,
            },
        }
    }

    /// Its value on pictures `px` (0..1 units), summed over the images; `None` where it does
    /// not apply (total variation of a picture one pixel high or wide).
    pub fn eval<P: PixelOps>(self, px: &P) -> Option<P::Scalar> {
        match self {
            PenaltyKind::Tv => {
                let (h, w) = px.size();
                if h < 2 || w < 2 {
                    return None;
                }
                let dy = px.diff(Axis::Height).abs().mean_per_image();
                let dx = px.diff(Axis::Width).abs().mean_per_image();
                Some(dy + dx)
            }
            PenaltyKind::L1 => Some(px.minus(0.5).abs().mean_per_image()),
            PenaltyKind::L2 => Some(px.minus(0.5).square().mean_per_image()),
            PenaltyKind::Start => Some(px.off_start()?.square().mean_per_image()),
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The penalty named `name`.
    pub fn from_name(name: &str) -> Option<PenaltyKind> {
        PenaltyKind::ALL.into_iter().find(|k| k.spec().name == name)
    }
}

/// The penalties' weights (each off at 0).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Penalties {
    weights: [f64; PenaltyKind::ALL.len()],
}

impl Penalties {
    /// None.
    pub const OFF: Penalties = Penalties {
        weights: [0.0; PenaltyKind::ALL.len()],
    };

    /// The weight of `kind`.
    pub fn get(&self, kind: PenaltyKind) -> f64 {
        self.weights[kind.index()]
    }

    /// The weight of `kind`, for a slider.
    pub fn get_mut(&mut self, kind: PenaltyKind) -> &mut f64 {
        &mut self.weights[kind.index()]
    }

    /// `self` with `kind` weighted `w`.
    pub fn with(mut self, kind: PenaltyKind, w: f64) -> Penalties {
        *self.get_mut(kind) = w;
        self
    }

    /// The penalties that are on, with their weights.
    pub fn active(&self) -> impl Iterator<Item = (PenaltyKind, f64)> + '_ {
        PenaltyKind::ALL
            .into_iter()
            .map(|k| (k, self.get(k)))
            .filter(|(_, w)| *w != 0.0)
    }

    /// Checks every weight: finite and >= 0.
    pub fn validate(&self) -> Result<(), String> {
        for kind in PenaltyKind::ALL {
            let w = self.get(kind);
            if !w.is_finite() || w < 0.0 {
                return Err(format!(
                    "{} weight is {w}; it must be finite and >= 0",
                    kind.spec().label
                ));
            }
        }
        Ok(())
    }

    /// Parses `off` or `NAME=W,NAME=W,...` into `self` (the names not given keep theirs).
    pub fn parse_into(&mut self, spec: &str) -> Result<(), String> {
        if spec.trim() == "off" {
            *self = Penalties::OFF;
            return Ok(());
        }
        let names = PenaltyKind::NAMES.join(", ");
        for part in spec.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "penalty {spec}: `{part}` is not NAME=WEIGHT (names: {names})"
                ));
            };
            let kind = PenaltyKind::from_name(k.trim())
                .ok_or_else(|| format!("penalty {spec}: `{}`: use {names}", k.trim()))?;
            *self.get_mut(kind) = v
                .trim()
                .parse()
                .map_err(|_| format!("penalty {spec}: `{}` is not a number", v.trim()))?;
        }
        self.validate()
    }
}

// Stored as a struct with one field per penalty (`{"tv": 0.0, "l1": 0.1}`); a missing field is
// off, an unknown one is ignored.
impl Serialize for Penalties {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::named::serialize(s, "Penalties", &PenaltyKind::NAMES, &self.weights)
    }
}

impl<'de> Deserialize<'de> for Penalties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Penalties, D::Error> {
        let v = crate::named::deserialize(d, "Penalties", &PenaltyKind::NAMES)?;
        let mut out = Penalties::OFF;
        out.weights.copy_from_slice(&v);
        Ok(out)
    }
}
