//! The paper's random hyperparameter search: trial `t` draws its settings from wide log and
//! linear ranges with a generator seeded by `t`, so any machine (any shard) draws the same.

use crate::init::Rng;
use crate::params::{LrPolicy, Params};

fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.uniform() * (hi.ln() - lo.ln())).exp()
}

/// The settings of trial `trial`, running `iters` iterations.
pub fn sample_params(trial: u64, iters: usize) -> Params {
    let mut rng = Rng::new(trial.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5ea2c4);
    let decay = if rng.uniform() < 0.25 {
        0.0
    } else {
        log_uniform(&mut rng, 1e-5, 0.3)
    };
    let (blur_radius, blur_every) = if rng.uniform() < 0.25 {
        (0.0, 0)
    } else {
        (0.3 + rng.uniform() * 1.2, 1 + (rng.uniform() * 8.0) as u32)
    };
    let norm_pct = if rng.uniform() < 0.5 {
        0.0
    } else {
        rng.uniform() * 80.0
    };
    let contrib_pct = if rng.uniform() < 0.5 {
        0.0
    } else {
        rng.uniform() * 95.0
    };
    let constant = rng.uniform() < 0.5;
    Params {
        decay,
        blur_radius,
        blur_every,
        norm_pct,
        contrib_pct,
        lr_policy: if constant {
            LrPolicy::Constant
        } else {
            LrPolicy::Progress
        },
        lr: log_uniform(&mut rng, 1.0, 1e3),
        max_lr: log_uniform(&mut rng, 10.0, 1e8),
        desired_prog: log_uniform(&mut rng, 0.1, 10.0),
        max_iter: iters.max(1),
    }
}

/// Whether trial `trial` belongs to shard `index` of `count` (round robin).
pub fn in_shard(trial: u64, index: u64, count: u64) -> bool {
    count == 0 || trial % count == index
}
