//! A network as data: a graph of named nodes over named values, with the constants it needs.
//!
//! Every network deepvis loads from a file (ONNX today) becomes a [`Graph`]; [`GraphNet`]
//! runs it on any burn device (with autodiff where the device has it), [`Graph::shapes`]
//! infers every value's shape for an input size, and [`Graph::receptive_field`] follows the
//! convolution and pooling geometry back to the input through branches.
//!
//! Values have a logical rank of 1 to 4 (`[N, C, H, W]` maps, `[N, K]` vectors, ...); the
//! executor stores each as a rank-4 tensor with the logical dimensions right-aligned (a
//! `[N, K]` vector is stored `[1, 1, N, K]`), so numpy broadcasting is burn's broadcasting.
//! A rank-5 value (a transformer's `[B, T, 3, heads, dim]` before q, k and v are picked) is
//! stored with its first two dimensions merged; only the ops that move elements (reshape,
//! transpose, gather, slice) and the elementwise ones without a second operand take one.

mod autodiff;
mod backprop;
pub mod budget;
pub mod build;
mod circuit;
mod exec;
mod field;
mod host;
mod layout;
mod ops;
pub mod resize;
mod select;
mod shape;
mod tape;

pub use backprop::{Backward, Seed};
pub use circuit::Expanded;
pub use exec::{GraphNet, GraphTaps, NodeTime};
pub use layout::Layout;
pub use resize::{CoordMode, NearestMode, Resize, ResizeMode, ResizeTo};
pub use shape::{Shapes, broadcast};

use std::collections::HashMap;

/// A float tensor on the host: row-major values and their dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The dimensions (empty for a scalar).
    pub dims: Vec<usize>,
    /// The values, `dims.iter().product()` of them.
    pub data: Vec<f32>,
}

impl HostTensor {
    /// A tensor from its dimensions and values (checked to agree).
    pub fn new(dims: Vec<usize>, data: Vec<f32>) -> Option<HostTensor> {
        // a product that overflows (dims [2^32, 2^32]) must not wrap around to a small count
        let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        (count == Some(data.len())).then_some(HostTensor { dims, data })
    }

    /// A shape without values: enough for shapes and receptive fields, not for running.
    pub fn placeholder(dims: Vec<usize>) -> HostTensor {
        HostTensor {
            dims,
            data: Vec::new(),
        }
    }

    /// Whether it holds its values.
    pub fn is_complete(&self) -> bool {
        self.dims.iter().product::<usize>() == self.data.len()
    }
}

/// Spatial padding of a convolution or pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Explicit `[top, left, bottom, right]`.
    Explicit([usize; 4]),
    /// TF "SAME", the extra pixel at the end (ONNX `SAME_UPPER`).
    SameUpper,
    /// "SAME", the extra pixel at the start (ONNX `SAME_LOWER`).
    SameLower,
}

/// The geometry of a sliding window (convolution or pooling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// Strides `[y, x]`.
    pub strides: [usize; 2],
    /// Dilations `[y, x]`.
    pub dilations: [usize; 2],
    /// Padding.
    pub padding: Padding,
    /// Ceil-mode output size (pooling).
    pub ceil: bool,
}

impl Window {
    /// The `[top, left, bottom, right]` padding for an input of `[h, w]`.
    pub fn pads(&self, [h, w]: [usize; 2]) -> [usize; 4] {
        match self.padding {
            Padding::Explicit(p) => p,
            Padding::SameUpper | Padding::SameLower => {
                let total = |size: usize, i: usize| {
                    let out = size.div_ceil(self.strides[i]);
                    let span = (self.kernel[i] - 1) * self.dilations[i] + 1;
                    ((out - 1) * self.strides[i] + span).saturating_sub(size)
                };
                let (ty, tx) = (total(h, 0), total(w, 1));
                if self.padding == Padding::SameUpper {
                    [ty / 2, tx / 2, ty - ty / 2, tx - tx / 2]
                } else {
                    [ty - ty / 2, tx - tx / 2, ty / 2, tx / 2]
                }
            }
        }
    }

    /// The output size along axis `i` (0 = y, 1 = x) for an input of `size`, or `None` when
    /// the window does not fit.
    pub fn out_size(&self, size: usize, i: usize, pads: [usize; 4]) -> Option<usize> {
        let (b, e) = (pads[i], pads[i + 2]);
        let span = (self.kernel[i] - 1) * self.dilations[i] + 1;
        let padded = size + b + e;
        if padded < span {
            return None;
        }
        let s = self.strides[i];
        let mut out = if self.ceil {
            (padded - span).div_ceil(s) + 1
        } else {
            (padded - span) / s + 1
        };
        // the last window must start inside the input or its begin padding
        if self.ceil && (out - 1) * s >= size + b {
            out -= 1;
        }
        Some(out)
    }
}

