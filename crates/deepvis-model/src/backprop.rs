//! Back-projection of one unit onto the input: the plain gradient, Zeiler & Fergus deconv and
//! guided backprop. The three differ only in how a ReLU passes a signal backward; everything
//! else (convolutions, pooling switches, concatenation, residual sums) is the ordinary
//! vector-Jacobian product. The graph does it in one forward and one backward
//! ([`crate::graph::GraphNet::project`]).

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::net::Net;

pub use deepvis_viz::BackMode;

/// How a ReLU passes the backward signal: the rule of a [`BackMode`] in the backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// The gradient: the signal where the forward input was positive.
    Grad,
    /// Zeiler & Fergus deconvolution: the positive part of the signal, whatever the forward
    /// input was.
    Deconv,
    /// Guided backprop: the positive part of the signal where the forward input was positive.
    Guided,
}

impl Rule {
    /// The rule of `mode`: deconvolution's and guided backprop's own; the gradient for every
    /// other mode.
    pub(crate) fn of(mode: BackMode) -> Rule {
        match mode {
            BackMode::Deconv => Rule::Deconv,
            BackMode::Guided => Rule::Guided,
            _ => Rule::Grad,
        }
    }
}

/// A unit's back-projection onto one input.
#[derive(Debug)]
pub struct BackProjection {
    /// `[1, C, H, W]`, in the model's input space.
    pub grad: Tensor<4>,
    /// The unit's activation on this input.
    pub value: f32,
    /// The position in the unit's map that was projected (`None` for vector layers).
    pub pos: Option<(usize, usize)>,
}

/// Back-projects units of a network.
#[derive(Debug, Clone)]
pub struct BackProjector {
    net: Net,
}

impl BackProjector {
    /// Takes a network and keeps it on `device`.
    pub fn new(net: Net, device: &Device) -> BackProjector {
        BackProjector {
            net: net.to_device(device),
        }
    }

    /// The network.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Projects unit `channel` of `layer` at `pos` (default: where its map is largest on this
    /// input; ignored for vector layers) back onto `input`, a plain `[1, C, H, W]` tensor, by
    /// one of the back-projections ([`BackMode::PROJECTIONS`]).
    pub fn project(
        &self,
        input: Tensor<4>,
        layer: &str,
        channel: usize,
        pos: Option<(usize, usize)>,
        mode: BackMode,
    ) -> Result<BackProjection> {
        if !mode.is_projection() {
            let names = BackMode::PROJECTIONS.map(BackMode::as_str);
            return Err(Error::BadInput(format!(
                "{} is not a back-projection: use {}",
                mode.as_str(),
                deepvis_viz::one_of(&names)
            )));
        }
        self.net.check_input(input.dims())?;
        let node = self.net.info().resolve(layer)?;
        self.net.graph().project(input, node, channel, pos, mode)
    }
}
