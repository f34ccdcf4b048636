//! Which values hold channels last: `[N, H, W, C]`, as the blocks of ConvNeXt and Swin keep
//! them between a `Transpose` to channels-last and one back. Everything deepvis shows of a
//! value (the layer table, the grid, a unit, its receptive field, the back-projection's seed)
//! reads it as `[N, C, H, W]`; the executor keeps it as the file computes it.

use std::collections::HashMap;

use burn::prelude::*;

use super::{Graph, Op};

/// How a rank-4 value holds its channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `[N, C, H, W]` (and every value of another rank).
    #[default]
    ChannelsFirst,
    /// `[N, H, W, C]`.
    ChannelsLast,
}

impl Layout {
    /// The value's dimensions read as `[N, C, H, W]` (a vector `[N, K]` as `[N, K, 1, 1]`).
    pub fn nchw(self, dims: &[usize]) -> [usize; 4] {
        match (self, dims) {
            (Layout::ChannelsLast, &[n, h, w, c]) => [n, c, h, w],
            _ => super::exec::nchw(dims),
        }
    }

    /// A value as the executor stores it (`dims` its logical dimensions), as `[N, C, H, W]`.
    pub fn to_nchw(self, t: Tensor<4>, dims: &[usize]) -> Tensor<4> {
        match (self, dims.len()) {
            (Layout::ChannelsLast, 4) => t.permute([0, 3, 1, 2]),
            _ => t.reshape(super::exec::nchw(dims)),
        }
    }

    /// A `[N, C, H, W]` tensor (as [`Layout::to_nchw`] gives) back in the value's own layout,
    /// with its stored dimensions `stored`.
    pub fn from_nchw(self, t: Tensor<4>, stored: [usize; 4]) -> Tensor<4> {
        match self {
            Layout::ChannelsLast => t.permute([0, 2, 3, 1]).reshape(stored),
            Layout::ChannelsFirst => t.reshape(stored),
        }
    }
}

/// The permutation of a `Transpose` to channels-last.
const TO_LAST: [usize; 4] = [0, 2, 3, 1];

impl Graph {
    /// The values held channels-last: the output of a `Transpose` to channels-last of a
    /// channels-first map, and what elementwise ops, normalizations over the last axis and
    /// products by a matrix (per pixel, over the channels) make of one, up to the `Transpose`
    /// back. Every other value is channels-first.
    pub fn layouts(&self) -> HashMap<String, Layout> {
        let mut last: HashMap<String, Layout> = HashMap::new();
        let is_last =
            |m: &HashMap<String, Layout>, v: &str| m.get(v) == Some(&Layout::ChannelsLast);
        for n in &self.nodes {
            let data: Vec<&String> = n
                .inputs
                .iter()
                .filter(|i| !self.constants.contains_key(*i))
                .collect();
            let from_last = data.iter().any(|i| is_last(&last, i));
            let keeps = match &n.op {
                // to channels-last from channels-first; any other transpose (the one back,
                // [0, 3, 1, 2], included) makes a channels-first value
                Op::Transpose { perm } => perm.as_slice() == TO_LAST && !from_last,
                Op::LayerNorm { axis, .. } => from_last && (*axis == -1 || *axis == 3),
                Op::Softmax { axis, .. } => from_last && (*axis == -1 || *axis == 3),
                Op::MatMul => from_last && data.len() == 1,
                op => {
                    from_last
                        && (op.is_activation()
                            || matches!(
                                op,
                                Op::Add
                                    | Op::Sub
                                    | Op::Mul
                                    | Op::Div
                                    | Op::Erf
                                    | Op::Tanh
                                    | Op::Pow { .. }
                                    | Op::Sqrt
                                    | Op::Reciprocal
                                    | Op::Gelu { .. }
                                    | Op::Identity
                                    | Op::Dropout
                            ))
                }
            };
            if keeps {
                last.insert(n.output.clone(), Layout::ChannelsLast);
            }
        }
        last
    }
}
