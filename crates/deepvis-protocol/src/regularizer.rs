//! The paper's four regularizers, each described once: name, help, [`Params`] knobs, on-switch.

use crate::{OptimSettings, Params};

/// One of the paper's regularizers (Yosinski et al. 2015, section 3). The window's rows, the
/// presets' switches and the parameters the optimizer runs with all read
/// [`RegularizerKind::spec`] and the accessors below. Unlike the penalties of
/// [`crate::penalty`], they change the picture between steps rather than the objective; their
/// values stay fields of [`Params`] and their switches fields of [`OptimSettings`], so that saved
/// settings keep loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegularizerKind {
    /// L2 decay: every step shrinks the image (`theta_decay`).
    Decay,
    /// Gaussian blur every few steps (`theta_b_width`, `theta_b_every`).
    Blur,
    /// Pixels of small colour norm set to zero (`theta_n_pct`).
    NormClip,
    /// Pixels of small contribution to the unit set to zero (`theta_c_pct`).
    ContribClip,
}

/// One knob of a regularizer: a field of [`Params`] and its slider.
#[derive(Clone, Copy, Debug)]
pub struct Knob {
    /// The slider's text.
    pub label: &'static str,
    /// The tip (`None`: the regularizer's own).
    pub help: Option<&'static str>,
    /// The slider's range.
    pub min: f64,
    /// The slider's upper end.
    pub max: f64,
    /// A logarithmic slider.
    pub logarithmic: bool,
    /// Whole numbers only.
    pub integer: bool,
    /// Reads the field.
    pub get: fn(&Params) -> f64,
    /// Writes the field (whole numbers truncated, as a slider of them does).
    pub set: fn(&mut Params, f64),
}

/// What the window and the presets know of a regularizer.
#[derive(Clone, Copy, Debug)]
pub struct RegularizerSpec {
    /// Its name.
    pub name: &'static str,
    /// The text of its on-switch.
    pub switch: &'static str,
    /// What it does (the switch's tip and its first knob's).
    pub help: &'static str,
    /// Its knobs, the first one its strength (0: it does nothing).
    pub knobs: &'static [Knob],
}

const DECAY: &[Knob] = &[Knob {
    label: "decay",
    help: None,
    min: 0.0,
    max: 0.5,
    logarithmic: true,
    integer: false,
    get: |p| p.decay,
    set: |p, v| p.decay = v,
}];

const BLUR: &[Knob] = &[
    Knob {
        label: "blur radius",
        help: None,
        min: 0.0,
        max: 3.0,
        logarithmic: false,
        integer: false,
        get: |p| p.blur_radius,
        set: |p, v| p.blur_radius = v,
    },
    Knob {
        label: "blur every",
        help: Some("blur every this many steps (theta_b_every)"),
        min: 1.0,
        max: 10.0,
        logarithmic: false,
        integer: true,
        get: |p| p.blur_every as f64,
        set: |p, v| p.blur_every = v as u32,
    },
];

const NORM: &[Knob] = &[Knob {
    label: "norm pct",
    help: None,
    min: 0.0,
    max: 99.0,
    logarithmic: false,
    integer: false,
    get: |p| p.norm_pct,
    set: |p, v| p.norm_pct = v,
}];

const CONTRIB: &[Knob] = &[Knob {
    label: "contrib pct",
    help: None,
    min: 0.0,
    max: 99.0,
    logarithmic: false,
    integer: false,
    get: |p| p.contrib_pct,
    set: |p, v| p.contrib_pct = v,
}];

impl RegularizerKind {
    /// Every regularizer, in the window's order.
    pub const ALL: [RegularizerKind; 4] = [
        RegularizerKind::Decay,
        RegularizerKind::Blur,
        RegularizerKind::NormClip,
        RegularizerKind::ContribClip,
    ];

