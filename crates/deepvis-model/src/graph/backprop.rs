//! Back-projection through a graph in one forward and one backward: the backward walks the
//! nodes in reverse with each op's vector-Jacobian product, and at every ReLU-family node
//! (Relu, LeakyRelu, Clip(0, max)) applies the mode's rule (gradient, deconv or guided) to
//! the signal. Elementwise ops, concats, batch norms and reshapes go back by their closed
//! forms here; convolutions, pools, LRN, softmax, pads and matrix products by burn's autodiff
//! of that one op, recorded as it ran in the forward (its tape). On the CPU, a graph whose
//! nodes up to the unit are all ones the kernels run goes there and back on the kernels
//! instead (`tape::Walk`), the mode's rule at each ReLU.

use std::collections::HashMap;

use burn::prelude::*;
use burn::tensor::activation::relu;

use burn::tensor::module::{
    conv_transpose2d, max_pool2d_with_indices, max_pool2d_with_indices_backward,
};
use burn::tensor::ops::ConvTransposeOptions;

use super::exec::{GraphNet, dims4, max_pool_options};
use super::shape::{Shapes, axis};
use super::tape;
use super::{Graph, Layout, Node, Op, Window};
use crate::backprop::{BackMode, BackProjection, Rule};
use crate::error::{Error, Result};
use crate::to_vec;

/// An op run on the autodiff device during a projection's forward: its inputs (non-constant
/// ones requiring gradients) and its output.
struct Tape {
    ins: Vec<Tensor<4>>,
    out: Tensor<4>,
}

impl Tape {
    /// The signal on each input given the signal `gy` on the output (None for constants).
    fn back(
        self,
        gy: Tensor<4>,
        names: &[String],
        constants: &HashMap<String, super::HostTensor>,
    ) -> Vec<Option<Tensor<4>>> {
        let grads = (self.out * gy.autodiff()).sum().backward();
        self.ins
            .iter()
            .zip(names)
            .map(|(t, name)| match constants.contains_key(name) {
                true => None,
                false => t.grad(&grads),
            })
            .collect()
    }
}

/// Whether an op goes back through burn's autodiff (convolutions, pools, LRN, softmax, pads,
/// matrix products) rather than a closed form here.
fn taped(op: &Op) -> bool {
    !op.is_activation()
        && !matches!(
            op,
            Op::Add
                | Op::Sub
                | Op::Mul
                | Op::Div
                | Op::Concat { .. }
                | Op::BatchNorm { .. }
                | Op::GlobalAveragePool
                | Op::Identity
                | Op::Dropout
                | Op::Flatten { .. }
                | Op::Reshape { .. }
        )
}

/// Whether a convolution or a max pooling goes back by its closed form (a transposed
/// convolution; a scatter through the pooling's argmax indices), the backward burn's autodiff
/// would run, without a tape: when the padding is the same on both sides of each axis (what
/// those kernels take), a convolution's weights and bias are constants, and a ceil-mode
/// pooling has no end window that burn drops.
fn closed_window(g: &Graph, node: &Node, shapes: &Shapes) -> bool {
    let hw = |name: &str| {
        let d = dims4(shapes.get(name).unwrap_or(&[]));
        [d[2], d[3]]
    };
    let input = hw(&node.inputs[0]);
    match &node.op {
        Op::Conv { window, .. } => {
            let p = window.pads(input);
            p[0] == p[2]
                && p[1] == p[3]
                && node.inputs[1..].iter().all(|i| g.constants.contains_key(i))
        }
        Op::MaxPool(window) => {
            let p = window.pads(input);
            let out = hw(&node.output);
            let kept = (0..2).all(|a| {
                let span = (window.kernel[a] - 1) * window.dilations[a] + 1;
                let padded = input[a] + 2 * p[a];
                let raw = match window.ceil {
                    true => padded.saturating_sub(span).div_ceil(window.strides[a]) + 1,
                    false => padded.saturating_sub(span) / window.strides[a] + 1,
                };
                raw == out[a]
            });
            p[0] == p[2] && p[1] == p[3] && kept
        }
        _ => false,
    }
}

