//! Forward and backward on the kernels (burn-flex): the network from its input to the last
//! value asked for runs on `deepvis-kernels` (a [`Walk`]), keeping the values a backward
//! reads; the backward walks the nodes in reverse on the kernels too (each convolution's
//! transpose, depthwise ones included, each ReLU's rule and each clip's (ReLU6), each
//! pooling's first maxima, residual sums and concatenations split, averages spread, reshapes
//! passed through). Under autodiff (the optimizer's and the attributions'
//! gradients) the walk is one operation of burn's autodiff graph; the back-projections walk
//! back with the deconvolution's or guided backprop's ReLU rule. The kernels sum in burn's
//! order, so the values are burn's to the last bit: the poolings' ties and the kinks of the
//! ReLUs fall where burn's autodiff has them. The values are bitwise burn's (the
//! kernels sum in burn's order), so the poolings' ties fall as in burn's autodiff and the
//! independent reference. A graph with any other node on the way goes through burn's
//! autodiff as before.

use std::collections::HashMap;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use deepvis_kernels::{Conv2d, MaxPool2d, Output};

use super::exec::nchw;
use super::host::{self, Host};
use super::shape::{Shapes, axis};
use super::{Graph, Op};
use crate::backprop::Rule;

/// One node (or a convolution with its ReLU) as the tape runs it; values by name.
#[derive(Debug)]
enum Step {
    /// A convolution (its ReLU fused when `relu`).
    Conv {
        conv: Conv2d,
        weight: Arc<[f32]>,
        bias: Option<Arc<[f32]>>,
        relu: bool,
    },
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)` (ReLU6 is `Clip(0, 6)`).
    Clip { lo: f32, hi: f32 },
    /// The sum of two values of the same dimensions (a residual connection).
    Add,
    /// A fully connected layer (ONNX Gemm with a constant `B`): `[n, k]` to
    /// `alpha * x B' + beta * c`, `[n, m]`.
    Dense {
        weight: Arc<[f32]>,
        bias: Option<Arc<[f32]>>,
        k: usize,
        m: usize,
        /// `B` is `[m, k]` (else `[k, m]`).
        trans_b: bool,
        alpha: f32,
        beta: f32,
    },
    /// A max pooling.
    MaxPool(MaxPool2d),
    /// A concatenation of 4-d values along the channels.
    Concat,
    /// The mean of each channel plane (global average pooling).
    Mean,
    /// The same values under other dimensions (dropout, identity, flatten, reshape).
    Same,
}

/// A step with the names of the values it reads and writes.
#[derive(Debug)]
struct Line {
    step: Step,
    inputs: Vec<String>,
    output: String,
}

/// A value: `[N, C, H, W]` (vectors as `[N, K, 1, 1]`) on the host.
#[derive(Clone)]
struct Val {
    data: Arc<Vec<f32>>,
    dims: [usize; 4],
}

/// A forward pass on the kernels: its steps and the values they made (every value's
/// dimensions; the data of those a backward reads).
pub(crate) struct Walk {
    lines: Vec<Line>,
    values: HashMap<String, Val>,
    input: String,
    input_dims: [usize; 4],
    host: Arc<Host>,
}

/// What the autodiff operation's backward needs: the walk and where each tap sits in the
/// operation's flat output (`[N, total]`).
struct Tape {
    walk: Walk,
    taps: Vec<(String, usize, usize)>,
    total: usize,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tape")
            .field("steps", &self.walk.lines.len())
            .field("values", &self.walk.values.len())
            .field("taps", &self.taps)
            .finish()
    }
}

