//! Shape inference: every value's dimensions for an input of a given size, with every
//! operand checked, so that the executor meets no shape it cannot handle.

use std::collections::HashMap;

use super::{Graph, GraphError, Node, Op, PadMode, Window};

/// The dimensions of every value of a graph (input, constants, node outputs) for one input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shapes(pub HashMap<String, Vec<usize>>);

impl Shapes {
    /// The dimensions of a value.
    pub fn get(&self, name: &str) -> Option<&[usize]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

/// Normalizes a possibly negative axis for a value of `rank` dimensions.
pub(crate) fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if a < 0 { a + r } else { a };
    (0..r).contains(&a).then_some(a as usize)
}

/// Numpy broadcasting of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let get = |s: &[usize], i: usize| {
        let off = r - s.len();
        if i < off { 1 } else { s[i - off] }
    };
    (0..r)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Applies a window to `[N, C, H, W]`, giving the output `[H, W]` and the resolved pads.
pub(crate) fn window_out(w: &Window, hw: [usize; 2]) -> Option<([usize; 2], [usize; 4])> {
    let pads = w.pads(hw);
    Some((
        [w.out_size(hw[0], 0, pads)?, w.out_size(hw[1], 1, pads)?],
        pads,
    ))
}

impl Graph {
    /// Infers the shape of every value for an input of `[n, C, h, w]`, checking every node.
    pub fn shapes(&self, n: usize, h: usize, w: usize) -> Result<Shapes, GraphError> {
        let mut s: HashMap<String, Vec<usize>> = self
            .constants
            .iter()
            .map(|(k, v)| (k.clone(), v.dims.clone()))
            .collect();
        s.insert(self.input.clone(), vec![n, self.input_channels, h, w]);
        for node in &self.nodes {
            let ins: Vec<&[usize]> = node
                .inputs
                .iter()
                .map(|i| {
                    s.get(i).map(Vec::as_slice).ok_or_else(|| {
                        self.error(node, format!("input `{i}` is not defined before it"))
                    })
                })
                .collect::<Result<_, _>>()?;
            let infer = Infer {
                graph: self,
                node,
                ins: &ins,
            };
            let out = infer.output()?;
            if out.is_empty() || out.len() > 4 {
                return Err(self.error(
                    node,
                    format!("its output has rank {} (deepvis handles 1 to 4)", out.len()),
                ));
            }
            if out.contains(&0) {
                return Err(self.error(node, format!("its output {out:?} is empty")));
            }
            s.insert(node.output.clone(), out);
        }
        Ok(Shapes(s))
    }
}

/// The shape inference of one node: its graph (which names the errors), the node, and the
/// dimensions of its inputs.
struct Infer<'a> {
    graph: &'a Graph,
    node: &'a Node,
    ins: &'a [&'a [usize]],
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
    fn output(&self) -> Result<Vec<usize>, GraphError> {
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
            Op::MatMul => {
                let b = self.ins[1];
                if x.len() != 2 || b.len() != 2 || x[1] != b[0] {
                    return Err(self.fail(format!(
                        "{x:?} x {b:?}: deepvis multiplies two matrices [M, K] x [K, N]"
                    )));
                }
                Ok(vec![x[0], b[1]])
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
            Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Clip { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Dropout
            | Op::Identity => Ok(x.to_vec()),
        }
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