/// The output padding that makes a transposed convolution give back an input of `size`
/// (burn's own rule for a convolution's input gradient).
fn padding_out(
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
    size: usize,
    out: usize,
) -> usize {
    if stride <= 1 {
        return 0;
    }
    let base =
        (out as i64 - 1) * stride as i64 + (dilation * (kernel - 1) + 1) as i64 - 2 * pad as i64;
    (size as i64 - base).max(0) as usize
}

/// Sums `t` over the axes where `target` is 1 and `t` is not (undoing a broadcast).
fn unbroadcast(mut t: Tensor<4>, target: [usize; 4]) -> Tensor<4> {
    let dims = t.dims();
    for a in 0..4 {
        if target[a] == 1 && dims[a] != 1 {
            t = t.sum_dim(a);
        }
    }
    t
}

/// The signal before a ReLU-family node, given its forward input `x`.
fn activation_back(op: &Op, rule: Rule, x: Tensor<4>, g: Tensor<4>) -> Option<Tensor<4>> {
    let pass = match op {
        // a ReLU passes where its input is positive (burn's own mask-fill, two kernels)
        Op::Relu => {
            let off = x.lower_equal_elem(0.0);
            return Some(match rule {
                Rule::Grad => g.mask_fill(off, 0.0),
                Rule::Deconv => relu(g),
                Rule::Guided => relu(g).mask_fill(off, 0.0),
            });
        }
        Op::LeakyRelu { alpha } => {
            let pos = x.greater_elem(0.0).float();
            pos.clone() + (pos.neg() + 1.0) * *alpha
        }
        Op::Clip { min, max } if *min == 0.0 => {
            x.clone().greater_elem(*min).float() * x.lower_elem(*max).float()
        }
        _ => return None,
    };
    Some(match rule {
        Rule::Grad => g * pass,
        Rule::Deconv => relu(g),
        Rule::Guided => relu(g) * pass,
    })
}

/// The plain gradient of an elementwise activation (a clip with a non-zero lower bound, or
/// any activation outside a back-projection's rules) given its input `x`.
fn activation_grad(op: &Op, x: Tensor<4>, gy: Tensor<4>) -> Tensor<4> {
    match op {
        Op::Sigmoid => {
            let s = burn::tensor::activation::sigmoid(x);
            gy * s.clone() * (s.neg() + 1.0)
        }
        Op::HardSigmoid { alpha, beta } => {
            let z = x * *alpha + *beta;
            let pass = z.clone().greater_elem(0.0).float() * z.lower_elem(1.0).float();
            gy * pass * *alpha
        }
        Op::HardSwish => {
            let hs = (x.clone() / 6.0 + 0.5).clamp(0.0, 1.0);
            let inside = x.clone().greater_elem(-3.0).float() * x.clone().lower_elem(3.0).float();
            gy * (hs + x * inside / 6.0)
        }
        _ => {
            // Clip with a non-zero lower bound: the plain gradient
            let (lo, hi) = match *op {
                Op::Clip { min, max } => (min, max),
                _ => (0.0, f32::MAX),
            };
            let pass = x.clone().greater_elem(lo).float() * x.lower_elem(hi).float();
            gy * pass
        }
    }
}

/// A concatenation's signal split back into its parts (of `lens` along axis `ax`), `None`
/// for the constant ones.
fn split(
    gy: Tensor<4>,
    ax: usize,
    lens: &[usize],
    is_const: impl Fn(usize) -> bool,
) -> Vec<Option<Tensor<4>>> {
    let mut start = 0;
    let mut out = Vec::new();
    for (k, &len) in lens.iter().enumerate() {
        out.push((!is_const(k)).then(|| gy.clone().narrow(ax, start, len)));
        start += len;
    }
    out
}

