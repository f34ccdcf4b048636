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
use deepvis_kernels::{Conv2d, MaxPool2d, Output, Scratch};

use super::exec::nchw;
use super::host::{self, Host};
use super::shape::{Shapes, axis};
use super::{Graph, Node, Op, Window};
use crate::backprop::Rule;

/// Why a walk on the kernels failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TapeError {
    /// A kernel refused its arguments.
    #[error(transparent)]
    Kernel(#[from] deepvis_kernels::KernelError),
    /// A value a step reads was not made (or its data was not kept).
    #[error("no value `{0}`")]
    NoValue(String),
    /// A value without an inferred shape.
    #[error("no shape for `{0}`")]
    NoShape(String),
    /// A step made the wrong number of values.
    #[error("`{0}` came out the wrong size")]
    WrongSize(String),
    /// A tensor could not be moved between burn and the host (burn's error, as it prints).
    #[error("{0}")]
    Burn(String),
}

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
    /// A fully connected layer.
    Dense(Dense),
    /// A max pooling.
    MaxPool(MaxPool2d),
    /// A concatenation of 4-d values along the channels.
    Concat,
    /// The mean of each channel plane (global average pooling).
    Mean,
    /// The same values under other dimensions (dropout, identity, flatten, reshape).
    Same,
}

/// A fully connected layer (ONNX Gemm with a constant `B`): `[n, k]` to
/// `alpha * x B' + beta * c`, `[n, m]`.
#[derive(Debug)]
struct Dense {
    weight: Arc<[f32]>,
    bias: Option<Arc<[f32]>>,
    k: usize,
    m: usize,
    /// `B` is `[m, k]` (else `[k, m]`).
    trans_b: bool,
    alpha: f32,
    beta: f32,
}

impl Dense {
    /// The layer's output on the `[n, k]` values `x`.
    fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        let (k, m) = (self.k, self.m);
        let mut out = vec![0f32; n * m];
        for (a, y) in x.chunks(k).zip(out.chunks_mut(m)) {
            match self.trans_b {
                true => {
                    for (yj, wj) in y.iter_mut().zip(self.weight.chunks(k)) {
                        *yj = dot(a, wj);
                    }
                }
                false => {
                    for (ai, wi) in a.iter().zip(self.weight.chunks(m)) {
                        y.iter_mut().zip(wi).for_each(|(yj, w)| *yj += ai * w);
                    }
                }
            }
            for (j, yj) in y.iter_mut().enumerate() {
                *yj = *yj * self.alpha + self.bias.as_ref().map_or(0.0, |c| c[j] * self.beta);
            }
        }
        out
    }

    /// The signal on the `[n, k]` input given the signal `g` on the output.
    fn backward(&self, g: &[f32], n: usize) -> Vec<f32> {
        let (k, m) = (self.k, self.m);
        let mut gx = vec![0f32; n * k];
        for (gy, ga) in g.chunks(m).zip(gx.chunks_mut(k)) {
            match self.trans_b {
                true => {
                    for (gj, wj) in gy.iter().zip(self.weight.chunks(k)) {
                        ga.iter_mut().zip(wj).for_each(|(a, w)| *a += gj * w);
                    }
                }
                false => {
                    for (a, wi) in ga.iter_mut().zip(self.weight.chunks(m)) {
                        *a = dot(gy, wi);
                    }
                }
            }
            ga.iter_mut().for_each(|a| *a *= self.alpha);
        }
        gx
    }
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

/// The planning of a walk: the graph to node `last`, its shapes and host constants, and the
/// values asked for (`keep`, never fused away).
struct Planner<'a> {
    graph: &'a Graph,
    host: &'a Host,
    shapes: &'a Shapes,
    last: usize,
    keep: &'a [&'a str],
    /// How many nodes up to `last` read each value.
    readers: HashMap<&'a str, usize>,
}

