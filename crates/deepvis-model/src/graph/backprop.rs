//! Back-projection through a graph in one forward and one backward: the backward walks the
//! nodes in reverse with each op's vector-Jacobian product, and at every ReLU-family node
//! (Relu, LeakyRelu, Clip(0, max)) applies the mode's rule (gradient, deconv or guided) to
//! the signal. Elementwise ops, concats, batch norms and reshapes go back by their closed
//! forms here; convolutions, pools, LRN, softmax, pads and matrix products by burn's autodiff
//! of that one op, recorded as it ran in the forward (its tape).

use std::collections::HashMap;

use burn::prelude::*;
use burn::tensor::activation::relu;

use super::exec::{GraphNet, dims4};
use super::shape::{Shapes, axis};
use super::{Node, Op};
use crate::backprop::{BackMode, BackProjection};
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
fn activation_back(op: &Op, mode: BackMode, x: Tensor<4>, g: Tensor<4>) -> Option<Tensor<4>> {
    let pass = match op {
        Op::Relu => x.greater_elem(0.0).float(),
        Op::LeakyRelu { alpha } => {
            let pos = x.greater_elem(0.0).float();
            pos.clone() + (pos.neg() + 1.0) * *alpha
        }
        Op::Clip { min, max } if *min == 0.0 => {
            x.clone().greater_elem(*min).float() * x.lower_elem(*max).float()
        }
        _ => return None,
    };
    Some(match mode {
        BackMode::Grad => g * pass,
        BackMode::Deconv => relu(g),
        BackMode::Guided => relu(g) * pass,
    })
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
        let g = self.graph();
        let [n, _, h, w] = input.dims();
        if n != 1 {
            return Err(Error::BadInput(format!(
                "back-projection takes one image at a time; got a batch of {n}"
            )));
        }
        let idx = g.node_index(node).ok_or_else(|| Error::UnknownNode {
            graph: g.name.clone(),
            name: node.to_string(),
        })?;
        let shapes = self.check_and_shape(&input)?;
        let device = input.device();
        // forward, keeping every value up to the node; the ops whose way back is burn's
        // autodiff run on the autodiff device and keep their tape
        let mut values: HashMap<&str, Tensor<4>> = HashMap::new();
        let mut tapes: HashMap<&str, Tape> = HashMap::new();
        values.insert(&g.input, input);
        for node in &g.nodes[..=idx] {
            let ins = self.inputs(node, &values)?;
            let out = if taped(&node.op) {
                let ins: Vec<Tensor<4>> = ins
                    .into_iter()
                    .zip(&node.inputs)
                    .map(|(t, name)| match g.constants.contains_key(name) {
                        true => t.autodiff(),
                        false => t.autodiff().require_grad(),
                    })
                    .collect();
                let out = self.run(node, ins.clone(), &shapes)?;
                let plain = out.clone().without_autodiff();
                tapes.insert(&node.output, Tape { ins, out });
                plain
            } else {
                self.run(node, ins, &shapes)?
            };
            values.insert(&node.output, out);
        }
        let target = &g.nodes[idx];
        let out = values
            .get(target.output.as_str())
            .cloned()
            .ok_or_else(|| Error::Graph(g.error(target, "no output")))?;
        let od = shapes.get(&target.output).unwrap_or(&[]).to_vec();
        let [_, c, mh, mw] = super::exec::nchw(&od);
        if channel >= c {
            return Err(Error::UnitOutOfRange {
                layer: target.name.clone(),
                what: format!("channel {channel}"),
                limit: format!("it has {c} channels, 0..={}", c.saturating_sub(1)),
            });
        }
        let spatial = mh * mw > 1;
        let map = to_vec(out.clone().reshape([1, c, mh, mw]).narrow(1, channel, 1))?;
        let (y0, x0) = match pos {
            _ if !spatial => (0, 0),
            Some((y, x)) if y < mh && x < mw => (y, x),
            Some((y, x)) => {
                return Err(Error::UnitOutOfRange {
                    layer: target.name.clone(),
                    what: format!("position (y {y}, x {x})"),
                    limit: format!("its map is {mh}x{mw}"),
                });
            }
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
                (best.0 / mw, best.0 % mw)
            }
        };
        let value = map.get(y0 * mw + x0).copied().unwrap_or(0.0);
        let mut seed = vec![0.0f32; c * mh * mw];
        seed[channel * mh * mw + y0 * mw + x0] = 1.0;
        let seed = crate::tensor4(seed, [1, c, mh, mw], &device)?.reshape(out.dims());
        // backward
        let mut grads: HashMap<&str, Tensor<4>> = HashMap::new();
        grads.insert(&target.output, seed);
        for node in g.nodes[..=idx].iter().rev() {
            let Some(gy) = grads.remove(node.output.as_str()) else {
                continue;
            };
            let gx = match tapes.remove(node.output.as_str()) {
                Some(tape) => tape.back(gy, &node.inputs, &g.constants),
                None => {
                    let ins = self.inputs(node, &values)?;
                    self.vjp(node, ins, gy, mode, &shapes)?
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
        let grad = match grads.remove(g.input.as_str()) {
            Some(t) => t,
            None => Tensor::zeros([1, g.input_channels, h, w], &device),
        };
        Ok(BackProjection {
            grad,
            value,
            pos: spatial.then_some((y0, x0)),
        })
    }

    /// The signal on each input of `node` (None for constants) given the signal `gy` on its
    /// output.
    fn vjp(
        &self,
        node: &Node,
        ins: Vec<Tensor<4>>,
        gy: Tensor<4>,
        mode: BackMode,
        shapes: &Shapes,
    ) -> Result<Vec<Option<Tensor<4>>>> {
        let g = self.graph();
        let is_const = |k: usize| g.constants.contains_key(&node.inputs[k]);
        let dims = |k: usize| dims4(shapes.get(&node.inputs[k]).unwrap_or(&[]));
        let rank = |k: usize| shapes.get(&node.inputs[k]).map_or(0, <[usize]>::len);
        let only = |t: Tensor<4>| Ok(vec![Some(t)]);
        let x = ins[0].clone();
        if node.op.is_relu_family()
            && let Some(gx) = activation_back(&node.op, mode, x.clone(), gy.clone())
        {
            return only(gx);
        }
        match &node.op {
            Op::Identity | Op::Dropout | Op::Flatten { .. } | Op::Reshape { .. } => {
                only(gy.reshape(dims(0)))
            }
            Op::Sigmoid => {
                let s = burn::tensor::activation::sigmoid(x);
                only(gy * s.clone() * (s.neg() + 1.0))
            }
            Op::HardSigmoid { alpha, beta } => {
                let z = x * *alpha + *beta;
                let pass = z.clone().greater_elem(0.0).float() * z.lower_elem(1.0).float();
                only(gy * pass * *alpha)
            }
            Op::HardSwish => {
                let hs = (x.clone() / 6.0 + 0.5).clamp(0.0, 1.0);
                let inside =
                    x.clone().greater_elem(-3.0).float() * x.clone().lower_elem(3.0).float();
                only(gy * (hs + x * inside / 6.0))
            }
            Op::Relu | Op::LeakyRelu { .. } | Op::Clip { .. } => {
                // Clip with a non-zero lower bound: the plain gradient
                let (lo, hi) = match node.op {
                    Op::Clip { min, max } => (min, max),
                    _ => (0.0, f32::MAX),
                };
                let pass = x.clone().greater_elem(lo).float() * x.lower_elem(hi).float();
                only(gy * pass)
            }
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
                let mut start = 0;
                let mut out = Vec::new();
                for k in 0..node.inputs.len() {
                    let len = dims(k)[ax];
                    out.push((!is_const(k)).then(|| gy.clone().narrow(ax, start, len)));
                    start += len;
                }
                Ok(out)
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
            _ => Err(Error::Graph(
                g.error(node, "this op goes back through its autodiff tape"),
            )),
        }
    }
}