/// Pad modes of [`Op::Pad`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value.
    Constant(f32),
    /// Mirror, excluding the edge.
    Reflect,
    /// Repeat the edge.
    Edge,
}

/// A dimension a loader computed for the size it folded the graph at: fixed, or a multiple
/// of the batch size (the `B` of `expand(B, -1, -1)`), so that one graph runs every batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    /// This many.
    Fixed(usize),
    /// This many times the batch size.
    Batch(usize),
}

impl Extent {
    /// The dimension for a batch of `batch`.
    pub fn at(self, batch: usize) -> usize {
        match self {
            Extent::Fixed(d) => d,
            Extent::Batch(k) => k.saturating_mul(batch),
        }
    }
}

/// What a node computes. Weights and other constant operands are node inputs naming
/// constants of the graph.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Convolution; inputs `x`, `W` (`[O, I/group, kH, kW]`), optional bias `B` (`[O]`).
    Conv {
        /// Window geometry (the kernel comes from `W`).
        window: Window,
        /// Groups.
        group: usize,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x` where positive, else `alpha * x`.
    LeakyRelu {
        /// Slope of the negative part.
        alpha: f32,
    },
    /// `min(max(x, min), max)` (ReLU6 is `Clip(0, 6)`).
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// The logistic function.
    Sigmoid,
    /// `max(0, min(1, alpha * x + beta))`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x * HardSigmoid(x; 1/6, 1/2)`.
    HardSwish,
    /// Max pooling.
    MaxPool(Window),
    /// Average pooling.
    AveragePool {
        /// Window geometry.
        window: Window,
        /// Whether padded pixels count in the average.
        count_include_pad: bool,
    },
    /// Mean over the spatial dimensions, keeping them as 1x1.
    GlobalAveragePool,
    /// Average pooling to a fixed output size (PyTorch's adaptive pooling).
    AdaptiveAvgPool {
        /// Output `[H, W]`.
        out: [usize; 2],
    },
    /// Local response normalization across channels.
    Lrn {
        /// Channels in the window.
        size: usize,
        /// Scale.
        alpha: f32,
        /// Exponent.
        beta: f32,
        /// Offset.
        bias: f32,
    },
    /// Inference batch normalization; inputs `x`, `scale`, `B`, `mean`, `var`.
    BatchNorm {
        /// Added to the variance.
        epsilon: f32,
    },
    /// Elementwise sum (numpy broadcasting).
    Add,
    /// Elementwise difference.
    Sub,
    /// Elementwise product.
    Mul,
    /// Elementwise quotient.
    Div,
    /// Concatenation along `axis` (negative counts from the end).
    Concat {
        /// The axis.
        axis: i64,
    },
    /// `alpha * A' B' + beta * C`; inputs `A`, `B`, optional `C`.
    Gemm {
        /// Scale of the product.
        alpha: f32,
        /// Scale of `C`.
        beta: f32,
        /// Transpose `A`.
        trans_a: bool,
        /// Transpose `B`.
        trans_b: bool,
    },
    /// Matrix product (numpy's `matmul`): `[.., M, K] x [.., K, N]`, the leading dimensions
    /// broadcast.
    MatMul,
    /// The dimensions reordered: output axis `i` is input axis `perm[i]`.
    Transpose {
        /// The permutation (empty: the axes reversed).
        perm: Vec<usize>,
    },
    /// Layer normalization over the axes from `axis` on; inputs `x`, `scale`, optional `B`.
    LayerNorm {
        /// The first normalized axis (negative counts from the end).
        axis: i64,
        /// Added to the variance.
        epsilon: f32,
    },
    /// Mean over `axes` (all of them when empty).
    ReduceMean {
        /// The axes (negative count from the end).
        axes: Vec<i64>,
        /// Whether the reduced axes stay, as 1.
        keepdims: bool,
    },
    /// The error function, elementwise (GELU as PyTorch exports it).
    Erf,
    /// The hyperbolic tangent, elementwise.
    Tanh,
    /// `[d0 .. d(axis-1)] x [d(axis) ..]` as a matrix.
    Flatten {
        /// The axis.
        axis: i64,
    },
    /// A new shape (`0` copies the input's dimension unless `allowzero`, `-1` is inferred).
    Reshape {
        /// The target shape.
        shape: Vec<i64>,
        /// Whether a 0 means a zero-sized dimension.
        allowzero: bool,
    },
    /// Softmax along `axis` (opset 13), or over everything from `axis` on (`coerce_2d`,
    /// opsets before 13).
    Softmax {
        /// The axis.
        axis: i64,
        /// The pre-13 rule.
        coerce_2d: bool,
    },
    /// Inference dropout: the identity.
    Dropout,
    /// Padding: `pads` as ONNX orders them (every axis' begin, then every axis' end).
    Pad {
        /// Begin and end padding per axis.
        pads: Vec<i64>,
        /// How to fill.
        mode: PadMode,
    },
    /// The identity.
    Identity,
    /// Elements picked along `axis` by constant indices (ONNX `Gather` on data: a token, a
    /// head, one of q/k/v); the output has the input's dimensions with `axis` replaced by
    /// `index_dims` (none for a scalar index).
    Gather {
        /// The axis (negative counts from the end).
        axis: i64,
        /// The indices, row-major (negative count from the end of the axis).
        indices: Vec<i64>,
        /// The indices' dimensions (empty: one scalar index, the axis dropped).
        index_dims: Vec<usize>,
    },
    /// A strided window of the input (ONNX `Slice`; one output of a `Split`): per listed axis
    /// `start..end` by `step`, clamped as ONNX clamps them.
    Slice {
        /// The axes (negative count from the end).
        axes: Vec<i64>,
        /// First index per axis (negative counts from the end).
        starts: Vec<i64>,
        /// End (exclusive) per axis.
        ends: Vec<i64>,
        /// Step per axis (not 0).
        steps: Vec<i64>,
    },
    /// Broadcast to `shape` (ONNX `Expand`: numpy broadcasting both ways, a 1 keeps the
    /// input's dimension).
    Expand {
        /// The target, per axis.
        shape: Vec<Extent>,
    },
    /// The input repeated `repeats[i]` times along axis `i`.
    Tile {
        /// Repeats per axis.
        repeats: Vec<usize>,
    },
    /// Interpolation of the last two axes (nearest, linear or cubic, ONNX `Resize`).
    Resize(Resize),
    /// Transposed convolution; inputs `x`, `W` (`[I, O/group, kH, kW]`), optional bias `B`.
    ConvTranspose {
        /// Window geometry (the kernel comes from `W`; the padding is cut off the output).
        window: Window,
        /// Groups.
        group: usize,
        /// Extra rows and columns at the end of the output.
        output_padding: [usize; 2],
    },
    /// `x` to a constant power.
    Pow {
        /// The exponent.
        exponent: f32,
    },
    /// The square root, elementwise.
    Sqrt,
    /// `1 / x`, elementwise.
    Reciprocal,
    /// GELU: `x * Phi(x)` (`tanh`: the tanh approximation).
    Gelu {
        /// Whether the tanh approximation.
        tanh: bool,
    },
}

