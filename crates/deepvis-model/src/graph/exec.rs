//! Running a [`Graph`] on a burn device.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

use super::autodiff;
use super::host::{self, Declined, Host, Slot};
use super::ops::Call;
use super::shape::{Shapes, axis, window_out};
use super::tape;
use super::{Graph, GraphError, Layout, Node, Op, Window};
use crate::error::{Error, Result};

/// A graph with its constants on a device.
#[derive(Clone, Debug)]
pub struct GraphNet {
    pub(super) graph: Arc<Graph>,
    pub(super) consts: HashMap<String, Tensor<4>>,
    /// Convolution biases as the rank-1 tensors `conv2d` takes (no reshape per call).
    pub(super) biases: HashMap<String, Tensor<1>>,
    pub(super) device: Device,
    /// The CPU fast path (on burn-flex, plain and under autodiff): host copies of the
    /// convolution constants.
    pub(super) host: Option<Arc<Host>>,
    /// The shapes inferred for the last input size `[n, h, w]` (a live source sends the same
    /// size frame after frame; shared by clones, which have the same graph).
    memo: ShapeMemo,
    /// The values held channels-last (the others are channels-first).
    layouts: Arc<HashMap<String, Layout>>,
}

type ShapeMemo = Arc<Mutex<Option<([usize; 3], Arc<Shapes>)>>>;

/// Values a forward pass returned, keyed by the names they were asked by (a node's name or its
/// output's), each as `[N, C, H, W]` (vector values `[N, K]` as `[N, K, 1, 1]`).
#[derive(Debug, Default)]
pub struct GraphTaps {
    /// Node outputs.
    pub outputs: HashMap<String, Tensor<4>>,
    /// Pre-activation values (the input of an activation node), by the activation's name.
    pub pre: HashMap<String, Tensor<4>>,
    /// The leading tokens `[N, lead, D]` of the sequences among the node outputs (their
    /// patches are in `outputs`).
    pub leading: HashMap<String, Tensor<3>>,
}

/// How long one node of a [`GraphNet::profile`] took.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTime {
    /// The node (a ReLU fused into its convolution: the ReLU, timed with it).
    pub node: String,
    /// Its operator, as the file names it.
    pub op: String,
    /// Whether it ran inside the convolution before it (or, a ReLU after a concatenation of
    /// convolutions, inside those).
    pub fused: bool,
    /// Milliseconds.
    pub ms: f64,
}

/// The values the CPU path writes straight into a concatenation's buffer, as `(concatenation
/// node, first channel, its channels)`: every part of a channel concatenation of 4-d values
/// that a convolution (or a convolution fused with its ReLU) makes, that the concatenation
/// alone reads and that nobody asked for.
fn concat_slots<'g>(
    g: &'g Graph,
    shapes: &Shapes,
    last: usize,
    last_use: &HashMap<&str, usize>,
    want: &[usize],
    fusable: &dyn Fn(usize) -> bool,
) -> HashMap<&'g str, (usize, usize, usize)> {
    let producer: HashMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .take(last + 1)
        .map(|(i, n)| (n.output.as_str(), i))
        .collect();
    let mut slots = HashMap::new();
    for (c, node) in g.nodes.iter().enumerate().take(last + 1) {
        let Op::Concat { axis: a } = node.op else {
            continue;
        };
        let Some(d) = shapes.get(&node.output).filter(|d| d.len() == 4) else {
            continue;
        };
        if axis(a, 4) != Some(1) {
            continue;
        }
        let mut parts = Vec::new();
        let mut offset = 0;
        for v in &node.inputs {
            let Some(&p) = producer.get(v.as_str()) else {
                break;
            };
            let made_by_conv = match g.nodes[p].op {
                Op::Conv { .. } => true,
                Op::Relu => p > 0 && fusable(p - 1),
                _ => false,
            };
            let channels = shapes.get(v).filter(|s| s.len() == 4).map(|s| s[1]);
            let (true, Some(ch)) = (made_by_conv, channels) else {
                break;
            };
            if last_use.get(v.as_str()) != Some(&c)
                || want.contains(&p)
                || node.inputs.iter().filter(|u| *u == v).count() != 1
            {
                break;
            }
            parts.push((v.as_str(), offset));
            offset += ch;
        }
        if parts.len() == node.inputs.len() && offset == d[1] {
            for (v, o) in parts {
                slots.insert(v, (c, o, d[1]));
            }
        }
    }
    slots
}

