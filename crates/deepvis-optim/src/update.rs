//! The update rules: the paper's SGD (`p += lr * g`, its learning-rate policies in
//! [`crate::Params`]) and Adam (Kingma & Ba 2015, the defaults of lucent's `render_vis`), both
//! ascending.

use burn::prelude::*;

/// Adam's state for one run's parameter.
#[derive(Clone, Debug)]
pub struct Adam {
    m: Tensor<4>,
    v: Tensor<4>,
    t: i32,
}

impl Adam {
    /// First-moment decay.
    pub const BETA1: f64 = 0.9;
    /// Second-moment decay.
    pub const BETA2: f64 = 0.999;
    /// Added to the root of the second moment.
    pub const EPS: f64 = 1e-8;

    /// Fresh state for a parameter of `dims`.
    pub fn new(dims: [usize; 4], device: &Device) -> Adam {
        Adam {
            m: Tensor::<4>::zeros(dims, device),
            v: Tensor::<4>::zeros(dims, device),
            t: 0,
        }
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