/// The steps from the input to node `last`, or `None` when a node on the way is not one the
/// tape runs. `keep` are the values asked for (never fused away).
fn plan(
    graph: &Graph,
    host: &Host,
    shapes: &Shapes,
    last: usize,
    keep: &[&str],
) -> Option<Vec<Line>> {
    let dims = |name: &str| shapes.get(name).map(nchw);
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for node in graph.nodes.iter().take(last + 1) {
        for inp in &node.inputs {
            *readers.entry(inp.as_str()).or_default() += 1;
        }
    }
    let mut lines = Vec::new();
    let mut skip = None;
    for (i, node) in graph.nodes.iter().enumerate().take(last + 1) {
        if skip == Some(i) {
            continue;
        }
        let x = node.inputs.first()?;
        let rank = shapes.get(x)?.len();
        let (step, output) = match &node.op {
            Op::Conv { window, group } => {
                let [_, c, h, w] = dims(x)?;
                let weight = host.constant(node.inputs.get(1)?)?;
                let bias = match node.inputs.get(2) {
                    Some(b) => Some(host.constant(b)?),
                    None => None,
                };
                let conv = host::geometry(window, *group, [c, h, w], weight.len())?;
                // a ReLU that alone reads the convolution, neither of them asked for
                let next = graph.nodes.get(i + 1).filter(|r| {
                    i < last
                        && matches!(r.op, Op::Relu)
                        && r.inputs.len() == 1
                        && r.inputs[0] == node.output
                        && readers.get(node.output.as_str()) == Some(&1)
                        && !keep.contains(&node.output.as_str())
                });
                if next.is_some() {
                    skip = Some(i + 1);
                }
                let conv = Step::Conv {
                    conv,
                    weight,
                    bias,
                    relu: next.is_some(),
                };
                (conv, next.map_or(&node.output, |r| &r.output))
            }
            Op::Relu => (Step::Relu, &node.output),
            Op::Clip { min, max } => (Step::Clip { lo: *min, hi: *max }, &node.output),
            Op::Add
                if node.inputs.len() == 2
                    && node.inputs.iter().all(|v| !graph.constants.contains_key(v))
                    && shapes.get(&node.inputs[0]) == shapes.get(&node.inputs[1]) =>
            {
                (Step::Add, &node.output)
            }
            Op::MaxPool(window) => {
                let [_, _, h, w] = dims(x)?;
                (
                    Step::MaxPool(host::pooling(window, [h, w])?.0),
                    &node.output,
                )
            }
            Op::Concat { axis: a } if rank >= 2 && axis(*a, rank) == Some(1) => {
                let n = dims(x)?[0];
                let [_, _, h, w] = dims(x)?;
                let fits = node.inputs.iter().all(|p| {
                    shapes.get(p).map(|d| d.len()) == Some(rank)
                        && dims(p).is_some_and(|[pn, _, ph, pw]| [pn, ph, pw] == [n, h, w])
                });
                if !fits {
                    return None;
                }
                (Step::Concat, &node.output)
            }
            Op::GlobalAveragePool if rank == 4 => (Step::Mean, &node.output),
            Op::Gemm {
                alpha,
                beta,
                trans_a: false,
                trans_b,
            } if rank == 2 => {
                let k = shapes.get(x)?[1];
                let b = node.inputs.get(1)?;
                let db = shapes.get(b)?;
                let (kb, m) = match (db, trans_b) {
                    ([r, c], true) => (*c, *r),
                    ([r, c], false) => (*r, *c),
                    _ => return None,
                };
                let weight = host.constant(b)?;
                let bias = match node.inputs.get(2) {
                    Some(c) => Some(host.constant(c)?),
                    None => None,
                };
                if kb != k || weight.len() != k * m || bias.as_ref().is_some_and(|c| c.len() != m) {
                    return None;
                }
                let dense = Step::Dense {
                    weight,
                    bias,
                    k,
                    m,
                    trans_b: *trans_b,
                    alpha: *alpha,
                    beta: *beta,
                };
                (dense, &node.output)
            }
            Op::Dropout | Op::Identity | Op::Flatten { .. } | Op::Reshape { .. } => {
                (Step::Same, &node.output)
            }
            _ => return None,
        };
        let inputs = match step {
            Step::Concat | Step::Add => node.inputs.clone(),
            _ => vec![x.clone()],
        };
        dims(output)?;
        lines.push(Line {
            step,
            inputs,
            output: output.clone(),
        });
    }
    // a ReLU after a concatenation of convolutions (a fire module's) goes into each of them:
    // relu(concat(a, b)) = concat(relu(a), relu(b)), the ReLU's node then passes values on
    let single = |name: &str| readers.get(name) == Some(&1) && !keep.contains(&name);
    for j in 0..lines.len() {
        if !matches!(lines[j].step, Step::Relu) || !single(&lines[j].inputs[0]) {
            continue;
        }
        let Some(cat) = lines.iter().position(|l| l.output == lines[j].inputs[0]) else {
            continue;
        };
        if !matches!(lines[cat].step, Step::Concat) {
            continue;
        }
        let parts: Option<Vec<usize>> = lines[cat]
            .inputs
            .iter()
            .map(|p| {
                let k = lines.iter().position(|l| &l.output == p)?;
                (matches!(lines[k].step, Step::Conv { .. }) && single(p)).then_some(k)
            })
            .collect();
        let Some(parts) = parts else {
            continue;
        };
        for k in parts {
            if let Step::Conv { relu, .. } = &mut lines[k].step {
                *relu = true;
            }
        }
        lines[j].step = Step::Same;
    }
    Some(lines)
}