/// A convolution's signal on its `[h, w]` input: the transposed convolution of `gy` with its
/// weights.
fn conv_back(
    window: &Window,
    group: usize,
    [h, w]: [usize; 2],
    weight: Tensor<4>,
    gy: Tensor<4>,
) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    let [_, _, oh, ow] = gy.dims();
    let p = window.pads([h, w]);
    let (s, d) = (window.strides, window.dilations);
    let opts = ConvTransposeOptions::new(
        s,
        [p[0], p[1]],
        [
            padding_out(kh, s[0], p[0], d[0], h, oh),
            padding_out(kw, s[1], p[1], d[1], w, ow),
        ],
        d,
        group,
    );
    conv_transpose2d(gy, weight, None, opts)
}

/// Where on a node's output a backward pass starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Seed {
    /// The channel's unit where its map is largest on the first input.
    #[default]
    Peak,
    /// The channel's unit at `(y, x)`.
    At(usize, usize),
    /// The mean of the channel's whole map (the channel as one unit).
    Mean,
}

/// What a backward pass returned.
#[derive(Debug)]
pub struct Backward {
    /// The signal on the input, `[N, C, H, W]`.
    pub grad: Tensor<4>,
    /// The unit's value on each input of the batch.
    pub values: Vec<f32>,
    /// The position projected (`None` for vector nodes and [`Seed::Mean`]).
    pub pos: Option<(usize, usize)>,
    /// The captured node's output and the plain gradient on it, each `[N, C, H, W]`.
    pub captured: Option<(Tensor<4>, Tensor<4>)>,
}

/// The forward of a projection on burn: every value up to the node, the tapes of the ops
/// that go back through burn's autodiff, and the argmax indices of the max poolings that go
/// back by their closed form.
struct Forward<'g> {
    values: HashMap<&'g str, Tensor<4>>,
    tapes: HashMap<&'g str, Tape>,
    argmax: HashMap<&'g str, Tensor<4, Int>>,
}

/// A captured node's output and the signal on it.
type Captured = Option<(Tensor<4>, Tensor<4>)>;

/// The unit a backward starts from: its node's output `[n, c, h, w]`, the signal seeded on
/// it, the unit's value on each sample, and where on the map it is.
struct Unit {
    dims: [usize; 4],
    seed: Vec<f32>,
    values: Vec<f32>,
    at: Option<(usize, usize)>,
    spatial: bool,
}

impl Unit {
    /// Unit `channel` of `target` (whose output on the batch of `n` is `out`) where `seed`
    /// says: its one position (or its whole map, for [`Seed::Mean`]) seeded on every sample.
    fn seed(
        target: &Node,
        (out, n): (&Tensor<4>, usize),
        (shapes, layout): (&Shapes, Layout),
        channel: usize,
        seed: Seed,
    ) -> Result<Unit> {
        let od = shapes.get(&target.output).unwrap_or(&[]).to_vec();
        let [_, c, mh, mw] = layout.nchw(&od);
        if channel >= c {
            return Err(Error::UnitOutOfRange {
                layer: target.name.clone(),
                what: format!("channel {channel}"),
                limit: format!("it has {c} channels, 0..={}", c.saturating_sub(1)),
            });
        }
        let spatial = mh * mw > 1;
        let plane = mh * mw;
        // a sequence's leading tokens are held beside its patches' maps
        let lead = match layout {
            Layout::Tokens(g) => g.lead,
            _ => 0,
        };
        if od.iter().product::<usize>() != n * c * (plane + lead) {
            // a value whose first axis is not the batch (q, k and v stacked before the heads)
            return Err(Error::BadInput(format!(
                "node `{}` holds {od:?} for a batch of {n}: its first axis is not the batch, so \
                 it has no unit to project",
                target.name
            )));
        }
        let view = layout.to_nchw(out.clone(), &od).reshape([n, c, mh, mw]);
        let maps = to_vec(view.narrow(1, channel, 1))?;
        let at =
            match seed {
                Seed::Mean => None,
                _ if !spatial => Some((0, 0)),
                Seed::At(y, x) if y < mh && x < mw => Some((y, x)),
                Seed::At(y, x) => {
                    return Err(Error::UnitOutOfRange {
                        layer: target.name.clone(),
                        what: format!("position (y {y}, x {x})"),
                        limit: format!("its map is {mh}x{mw}"),
                    });
                }
                Seed::Peak => {
                    let best = maps[..plane].iter().enumerate().fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, &v)| {
                            if v > b.1 { (i, v) } else { b }
                        },
                    );
                    Some((best.0 / mw, best.0 % mw))
                }
            };
        let mut seed_values = vec![0.0f32; n * c * plane];
        let mut unit_values = Vec::with_capacity(n);
        for s in 0..n {
            let map = &maps[s * plane..(s + 1) * plane];
            let base = (s * c + channel) * plane;
            match at {
                Some((y, x)) => {
                    seed_values[base + y * mw + x] = 1.0;
                    unit_values.push(map[y * mw + x]);
                }
                None => {
                    seed_values[base..base + plane].fill(1.0 / plane as f32);
                    unit_values.push(map.iter().sum::<f32>() / plane as f32);
                }
            }
        }
        Ok(Unit {
            dims: [n, c, mh, mw],
            seed: seed_values,
            values: unit_values,
            at,
            spatial,
        })
    }

    /// What the backward returns, with the signal `grad` on the input.
    fn backward(self, grad: Tensor<4>, captured: Captured) -> Backward {
        Backward {
            grad,
            values: self.values,
            pos: self.at.filter(|_| self.spatial),
            captured,
        }
    }
}