impl<'a> Planner<'a> {
    fn new(
        graph: &'a Graph,
        host: &'a Host,
        shapes: &'a Shapes,
        last: usize,
        keep: &'a [&'a str],
    ) -> Planner<'a> {
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for node in graph.nodes.iter().take(last + 1) {
            for inp in &node.inputs {
                *readers.entry(inp.as_str()).or_default() += 1;
            }
        }
        Planner {
            graph,
            host,
            shapes,
            last,
            keep,
            readers,
        }
    }

    fn dims(&self, name: &str) -> Option<[usize; 4]> {
        self.shapes.get(name).map(nchw)
    }

    /// The steps from the input to node `last`, or `None` when a node on the way is not one
    /// the tape runs.
    fn lines(&self) -> Option<Vec<Line>> {
        let mut lines = Vec::new();
        let mut skip = None;
        for (i, node) in self.graph.nodes.iter().enumerate().take(self.last + 1) {
            if skip == Some(i) {
                continue;
            }
            let x = node.inputs.first()?;
            let (step, output) = self.step(i, node, x)?;
            if let Step::Conv { relu: true, .. } = step {
                skip = Some(i + 1);
            }
            let inputs = match step {
                Step::Concat | Step::Add => node.inputs.clone(),
                _ => vec![x.clone()],
            };
            self.dims(output)?;
            lines.push(Line {
                step,
                inputs,
                output: output.clone(),
            });
        }
        self.fuse_concat_relus(&mut lines);
        Some(lines)
    }

    /// Node `i`'s step (reading `x` first) and the value it writes, or `None` when the tape
    /// does not run it.
    fn step(&self, i: usize, node: &'a Node, x: &str) -> Option<(Step, &'a String)> {
        let rank = self.shapes.get(x)?.len();
        let own = |step: Step| Some((step, &node.output));
        match &node.op {
            Op::Conv { window, group } => self.conv(i, node, x, window, *group),
            Op::Relu => own(Step::Relu),
            Op::Clip { min, max } => own(Step::Clip { lo: *min, hi: *max }),
            Op::Add
                if node.inputs.len() == 2
                    && node
                        .inputs
                        .iter()
                        .all(|v| !self.graph.constants.contains_key(v))
                    && self.shapes.get(&node.inputs[0]) == self.shapes.get(&node.inputs[1]) =>
            {
                own(Step::Add)
            }
            Op::MaxPool(window) => {
                let [_, _, h, w] = self.dims(x)?;
                own(Step::MaxPool(host::pooling(window, [h, w])?.0))
            }
            Op::Concat { axis: a } if rank >= 2 && axis(*a, rank) == Some(1) => {
                own(self.concat(node, x, rank)?)
            }
            Op::GlobalAveragePool if rank == 4 => own(Step::Mean),
            Op::Gemm {
                alpha,
                beta,
                trans_a: false,
                trans_b,
            } if rank == 2 => own(Step::Dense(self.dense(node, x, *alpha, *beta, *trans_b)?)),
            Op::Dropout | Op::Identity | Op::Flatten { .. } | Op::Reshape { .. } => own(Step::Same),
            _ => None,
        }
    }

    /// A convolution, with the ReLU after it when that alone reads it and neither of them
    /// is asked for (the value written is then the ReLU's).
    fn conv(
        &self,
        i: usize,
        node: &'a Node,
        x: &str,
        window: &Window,
        group: usize,
    ) -> Option<(Step, &'a String)> {
        let [_, c, h, w] = self.dims(x)?;
        let weight = self.host.constant(node.inputs.get(1)?)?;
        let bias = match node.inputs.get(2) {
            Some(b) => Some(self.host.constant(b)?),
            None => None,
        };
        let conv = host::geometry(window, group, [c, h, w], weight.len())?;
        let next = self.graph.nodes.get(i + 1).filter(|r| {
            i < self.last
                && matches!(r.op, Op::Relu)
                && r.inputs.len() == 1
                && r.inputs[0] == node.output
                && self.readers.get(node.output.as_str()) == Some(&1)
                && !self.keep.contains(&node.output.as_str())
        });
        let conv = Step::Conv {
            conv,
            weight,
            bias,
            relu: next.is_some(),
        };
        Some((conv, next.map_or(&node.output, |r| &r.output)))
    }

    /// A channel concatenation of rank-`rank` values, when every part has the first's
    /// batch and plane.
    fn concat(&self, node: &Node, x: &str, rank: usize) -> Option<Step> {
        let n = self.dims(x)?[0];
        let [_, _, h, w] = self.dims(x)?;
        let fits = node.inputs.iter().all(|p| {
            self.shapes.get(p).map(|d| d.len()) == Some(rank)
                && self
                    .dims(p)
                    .is_some_and(|[pn, _, ph, pw]| [pn, ph, pw] == [n, h, w])
        });
        fits.then_some(Step::Concat)
    }

    /// A fully connected layer over `x` (`[n, k]`), when its `B` and `C` are constants that fit.
    fn dense(&self, node: &Node, x: &str, alpha: f32, beta: f32, trans_b: bool) -> Option<Dense> {
        let k = self.shapes.get(x)?[1];
        let b = node.inputs.get(1)?;
        let db = self.shapes.get(b)?;
        let (kb, m) = match (db, trans_b) {
            ([r, c], true) => (*c, *r),
            ([r, c], false) => (*r, *c),
            _ => return None,
        };
        let weight = self.host.constant(b)?;
        let bias = match node.inputs.get(2) {
            Some(c) => Some(self.host.constant(c)?),
            None => None,
        };
        if kb != k || weight.len() != k * m || bias.as_ref().is_some_and(|c| c.len() != m) {
            return None;
        }
        Some(Dense {
            weight,
            bias,
            k,
            m,
            trans_b,
            alpha,
            beta,
        })
    }

    /// A ReLU after a concatenation of convolutions (a fire module's) goes into each of them:
    /// relu(concat(a, b)) = concat(relu(a), relu(b)), the ReLU's step then passes values on.
    fn fuse_concat_relus(&self, lines: &mut [Line]) {
        let single = |name: &str| self.readers.get(name) == Some(&1) && !self.keep.contains(&name);
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
    Planner::new(graph, host, shapes, last, keep).lines()
}