/// Runs the steps forward from `input` (its values, `[N, C, H, W]`), returning every value.
fn run(
    lines: &[Line],
    shapes: &Shapes,
    host: &Host,
    input: (&str, Val),
) -> Result<HashMap<String, Val>, String> {
    let mut values: HashMap<String, Val> = HashMap::new();
    values.insert(input.0.to_string(), input.1);
    let mut scratch = host.take_scratch();
    for line in lines {
        let get = |name: &str| {
            values
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no value `{name}`"))
        };
        let x = get(&line.inputs[0])?;
        let [n, c, h, w] = x.dims;
        let dims = shapes
            .get(&line.output)
            .map(nchw)
            .ok_or_else(|| format!("no shape for `{}`", line.output))?;
        let size: usize = dims.iter().product();
        let data = match &line.step {
            Step::Conv {
                conv,
                weight,
                bias,
                relu,
            } => {
                let mut out = vec![0f32; size];
                let dst = Output {
                    data: &mut out,
                    channels: dims[1],
                    offset: 0,
                };
                conv.run(
                    &x.data,
                    [n, h, w],
                    weight,
                    bias.as_deref(),
                    *relu,
                    dst,
                    &mut scratch,
                )
                .map_err(|e| e.to_string())?;
                Arc::new(out)
            }
            Step::Relu => Arc::new(
                x.data
                    .iter()
                    .map(|&v| if v < 0.0 { 0.0 } else { v })
                    .collect(),
            ),
            Step::Clip { lo, hi } => Arc::new(
                x.data
                    .iter()
                    .map(|&v| {
                        if v < *lo {
                            *lo
                        } else if v > *hi {
                            *hi
                        } else {
                            v
                        }
                    })
                    .collect(),
            ),
            Step::Add => {
                let y = get(&line.inputs[1])?;
                Arc::new(
                    x.data
                        .iter()
                        .zip(y.data.iter())
                        .map(|(a, b)| a + b)
                        .collect(),
                )
            }
            Step::MaxPool(pool) => {
                let mut out = vec![0f32; size];
                pool.run(&x.data, [n * c, h, w], &mut out)
                    .map_err(|e| e.to_string())?;
                Arc::new(out)
            }
            Step::Concat => {
                let mut out = Vec::with_capacity(size);
                let parts = line
                    .inputs
                    .iter()
                    .map(|p| get(p))
                    .collect::<Result<Vec<_>, _>>()?;
                for b in 0..n {
                    for p in &parts {
                        let plane: usize = p.dims[1..].iter().product();
                        out.extend_from_slice(&p.data[b * plane..(b + 1) * plane]);
                    }
                }
                Arc::new(out)
            }
            Step::Mean => Arc::new(
                x.data
                    .chunks(h * w)
                    .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64) as f32)
                    .collect(),
            ),
            Step::Same => x.data.clone(),
            Step::Dense {
                weight,
                bias,
                k,
                m,
                trans_b,
                alpha,
                beta,
            } => {
                let mut out = vec![0f32; n * m];
                for (a, y) in x.data.chunks(*k).zip(out.chunks_mut(*m)) {
                    match trans_b {
                        true => {
                            for (yj, wj) in y.iter_mut().zip(weight.chunks(*k)) {
                                *yj = dot(a, wj);
                            }
                        }
                        false => {
                            for (ai, wi) in a.iter().zip(weight.chunks(*m)) {
                                y.iter_mut().zip(wi).for_each(|(yj, w)| *yj += ai * w);
                            }
                        }
                    }
                    for (j, yj) in y.iter_mut().enumerate() {
                        *yj = *yj * alpha + bias.as_ref().map_or(0.0, |c| c[j] * beta);
                    }
                }
                Arc::new(out)
            }
        };
        if data.len() != size {
            return Err(format!("`{}` came out the wrong size", line.output));
        }
        values.insert(line.output.clone(), Val { data, dims });
    }
    host.put_scratch(scratch);
    Ok(values)
}