impl Op {
    /// How many inputs a node of the op takes.
    pub fn arity(&self) -> std::ops::RangeInclusive<usize> {
        match self {
            Op::Conv { .. } | Op::ConvTranspose { .. } => 2..=3,
            Op::BatchNorm { .. } => 5..=5,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::MatMul => 2..=2,
            Op::Gemm { .. } | Op::LayerNorm { .. } => 2..=3,
            Op::Concat { .. } => 1..=usize::MAX,
            _ => 1..=1,
        }
    }

    /// Whether the op is an activation of the ReLU family, where a back-projection applies its
    /// deconv or guided rule.
    pub fn is_relu_family(&self) -> bool {
        match self {
            Op::Relu | Op::LeakyRelu { .. } => true,
            Op::Clip { min, .. } => *min == 0.0,
            _ => false,
        }
    }

    /// Whether the op is an elementwise activation (its input is the node's pre-activation).
    pub fn is_activation(&self) -> bool {
        matches!(
            self,
            Op::Relu
                | Op::LeakyRelu { .. }
                | Op::Clip { .. }
                | Op::Sigmoid
                | Op::HardSigmoid { .. }
                | Op::HardSwish
        )
    }
}

/// One node: an op over named values, producing one named value.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The node's name (its output's name when the file gives none).
    pub name: String,
    /// The op type as the file names it (`Conv`, `Relu`, ...), for tables.
    pub op_type: String,
    /// What it computes.
    pub op: Op,
    /// Input value names: the graph input, other nodes' outputs or constants.
    pub inputs: Vec<String>,
    /// The output value's name.
    pub output: String,
}

/// A network: one float input `[N, C, H, W]`, nodes in topological order, constants.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// A name for messages (the file name).
    pub name: String,
    /// The input value's name.
    pub input: String,
    /// The input's channels.
    pub input_channels: usize,
    /// The input's `[H, W]` when the file fixes them.
    pub input_hw: Option<[usize; 2]>,
    /// The nodes, each after the nodes its inputs come from.
    pub nodes: Vec<Node>,
    /// Constants by value name.
    pub constants: HashMap<String, HostTensor>,
    /// The graph's output value names.
    pub outputs: Vec<String>,
    /// The nodes a layer table lists, in order; empty: every node.
    pub layers: Vec<String>,
    /// How its sequences of tokens split, where the model's sidecar says (else found from the
    /// input size and the patch embedding).
    pub tokens: crate::tokens::TokenSpec,
}