/// The error of a captured node that does not feed the target.
fn not_feeding(capture: &str, target: &Node) -> Error {
    Error::BadInput(format!(
        "`{capture}` does not feed `{}`, so it cannot explain it",
        target.name
    ))
}

impl GraphNet {
    /// Projects unit `channel` of node `node` at `pos` (default: where its map is largest on
    /// this input; ignored for vector nodes) back onto `input`, a `[1, C, H, W]` tensor.
    pub fn project(
        &self,
        input: Tensor<4>,
        node: &str,
        channel: usize,
        pos: Option<(usize, usize)>,
        mode: BackMode,
    ) -> Result<BackProjection> {
        let [n, ..] = input.dims();
        if n != 1 {
            return Err(Error::BadInput(format!(
                "back-projection takes one image at a time; got a batch of {n}"
            )));
        }
        let seed = match pos {
            Some((y, x)) => Seed::At(y, x),
            None => Seed::Peak,
        };
        let b = self.backward(input, node, channel, seed, mode, None)?;
        Ok(BackProjection {
            grad: b.grad,
            value: b.values.first().copied().unwrap_or(0.0),
            pos: b.pos,
        })
    }

    /// One forward and one backward of a batch: the signal of unit `channel` of node `node`
    /// (where `seed` says) on every input, each sample's own unit. With `capture`, the output
    /// of that node (which must feed `node`, or be it) and the signal on it come back too; the
    /// signal there is the plain gradient only when the mode's rule is the gradient's
    /// (deconvolution and guided backprop have their own rule at each ReLU).
    pub fn backward(
        &self,
        input: Tensor<4>,
        node: &str,
        channel: usize,
        seed: Seed,
        mode: BackMode,
        capture: Option<&str>,
    ) -> Result<Backward> {
        let g = self.graph();
        let (idx, capture) = self.target(node, capture)?;
        let shapes = self.check_and_shape(input.dims())?;
        let target = &g.nodes[idx];
        let [n, _, h, w] = input.dims();
        // on the CPU, the way there and back on the kernels where they run every node
        if let Some(walk) = self.walk(&input, idx, capture, &shapes)? {
            let (v, d) = walk
                .value(&target.output)
                .ok_or_else(|| Error::Graph(g.error(target, "no output")))?;
            let out = crate::tensor4(v.to_vec(), d, &input.device())?;
            let layout = self.layout(&target.output);
            let unit = Unit::seed(target, (&out, n), (&shapes, layout), channel, seed)?;
            return self.walk_back(&walk, &input, target, unit, Rule::of(mode), capture);
        }
        let device = input.device();
        let mut fwd = self.forward_taped(input, idx, &shapes)?;
        let out = fwd
            .values
            .get(target.output.as_str())
            .cloned()
            .ok_or_else(|| Error::Graph(g.error(target, "no output")))?;
        let layout = self.layout(&target.output);
        let mut unit = Unit::seed(target, (&out, n), (&shapes, layout), channel, seed)?;
        let seed = std::mem::take(&mut unit.seed);
        let seed = layout.from_nchw(crate::tensor4(seed, unit.dims, &device)?, out.dims());
        let (grad, captured) =
            self.back_taped(&mut fwd, idx, seed, Rule::of(mode), capture, &shapes)?;
        let grad = match grad {
            Some(t) => t,
            None => Tensor::zeros([n, g.input_channels, h, w], &device),
        };
        Ok(unit.backward(grad, captured))
    }