/// `sum a_i b_i` in eight running sums (so it vectorizes).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Adds `g` into the signal gathered for `name`.
fn accumulate(grads: &mut HashMap<String, Vec<f32>>, name: &str, g: Vec<f32>) {
    match grads.get_mut(name) {
        Some(have) => have.iter_mut().zip(&g).for_each(|(a, b)| *a += b),
        None => {
            grads.insert(name.to_string(), g);
        }
    }
}

/// A walk planned, not yet run.
pub(crate) struct Planned<'a> {
    lines: Vec<Line>,
    graph: &'a Graph,
    host: &'a Arc<Host>,
    shapes: &'a Shapes,
}

impl Planned<'_> {
    /// Runs the walk from `input` (`[N, C, H, W]` values).
    pub(crate) fn run(self, input: (Vec<f32>, [usize; 4])) -> Result<Walk, String> {
        let val = Val {
            data: Arc::new(input.0),
            dims: input.1,
        };
        let values = run(
            &self.lines,
            self.shapes,
            self.host,
            (&self.graph.input, val),
        )?;
        Ok(Walk {
            lines: self.lines,
            values,
            input: self.graph.input.clone(),
            input_dims: input.1,
            host: self.host.clone(),
        })
    }
}

impl Walk {
    /// Plans the walk of the graph to node `last` on the kernels, keeping the values `keep`
    /// whole (never fused away); `None` when a node on the way is not one the kernels run.
    pub(crate) fn plan<'a>(
        graph: &'a Graph,
        host: &'a Arc<Host>,
        shapes: &'a Shapes,
        last: usize,
        keep: &[&str],
    ) -> Option<Planned<'a>> {
        Some(Planned {
            lines: plan(graph, host, shapes, last, keep)?,
            graph,
            host,
            shapes,
        })
    }

    /// A value's data and `[N, C, H, W]` (`None` for a value not kept).
    pub(crate) fn value(&self, name: &str) -> Option<(&[f32], [usize; 4])> {
        self.values
            .get(name)
            .filter(|v| !v.data.is_empty() || v.dims.contains(&0))
            .map(|v| (v.data.as_slice(), v.dims))
    }

    /// Drops the data the backward does not read (the ReLUs' outputs and the poolings'
    /// inputs and outputs stay), keeping every value's dimensions.
    fn slim(mut self) -> Walk {
        let mut needed: Vec<String> = Vec::new();
        for line in &self.lines {
            match line.step {
                Step::Conv { relu: true, .. } | Step::Relu | Step::Clip { .. } => {
                    needed.push(line.output.clone())
                }
                Step::MaxPool(_) => {
                    needed.extend([line.inputs[0].clone(), line.output.clone()]);
                }
                _ => {}
            }
        }
        for (name, v) in self.values.iter_mut() {
            if !needed.contains(name) {
                v.data = Arc::new(Vec::new());
            }
        }
        self
    }

    /// The signal on the input given signals on values (`(name, [N, ...] signal)`), each
    /// ReLU passing it by `rule`; with `capture`, that value's whole signal too.
    pub(crate) fn backward(
        &self,
        seeds: Vec<(String, Vec<f32>)>,
        rule: Rule,
        capture: Option<&str>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), String> {
        let mut grads: HashMap<String, Vec<f32>> = HashMap::new();
        for (name, g) in seeds {
            accumulate(&mut grads, &name, g);
        }
        let mut captured = None;
        let mut scratch = self.host.take_scratch();
        let value = |name: &str| {
            self.values
                .get(name)
                .ok_or_else(|| format!("no value `{name}`"))
        };
        for line in self.lines.iter().rev() {
            let Some(mut g) = grads.remove(&line.output) else {
                continue;
            };
            if capture == Some(line.output.as_str()) {
                captured = Some(g.clone());
            }
            let x = &line.inputs[0];
            let [n, c, h, w] = value(x)?.dims;
            match &line.step {
                Step::Conv {
                    conv, weight, relu, ..
                } => {
                    if *relu {
                        relu_back(rule, &mut g, &value(&line.output)?.data);
                    }
                    let mut gx = vec![0f32; n * c * h * w];
                    conv.backward_input(&g, [n, h, w], weight, &mut gx, &mut scratch)
                        .map_err(|e| e.to_string())?;
                    accumulate(&mut grads, x, gx);
                }
                Step::Relu => {
                    relu_back(rule, &mut g, &value(&line.output)?.data);
                    accumulate(&mut grads, x, g);
                }
                Step::Clip { lo, hi } => {
                    clip_back(rule, [*lo, *hi], &mut g, &value(&line.output)?.data);
                    accumulate(&mut grads, x, g);
                }
                Step::Add => {
                    accumulate(&mut grads, &line.inputs[1], g.clone());
                    accumulate(&mut grads, x, g);
                }
                Step::MaxPool(pool) => {
                    let mut gx = vec![0f32; n * c * h * w];
                    let (xv, yv) = (&value(x)?.data, &value(&line.output)?.data);
                    pool.backward_input(xv, yv, [n * c, h, w], &g, &mut gx)
                        .map_err(|e| e.to_string())?;
                    accumulate(&mut grads, x, gx);
                }
                Step::Concat => {
                    let out_plane = g.len() / n.max(1);
                    let mut at = 0;
                    for p in &line.inputs {
                        let plane: usize = value(p)?.dims[1..].iter().product();
                        let mut gp = Vec::with_capacity(n * plane);
                        for b in 0..n {
                            gp.extend_from_slice(
                                &g[b * out_plane + at..b * out_plane + at + plane],
                            );
                        }
                        at += plane;
                        accumulate(&mut grads, p, gp);
                    }
                }
                Step::Mean => {
                    let area = (h * w) as f32;
                    let gx = g
                        .iter()
                        .flat_map(|&v| std::iter::repeat_n(v / area, h * w))
                        .collect();
                    accumulate(&mut grads, x, gx);
                }
                Step::Same => accumulate(&mut grads, x, g),
                Step::Dense {
                    weight,
                    k,
                    m,
                    trans_b,
                    alpha,
                    ..
                } => {
                    let mut gx = vec![0f32; n * k];
                    for (gy, ga) in g.chunks(*m).zip(gx.chunks_mut(*k)) {
                        match trans_b {
                            true => {
                                for (gj, wj) in gy.iter().zip(weight.chunks(*k)) {
                                    ga.iter_mut().zip(wj).for_each(|(a, w)| *a += gj * w);
                                }
                            }
                            false => {
                                for (a, wi) in ga.iter_mut().zip(weight.chunks(*m)) {
                                    *a = dot(gy, wi);
                                }
                            }
                        }
                        ga.iter_mut().for_each(|a| *a *= alpha);
                    }
                    accumulate(&mut grads, x, gx);
                }
            }
        }
        self.host.put_scratch(scratch);
        let size: usize = self.input_dims.iter().product();
        let gx = grads
            .remove(&self.input)
            .unwrap_or_else(|| vec![0f32; size]);
        Ok((gx, captured))
    }
}

