//! The optimizer's hyperparameters, the paper's four presets, and their validation.

use serde::{Deserialize, Serialize};

/// How the learning rate of a step is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrPolicy {
    /// `lr` every step.
    Constant,
    /// `min(max_lr, desired_prog / ||g||^2)`: aim for a fixed predicted progress per step.
    Progress,
}

impl LrPolicy {
    /// Parses `constant` or `progress`.
    pub fn from_name(s: &str) -> Result<LrPolicy, String> {
        match s {
            "constant" => Ok(LrPolicy::Constant),
            "progress" => Ok(LrPolicy::Progress),
            other => Err(format!(
                "unknown lr policy `{other}`: use constant or progress"
            )),
        }
    }

    /// `constant` or `progress`.
    pub fn as_str(self) -> &'static str {
        match self {
            LrPolicy::Constant => "constant",
            LrPolicy::Progress => "progress",
        }
    }
}

/// Every knob of the regularized gradient ascent. A regularizer is off at 0. A knob missing
/// from saved settings (an older version's) takes the default's value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// L2 decay: `x *= 1 - decay` after each update (0 = off, < 1).
    pub decay: f64,
    /// Gaussian blur sigma in pixels (0 = off).
    pub blur_radius: f64,
    /// Blur every this many iterations, starting at iteration 0 (0 = off).
    pub blur_every: u32,
    /// Zero the pixels whose norm is below this percentile (0 = off, 0..100).
    pub norm_pct: f64,
    /// Zero the pixels whose |contribution| is below this percentile (0 = off, 0..100).
    pub contrib_pct: f64,
    /// Learning-rate policy.
    pub lr_policy: LrPolicy,
    /// Learning rate of the `constant` policy.
    pub lr: f64,
    /// Cap of the `progress` policy.
    pub max_lr: f64,
    /// Desired progress per step of the `progress` policy.
    pub desired_prog: f64,
    /// Iterations of a run.
    pub max_iter: usize,
}

/// The largest blur sigma accepted (its kernel must fit in a 227-pixel image).
pub const MAX_BLUR_RADIUS: f64 = 25.0;

impl Default for Params {
    fn default() -> Params {
        Params::PRESET_3
    }
}

impl Params {
    /// The paper's third setting, the one used for most of its figures (and deepvis' default).
    pub const PRESET_3: Params = Params {
        decay: 0.0001,
        blur_radius: 1.0,
        blur_every: 4,
        norm_pct: 0.0,
        contrib_pct: 0.0,
        lr_policy: LrPolicy::Constant,
        lr: 100.0,
        max_lr: 100.0,
        desired_prog: 2.0,
        max_iter: 1000,
    };

    /// The paper's settings (Yosinski et al. 2015, Table 1), `n` in 1..=4.
    pub fn preset(n: u8) -> Result<Params, String> {
        let p = match n {
            1 => Params {
                decay: 0.0,
                blur_radius: 0.5,
                blur_every: 4,
                norm_pct: 50.0,
                contrib_pct: 0.0,
                lr_policy: LrPolicy::Progress,
                lr: 100.0,
                max_lr: 100.0,
                desired_prog: 2.0,
                max_iter: 500,
            },
            2 => Params {
                decay: 0.3,
                blur_radius: 0.0,
                blur_every: 0,
                norm_pct: 20.0,
                contrib_pct: 0.0,
                lr_policy: LrPolicy::Constant,
                lr: 100.0,
                max_lr: 100.0,
                desired_prog: 2.0,
                max_iter: 750,
            },
            3 => Params::PRESET_3,
            4 => Params {
                decay: 0.0,
                blur_radius: 0.5,
                blur_every: 4,
                norm_pct: 0.0,
                contrib_pct: 90.0,
                lr_policy: LrPolicy::Progress,
                lr: 100.0,
                max_lr: 1e8,
                desired_prog: 2.0,
                max_iter: 1000,
            },
            other => {
                return Err(format!(
                    "preset {other} does not exist: the presets are 1, 2, 3 and 4"
                ));
            }
        };
        Ok(p)
    }

    /// Checks every value: finite, non-negative, decay below 1, percentiles within 0..100.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: String| Err(m);
        let finite_nonneg = [
            ("decay", self.decay),
            ("blur radius", self.blur_radius),
            ("norm percentile", self.norm_pct),
            ("contribution percentile", self.contrib_pct),
            ("learning rate", self.lr),
            ("max learning rate", self.max_lr),
            ("desired progress", self.desired_prog),
        ];
        for (name, v) in finite_nonneg {
            if !v.is_finite() {
                return bad(format!("{name} is {v}; it must be a finite number"));
            }
            if v < 0.0 {
                return bad(format!("{name} is {v}; it must not be negative"));
            }
        }
        if self.decay >= 1.0 {
            return bad(format!(
                "decay is {}; it must be below 1 (x is multiplied by 1 - decay)",
                self.decay
            ));
        }
        for (name, v) in [
            ("norm percentile", self.norm_pct),
            ("contribution percentile", self.contrib_pct),
        ] {
            if v > 100.0 {
                return bad(format!("{name} is {v}; percentiles lie in 0..100"));
            }
        }
        if self.blur_radius > MAX_BLUR_RADIUS {
            return bad(format!(
                "blur radius is {}; at most {MAX_BLUR_RADIUS} is supported",
                self.blur_radius
            ));
        }
        if self.max_iter == 0 {
            return bad("the number of iterations must be at least 1".into());
        }
        Ok(())
    }

    /// Whether this step blurs (`blur_every > 0`, `blur_radius > 0` and `ii % blur_every == 0`).
    pub fn blurs_at(&self, ii: usize) -> bool {
        self.blur_every > 0 && self.blur_radius > 0.0 && ii.is_multiple_of(self.blur_every as usize)
    }

    /// The learning rate for a gradient of squared norm `g2`.
    pub fn learning_rate(&self, g2: f64) -> f64 {
        match self.lr_policy {
            LrPolicy::Constant => self.lr,
            LrPolicy::Progress => {
                if g2 > 0.0 {
                    self.max_lr.min(self.desired_prog / g2)
                } else {
                    self.max_lr
                }
            }
        }
    }
}
