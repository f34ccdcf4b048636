//! Back-projection of one unit onto the input: the plain gradient, Zeiler & Fergus deconv and
//! guided backprop. The three differ only in how a ReLU passes a signal backward; everything
//! else (convolutions, pooling switches, concatenation, residual sums) is the ordinary
//! vector-Jacobian product. The graph does it in one forward and one backward
//! ([`crate::graph::GraphNet::project`]).

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::error::{Error, Result};
use crate::net::Net;

/// How a ReLU passes the backward signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum BackMode {
    /// The gradient: the signal where the forward input was positive.
    #[default]
    Grad,
    /// Zeiler & Fergus deconvolution: the positive part of the signal, whatever the forward
    /// input was.
    Deconv,
    /// Guided backprop: the positive part of the signal where the forward input was positive.
    Guided,
}

impl BackMode {
    /// Every mode.
    pub const ALL: [BackMode; 3] = [BackMode::Grad, BackMode::Deconv, BackMode::Guided];

    /// `grad`, `deconv` or `guided`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackMode::Grad => "grad",
            BackMode::Deconv => "deconv",
            BackMode::Guided => "guided",
        }
    }

    /// Parses `grad`, `deconv` or `guided`.
    pub fn from_name(s: &str) -> Result<BackMode> {
        BackMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::BadInput(format!(
                    "unknown back mode `{s}`: use grad, deconv or guided"
                ))
            })
    }

    /// The signal before a ReLU, given its forward input `pre` and the signal `g` after it.
    pub fn relu_back(self, pre: Tensor<4>, g: Tensor<4>) -> Tensor<4> {
        match self {
            BackMode::Grad => g * pre.greater_elem(0.0).float(),
            BackMode::Deconv => relu(g),
            BackMode::Guided => relu(g) * pre.greater_elem(0.0).float(),
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
    /// input; ignored for vector layers) back onto `input`, a plain `[1, C, H, W]` tensor.
    pub fn project(
        &self,
        input: Tensor<4>,
        layer: &str,
        channel: usize,
        pos: Option<(usize, usize)>,
        mode: BackMode,
    ) -> Result<BackProjection> {
        self.net.check_input(input.dims())?;
        let node = self.net.info().resolve(layer)?;
        self.net.graph().project(input, node, channel, pos, mode)
    }
}