    /// The index of node `node` and the output of the node `capture` names (which must not
    /// come after it).
    fn target<'g>(&'g self, node: &str, capture: Option<&str>) -> Result<(usize, Option<&'g str>)> {
        let g = self.graph();
        let find = |name: &str| {
            g.node_index(name).ok_or_else(|| Error::UnknownNode {
                graph: g.name.clone(),
                name: name.to_string(),
            })
        };
        let idx = find(node)?;
        let capture = match capture {
            Some(c) => {
                let ci = find(c)?;
                if ci > idx {
                    return Err(Error::BadInput(format!(
                        "`{}` comes after `{}` in the network, so it cannot explain it",
                        g.nodes[ci].name, g.nodes[idx].name
                    )));
                }
                Some(g.nodes[ci].output.as_str())
            }
            None => None,
        };
        Ok((idx, capture))
    }

    /// The walk to node `idx` on the kernels, run on `input` (keeping the node's output and
    /// the captured value), where the CPU path serves and runs every node on the way.
    fn walk(
        &self,
        input: &Tensor<4>,
        idx: usize,
        capture: Option<&str>,
        shapes: &Shapes,
    ) -> Result<Option<tape::Walk>> {
        let g = self.graph();
        let target = &g.nodes[idx];
        let keep: Vec<&str> = [target.output.as_str()]
            .into_iter()
            .chain(capture)
            .collect();
        let planned = match self.host() {
            Some(host) if super::host::serves(&input.device()) => {
                tape::Walk::plan(g, host, shapes, idx, &keep)
            }
            _ => None,
        };
        match planned {
            Some(p) => Ok(Some(
                p.run((to_vec(input.clone())?, input.dims()))
                    .map_err(|why| Error::Graph(g.error(target, why.to_string())))?,
            )),
            None => Ok(None),
        }
    }

    /// The backward on the kernels, from `unit` of `target` back along the walk `wk` that ran
    /// forward on `input`.
    fn walk_back(
        &self,
        wk: &tape::Walk,
        input: &Tensor<4>,
        target: &Node,
        mut unit: Unit,
        rule: Rule,
        capture: Option<&str>,
    ) -> Result<Backward> {
        let g = self.graph();
        let [n, _, h, w] = input.dims();
        let device = input.device();
        let seeds = vec![(target.output.clone(), std::mem::take(&mut unit.seed))];
        let (gx, cap) = wk
            .backward(seeds, rule, capture)
            .map_err(|why| Error::Graph(g.error(target, why.to_string())))?;
        let captured = match (capture, cap) {
            (Some(name), Some(gc)) => {
                let (v, d) = wk
                    .value(name)
                    .ok_or_else(|| Error::Graph(g.error(target, "no captured value")))?;
                let value = crate::tensor4(v.to_vec(), d, &device)?;
                Some((value, crate::tensor4(gc, d, &device)?))
            }
            (Some(c), None) => return Err(not_feeding(c, target)),
            _ => None,
        };
        let grad = crate::tensor4(gx, [n, g.input_channels, h, w], &device)?;
        Ok(unit.backward(grad, captured))
    }

    /// The forward on burn to node `idx`, keeping every value; the ops whose way back is
    /// burn's autodiff run on the autodiff device and keep their tape.
    fn forward_taped<'g>(
        &'g self,
        input: Tensor<4>,
        idx: usize,
        shapes: &Shapes,
    ) -> Result<Forward<'g>> {
        let g = self.graph();
        let mut fwd = Forward {
            values: HashMap::new(),
            tapes: HashMap::new(),
            argmax: HashMap::new(),
        };
        fwd.values.insert(&g.input, input);
        for node in &g.nodes[..=idx] {
            let ins = self.inputs(node, &fwd.values)?;
            let closed = closed_window(g, node, shapes);
            let out = if let (Op::MaxPool(window), true) = (&node.op, closed) {
                let [_, _, ih, iw] = ins[0].dims();
                let opts = max_pool_options(window, [ih, iw]);
                let (out, indices) = max_pool2d_with_indices(ins[0].clone(), opts);
                fwd.argmax.insert(&node.output, indices);
                out
            } else if taped(&node.op) && !closed {
                let ins: Vec<Tensor<4>> = ins
                    .into_iter()
                    .zip(&node.inputs)
                    .map(|(t, name)| match g.constants.contains_key(name) {
                        true => t.autodiff(),
                        false => t.autodiff().require_grad(),
                    })
                    .collect();
                let out = self.run(node, ins.clone(), shapes)?;
                let plain = out.clone().without_autodiff();
                fwd.tapes.insert(&node.output, Tape { ins, out });
                plain
            } else {
                self.run(node, ins, shapes)?
            };
            fwd.values.insert(&node.output, out);
        }
        Ok(fwd)
    }

    /// The backward on burn from the signal `seed` on node `idx`'s output: the signal on the
    /// graph's input (`None` when none reaches it) and, with `capture`, that value and the
    /// signal on it.
    fn back_taped(
        &self,
        fwd: &mut Forward<'_>,
        idx: usize,
        seed: Tensor<4>,
        rule: Rule,
        capture: Option<&str>,
        shapes: &Shapes,
    ) -> Result<(Option<Tensor<4>>, Captured)> {
        let g = self.graph();
        let target = &g.nodes[idx];
        let mut captured = None;
        let mut grads: HashMap<&str, Tensor<4>> = HashMap::new();
        grads.insert(&target.output, seed);
        for node in g.nodes[..=idx].iter().rev() {
            let Some(gy) = grads.remove(node.output.as_str()) else {
                continue;
            };
            if capture == Some(node.output.as_str()) {
                let d = shapes.get(&node.output).unwrap_or(&[]);
                let layout = self.layout(&node.output);
                let value = fwd
                    .values
                    .get(node.output.as_str())
                    .cloned()
                    .map(|v| layout.to_nchw(v, d));
                captured = value.map(|v| (v, layout.to_nchw(gy.clone(), d)));
            }
            // a node of constants alone (a CLS token expanded to the batch) passes nothing back
            if node.inputs.iter().all(|i| g.constants.contains_key(i)) {
                continue;
            }
            let gx = match fwd.tapes.remove(node.output.as_str()) {
                Some(tape) => tape.back(gy, &node.inputs, &g.constants),
                None => {
                    let ins = self.inputs(node, &fwd.values)?;
                    let indices = fwd.argmax.remove(node.output.as_str());
                    self.vjp(node, ins, gy, rule, shapes, indices)?
                }
            };
            for (name, gi) in node.inputs.iter().zip(gx) {
                if let Some(gi) = gi {
                    let e = grads.remove(name.as_str());
                    grads.insert(
                        name,
                        match e {
                            Some(prev) => prev + gi,
                            None => gi,
                        },
                    );
                }
            }
        }
        if let Some(c) = capture
            && captured.is_none()
        {
            return Err(not_feeding(c, target));
        }
        Ok((grads.remove(g.input.as_str()), captured))
    }

    /// The signal on each input of `node` (None for constants) given the signal `gy` on its
    /// output.
    fn vjp(
        &self,
        node: &Node,
        ins: Vec<Tensor<4>>,
        gy: Tensor<4>,
        rule: Rule,
        shapes: &Shapes,
        indices: Option<Tensor<4, Int>>,
    ) -> Result<Vec<Option<Tensor<4>>>> {
        let g = self.graph();
        let is_const = |k: usize| g.constants.contains_key(&node.inputs[k]);
        let dims = |k: usize| dims4(shapes.get(&node.inputs[k]).unwrap_or(&[]));
        let rank = |k: usize| shapes.get(&node.inputs[k]).map_or(0, <[usize]>::len);
        let only = |t: Tensor<4>| Ok(vec![Some(t)]);
        let x = ins[0].clone();
        if node.op.is_relu_family()
            && let Some(gx) = activation_back(&node.op, rule, x.clone(), gy.clone())
        {
            return only(gx);
        }
        match &node.op {
            Op::Identity | Op::Dropout | Op::Flatten { .. } | Op::Reshape { .. } => {
                only(gy.reshape(dims(0)))
            }
            Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Clip { .. } => only(activation_grad(&node.op, x, gy)),
            Op::Add | Op::Sub | Op::Mul | Op::Div => {
                let b = ins[1].clone();
                let (da, db) = (dims(0), dims(1));
                let (ga, gb) = match node.op {
                    Op::Add => (gy.clone(), gy),
                    Op::Sub => (gy.clone(), gy.neg()),
                    Op::Mul => (gy.clone() * b, gy * x),
                    _ => (gy.clone() / b.clone(), (gy * x).neg() / (b.clone() * b)),
                };
                Ok(vec![
                    (!is_const(0)).then(|| unbroadcast(ga, da)),
                    (!is_const(1)).then(|| unbroadcast(gb, db)),
                ])
            }
            Op::Concat { axis: a } => {
                let r = rank(0);
                let ax = axis(*a, r).ok_or_else(|| Error::Graph(g.error(node, "axis")))? + 4 - r;
                let lens: Vec<usize> = (0..node.inputs.len()).map(|k| dims(k)[ax]).collect();
                Ok(split(gy, ax, &lens, is_const))
            }
            Op::BatchNorm { epsilon } => {
                let r = rank(0);
                let mut pd = [1usize; 4];
                let ch = 4 - r + 1;
                pd[ch] = x.dims()[ch];
                let scale = ins[1].clone().reshape(pd);
                let var = ins[4].clone().reshape(pd);
                Ok(vec![
                    Some(gy * (scale / (var + *epsilon).sqrt())),
                    None,
                    None,
                    None,
                    None,
                ])
            }
            Op::GlobalAveragePool => {
                let [n, c, h, w] = dims(0);
                only(gy.expand([n, c, h, w]) / (h * w) as f32)
            }
            Op::Conv { window, group } => {
                let [_, _, h, w] = dims(0);
                let gx = conv_back(window, *group, [h, w], ins[1].clone(), gy);
                Ok((0..node.inputs.len())
                    .map(|k| (k == 0).then(|| gx.clone()))
                    .collect())
            }
            Op::MaxPool(window) => {
                let indices = indices.ok_or_else(|| {
                    Error::Graph(g.error(node, "its forward kept no argmax indices"))
                })?;
                let [_, _, h, w] = dims(0);
                let p = window.pads([h, w]);
                only(max_pool2d_with_indices_backward(
                    x,
                    window.kernel,
                    window.strides,
                    [p[0], p[1]],
                    window.dilations,
                    window.ceil,
                    gy,
                    indices,
                ))
            }
            _ => Err(Error::Graph(
                g.error(node, "this op goes back through its autodiff tape"),
            )),
        }
    }
}