    /// Its name, switch, help and knobs.
    pub fn spec(self) -> RegularizerSpec {
        match self {
            RegularizerKind::Decay => RegularizerSpec {
                name: "decay",
                switch: "decay on",
                help: "L2 decay (the paper's theta_decay): every step shrinks the image by this \
                       fraction, which keeps a few extreme pixels from dominating",
                knobs: DECAY,
            },
            RegularizerKind::Blur => RegularizerSpec {
                name: "blur",
                switch: "blur on",
                help: "Gaussian blur width (theta_b_width): smooths away high-frequency noise",
                knobs: BLUR,
            },
            RegularizerKind::NormClip => RegularizerSpec {
                name: "norm",
                switch: "norm clip on",
                help: "clipping by norm (theta_n_pct): pixels whose colour norm is below this \
                       percentile are set to zero",
                knobs: NORM,
            },
            RegularizerKind::ContribClip => RegularizerSpec {
                name: "contrib",
                switch: "contrib clip on",
                help: "clipping by contribution (theta_c_pct): pixels that add least to the \
                       unit's value (below this percentile) are set to zero",
                knobs: CONTRIB,
            },
        }
    }

    /// Its on-switch in `o`.
    pub fn on_mut(self, o: &mut OptimSettings) -> &mut bool {
        match self {
            RegularizerKind::Decay => &mut o.decay_on,
            RegularizerKind::Blur => &mut o.blur_on,
            RegularizerKind::NormClip => &mut o.norm_on,
            RegularizerKind::ContribClip => &mut o.contrib_on,
        }
    }

    /// Whether it is switched on in `o`.
    pub fn is_on(self, o: &OptimSettings) -> bool {
        match self {
            RegularizerKind::Decay => o.decay_on,
            RegularizerKind::Blur => o.blur_on,
            RegularizerKind::NormClip => o.norm_on,
            RegularizerKind::ContribClip => o.contrib_on,
        }
    }

    /// Whether `p`'s values make it act (a preset switches on the ones it uses).
    pub fn acts_in(self, p: &Params) -> bool {
        match self {
            RegularizerKind::Decay => p.decay > 0.0,
            RegularizerKind::Blur => p.blur_radius > 0.0 && p.blur_every > 0,
            RegularizerKind::NormClip => p.norm_pct > 0.0,
            RegularizerKind::ContribClip => p.contrib_pct > 0.0,
        }
    }

    /// Makes `p` run without it (its strength, the first knob, to zero; the others kept).
    pub fn switch_off(self, p: &mut Params) {
        if let Some(k) = self.spec().knobs.first() {
            (k.set)(p, 0.0);
        }
    }

    /// The regularizer named `name`.
    pub fn from_name(name: &str) -> Option<RegularizerKind> {
        RegularizerKind::ALL
            .into_iter()
            .find(|k| k.spec().name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_knob_reads_and_writes_its_own_field() {
        for kind in RegularizerKind::ALL {
            let spec = kind.spec();
            assert_eq!(RegularizerKind::from_name(spec.name), Some(kind));
            for k in spec.knobs {
                let mut p = Params::default();
                let before = p;
                let v = if k.integer { 7.0 } else { 0.25 };
                (k.set)(&mut p, v);
                assert_eq!((k.get)(&p), v, "{}", k.label);
                assert_ne!(p, before, "{} changes nothing", k.label);
                // no other knob's field moved
                for other in RegularizerKind::ALL.iter().flat_map(|o| o.spec().knobs) {
                    if other.label != k.label {
                        assert_eq!((other.get)(&p), (other.get)(&before), "{}", other.label);
                    }
                }
                assert!(k.min < k.max, "{}", k.label);
            }
        }
    }

    #[test]
    fn the_switches_are_the_settings_fields_and_off_zeroes_the_strength() {
        let mut o = OptimSettings::from_preset(Params::PRESET_3);
        for kind in RegularizerKind::ALL {
            assert_eq!(kind.is_on(&o), kind.acts_in(&o.params), "{kind:?}");
            *kind.on_mut(&mut o) = !kind.is_on(&o);
            assert_eq!(kind.is_on(&o), !kind.acts_in(&o.params), "{kind:?}");
            let mut p = o.params;
            kind.switch_off(&mut p);
            assert!(!kind.acts_in(&p), "{kind:?} still acts");
        }
        // preset 3 uses decay and blur only: all four flipped
        assert!(!o.decay_on && !o.blur_on && o.norm_on && o.contrib_on);
    }
}