/// A graph that does not hold together.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{graph}: node `{node}` ({op}): {reason}")]
pub struct GraphError {
    /// The graph's name.
    pub graph: String,
    /// The node.
    pub node: String,
    /// Its op type.
    pub op: String,
    /// What is wrong.
    pub reason: String,
}

impl Graph {
    /// The index of the node named `name`, or whose output is `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .or_else(|| self.nodes.iter().position(|n| n.output == name))
    }

    /// The nodes that hold learned parameters (convolutions, matrix products and batch
    /// norms with constant operands), in the graph's order.
    pub fn parametric_nodes(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| !self.parameters(n).is_empty())
            .map(|n| n.name.as_str())
            .collect()
    }

    /// The constant operands of `node` that are learned parameters: a convolution's or a
    /// matrix product's weights and bias, a batch norm's scale and shift (not its running
    /// statistics).
    pub fn parameters<'a>(&self, node: &'a Node) -> Vec<&'a str> {
        let slots: &[usize] = match node.op {
            Op::Conv { .. } | Op::ConvTranspose { .. } => &[1, 2],
            Op::Gemm { .. } | Op::MatMul => &[0, 1, 2],
            Op::BatchNorm { .. } => &[1, 2],
            _ => &[],
        };
        slots
            .iter()
            .filter_map(|&k| node.inputs.get(k))
            .filter(|name| {
                self.constants
                    .get(name.as_str())
                    .is_some_and(HostTensor::is_complete)
            })
            .map(String::as_str)
            .collect()
    }

    pub(crate) fn error(&self, node: &Node, reason: impl Into<String>) -> GraphError {
        GraphError {
            graph: self.name.clone(),
            node: node.name.clone(),
            op: node.op_type.clone(),
            reason: reason.into(),
        }
    }

    /// The node producing each value, refusing a value two nodes produce.
    fn producers(&self) -> Result<HashMap<&str, usize>, GraphError> {
        let mut producer: HashMap<&str, usize> = HashMap::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(&first) = producer.get(n.output.as_str()) {
                return Err(self.error(
                    n,
                    format!(
                        "its output `{}` is also the output of node `{}`: a value has one \
                         producer",
                        n.output, self.nodes[first].name
                    ),
                ));
            }
            producer.insert(&n.output, i);
        }
        Ok(producer)
    }

    /// Checks the graph as ONNX's checker does: every value has one producer (SSA: no node
    /// output is the input, a constant or another node's output), every input is defined
    /// before it is used (a topological order, so no cycle), and every op's constant operands
    /// are constants; nothing else is computed. Linear in the number of nodes.
    pub fn validate(&self) -> Result<(), GraphError> {
        let mut known: std::collections::HashSet<&str> =
            self.constants.keys().map(String::as_str).collect();
        known.insert(&self.input);
        let producer = self.producers()?;
        for (i, n) in self.nodes.iter().enumerate() {
            for v in &n.inputs {
                if !known.contains(v.as_str()) {
                    let why = match producer.get(v.as_str()) {
                        Some(&p) if p >= i => format!(
                            "input `{v}` is computed by node `{}`, which comes after it (the \
                             nodes must be in topological order; a cycle has none)",
                            self.nodes[p].name
                        ),
                        _ => format!("input `{v}` is not defined before it"),
                    };
                    return Err(self.error(n, why));
                }
            }
            if n.output == self.input || self.constants.contains_key(&n.output) {
                return Err(self.error(
                    n,
                    format!(
                        "its output `{}` is also the graph's input or a constant: a value has \
                         one producer",
                        n.output
                    ),
                ));
            }
            let need_const: &[usize] = match n.op {
                Op::Conv { .. } | Op::ConvTranspose { .. } => &[1, 2],
                Op::BatchNorm { .. } => &[1, 2, 3, 4],
                _ => &[],
            };
            for &k in need_const {
                if let Some(i) = n.inputs.get(k)
                    && !self.constants.contains_key(i)
                {
                    return Err(self.error(n, format!("operand `{i}` must be a constant")));
                }
            }
            if !n.op.arity().contains(&n.inputs.len()) {
                return Err(self.error(n, format!("has {} input(s)", n.inputs.len())));
            }
            known.insert(&n.output);
        }
        for o in &self.outputs {
            if !known.contains(o.as_str()) {
                return Err(GraphError {
                    graph: self.name.clone(),
                    node: o.clone(),
                    op: "output".into(),
                    reason: "the graph output is computed by no node".into(),
                });
            }
        }
        Ok(())
    }
}