/// How the CPU path runs a forward to node `last`: which convolutions take the ReLU after
/// them in, which write straight into their concatenation's buffer, and which ReLUs go into
/// the convolutions of the concatenation they read.
struct Fusion<'a> {
    graph: &'a Graph,
    /// Whether the CPU path serves (nothing is fused otherwise).
    fast: bool,
    /// The last node that reads each value, so values are dropped once used.
    last_use: HashMap<&'a str, usize>,
    /// The nodes asked for.
    want: &'a [usize],
    /// The activations whose pre-activation values are asked for.
    want_pre: &'a [usize],
    /// The concatenation parts written in place (see [`concat_slots`]).
    slots: HashMap<&'a str, (usize, usize, usize)>,
    /// The concatenations whose parts take the ReLU that reads them.
    relu_parts: Vec<usize>,
    /// Those ReLUs, which pass the concatenation on.
    pass_on: Vec<usize>,
}

impl<'a> Fusion<'a> {
    fn plan(
        g: &'a Graph,
        shapes: &Shapes,
        last: usize,
        [want, want_pre]: [&'a [usize]; 2],
        fast: bool,
    ) -> Fusion<'a> {
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (i, node) in g.nodes.iter().enumerate().take(last + 1) {
            for inp in &node.inputs {
                last_use.insert(inp, i);
            }
        }
        let mut fusion = Fusion {
            graph: g,
            fast,
            last_use,
            want,
            want_pre,
            slots: HashMap::new(),
            relu_parts: Vec::new(),
            pass_on: Vec::new(),
        };
        if fast {
            fusion.slots = concat_slots(g, shapes, last, &fusion.last_use, want, &|i| {
                fusion.fusable(i)
            });
        }
        fusion.relus_into_parts(last);
        fusion
    }

    /// Whether node `i` is a convolution whose only reader is a ReLU, neither of them asked
    /// for (nor the ReLU's pre-activation): on the CPU path they run as one node.
    fn fusable(&self, i: usize) -> bool {
        let g = self.graph;
        let (Some(c), Some(r)) = (g.nodes.get(i), g.nodes.get(i + 1)) else {
            return false;
        };
        self.fast
            && matches!(c.op, Op::Conv { .. })
            && matches!(r.op, Op::Relu)
            && r.inputs.len() == 1
            && r.inputs[0] == c.output
            && self.last_use.get(c.output.as_str()) == Some(&(i + 1))
            && !self.want.contains(&i)
            && !self.want_pre.contains(&(i + 1))
    }

    /// A ReLU that alone reads a concatenation written by convolutions (a fire module's)
    /// goes into them: relu(concat(a, b)) = concat(relu(a), relu(b)), and its node passes
    /// the concatenation on.
    fn relus_into_parts(&mut self, last: usize) {
        let g = self.graph;
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for node in g.nodes.iter().take(last + 1) {
            for inp in &node.inputs {
                *readers.entry(inp.as_str()).or_default() += 1;
            }
        }
        for (c, node) in g.nodes.iter().enumerate().take(last + 1) {
            let written = self.slots.values().any(|&(k, _, _)| k == c);
            let Some(r) = self.last_use.get(node.output.as_str()).copied() else {
                continue;
            };
            let relu = &g.nodes[r];
            if written
                && matches!(relu.op, Op::Relu)
                && relu.inputs.len() == 1
                && readers.get(node.output.as_str()) == Some(&1)
                && !self.want.contains(&c)
                && !self.want_pre.contains(&r)
            {
                self.relu_parts.push(c);
                self.pass_on.push(r);
            }
        }
    }
}

/// The rank-1 biases of the graph's convolutions.
fn conv_biases(graph: &Graph, consts: &HashMap<String, Tensor<4>>) -> HashMap<String, Tensor<1>> {
    graph
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv { .. }))
        .filter_map(|n| n.inputs.get(2))
        .filter_map(|b| {
            let t = consts.get(b)?;
            let o = t.dims()[3];
            Some((b.clone(), t.clone().reshape([o])))
        })
        .collect()
}