/// A value the walk has made.
fn get(values: &HashMap<String, Val>, name: &str) -> Result<Val, TapeError> {
    values
        .get(name)
        .cloned()
        .ok_or_else(|| TapeError::NoValue(name.to_string()))
}

impl Line {
    /// The step's output (of dimensions `dims`) from its first input `x`; its other inputs
    /// are read from `values`.
    fn forward(
        &self,
        x: &Val,
        dims: [usize; 4],
        values: &HashMap<String, Val>,
        scratch: &mut Scratch,
    ) -> Result<Arc<Vec<f32>>, TapeError> {
        let [n, c, h, w] = x.dims;
        let size: usize = dims.iter().product();
        Ok(match &self.step {
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
                    scratch,
                )?;
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
                let y = get(values, &self.inputs[1])?;
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
                pool.run(&x.data, [n * c, h, w], &mut out)?;
                Arc::new(out)
            }
            Step::Concat => {
                let mut out = Vec::with_capacity(size);
                let parts = self
                    .inputs
                    .iter()
                    .map(|p| get(values, p))
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
            Step::Dense(dense) => Arc::new(dense.forward(&x.data, n)),
        })
    }
}

/// Runs the steps forward from `input` (its values, `[N, C, H, W]`), returning every value.
fn run(
    lines: &[Line],
    shapes: &Shapes,
    host: &Host,
    input: (&str, Val),
) -> Result<HashMap<String, Val>, TapeError> {
    let mut values: HashMap<String, Val> = HashMap::new();
    values.insert(input.0.to_string(), input.1);
    let mut scratch = host.take_scratch();
    for line in lines {
        let x = get(&values, &line.inputs[0])?;
        let dims = shapes
            .get(&line.output)
            .map(nchw)
            .ok_or_else(|| TapeError::NoShape(line.output.clone()))?;
        let size: usize = dims.iter().product();
        let data = line.forward(&x, dims, &values, &mut scratch)?;
        if data.len() != size {
            return Err(TapeError::WrongSize(line.output.clone()));
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
    pub(crate) fn run(self, input: (Vec<f32>, [usize; 4])) -> Result<Walk, TapeError> {
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

    /// A value of the walk (its data may have been dropped).
    fn val(&self, name: &str) -> Result<&Val, TapeError> {
        self.values
            .get(name)
            .ok_or_else(|| TapeError::NoValue(name.to_string()))
    }

    /// The signal on the input given signals on values (`(name, [N, ...] signal)`), each
    /// ReLU passing it by `rule`; with `capture`, that value's whole signal too.
    pub(crate) fn backward(
        &self,
        seeds: Vec<(String, Vec<f32>)>,
        rule: Rule,
        capture: Option<&str>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>), TapeError> {
        let mut grads: HashMap<String, Vec<f32>> = HashMap::new();
        for (name, g) in seeds {
            accumulate(&mut grads, &name, g);
        }
        let mut captured = None;
        let mut scratch = self.host.take_scratch();
        for line in self.lines.iter().rev() {
            let Some(g) = grads.remove(&line.output) else {
                continue;
            };
            if capture == Some(line.output.as_str()) {
                captured = Some(g.clone());
            }
            self.back(line, g, rule, &mut grads, &mut scratch)?;
        }
        self.host.put_scratch(scratch);
        let size: usize = self.input_dims.iter().product();
        let gx = grads
            .remove(&self.input)
            .unwrap_or_else(|| vec![0f32; size]);
        Ok((gx, captured))
    }

    /// Passes the signal `g` on `line`'s output back onto its inputs (into `grads`), each
    /// ReLU by `rule`.
    fn back(
        &self,
        line: &Line,
        mut g: Vec<f32>,
        rule: Rule,
        grads: &mut HashMap<String, Vec<f32>>,
        scratch: &mut Scratch,
    ) -> Result<(), TapeError> {
        let x = &line.inputs[0];
        let [n, c, h, w] = self.val(x)?.dims;
        match &line.step {
            Step::Conv {
                conv, weight, relu, ..
            } => {
                if *relu {
                    relu_back(rule, &mut g, &self.val(&line.output)?.data);
                }
                let mut gx = vec![0f32; n * c * h * w];
                conv.backward_input(&g, [n, h, w], weight, &mut gx, scratch)?;
                accumulate(grads, x, gx);
            }
            Step::Relu => {
                relu_back(rule, &mut g, &self.val(&line.output)?.data);
                accumulate(grads, x, g);
            }
            Step::Clip { lo, hi } => {
                clip_back(rule, [*lo, *hi], &mut g, &self.val(&line.output)?.data);
                accumulate(grads, x, g);
            }
            Step::Add => {
                accumulate(grads, &line.inputs[1], g.clone());
                accumulate(grads, x, g);
            }
            Step::MaxPool(pool) => {
                let mut gx = vec![0f32; n * c * h * w];
                let (xv, yv) = (&self.val(x)?.data, &self.val(&line.output)?.data);
                pool.backward_input(xv, yv, [n * c, h, w], &g, &mut gx)?;
                accumulate(grads, x, gx);
            }
            Step::Concat => {
                let out_plane = g.len() / n.max(1);
                let mut at = 0;
                for p in &line.inputs {
                    let plane: usize = self.val(p)?.dims[1..].iter().product();
                    let mut gp = Vec::with_capacity(n * plane);
                    for b in 0..n {
                        gp.extend_from_slice(&g[b * out_plane + at..b * out_plane + at + plane]);
                    }
                    at += plane;
                    accumulate(grads, p, gp);
                }
            }
            Step::Mean => {
                let area = (h * w) as f32;
                let gx = g
                    .iter()
                    .flat_map(|&v| std::iter::repeat_n(v / area, h * w))
                    .collect();
                accumulate(grads, x, gx);
            }
            Step::Same => accumulate(grads, x, g),
            Step::Dense(dense) => accumulate(grads, x, dense.backward(&g, n)),
        }
        Ok(())
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
    fn backward(&self, flat: &[f32]) -> Result<Vec<f32>, TapeError> {
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
) -> Result<Option<super::GraphTaps>, TapeError> {
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
        .map_err(|e| TapeError::Burn(format!("{e:?}")))?;
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
            .ok_or_else(|| TapeError::NoValue(name.to_string()))?;
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
        .map_err(|e| TapeError::Burn(format!("{e:?}")))?;
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
