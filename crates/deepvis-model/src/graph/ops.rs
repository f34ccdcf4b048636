//! What each graph operation computes, in one place: its output's shape (every operand
//! checked, so that the forward meets no shape it cannot handle) and its forward on burn.
//! A new operation is a variant of [`Op`] (in `mod.rs`, with its arity) and an arm in each of
//! the two matches here; its backward is burn's autodiff of the forward unless `backprop.rs`
//! gives it a closed form.

use burn::prelude::*;
use burn::tensor::activation;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::AvgPoolOptions;

use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;

use super::autodiff;
use super::exec::{GraphNet, conv_options, dims4, max_pool_options};
use super::host::{self, Declined};
use super::resize::Resize;
use super::select::{self, view5};
use super::shape::{Shapes, axis, broadcast, window_out};
use super::{Graph, GraphError, Node, Op, PadMode, Padding, Window};
use crate::error::{Error, Result};

// ---- shapes -------------------------------------------------------------------------------
/// The shape inference of one node: its graph (which names the errors), the node, and the
/// dimensions of its inputs.
pub(super) struct Infer<'a> {
    pub(super) graph: &'a Graph,
    pub(super) node: &'a Node,
    pub(super) ins: &'a [&'a [usize]],
    /// The batch size of the pass (an expand to `k` times the batch needs it).
    pub(super) batch: usize,
}