/// A convolution's options for an input of `[h, w]` (`None` when the window does not fit).
pub(crate) fn conv_options(
    window: &Window,
    group: usize,
    hw: [usize; 2],
) -> Option<ConvOptions<2>> {
    let (_, p) = window_out(window, hw)?;
    Some(ConvOptions::new_with_padding(
        window.strides,
        [(p[0], p[2]), (p[1], p[3])],
        window.dilations,
        group,
    ))
}

/// A max pooling's options for an input of `[h, w]`.
pub(crate) fn max_pool_options(window: &Window, hw: [usize; 2]) -> MaxPoolOptions<2> {
    let p = window.pads(hw);
    MaxPoolOptions::new(window.kernel)
        .with_stride(window.strides)
        .with_padding_pairs([(p[0], p[2]), (p[1], p[3])])
        .with_dilation(window.dilations)
        .with_ceil_mode(window.ceil)
}

/// Right-aligns `dims` into four dimensions (a rank-5 value's first two merged, and any
/// longer one's leading dimensions).
pub(crate) fn dims4(dims: &[usize]) -> [usize; 4] {
    if let [lead @ .., c, d, e] = dims
        && lead.len() > 1
    {
        return [lead.iter().product(), *c, *d, *e];
    }
    let mut d = [1; 4];
    let off = 4 - dims.len().min(4);
    for (i, &v) in dims.iter().take(4).enumerate() {
        d[off + i] = v;
    }
    d
}

/// The `[N, C, H, W]` view of a value of the given logical dimensions.
pub(crate) fn nchw(dims: &[usize]) -> [usize; 4] {
    match *dims {
        [k] => [1, k, 1, 1],
        [n, k] => [n, k, 1, 1],
        [a, b, c] => [a, b, c, 1],
        // [B, T, 3, heads, dim]: the batch first, the middle axes as rows
        [a, b, c, d, e] => [a, b, c * d, e],
        _ => dims4(dims),
    }
}

fn to_device(t: &super::HostTensor, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(t.data.clone(), dims4(&t.dims)), device)
}