/// A ReLU's signal back, given its output `y`: the gradient where `y` is positive; the
/// deconvolution's positive part of the signal; guided backprop's both (in forms that
/// vectorize).
fn relu_back(rule: Rule, g: &mut [f32], y: &[f32]) {
    match rule {
        Rule::Grad => {
            for (g, &y) in g.iter_mut().zip(y) {
                *g = if y > 0.0 { *g } else { 0.0 };
            }
        }
        Rule::Deconv => {
            for g in g.iter_mut() {
                *g = if *g > 0.0 { *g } else { 0.0 };
            }
        }
        Rule::Guided => {
            for (g, &y) in g.iter_mut().zip(y) {
                *g = if y > 0.0 && *g > 0.0 { *g } else { 0.0 };
            }
        }
    }
}

/// A clip's signal back, given its output `y`: where `y` is strictly inside the bounds; with a
/// lower bound of 0 (ReLU6) a ReLU-family node, the deconvolution and guided backprop apply
/// their rules as at a ReLU.
fn clip_back(rule: Rule, [lo, hi]: [f32; 2], g: &mut [f32], y: &[f32]) {
    let rule = if lo == 0.0 { rule } else { Rule::Grad };
    let deconv = rule == Rule::Deconv;
    let positive = rule != Rule::Grad;
    for (g, &y) in g.iter_mut().zip(y) {
        let inside = deconv || (y > lo && y < hi);
        *g = if inside && (!positive || *g > 0.0) {
            *g
        } else {
            0.0
        };
    }
}

impl Tape {
    /// The signal on the input given the signal on the flat output (`[N, total]`).
    fn backward(&self, flat: &[f32]) -> Result<Vec<f32>, String> {
        let n = self.walk.input_dims[0];
        let total = self.total;
        let seeds = self
            .taps
            .iter()
            .map(|(name, off, size)| {
                let mut g = vec![0f32; n * size];
                for b in 0..n {
                    g[b * size..(b + 1) * size]
                        .copy_from_slice(&flat[b * total + off..b * total + off + size]);
                }
                (name.clone(), g)
            })
            .collect();
        Ok(self.walk.backward(seeds, Rule::Grad, None)?.0)
    }
}