impl Infer<'_> {
    /// The node's error.
    fn fail(&self, reason: impl Into<String>) -> GraphError {
        self.graph.error(self.node, reason)
    }

    /// The first input's dimensions.
    fn x(&self) -> &[usize] {
        self.ins[0]
    }

    /// The first input, which must be `[N, C, H, W]`.
    fn input4(&self) -> Result<&[usize], GraphError> {
        let x = self.x();
        if x.len() == 4 {
            Ok(x)
        } else {
            Err(self.fail(format!("the input must be [N, C, H, W], got {x:?}")))
        }
    }

    fn check_window(&self, w: &Window) -> Result<(), GraphError> {
        if w.kernel.contains(&0) || w.strides.contains(&0) || w.dilations.contains(&0) {
            return Err(self.fail(format!(
                "kernel {:?}, strides {:?} and dilations {:?} must be positive",
                w.kernel, w.strides, w.dilations
            )));
        }
        Ok(())
    }

    /// A normalized axis of the first input.
    fn axis(&self, a: i64) -> Result<usize, GraphError> {
        axis(a, self.x().len()).ok_or_else(|| self.fail(format!("axis {a} out of range")))
    }

    /// The node's output dimensions, its operands checked.
    pub(super) fn output(&self) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        match &self.node.op {
            Op::Conv { window, group } => self.conv(window, *group),
            Op::MaxPool(window) | Op::AveragePool { window, .. } => self.pool(window),
            Op::GlobalAveragePool => {
                let x = self.input4()?;
                Ok(vec![x[0], x[1], 1, 1])
            }
            Op::AdaptiveAvgPool { out } => {
                let x = self.input4()?;
                if out.contains(&0) {
                    return Err(self.fail(format!("output size {out:?} must be positive")));
                }
                Ok(vec![x[0], x[1], out[0], out[1]])
            }
            Op::Lrn { size, .. } => {
                if *size == 0 {
                    return Err(self.fail("size must be positive"));
                }
                Ok(self.input4()?.to_vec())
            }
            Op::BatchNorm { .. } => self.batch_norm(),
            Op::Add | Op::Sub | Op::Mul | Op::Div => broadcast(x, self.ins[1])
                .ok_or_else(|| self.fail(format!("{x:?} and {:?} do not broadcast", self.ins[1]))),
            Op::Concat { axis: a } => self.concat(*a),
            Op::Gemm {
                trans_a, trans_b, ..
            } => self.gemm(*trans_a, *trans_b),
            Op::MatMul => self.matmul(),
            Op::Transpose { perm } => {
                let perm = self.perm(perm)?;
                Ok(perm.iter().map(|&p| x[p]).collect())
            }
            Op::LayerNorm { axis: a, .. } => {
                let ax = self.axis(*a)?;
                let inner: usize = x[ax..].iter().product();
                for (k, p) in self.ins[1..].iter().enumerate() {
                    if p.iter().product::<usize>() != inner || p.len() > x.len() - ax {
                        return Err(self.fail(format!(
                            "operand {} is {p:?}; it must be {:?}",
                            k + 1,
                            &x[ax..]
                        )));
                    }
                }
                Ok(x.to_vec())
            }
            Op::ReduceMean { axes, keepdims } => {
                let reduced = self.axes(axes)?;
                let out: Vec<usize> = (0..x.len())
                    .filter_map(|i| match (reduced.contains(&i), keepdims) {
                        (false, _) => Some(x[i]),
                        (true, true) => Some(1),
                        (true, false) => None,
                    })
                    .collect();
                Ok(out)
            }
            Op::Flatten { axis: a } => {
                let r = x.len() as i64;
                let ax = if *a < 0 { a + r } else { *a };
                if !(0..=r).contains(&ax) {
                    return Err(self.fail(format!("axis {a} out of range")));
                }
                let ax = ax as usize;
                Ok(vec![x[..ax].iter().product(), x[ax..].iter().product()])
            }
            Op::Reshape { shape, allowzero } => self.reshape(shape, *allowzero),
            Op::Softmax { axis: a, .. } => {
                self.axis(*a)?;
                Ok(x.to_vec())
            }
            Op::Pad { pads, mode } => self.pad(pads, *mode),
            Op::Gather { .. } | Op::Slice { .. } | Op::Expand { .. } | Op::Tile { .. } => {
                self.moved()
            }
            Op::Resize(r) => self.resize(r),
            Op::ConvTranspose {
                window,
                group,
                output_padding,
            } => self.conv_transpose(window, *group, *output_padding),
            Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Clip { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Dropout
            | Op::Erf
            | Op::Tanh
            | Op::Pow { .. }
            | Op::Sqrt
            | Op::Reciprocal
            | Op::Gelu { .. }
            | Op::Identity => Ok(x.to_vec()),
        }
    }

    /// The output of an op that moves elements (gather, slice, expand, tile).
    fn moved(&self) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        match &self.node.op {
            Op::Gather {
                axis: a,
                indices,
                index_dims,
            } => {
                let ax = self.axis(*a)?;
                select::gather_indices(indices, x[ax]).map_err(|e| self.fail(e))?;
                if index_dims.iter().product::<usize>() != indices.len() {
                    return Err(self.fail(format!(
                        "{} indices do not fill {index_dims:?}",
                        indices.len()
                    )));
                }
                Ok(select::gather_dims(x, ax, index_dims))
            }
            Op::Slice {
                axes,
                starts,
                ends,
                steps,
            } => select::slice_spans(x, [axes, starts, ends, steps])
                .map(|s| select::slice_dims(&s))
                .map_err(|e| self.fail(e)),
            Op::Expand { shape } => select::expand_dims(x, shape, self.batch)
                .ok_or_else(|| self.fail(format!("{x:?} does not broadcast to {shape:?}"))),
            Op::Tile { repeats } => select::tile_dims(x, repeats)
                .filter(|d| d.len() <= 4)
                .ok_or_else(|| self.fail(format!("repeats {repeats:?} for {x:?}"))),
            _ => Err(self.fail("not an op that moves elements")),
        }
    }

    /// A resize of the last two axes.
    fn resize(&self, r: &Resize) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        let k = x.len();
        if !(2..=4).contains(&k) {
            return Err(self.fail(format!("deepvis resizes the last two axes of {x:?}")));
        }
        let out = r
            .out_hw([x[k - 2], x[k - 1]])
            .ok_or_else(|| self.fail(format!("{:?} gives an empty output for {x:?}", r.to)))?;
        let mut d = x.to_vec();
        d[k - 2] = out[0];
        d[k - 1] = out[1];
        Ok(d)
    }

    /// `[N, I, H, W]` by `[I, O/group, kH, kW]`, the padding cut off the output.
    fn conv_transpose(
        &self,
        window: &Window,
        group: usize,
        output_padding: [usize; 2],
    ) -> Result<Vec<usize>, GraphError> {
        self.check_window(window)?;
        let x = self.input4()?;
        let wt = self.ins[1];
        if wt.len() != 4 || group == 0 || wt[0] != x[1] || !x[1].is_multiple_of(group) {
            return Err(self.fail(format!(
                "the weight {wt:?} does not fit {} input channels in {group} group(s)",
                x[1]
            )));
        }
        let Padding::Explicit(p) = window.padding else {
            return Err(self.fail("automatic padding is not supported here"));
        };
        if p[0] != p[2] || p[1] != p[3] {
            return Err(self.fail(format!(
                "pads {p:?}: deepvis takes the same padding at both ends of an axis"
            )));
        }
        if [wt[2], wt[3]] != window.kernel {
            return Err(self.fail("kernel_shape differs from the weight's"));
        }
        let channels = wt[1] * group;
        if let Some(b) = self.ins.get(2)
            && **b != [channels]
        {
            return Err(self.fail(format!("the bias is {b:?}, expected [{channels}]")));
        }
        let mut out = vec![x[0], channels];
        for i in 0..2 {
            let (s, d, k) = (window.strides[i], window.dilations[i], window.kernel[i]);
            if output_padding[i] >= s.max(d) {
                return Err(self.fail(format!(
                    "output_padding {output_padding:?} must be smaller than the stride or \
                     dilation"
                )));
            }
            let full = (x[2 + i] - 1)
                .saturating_mul(s)
                .saturating_add(d.saturating_mul(k - 1))
                .saturating_add(output_padding[i] + 1);
            out.push(
                full.checked_sub(2 * p[i])
                    .filter(|&o| o > 0)
                    .ok_or_else(|| self.fail("the padding is larger than the output"))?,
            );
        }
        Ok(out)
    }

    /// `[.., M, K] x [.., K, N]`: two matrices, or stacks of them whose leading dimensions
    /// broadcast.
    fn matmul(&self) -> Result<Vec<usize>, GraphError> {
        let (a, b) = (self.x(), self.ins[1]);
        let fail = || {
            self.fail(format!(
                "{a:?} x {b:?}: deepvis multiplies [.., M, K] x [.., K, N] (ranks 2 to 4)"
            ))
        };
        if a.len() < 2 || b.len() < 2 || a[a.len() - 1] != b[b.len() - 2] {
            return Err(fail());
        }
        let mut out = broadcast(&a[..a.len() - 2], &b[..b.len() - 2]).ok_or_else(fail)?;
        out.extend([a[a.len() - 2], b[b.len() - 1]]);
        Ok(out)
    }

    /// A transpose's permutation of the first input's axes, checked (empty: reversed).
    fn perm(&self, perm: &[usize]) -> Result<Vec<usize>, GraphError> {
        let r = self.x().len();
        if perm.is_empty() {
            return Ok((0..r).rev().collect());
        }
        let mut seen = vec![false; r];
        for &p in perm {
            match seen.get_mut(p) {
                Some(s) if !*s => *s = true,
                _ => return Err(self.fail(format!("perm {perm:?} is no permutation of {r} axes"))),
            }
        }
        if perm.len() != r {
            return Err(self.fail(format!("perm {perm:?} is no permutation of {r} axes")));
        }
        Ok(perm.to_vec())
    }

    /// Normalized, distinct axes of the first input (all of them when `axes` is empty).
    pub(super) fn axes(&self, axes: &[i64]) -> Result<Vec<usize>, GraphError> {
        if axes.is_empty() {
            return Ok((0..self.x().len()).collect());
        }
        let mut out = Vec::with_capacity(axes.len());
        for &a in axes {
            let ax = self.axis(a)?;
            if out.contains(&ax) {
                return Err(self.fail(format!("axes {axes:?} name axis {ax} twice")));
            }
            out.push(ax);
        }
        Ok(out)
    }

    fn conv(&self, window: &Window, group: usize) -> Result<Vec<usize>, GraphError> {
        self.check_window(window)?;
        let x = self.input4()?;
        let wt = self.ins[1];
        if wt.len() != 4 {
            return Err(self.fail(format!(
                "the weight must be [O, I/group, kH, kW], got {wt:?}"
            )));
        }
        let g = group;
        if g == 0 || !x[1].is_multiple_of(g) || !wt[0].is_multiple_of(g) || x[1] / g != wt[1] {
            return Err(self.fail(format!(
                "input channels {} and weight {wt:?} do not fit group {g}",
                x[1]
            )));
        }
        if [wt[2], wt[3]] != window.kernel {
            return Err(self.fail(format!(
                "kernel_shape {:?} differs from the weight's {:?}",
                window.kernel,
                [wt[2], wt[3]]
            )));
        }
        if let Some(b) = self.ins.get(2)
            && **b != [wt[0]]
        {
            return Err(self.fail(format!("the bias is {b:?}, expected [{}]", wt[0])));
        }
        let (hw, _) = window_out(window, [x[2], x[3]]).ok_or_else(|| {
            self.fail(format!(
                "the {}x{} input is smaller than the kernel",
                x[2], x[3]
            ))
        })?;
        Ok(vec![x[0], wt[0], hw[0], hw[1]])
    }

    fn pool(&self, window: &Window) -> Result<Vec<usize>, GraphError> {
        self.check_window(window)?;
        let x = self.input4()?;
        let pads = window.pads([x[2], x[3]]);
        if pads[0].max(pads[2]) >= window.kernel[0] || pads[1].max(pads[3]) >= window.kernel[1] {
            return Err(self.fail(format!(
                "pads {pads:?} must be smaller than the kernel {:?}",
                window.kernel
            )));
        }
        let (hw, _) = window_out(window, [x[2], x[3]]).ok_or_else(|| {
            self.fail(format!(
                "the {}x{} input is smaller than the window",
                x[2], x[3]
            ))
        })?;
        Ok(vec![x[0], x[1], hw[0], hw[1]])
    }

    fn batch_norm(&self) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        if x.len() < 2 {
            return Err(self.fail(format!("the input {x:?} has no channel axis")));
        }
        for (k, p) in self.ins[1..].iter().enumerate() {
            if **p != [x[1]] {
                return Err(self.fail(format!("operand {} is {p:?}, expected [{}]", k + 1, x[1])));
            }
        }
        Ok(x.to_vec())
    }

    fn concat(&self, a: i64) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        let ax = self.axis(a)?;
        let mut out = x.to_vec();
        for y in &self.ins[1..] {
            let same = y.len() == x.len()
                && y.iter()
                    .zip(x)
                    .enumerate()
                    .all(|(i, (p, q))| i == ax || p == q);
            if !same {
                return Err(self.fail(format!("{x:?} and {y:?} differ off axis {ax}")));
            }
            out[ax] += y[ax];
        }
        Ok(out)
    }

    fn gemm(&self, trans_a: bool, trans_b: bool) -> Result<Vec<usize>, GraphError> {
        let (x, b) = (self.x(), self.ins[1]);
        if x.len() != 2 || b.len() != 2 {
            return Err(self.fail(format!("A {x:?} and B {b:?} must be matrices")));
        }
        let (m, k) = if trans_a { (x[1], x[0]) } else { (x[0], x[1]) };
        let (k2, nn) = if trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
        if k != k2 {
            return Err(self.fail(format!("A {x:?} and B {b:?} do not multiply")));
        }
        if let Some(c) = self.ins.get(2)
            && broadcast(c, &[m, nn]).as_deref() != Some(&[m, nn][..])
        {
            return Err(self.fail(format!("C {c:?} does not broadcast to [{m}, {nn}]")));
        }
        Ok(vec![m, nn])
    }

    fn reshape(&self, shape: &[i64], allowzero: bool) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        let total: usize = x.iter().product();
        let mut out = Vec::with_capacity(shape.len());
        let mut infer_at = None;
        for (i, &d) in shape.iter().enumerate() {
            match d {
                -1 if infer_at.is_none() => {
                    infer_at = Some(i);
                    out.push(1);
                }
                0 if !allowzero => out.push(*x.get(i).ok_or_else(|| {
                    self.fail(format!("shape {shape:?}: no dimension {i} to copy"))
                })?),
                d if d > 0 => out.push(d as usize),
                _ => return Err(self.fail(format!("shape {shape:?} is not a valid target"))),
            }
        }
        let known: usize = out.iter().product();
        if let Some(i) = infer_at {
            if known == 0 || !total.is_multiple_of(known) {
                return Err(self.fail(format!("cannot reshape {x:?} into {shape:?}")));
            }
            out[i] = total / known;
        } else if known != total {
            return Err(self.fail(format!("cannot reshape {x:?} into {shape:?}")));
        }
        Ok(out)
    }

    fn pad(&self, pads: &[i64], mode: PadMode) -> Result<Vec<usize>, GraphError> {
        let x = self.x();
        let r = x.len();
        if pads.len() != 2 * r {
            return Err(self.fail(format!("{} pads for a rank-{r} input", pads.len())));
        }
        if pads.iter().any(|&p| p < 0) {
            return Err(self.fail(format!(
                "negative pads {pads:?} (cropping) are not supported"
            )));
        }
        let lead = r.saturating_sub(2);
        if (0..lead).any(|i| pads[i] != 0 || pads[r + i] != 0) {
            return Err(self.fail(format!(
                "pads {pads:?}: deepvis pads only the last two axes"
            )));
        }
        let out: Vec<usize> = (0..r)
            .map(|i| x[i] + pads[i] as usize + pads[r + i] as usize)
            .collect();
        if mode == PadMode::Reflect
            && (0..r).any(|i| pads[i] as usize >= x[i] || pads[r + i] as usize >= x[i])
        {
            return Err(self.fail(format!("reflect pads {pads:?} must be smaller than {x:?}")));
        }
        Ok(out)
    }
}