impl GraphNet {
    /// Validates `graph` and puts its constants on `device`.
    pub fn new(graph: Graph, device: &Device) -> Result<GraphNet> {
        graph.validate().map_err(Error::Graph)?;
        for (name, t) in &graph.constants {
            if t.dims.len() > 4 {
                return Err(Error::Graph(GraphError {
                    graph: graph.name.clone(),
                    node: name.clone(),
                    op: "constant".into(),
                    reason: format!("rank {} (deepvis handles up to 4)", t.dims.len()),
                }));
            }
            if !t.is_complete() {
                return Err(Error::Graph(GraphError {
                    graph: graph.name.clone(),
                    node: name.clone(),
                    op: "constant".into(),
                    reason: format!("holds {} values for shape {:?}", t.data.len(), t.dims),
                }));
            }
            if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
                return Err(Error::Graph(GraphError {
                    graph: graph.name.clone(),
                    node: name.clone(),
                    op: "constant".into(),
                    reason: format!("holds a non-finite value at flat index {i}"),
                }));
            }
        }
        let consts: HashMap<String, Tensor<4>> = graph
            .constants
            .iter()
            .map(|(k, v)| (k.clone(), to_device(v, device)))
            .collect();
        let biases = conv_biases(&graph, &consts);
        let host = Host::new(&graph, &consts, device);
        Ok(GraphNet {
            layouts: Arc::new(graph.layouts()),
            graph: Arc::new(graph),
            consts,
            biases,
            host,
            device: device.clone(),
            memo: ShapeMemo::default(),
        })
    }

    /// The CPU path's host constants (`None` where it does not serve, or with the kernels
    /// off).
    pub(crate) fn host(&self) -> Option<&Arc<Host>> {
        self.host.as_ref()
    }

    /// How value `name` holds its channels.
    pub fn layout(&self, name: &str) -> Layout {
        self.layouts.get(name).copied().unwrap_or_default()
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The device the constants live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Moves the constants to another device.
    pub fn to_device(self, device: &Device) -> GraphNet {
        let consts: HashMap<String, Tensor<4>> = self
            .consts
            .into_iter()
            .map(|(k, v)| (k, v.to_device(device)))
            .collect();
        let biases = conv_biases(&self.graph, &consts);
        let host = Host::new(&self.graph, &consts, device);
        GraphNet {
            graph: self.graph,
            consts,
            biases,
            host,
            device: device.clone(),
            memo: self.memo,
            layouts: self.layouts,
        }
    }

    /// The same network with the CPU kernels off: every operation on burn's own (the baseline
    /// the kernels are tested and measured against), until it is moved to a device.
    pub fn burn_only(mut self) -> GraphNet {
        self.host = None;
        self
    }

    /// Whether a forward pass to `node` on an input of `dims`, under autodiff on the CPU,
    /// runs on the kernels as one recorded operation (its backward too) rather than op by op
    /// on burn: on burn-flex with the kernels on, for a graph whose nodes on the way are all
    /// ones the kernels run (convolutions, ReLUs, clips, max poolings, channel
    /// concatenations, residual sums, global average pooling, reshapes).
    pub fn runs_on_kernels(&self, dims: [usize; 4], node: &str) -> Result<bool> {
        let g = &*self.graph;
        let last = g.node_index(node).ok_or_else(|| Error::UnknownNode {
            graph: g.name.clone(),
            name: node.to_string(),
        })?;
        let Some(host) = self.host.as_ref().filter(|_| !host::serves(&self.device)) else {
            return Ok(false);
        };
        let shapes = self.check_and_shape(dims)?;
        Ok(tape::serves(g, host, &shapes, last))
    }

    /// The same network with the learned parameters of `nodes` (see
    /// [`Graph::parameters`]) re-initialised as a fresh network's are: weights Gaussian of
    /// zero mean and the trained tensor's own standard deviation (seeded), biases zero, batch
    /// norms the identity (scale 1, shift 0): the randomization of Adebayo et al.'s sanity
    /// checks. Unknown node names are errors.
    pub fn randomized(&self, nodes: &[&str], seed: u64) -> Result<GraphNet> {
        let g = &*self.graph;
        let mut consts = self.consts.clone();
        for (k, name) in nodes.iter().enumerate() {
            let i = g.node_index(name).ok_or_else(|| Error::UnknownNode {
                graph: g.name.clone(),
                name: name.to_string(),
            })?;
            let node = &g.nodes[i];
            let params = g.parameters(node);
            for (j, slot) in node.inputs.iter().enumerate() {
                let Some(t) = params
                    .contains(&slot.as_str())
                    .then(|| g.constants.get(slot))
                    .flatten()
                else {
                    continue;
                };
                let data: Vec<f32> = match (&node.op, j) {
                    (Op::BatchNorm { .. }, 1) => vec![1.0; t.data.len()],
                    (Op::BatchNorm { .. }, _) | (Op::Conv { .. } | Op::Gemm { .. }, 2) => {
                        vec![0.0; t.data.len()]
                    }
                    _ => {
                        let n = t.data.len().max(1) as f64;
                        let mean = t.data.iter().map(|&v| v as f64).sum::<f64>() / n;
                        let var = t
                            .data
                            .iter()
                            .map(|&v| (v as f64 - mean).powi(2))
                            .sum::<f64>()
                            / n;
                        let std = var.sqrt();
                        let mut rng = crate::rng::Rng::new(
                            seed ^ ((k as u64) << 32) ^ (j as u64).wrapping_mul(0x9e37_79b9),
                        );
                        (0..t.data.len())
                            .map(|_| (std * rng.normal()) as f32)
                            .collect()
                    }
                };
                let fresh = super::HostTensor {
                    dims: t.dims.clone(),
                    data,
                };
                consts.insert(slot.clone(), to_device(&fresh, &self.device));
            }
        }
        let biases = conv_biases(g, &consts);
        let host = Host::new(g, &consts, &self.device);
        Ok(GraphNet {
            graph: self.graph.clone(),
            consts,
            biases,
            host,
            device: self.device.clone(),
            memo: self.memo.clone(),
            layouts: self.layouts.clone(),
        })
    }

    /// Runs the graph as far as the last node asked for and returns the outputs of `nodes`
    /// and the pre-activation values of `pre` (names of activation nodes). Unknown names are
    /// errors, checked before any computation.
    pub fn forward(&self, input: Tensor<4>, nodes: &[&str], pre: &[&str]) -> Result<GraphTaps> {
        self.forward_timed(input, nodes, pre, None)
    }

    /// Runs the graph to `node` and says how long each node took (the device synchronised
    /// after each, so the times add up to a slower pass than `forward`'s); a ReLU fused
    /// into its convolution is timed with it, under the ReLU's name.
    pub fn profile(&self, input: Tensor<4>, node: &str) -> Result<Vec<NodeTime>> {
        let mut times = Vec::new();
        let mut on = |i: usize, fused: bool, ms: f64| times.push((i, fused, ms));
        self.forward_timed(input, &[node], &[], Some(&mut on))?;
        let g = &*self.graph;
        Ok(times
            .into_iter()
            .map(|(i, fused, ms)| NodeTime {
                node: g.nodes[i].name.clone(),
                op: g.nodes[i].op_type.clone(),
                fused,
                ms,
            })
            .collect())
    }

    fn forward_timed(
        &self,
        input: Tensor<4>,
        nodes: &[&str],
        pre: &[&str],
        mut timer: Option<&mut dyn FnMut(usize, bool, f64)>,
    ) -> Result<GraphTaps> {
        let g = &*self.graph;
        let shapes = self.check_and_shape(input.dims())?;
        let (want, want_pre) = self.asked(nodes, pre)?;
        let mut taps = GraphTaps::default();
        let Some(last) = want.iter().chain(&want_pre).copied().max() else {
            return Ok(taps);
        };
        // under autodiff on the CPU: the whole way on the kernels, as one recorded operation
        // (for maps held as `[N, C, H, W]` only: the walk knows no other layout)
        if let (Some(h), None, true) = (&self.host, &timer, autodiff::serves(&self.device))
            && self.layouts.is_empty()
        {
            let asked: tape::Asked<'_> = nodes
                .iter()
                .zip(&want)
                .map(|(s, &k)| (*s, g.nodes[k].output.as_str(), false))
                .chain(pre.iter().zip(&want_pre).filter_map(|(s, &k)| {
                    g.nodes[k].inputs.first().map(|x| (*s, x.as_str(), true))
                }))
                .collect();
            if let Some(taps) = tape::forward(g, h, &shapes, &input, last, &asked)
                .map_err(|why| Error::Graph(g.error(&g.nodes[last], why.to_string())))?
            {
                return Ok(taps);
            }
        }
        let fast = self.host.is_some() && host::serves(&self.device);
        let fusion = Fusion::plan(g, &shapes, last, [&want, &want_pre], fast);
        let mut values: HashMap<&str, Tensor<4>> = HashMap::new();
        values.insert(&g.input, input);
        let mut pending: HashMap<usize, Vec<f32>> = HashMap::new();
        let mut fused = None;
        for (i, node) in g.nodes.iter().enumerate().take(last + 1) {
            if fused == Some(i) {
                continue;
            }
            let t0 = std::time::Instant::now();
            let (node, i, out) = match pending.remove(&i) {
                // a concatenation its parts were written into
                Some(buf) => {
                    let d = dims4(shapes.get(&node.output).unwrap_or(&[]));
                    (node, i, Some(host::value(buf, d, &self.device)))
                }
                None => {
                    let ins = self.gather(node, i, &mut values, &fusion.last_use)?;
                    for (asked, _) in pre.iter().zip(&want_pre).filter(|(_, k)| **k == i) {
                        let d = shapes.get(&node.inputs[0]).unwrap_or(&[]);
                        let view = self.layout(&node.inputs[0]).to_nchw(ins[0].clone(), d);
                        taps.pre.insert(asked.to_string(), view);
                    }
                    if fusion.fusable(i) {
                        fused = Some(i + 1);
                    }
                    self.run_fused(i, ins, &fusion, &mut pending, &shapes)?
                }
            };
            if let Some(on) = timer.as_mut() {
                let _ = self.device.sync();
                let inside = fused == Some(i) || fusion.pass_on.contains(&i);
                on(i, inside, t0.elapsed().as_secs_f64() * 1e3);
            }
            let Some(out) = out else {
                continue;
            };
            for (asked, _) in nodes.iter().zip(&want).filter(|(_, k)| **k == i) {
                let d = shapes.get(&node.output).unwrap_or(&[]);
                let layout = self.layout(&node.output);
                if let Some(lead) = layout.leading(out.clone(), d) {
                    taps.leading.insert(asked.to_string(), lead);
                }
                taps.outputs
                    .insert(asked.to_string(), layout.to_nchw(out.clone(), d));
            }
            values.insert(&node.output, out);
        }
        Ok(taps)
    }

    /// The indices of the nodes asked for and of the activations whose pre-activation values
    /// are asked for; unknown names and pre-activations of other nodes are errors.
    fn asked(&self, nodes: &[&str], pre: &[&str]) -> Result<(Vec<usize>, Vec<usize>)> {
        let g = &*self.graph;
        let find = |name: &str| {
            g.node_index(name).ok_or_else(|| Error::UnknownNode {
                graph: g.name.clone(),
                name: name.to_string(),
            })
        };
        let want: Vec<usize> = nodes.iter().map(|s| find(s)).collect::<Result<_>>()?;
        let want_pre: Vec<usize> = pre.iter().map(|s| find(s)).collect::<Result<_>>()?;
        for &i in &want_pre {
            if !g.nodes[i].op.is_activation() {
                return Err(Error::NoPreRelu(g.nodes[i].name.clone()));
            }
        }
        Ok((want, want_pre))
    }

    /// Runs node `i` as `fusion` plans it: a ReLU passing a concatenation on, a convolution
    /// writing into its concatenation's buffer in `pending` (with its ReLU), a convolution with
    /// its ReLU, or the node alone. Returns the node whose value came out (the ReLU, for a
    /// fused one), its index and the value (`None` for a part written into a buffer).
    fn run_fused<'g>(
        &'g self,
        i: usize,
        ins: Vec<Tensor<4>>,
        fusion: &Fusion<'_>,
        pending: &mut HashMap<usize, Vec<f32>>,
        shapes: &Shapes,
    ) -> Result<(&'g Node, usize, Option<Tensor<4>>)> {
        let g = &*self.graph;
        let node = &g.nodes[i];
        let relu = fusion.fusable(i);
        let (last_node, last_i) = match relu {
            true => (&g.nodes[i + 1], i + 1),
            false => (node, i),
        };
        Ok(
            match (&node.op, fusion.slots.get(last_node.output.as_str())) {
                (Op::Relu, _) if fusion.pass_on.contains(&i) => {
                    let x = ins
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::Graph(g.error(node, "an input is missing")))?;
                    (node, i, Some(x))
                }
                (Op::Conv { window, group }, Some(&(c, offset, channels))) => {
                    let slot = Slot {
                        data: pending.entry(c).or_default(),
                        channels,
                        offset,
                    };
                    let relu = relu || fusion.relu_parts.contains(&c);
                    let conv = (window, *group, relu, Some(slot));
                    self.conv(node, conv, ins, shapes)?;
                    (last_node, last_i, None)
                }
                (Op::Conv { window, group }, None) if relu => {
                    let conv = (window, *group, true, None);
                    (last_node, last_i, self.conv(node, conv, ins, shapes)?)
                }
                _ => (node, i, Some(self.run(node, ins, shapes)?)),
            },
        )
    }

    /// Checks an input against the graph and infers every value's shape for it (once per
    /// input size).
    pub(crate) fn check_and_shape(&self, [n, c, h, w]: [usize; 4]) -> Result<Arc<Shapes>> {
        let g = &*self.graph;
        if c != g.input_channels {
            return Err(Error::BadInput(format!(
                "{} takes {} input channels, got {c}",
                g.name, g.input_channels
            )));
        }
        if let Some(hw) = g.input_hw
            && hw != [h, w]
        {
            return Err(Error::BadInput(format!(
                "{} takes a {}x{} input, got {h}x{w}",
                g.name, hw[0], hw[1]
            )));
        }
        let key = [n, h, w];
        if let Ok(memo) = self.memo.lock()
            && let Some((k, shapes)) = memo.as_ref()
            && *k == key
        {
            return Ok(shapes.clone());
        }
        let shapes = Arc::new(g.shapes(n, h, w).map_err(Error::Graph)?);
        // under autodiff the pass keeps its values for a backward: the backward's estimate
        let budget = super::budget::memory_budget();
        g.check_memory(&shapes, [n, c, h, w], budget, self.device.is_autodiff())
            .map_err(Error::Graph)?;
        if let Ok(mut memo) = self.memo.lock() {
            *memo = Some((key, shapes.clone()));
        }
        Ok(shapes)
    }

    /// The tensors of a node's inputs: computed values or constants.
    pub(crate) fn inputs(
        &self,
        node: &Node,
        values: &HashMap<&str, Tensor<4>>,
    ) -> Result<Vec<Tensor<4>>> {
        node.inputs
            .iter()
            .map(|name| match values.get(name.as_str()) {
                Some(t) => Ok(t.clone()),
                None => self.consts.get(name).cloned().ok_or_else(|| {
                    Error::Graph(self.graph.error(node, format!("no value `{name}`")))
                }),
            })
            .collect()
    }

    /// A node's inputs: values (a value's last reader takes it, so a tensor held once can be
    /// updated in place) or constants.
    fn gather<'g>(
        &self,
        node: &'g Node,
        i: usize,
        values: &mut HashMap<&'g str, Tensor<4>>,
        last_use: &HashMap<&str, usize>,
    ) -> Result<Vec<Tensor<4>>> {
        let mut ins = Vec::with_capacity(node.inputs.len());
        for (k, name) in node.inputs.iter().enumerate() {
            let last_reader =
                last_use.get(name.as_str()) == Some(&i) && !node.inputs[k + 1..].contains(name);
            let t = match last_reader {
                true => values.remove(name.as_str()),
                false => values.get(name.as_str()).cloned(),
            };
            match t.or_else(|| self.consts.get(name).cloned()) {
                Some(t) => ins.push(t),
                None => {
                    let why = format!("no value `{name}`");
                    return Err(Error::Graph(self.graph.error(node, why)));
                }
            }
        }
        Ok(ins)
    }

    /// Runs a convolution node (its window, groups, whether a ReLU follows, and where its
    /// output goes: a part of a concatenation, or a value returned), on the CPU path where it
    /// serves and burn otherwise.
    fn conv(
        &self,
        node: &Node,
        (window, group, relu, slot): (&Window, usize, bool, Option<Slot<'_>>),
        ins: Vec<Tensor<4>>,
        shapes: &Shapes,
    ) -> Result<Option<Tensor<4>>> {
        let g = &*self.graph;
        let fail = |why: String| Error::Graph(g.error(node, why));
        let mut ins = ins.into_iter();
        let x = ins
            .next()
            .ok_or_else(|| fail("an input is missing".into()))?;
        let rest: Vec<Tensor<4>> = ins.collect();
        let (x, slot) = match &self.host {
            Some(h) => match h.conv(&node.inputs, window, group, x, relu, slot) {
                Ok(y) => return Ok(y),
                Err(Declined::Failed(why)) => return Err(fail(why)),
                Err(Declined::Burn(x)) => (*x, None),
            },
            None => (x, slot),
        };
        let all = std::iter::once(x).chain(rest).collect();
        let mut y = self.run(node, all, shapes)?;
        if relu {
            y = activation::relu(y);
        }
        match slot {
            Some(s) => match s.fill(y) {
                Ok(()) => Ok(None),
                Err(Declined::Failed(why)) => Err(fail(why)),
                Err(Declined::Burn(_)) => Err(fail("the part was not written".into())),
            },
            None => Ok(Some(y)),
        }
    }

    pub(crate) fn run(
        &self,
        node: &Node,
        ins: Vec<Tensor<4>>,
        shapes: &Shapes,
    ) -> Result<Tensor<4>> {
        let mut call = Call {
            net: self,
            node,
            shapes,
            rest: ins.into_iter(),
        };
        let x = call.next()?;
        call.output(x)
    }
}
