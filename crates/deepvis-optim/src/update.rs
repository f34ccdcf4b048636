//! The update rules: the paper's SGD (`p += lr * g`, its learning-rate policies in
//! [`crate::Params`]), Adam (Kingma & Ba 2015, the defaults of lucent's `render_vis`) and NAdam
//! (Adam with Nesterov momentum, Dozat 2016, as PyTorch writes it), all ascending.

use burn::prelude::*;

/// Adam's state for one run's parameter.
#[derive(Clone, Debug)]
pub struct Adam {
    m: Tensor<4>,
    v: Tensor<4>,
    t: i32,
    /// NAdam's product of the momentum schedule so far.
    mu_product: f64,
}

impl Adam {
    /// First-moment decay.
    pub const BETA1: f64 = 0.9;
    /// Second-moment decay.
    pub const BETA2: f64 = 0.999;
    /// Added to the root of the second moment.
    pub const EPS: f64 = 1e-8;
    /// NAdam's momentum decay (PyTorch's `momentum_decay`).
    pub const MOMENTUM_DECAY: f64 = 0.004;

    /// Fresh state for a parameter of `dims`.
    pub fn new(dims: [usize; 4], device: &Device) -> Adam {
        Adam {
            m: Tensor::<4>::zeros(dims, device),
            v: Tensor::<4>::zeros(dims, device),
            t: 0,
            mu_product: 1.0,
        }
    }

    /// NAdam's momentum at step `t`: `beta1 (1 - 0.5 * 0.96^(t * momentum_decay))`.
    pub fn mu(t: i32) -> f64 {
        Self::BETA1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * Self::MOMENTUM_DECAY))
    }

    /// One ascent step of `p` along `g` at learning rate `lr`, with Nesterov momentum
    /// (PyTorch's `NAdam`, ascending).
    pub fn step_nesterov(&mut self, p: Tensor<4>, g: Tensor<4>, lr: f64) -> Tensor<4> {
        self.t += 1;
        let (mu, mu_next) = (Self::mu(self.t), Self::mu(self.t + 1));
        self.mu_product *= mu;
        self.m = self.m.clone() * Self::BETA1 + g.clone() * (1.0 - Self::BETA1);
        self.v = self.v.clone() * Self::BETA2 + g.clone().powi_scalar(2) * (1.0 - Self::BETA2);
        let denom = (self.v.clone() / (1.0 - Self::BETA2.powi(self.t))).sqrt() + Self::EPS;
        let now = lr * (1.0 - mu) / (1.0 - self.mu_product);
        let ahead = lr * mu_next / (1.0 - self.mu_product * mu_next);
        p + g * now / denom.clone() + self.m.clone() * ahead / denom
    }

    /// One ascent step of `p` along `g` at learning rate `lr`.
    pub fn step(&mut self, p: Tensor<4>, g: Tensor<4>, lr: f64) -> Tensor<4> {
        self.t += 1;
        self.m = self.m.clone() * Self::BETA1 + g.clone() * (1.0 - Self::BETA1);
        self.v = self.v.clone() * Self::BETA2 + g.powi_scalar(2) * (1.0 - Self::BETA2);
        let mh = self.m.clone() / (1.0 - Self::BETA1.powi(self.t));
        let vh = self.v.clone() / (1.0 - Self::BETA2.powi(self.t));
        p + mh / (vh.sqrt() + Self::EPS) * lr
    }
}