// ---- forward ------------------------------------------------------------------------------

/// One node run on burn: the network, the node, the shapes, and its operands not yet taken.
pub(super) struct Call<'a> {
    pub(super) net: &'a GraphNet,
    pub(super) node: &'a Node,
    pub(super) shapes: &'a Shapes,
    pub(super) rest: std::vec::IntoIter<Tensor<4>>,
}

impl Call<'_> {
    /// The node's error.
    fn fail(&self, why: impl Into<String>) -> Error {
        Error::Graph(self.net.graph.error(self.node, why))
    }

    /// The next operand.
    pub(super) fn next(&mut self) -> Result<Tensor<4>> {
        self.rest
            .next()
            .ok_or_else(|| self.fail("an input is missing"))
    }

    /// The logical dimensions of input `k`.
    fn dims(&self, k: usize) -> Vec<usize> {
        self.shapes
            .get(&self.node.inputs[k])
            .unwrap_or(&[])
            .to_vec()
    }

    /// The output's dimensions, stored as four.
    fn out4(&self) -> [usize; 4] {
        dims4(self.shapes.get(&self.node.output).unwrap_or(&[]))
    }

    /// The node's output given its first operand `x` (the others still to take).
    pub(super) fn output(&mut self, x: Tensor<4>) -> Result<Tensor<4>> {
        Ok(match &self.node.op {
            Op::Conv { window, group } => return self.conv(x, window, *group),
            Op::MaxPool(window) => return self.max_pool(x, window),
            Op::AveragePool {
                window,
                count_include_pad,
            } => avg_pool(x, window, *count_include_pad),
            // rows, then columns: a convolution's output on wgpu is channels-last in memory,
            // where flattening the plane first would copy it
            Op::GlobalAveragePool => x.mean_dim(2).mean_dim(3),
            Op::AdaptiveAvgPool { out } => adaptive_avg_pool2d(x, *out),
            Op::Lrn {
                size,
                alpha,
                beta,
                bias,
            } => lrn(x, *size, [*alpha, *beta, *bias]),
            Op::BatchNorm { epsilon } => self.batch_norm(x, *epsilon)?,
            Op::Add => x + self.next()?,
            Op::Sub => x - self.next()?,
            Op::Mul => x * self.next()?,
            Op::Div => x / self.next()?,
            Op::Concat { axis: a } => {
                let r = self.dims(0).len();
                let ax = axis(*a, r).ok_or_else(|| self.fail("axis out of range"))?;
                let mut all = vec![x];
                all.extend(self.rest.by_ref());
                Tensor::cat(all, ax + 4 - r)
            }
            Op::Gemm {
                alpha,
                beta,
                trans_a,
                trans_b,
            } => self.gemm(x, [*alpha, *beta], [*trans_a, *trans_b])?,
            Op::MatMul => self.matmul(x)?,
            Op::Transpose { perm } => {
                let d = self.dims(0);
                let r = d.len();
                let perm: Vec<usize> = match perm.is_empty() {
                    true => (0..r).rev().collect(),
                    false => perm.clone(),
                };
                if r == 5 {
                    let (y, _) = view5(x, &d);
                    let p = [perm[0], perm[1], perm[2], perm[3], perm[4]];
                    return Ok(y.permute(p).reshape(self.out4()));
                }
                let mut axes = [0usize, 1, 2, 3];
                for (i, p) in perm.iter().enumerate() {
                    axes[4 - r + i] = 4 - r + p;
                }
                x.permute(axes)
            }
            Op::LayerNorm { axis: a, epsilon } => self.layer_norm(x, *a, *epsilon)?,
            Op::ReduceMean { axes, .. } => {
                let r = self.dims(0).len();
                let all: Vec<i64> = (0..r as i64).collect();
                let mut y = x;
                for &a in if axes.is_empty() { &all } else { axes } {
                    let ax = axis(a, r).ok_or_else(|| self.fail("axis out of range"))?;
                    y = y.mean_dim(ax + 4 - r);
                }
                y.reshape(self.out4())
            }
            Op::Erf => x.erf(),
            Op::Tanh => x.tanh(),
            Op::Flatten { .. } | Op::Reshape { .. } => x.reshape(self.out4()),
            Op::Softmax { axis: a, coerce_2d } => self.softmax(x, *a, *coerce_2d)?,
            Op::Pad { pads, mode } => pad(x, self.dims(0).len(), pads, *mode),
            Op::Relu => activation::relu(x),
            Op::LeakyRelu { alpha } => activation::leaky_relu(x, *alpha as f64),
            Op::Clip { min, max } => match self.net.host.is_some() {
                // on the CPU path, in place on the value's own buffer
                true => match host::clamp(x, *min, *max) {
                    Ok(y) => y,
                    Err(Declined::Burn(x)) => x.clamp(*min, *max),
                    Err(Declined::Failed(why)) => return Err(self.fail(why)),
                },
                false => x.clamp(*min, *max),
            },
            Op::Sigmoid => activation::sigmoid(x),
            Op::HardSigmoid { alpha, beta } => (x * *alpha + *beta).clamp(0.0, 1.0),
            Op::HardSwish => x.clone() * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Op::Dropout | Op::Identity => x,
            Op::Gather { .. } | Op::Slice { .. } | Op::Expand { .. } | Op::Tile { .. } => {
                self.moved(x)?
            }
            Op::Resize(r) => self.resize(x, r),
            Op::ConvTranspose {
                window,
                group,
                output_padding,
            } => self.conv_transpose(x, window, *group, *output_padding)?,
            Op::Pow { exponent } => pow(x, *exponent),
            Op::Sqrt => x.sqrt(),
            Op::Reciprocal => x.recip(),
            Op::Gelu { tanh } => gelu(x, *tanh),
        })
    }

    /// An op that moves elements (gather, slice, expand, tile).
    fn moved(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        let d = self.dims(0);
        Ok(match &self.node.op {
            Op::Gather {
                axis: a, indices, ..
            } => {
                let ax = axis(*a, d.len()).ok_or_else(|| self.fail("axis out of range"))?;
                let idx = select::gather_indices(indices, d[ax]).map_err(|e| self.fail(e))?;
                select::gather(x, &d, ax, &idx, self.out4())
            }
            Op::Slice {
                axes,
                starts,
                ends,
                steps,
            } => {
                let spans = select::slice_spans(&d, [axes, starts, ends, steps])
                    .map_err(|e| self.fail(e))?;
                select::slice(x, &d, &spans, self.out4())
            }
            Op::Expand { .. } => x.expand(self.out4()),
            Op::Tile { repeats } => select::tile(x, &d, repeats),
            _ => return Err(self.fail("not an op that moves elements")),
        })
    }

    /// A resize of the last two axes: `Ry . x . Rx^T`.
    fn resize(&self, x: Tensor<4>, r: &Resize) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let [_, _, oh, ow] = self.out4();
        let device = x.device();
        let matrix = |i: usize, len: usize, out: usize| {
            Tensor::<4>::from_data(
                TensorData::new(r.matrix(i, len, out), [1, 1, out, len]),
                &device,
            )
        };
        let y = match ow == w && matches!(r.to, super::ResizeTo::Sizes(_)) {
            true => x,
            false => x.matmul(matrix(1, w, ow).permute([0, 1, 3, 2])),
        };
        match oh == h && matches!(r.to, super::ResizeTo::Sizes(_)) {
            true => y,
            false => matrix(0, h, oh).matmul(y),
        }
    }

    /// A transposed convolution (its weight and optional bias the next operands).
    fn conv_transpose(
        &mut self,
        x: Tensor<4>,
        window: &Window,
        group: usize,
        output_padding: [usize; 2],
    ) -> Result<Tensor<4>> {
        let w = self.next()?;
        let b = self.next().ok().map(|b| {
            let o = b.dims()[3];
            b.reshape([o])
        });
        let p = window.pads([0, 0]);
        let opts = ConvTransposeOptions::new(
            window.strides,
            [p[0], p[1]],
            output_padding,
            window.dilations,
            group,
        );
        Ok(conv_transpose2d(x, w, b, opts))
    }

    /// `[.., M, K] x [.., K, N]`: two matrices as before, a stack against one matrix as one
    /// product of the rows, else burn's batched product (the leading dimensions broadcast).
    fn matmul(&mut self, x: Tensor<4>) -> Result<Tensor<4>> {
        let (da, db) = (self.dims(0), self.dims(1));
        let b = self.next()?;
        if da.len() == 2 && db.len() == 2 {
            let a: Tensor<2> = x.reshape([da[0], da[1]]);
            let b: Tensor<2> = b.reshape([db[0], db[1]]);
            return Ok(a.matmul(b).reshape(self.out4()));
        }
        let k = da[da.len() - 1];
        if db[..db.len() - 2].iter().all(|&d| d == 1) {
            let rows = da.iter().product::<usize>() / k;
            let n = db[db.len() - 1];
            let a = x.reshape([1, 1, rows, k]);
            let b = b.reshape([1, 1, k, n]);
            return Ok(a.matmul(b).reshape(self.out4()));
        }
        Ok(x.matmul(b).reshape(self.out4()))
    }

    /// Layer normalization over the axes from `a` on (its scale and bias the next operands).
    fn layer_norm(&mut self, x: Tensor<4>, a: i64, epsilon: f32) -> Result<Tensor<4>> {
        let d = self.dims(0);
        let r = d.len();
        let ax = axis(a, r).ok_or_else(|| self.fail("axis out of range"))?;
        let inner: usize = d[ax..].iter().product();
        let rows = d[..ax].iter().product::<usize>();
        let y = x.reshape([1, 1, rows, inner]);
        let centred = y.clone() - y.mean_dim(3);
        let var = (centred.clone() * centred.clone()).mean_dim(3);
        let normed = (centred / (var + epsilon).sqrt()).reshape(dims4(&d));
        let scaled = normed * self.next()?;
        Ok(match self.next() {
            Ok(b) => scaled + b,
            Err(_) => scaled,
        })
    }

    /// A convolution: on the CPU path where it serves, else burn's.
    fn conv(&mut self, x: Tensor<4>, window: &Window, group: usize) -> Result<Tensor<4>> {
        let net = self.net;
        let y = match &net.host {
            Some(h) => h.conv(&self.node.inputs, window, group, x, false, None),
            None => Err(Declined::Burn(Box::new(x))),
        };
        let x = match y {
            Ok(Some(y)) => return Ok(y),
            Ok(None) => return Err(self.fail("no output")),
            Err(Declined::Failed(why)) => return Err(self.fail(why)),
            Err(Declined::Burn(x)) => *x,
        };
        let w = self.next()?;
        let b = match self.next() {
            // on the network's own device, the bias prepared once
            Ok(_) if x.device() == net.device => self
                .node
                .inputs
                .get(2)
                .and_then(|n| net.biases.get(n))
                .cloned(),
            Ok(b) => {
                let o = b.dims()[3];
                Some(b.reshape([o]))
            }
            Err(_) => None,
        };
        let [_, _, h, wd] = x.dims();
        let opts = conv_options(window, group, [h, wd])
            .ok_or_else(|| self.fail("the window does not fit"))?;
        Ok(conv2d(x, w, b, opts))
    }

    /// A max pooling: on the kernels (under autodiff, then plain) where the CPU path serves,
    /// else burn's.
    fn max_pool(&self, x: Tensor<4>, window: &Window) -> Result<Tensor<4>> {
        let on_host = self.net.host.is_some();
        let pooled = match on_host {
            true => autodiff::max_pool(window, x),
            false => Err(Declined::Burn(Box::new(x))),
        };
        let x = match pooled {
            Ok(y) => return Ok(y),
            Err(Declined::Failed(why)) => return Err(self.fail(why)),
            Err(Declined::Burn(x)) => *x,
        };
        let x = match on_host {
            true => match host::max_pool(window, x) {
                Ok(y) => return Ok(y),
                Err(Declined::Failed(why)) => return Err(self.fail(why)),
                Err(Declined::Burn(x)) => *x,
            },
            false => x,
        };
        let [_, _, h, wd] = x.dims();
        Ok(max_pool2d(x, max_pool_options(window, [h, wd])))
    }

    /// Inference batch normalization (its scale, shift, mean and variance the next operands).
    fn batch_norm(&mut self, x: Tensor<4>, epsilon: f32) -> Result<Tensor<4>> {
        let r = self.dims(0).len();
        let mut pd = [1usize; 4];
        let ch = 4 - r + 1;
        pd[ch] = x.dims()[ch];
        let scale = self.next()?.reshape(pd);
        let bias = self.next()?.reshape(pd);
        let mean = self.next()?.reshape(pd);
        let var = self.next()?.reshape(pd);
        let k = scale / (var + epsilon).sqrt();
        Ok((x - mean) * k + bias)
    }

    /// `alpha * A' B' + beta * C` (`C` optional).
    fn gemm(
        &mut self,
        x: Tensor<4>,
        [alpha, beta]: [f32; 2],
        [trans_a, trans_b]: [bool; 2],
    ) -> Result<Tensor<4>> {
        let (da, db) = (self.dims(0), self.dims(1));
        let mut a: Tensor<2> = x.reshape([da[0], da[1]]);
        let mut b: Tensor<2> = self.next()?.reshape([db[0], db[1]]);
        if trans_a {
            a = a.transpose();
        }
        if trans_b {
            b = b.transpose();
        }
        let mut y = a.matmul(b);
        if alpha != 1.0 {
            y = y * alpha;
        }
        let y4 = y.reshape(self.out4());
        Ok(match self.next() {
            Ok(c) if beta == 1.0 => y4 + c,
            Ok(c) => y4 + c * beta,
            Err(_) => y4,
        })
    }

    /// Softmax along axis `a` (with `coerce_2d`, over everything from it on).
    fn softmax(&self, x: Tensor<4>, a: i64, coerce_2d: bool) -> Result<Tensor<4>> {
        let d = self.dims(0);
        let r = d.len();
        let ax = axis(a, r).ok_or_else(|| self.fail("axis out of range"))?;
        // over the axis (with coerce_2d, over everything from it on); where nothing
        // follows that span it is the last axis of a `[rows, cols]` view, which reduces
        // along contiguous memory (on wgpu a reduction over an inner axis of a rank-4
        // value is twice as slow)
        let rows: usize = d[..ax].iter().product();
        let (cols, inner) = match coerce_2d {
            true => (d[ax..].iter().product::<usize>(), 1),
            false => (d[ax], d[ax + 1..].iter().product::<usize>()),
        };
        Ok(if inner == 1 {
            activation::softmax(x.reshape([1, 1, rows, cols]), 3).reshape(dims4(&d))
        } else {
            activation::softmax(x, ax + 4 - r)
        })
    }
}

