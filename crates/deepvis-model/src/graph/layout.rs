//! How a value lies over the image when it is not `[N, C, H, W]`: channels last
//! (`[N, H, W, C]`, as the blocks of ConvNeXt and Swin keep them between a `Transpose` to
//! channels-last and one back), a sequence of tokens (`[N, T, D]`: leading tokens, then a grid
//! of patches, as vision transformers keep them) or a flattened map (`[N, C, H*W]`, a patch
//! embedding on its way to tokens). Everything deepvis shows of a value (the layer table, the
//! grid, a unit, its receptive field, the back-projection's seed) reads it as `[N, C, H, W]`
//! (a sequence's leading tokens apart); the executor keeps it as the file computes it.

use std::collections::HashMap;

use burn::prelude::*;

use super::{Graph, Op};
use crate::tokens::TokenGrid;

/// How a value holds its channels and places.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// `[N, C, H, W]` (and every value of another rank).
    #[default]
    ChannelsFirst,
    /// `[N, H, W, C]`.
    ChannelsLast,
    /// `[N, T, D]`: `lead` leading tokens, then the `h x w` patches row by row; shown as
    /// `[N, D, h, w]`, the leading tokens apart.
    Tokens(TokenGrid),
    /// `[N, C, h*w]`: a map flattened (a patch embedding before it becomes tokens); shown as
    /// `[N, C, h, w]`.
    Flat {
        /// Rows.
        h: usize,
        /// Columns.
        w: usize,
    },
}

impl Layout {
    /// The value's dimensions read as `[N, C, H, W]` (a vector `[N, K]` as `[N, K, 1, 1]`).
    pub fn nchw(self, dims: &[usize]) -> [usize; 4] {
        match (self, dims) {
            (Layout::ChannelsLast, &[n, h, w, c]) => [n, c, h, w],
            (Layout::Tokens(g), &[n, _, d]) => [n, d, g.h, g.w],
            (Layout::Flat { h, w }, &[n, c, _]) => [n, c, h, w],
            _ => super::exec::nchw(dims),
        }
    }

    /// A value as the executor stores it (`dims` its logical dimensions), as `[N, C, H, W]`
    /// (a sequence's patches only).
    pub fn to_nchw(self, t: Tensor<4>, dims: &[usize]) -> Tensor<4> {
        match (self, dims) {
            (Layout::ChannelsLast, &[_, _, _, _]) => t.permute([0, 3, 1, 2]),
            (Layout::Tokens(g), &[n, tn, d]) => t
                .reshape([n, tn, d])
                .narrow(1, g.lead, g.h * g.w)
                .reshape([n, g.h, g.w, d])
                .permute([0, 3, 1, 2]),
            _ => t.reshape(self.nchw(dims)),
        }
    }

    /// A sequence's leading tokens `[N, lead, D]` (`None` for other values, or without any).
    pub fn leading(self, t: Tensor<4>, dims: &[usize]) -> Option<Tensor<3>> {
        match (self, dims) {
            (Layout::Tokens(g), &[n, tn, d]) if g.lead > 0 => {
                Some(t.reshape([n, tn, d]).narrow(1, 0, g.lead))
            }
            _ => None,
        }
    }

    /// A `[N, C, H, W]` tensor (as [`Layout::to_nchw`] gives) back in the value's own layout,
    /// with its stored dimensions `stored` (a sequence's leading tokens zero).
    pub fn from_nchw(self, t: Tensor<4>, stored: [usize; 4]) -> Tensor<4> {
        match self {
            Layout::ChannelsLast => t.permute([0, 2, 3, 1]).reshape(stored),
            Layout::Tokens(g) => {
                let [n, d, h, w] = t.dims();
                let patches = t.permute([0, 2, 3, 1]).reshape([n, h * w, d]);
                let lead = Tensor::<3>::zeros([n, g.lead, d], &patches.device());
                Tensor::cat(vec![lead, patches], 1).reshape(stored)
            }
            Layout::ChannelsFirst | Layout::Flat { .. } => t.reshape(stored),
        }
    }
}

/// The permutation of a `Transpose` to channels-last.
const TO_LAST: [usize; 4] = [0, 2, 3, 1];

impl Graph {
    /// The values that are not `[N, C, H, W]` maps, with how they lie: channels-last values,
    /// token sequences and flattened maps. Every other value is channels-first.
    pub fn layouts(&self) -> HashMap<String, Layout> {
        let mut last = self.channels_last();
        last.extend(self.sequences());
        last
    }

    /// The token sequences and the flattened maps, at the input size the file fixes (none
    /// where it fixes none: a vision transformer's folded graph always does); the sequences
    /// split as the graph's [`crate::tokens::TokenSpec`] says, where it says.
    fn sequences(&self) -> HashMap<String, Layout> {
        let Some([h, w]) = self.input_hw else {
            return HashMap::new();
        };
        let Ok(shapes) = self.shapes(1, h, w) else {
            return HashMap::new();
        };
        let mut out: HashMap<String, Layout> = self
            .token_grids(&shapes, self.tokens.lead)
            .into_iter()
            .map(|(v, g)| (v, Layout::Tokens(g)))
            .collect();
        // a map flattened by a reshape: [N, C, h, w] -> [N, C, h*w]
        for n in &self.nodes {
            if let (Op::Reshape { .. }, Some(&[_, c, gh, gw]), Some(&[_, c2, l])) = (
                &n.op,
                n.inputs.first().and_then(|i| shapes.get(i)),
                shapes.get(&n.output),
            ) && c == c2
                && l == gh * gw
                && gh * gw > 1
            {
                out.insert(n.output.clone(), Layout::Flat { h: gh, w: gw });
            }
        }
        out
    }

    /// The values held channels-last: the output of a `Transpose` to channels-last of a
    /// channels-first map, and what elementwise ops, normalizations over the last axis and
    /// products by a matrix (per pixel, over the channels) make of one, up to the `Transpose`
    /// back.
    fn channels_last(&self) -> HashMap<String, Layout> {
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
