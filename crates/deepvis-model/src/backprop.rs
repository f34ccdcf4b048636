//! Back-projection of one unit onto the input: the plain gradient, Zeiler & Fergus deconv and
//! guided backprop. The three differ only in how a ReLU passes a signal backward; everything
//! else (convolutions, pooling switches, concatenation) is the ordinary vector-Jacobian product,
//! computed piece by piece (between ReLUs) with burn's autodiff: one forward, one backward.

use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::arch::LayerKind;
use crate::error::{Error, Result};
use crate::net::Net;
use crate::to_vec;

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

fn no_grad() -> Error {
    Error::Backend("no gradient reached the layer's input".into())
}

/// One piece of the forward pass, recorded for the way back: `y = f(x)`, followed by a ReLU
/// when `relu` is set, with `f`'s autodiff graph kept. The forward pass of a back-projection is
/// a chain of pieces; the way back runs them in reverse, each piece's ReLU by the mode's rule.
#[derive(Debug)]
pub struct Piece {
    x: Tensor<4>,
    fx: Tensor<4>,
    relu: bool,
}

impl Piece {
    /// Runs `f` on a plain tensor `x` (on the autodiff device, where `f`'s parameters must
    /// live); returns the piece and its plain output (after the ReLU when there is one).
    pub fn new(
        x: &Tensor<4>,
        relu: bool,
        f: impl FnOnce(Tensor<4>) -> Tensor<4>,
    ) -> (Piece, Tensor<4>) {
        let xa = x.clone().autodiff().require_grad();
        let fx = f(xa.clone());
        let value = fx.clone().without_autodiff();
        let out = if relu {
            burn::tensor::activation::relu(value)
        } else {
            value
        };
        (Piece { x: xa, fx, relu }, out)
    }

    /// Given the signal `g` on the piece's output, the signal on its input.
    pub fn back(self, g: Tensor<4>, mode: BackMode) -> Result<Tensor<4>> {
        let g = if self.relu {
            mode.relu_back(self.fx.clone().without_autodiff(), g)
        } else {
            g
        };
        let grads = (self.fx * g.autodiff()).sum().backward();
        self.x.grad(&grads).ok_or_else(no_grad)
    }
}

/// A unit's back-projection onto one input.
#[derive(Debug)]
pub struct BackProjection {
    /// `[1, 3, H, W]`, in the model's input space.
    pub grad: Tensor<4>,
    /// The unit's activation on this input.
    pub value: f32,
    /// The position in the unit's map that was projected (`None` for vector layers).
    pub pos: Option<(usize, usize)>,
}

/// Back-projects units of a network; holds its own copy of the network on the autodiff
/// device.
#[derive(Debug, Clone)]
pub struct BackProjector {
    net: Net,
}

impl BackProjector {
    /// Takes a network; it is moved to `device` with autodiff enabled.
    pub fn new(net: Net, device: &Device) -> BackProjector {
        BackProjector {
            net: net.to_device(&device.clone().autodiff()).no_grad(),
        }
    }

    /// The network.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// Projects unit `channel` of `layer` at `pos` (default: where its map is largest on this
    /// input; ignored for vector layers) back onto `input`, a plain `[1, 3, H, W]` tensor.
    pub fn project(
        &self,
        input: Tensor<4>,
        layer: &str,
        channel: usize,
        pos: Option<(usize, usize)>,
        mode: BackMode,
    ) -> Result<BackProjection> {
        let arch = self.net.arch();
        let dims = input.dims();
        self.net.check_input(dims)?;
        if dims[0] != 1 {
            return Err(Error::BadInput(format!(
                "back-projection takes one image at a time; got a batch of {}",
                dims[0]
            )));
        }
        let idx = arch.stage_index(layer)?;
        let stages = arch.stages();
        let plain = input.device();
        // forward, recording the pieces of every stage up to the unit's layer
        let mut pieces: Vec<Piece> = Vec::new();
        let mut x = input;
        for (i, stage) in stages.iter().enumerate().take(idx + 1) {
            x = match (&self.net, stage.kind) {
                (Net::SqueezeNet(m), LayerKind::Fire) => {
                    let fire = m
                        .fire_at(i)
                        .ok_or_else(|| Error::Backend(format!("stage {i} is not a fire module")))?;
                    let (ps, out) = fire.pieces(&x);
                    pieces.extend(ps);
                    out
                }
                _ => {
                    let (p, out) = Piece::new(&x, stage.relu, |x| self.net.pre(i, x));
                    pieces.push(p);
                    out
                }
            };
        }
        let [_, c, h, w] = x.dims();
        let info = crate::arch::LayerInfo {
            name: stages[idx].name,
            kind: stages[idx].kind,
            channels: c,
            height: h,
            width: w,
            relu: stages[idx].relu,
        };
        info.check_unit(channel, pos.filter(|_| h * w > 1))?;
        let map = to_vec(x.narrow(1, channel, 1))?;
        let (y0, x0) = match pos {
            _ if h * w == 1 => (0, 0),
            Some(p) => p,
            None => {
                let best = map
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, &v)| {
                            if v > b.1 { (i, v) } else { b }
                        },
                    );
                (best.0 / w, best.0 % w)
            }
        };
        let value = map.get(y0 * w + x0).copied().unwrap_or(0.0);
        let mut seed = vec![0.0f32; c * h * w];
        seed[channel * h * w + y0 * w + x0] = 1.0;
        let mut g = crate::tensor4(seed, [1, c, h, w], &plain)?;
        for piece in pieces.into_iter().rev() {
            g = piece.back(g, mode)?;
        }
        Ok(BackProjection {
            grad: g,
            value,
            pos: (h * w > 1).then_some((y0, x0)),
        })
    }
}