/// GELU, `x * Phi(x)` (`tanh`: PyTorch's tanh approximation).
fn gelu(x: Tensor<4>, tanh: bool) -> Tensor<4> {
    match tanh {
        false => x.clone() * ((x * std::f32::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5,
        true => {
            let inner = (x.clone() + x.clone().powi_scalar(3) * 0.044715)
                * (2.0 / std::f32::consts::PI).sqrt();
            x * (inner.tanh() + 1.0) * 0.5
        }
    }
}

/// `x` to the power `e`: squares and other whole powers as products (defined for negative
/// bases on every device), the others as `powf`.
fn pow(x: Tensor<4>, e: f32) -> Tensor<4> {
    match e {
        1.0 => x,
        2.0 => x.clone() * x,
        0.5 => x.sqrt(),
        e if e.fract() == 0.0 && e.abs() <= 64.0 => x.powi_scalar(e as i32),
        e => x.powf_scalar(e),
    }
}

/// Average pooling.
fn avg_pool(x: Tensor<4>, window: &Window, count_include_pad: bool) -> Tensor<4> {
    let [_, _, h, wd] = x.dims();
    let p = window.pads([h, wd]);
    let opts = AvgPoolOptions::new(window.kernel)
        .with_stride(window.strides)
        .with_padding_pairs([(p[0], p[2]), (p[1], p[3])])
        .with_count_include_pad(count_include_pad)
        .with_ceil_mode(window.ceil);
    avg_pool2d(x, opts)
}

/// Local response normalization across `size` channels, `[alpha, beta, bias]`.
fn lrn(x: Tensor<4>, size: usize, [alpha, beta, bias]: [f32; 3]) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let lo = (size - 1) / 2;
    let hi = size - 1 - lo;
    let sq = (x.clone() * x.clone()).reshape([n, 1, c, h * w]);
    let opts = AvgPoolOptions::new([size, 1])
        .with_stride([1, 1])
        .with_padding_pairs([(lo, hi), (0, 0)])
        .with_count_include_pad(true);
    let sum = avg_pool2d(sq, opts).reshape([n, c, h, w]) * (size as f32);
    let denom = (sum * (alpha / size as f32) + bias).powf_scalar(beta);
    x / denom
}

/// Padding of a rank-`r` value (`pads` as ONNX orders them).
fn pad(x: Tensor<4>, r: usize, pads: &[i64], mode: PadMode) -> Tensor<4> {
    let mut pairs = [(0usize, 0usize); 4];
    for i in 0..r {
        pairs[4 - r + i] = (pads[i] as usize, pads[r + i] as usize);
    }
    let mode = match mode {
        PadMode::Constant(v) => burn::tensor::ops::PadMode::Constant(v),
        PadMode::Reflect => burn::tensor::ops::PadMode::Reflect,
        PadMode::Edge => burn::tensor::ops::PadMode::Edge,
    };
    x.pad(pairs, mode)
}