#[derive(Debug)]
struct TapeBackward;

impl Backward<Flex, 1> for TapeBackward {
    type State = Arc<Tape>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(parent) = parent else {
            return;
        };
        let tape = &*ops.state;
        let Ok(flat) = Tensor::<2>::from_primitive::<Flex>(grad)
            .into_data()
            .try_into_vec::<f32>()
        else {
            return;
        };
        // (a failure here leaves the input without a gradient rather than end the program;
        // the forward checked every shape)
        let Ok(gx) = tape.backward(&flat) else {
            return;
        };
        let gx = Tensor::<4>::from_data(TensorData::new(gx, tape.walk.input_dims), &Device::flex());
        if let Ok(gx) = gx.try_into_primitive::<Flex>() {
            grads.register::<Flex>(parent.id, gx);
        }
    }
}

/// Whether the tape runs the graph to node `last` (on a device it serves).
pub(crate) fn serves(graph: &Graph, host: &Host, shapes: &Shapes, last: usize) -> bool {
    plan(graph, host, shapes, last, &[]).is_some()
}

/// The values asked for, by the names they were asked by: `(asked, value name, is a
/// pre-activation)`.
pub(crate) type Asked<'a> = Vec<(&'a str, &'a str, bool)>;

/// Runs the graph to node `last` on the kernels as one recorded operation and returns the
/// asked values (outputs and pre-activations, as autodiff tensors sliced out of the
/// operation's output); `Ok(None)` when the tape does not serve this graph or device.
pub(crate) fn forward(
    graph: &Graph,
    host: &Arc<Host>,
    shapes: &Shapes,
    input: &Tensor<4>,
    last: usize,
    asked: &Asked<'_>,
) -> Result<Option<super::GraphTaps>, String> {
    if !super::autodiff::serves(&input.device()) {
        return Ok(None);
    }
    let keep: Vec<&str> = asked.iter().map(|a| a.1).collect();
    let Some(planned) = Walk::plan(graph, host, shapes, last, &keep) else {
        return Ok(None);
    };
    let Ok(ad) = input.clone().try_into_primitive::<Autodiff<Flex>>() else {
        return Ok(None);
    };
    let (inner, node) = ad.into_parts();
    let input_dims = input.dims();
    let xs = Tensor::<4>::from_primitive::<Flex>(inner)
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    let walk = planned.run((xs, input_dims))?;
    let values = &walk.values;
    // the flat output: each image's taps side by side
    let n = input_dims[0];
    let mut taps: Vec<(String, usize, usize)> = Vec::new();
    let mut total = 0;
    for &(_, name, _) in asked {
        if taps.iter().any(|t| t.0 == name) {
            continue;
        }
        let v = values
            .get(name)
            .ok_or_else(|| format!("no value `{name}`"))?;
        let size = v.data.len() / n.max(1);
        taps.push((name.to_string(), total, size));
        total += size;
    }
    let mut flat = vec![0f32; n * total];
    for (name, off, size) in &taps {
        let v = &values[name.as_str()];
        for b in 0..n {
            flat[b * total + off..b * total + off + size]
                .copy_from_slice(&v.data[b * size..(b + 1) * size]);
        }
    }
    let flat = Tensor::<2>::from_data(TensorData::new(flat, [n, total]), &Device::flex())
        .try_into_primitive::<Flex>()
        .map_err(|e| format!("{e:?}"))?;
    let recorded = match TapeBackward
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let tape = Tape {
                walk: walk.slim(),
                taps: taps.clone(),
                total,
            };
            prep.finish(Arc::new(tape), flat)
        }
        OpsKind::UnTracked(prep) => prep.finish(flat),
    };
    let flat = Tensor::<2>::from_primitive::<Autodiff<Flex>>(recorded);
    let mut out = super::GraphTaps::default();
    for &(asked_as, name, pre) in asked {
        let Some((_, off, size)) = taps.iter().find(|t| t.0 == name) else {
            continue;
        };
        let dims = shapes.get(name).map(nchw).unwrap_or([n, *size, 1, 1]);
        let t = flat.clone().slice([0..n, *off..off + size]).reshape(dims);
        match pre {
            true => out.pre.insert(asked_as.to_string(), t),
            false => out.outputs.insert(asked_as.to_string(), t),
        };
    }
    Ok(Some(out))
}
