//! Shape inference: every value's dimensions for an input of a given size, with every
//! operand checked, so that the executor meets no shape it cannot handle.

use std::collections::HashMap;

use super::{Graph, GraphError, Node, Op, Window};

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

fn check_window(w: &Window) -> Result<(), String> {
    if w.kernel.contains(&0) || w.strides.contains(&0) || w.dilations.contains(&0) {
        return Err(format!(
            "kernel {:?}, strides {:?} and dilations {:?} must be positive",
            w.kernel, w.strides, w.dilations
        ));
    }
    Ok(())
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
            let out = infer(node, &ins).map_err(|r| self.error(node, r))?;
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

fn rank4<'a>(x: &'a [usize], what: &str) -> Result<&'a [usize], String> {
    if x.len() == 4 {
        Ok(x)
    } else {
        Err(format!("{what} must be [N, C, H, W], got {x:?}"))
    }
}

fn infer(node: &Node, ins: &[&[usize]]) -> Result<Vec<usize>, String> {
    let x = ins[0];
    match &node.op {
        Op::Conv { window, group } => {
            check_window(window)?;
            let x = rank4(x, "the input")?;
            let wt = ins[1];
            if wt.len() != 4 {
                return Err(format!(
                    "the weight must be [O, I/group, kH, kW], got {wt:?}"
                ));
            }
            let g = *group;
            if g == 0 || !x[1].is_multiple_of(g) || !wt[0].is_multiple_of(g) || x[1] / g != wt[1] {
                return Err(format!(
                    "input channels {} and weight {wt:?} do not fit group {g}",
                    x[1]
                ));
            }
            if [wt[2], wt[3]] != window.kernel {
                return Err(format!(
                    "kernel_shape {:?} differs from the weight's {:?}",
                    window.kernel,
                    [wt[2], wt[3]]
                ));
            }
            if let Some(b) = ins.get(2)
                && **b != [wt[0]]
            {
                return Err(format!("the bias is {b:?}, expected [{}]", wt[0]));
            }
            let (hw, _) = window_out(window, [x[2], x[3]])
                .ok_or_else(|| format!("the {}x{} input is smaller than the kernel", x[2], x[3]))?;
            Ok(vec![x[0], wt[0], hw[0], hw[1]])
        }
        Op::MaxPool(window) | Op::AveragePool { window, .. } => {
            check_window(window)?;
            let x = rank4(x, "the input")?;
            let pads = window.pads([x[2], x[3]]);
            if pads[0].max(pads[2]) >= window.kernel[0] || pads[1].max(pads[3]) >= window.kernel[1]
            {
                return Err(format!(
                    "pads {pads:?} must be smaller than the kernel {:?}",
                    window.kernel
                ));
            }
            let (hw, _) = window_out(window, [x[2], x[3]])
                .ok_or_else(|| format!("the {}x{} input is smaller than the window", x[2], x[3]))?;
            Ok(vec![x[0], x[1], hw[0], hw[1]])
        }
        Op::GlobalAveragePool => {
            let x = rank4(x, "the input")?;
            Ok(vec![x[0], x[1], 1, 1])
        }
        Op::AdaptiveAvgPool { out } => {
            let x = rank4(x, "the input")?;
            if out.contains(&0) {
                return Err(format!("output size {out:?} must be positive"));
            }
            Ok(vec![x[0], x[1], out[0], out[1]])
        }
        Op::Lrn { size, .. } => {
            if *size == 0 {
                return Err("size must be positive".into());
            }
            Ok(rank4(x, "the input")?.to_vec())
        }
        Op::BatchNorm { .. } => {
            if x.len() < 2 {
                return Err(format!("the input {x:?} has no channel axis"));
            }
            for (k, p) in ins[1..].iter().enumerate() {
                if **p != [x[1]] {
                    return Err(format!("operand {} is {p:?}, expected [{}]", k + 1, x[1]));
                }
            }
            Ok(x.to_vec())
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            broadcast(x, ins[1]).ok_or_else(|| format!("{x:?} and {:?} do not broadcast", ins[1]))
        }
        Op::Concat { axis: a } => {
            let ax = axis(*a, x.len()).ok_or_else(|| format!("axis {a} out of range"))?;
            let mut out = x.to_vec();
            for y in &ins[1..] {
                let same = y.len() == x.len()
                    && y.iter()
                        .zip(x)
                        .enumerate()
                        .all(|(i, (p, q))| i == ax || p == q);
                if !same {
                    return Err(format!("{x:?} and {y:?} differ off axis {ax}"));
                }
                out[ax] += y[ax];
            }
            Ok(out)
        }
        Op::Gemm {
            trans_a, trans_b, ..
        } => {
            let b = ins[1];
            if x.len() != 2 || b.len() != 2 {
                return Err(format!("A {x:?} and B {b:?} must be matrices"));
            }
            let (m, k) = if *trans_a { (x[1], x[0]) } else { (x[0], x[1]) };
            let (k2, nn) = if *trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
            if k != k2 {
                return Err(format!("A {x:?} and B {b:?} do not multiply"));
            }
            if let Some(c) = ins.get(2)
                && broadcast(c, &[m, nn]).as_deref() != Some(&[m, nn][..])
            {
                return Err(format!("C {c:?} does not broadcast to [{m}, {nn}]"));
            }
            Ok(vec![m, nn])
        }
        Op::MatMul => {
            let b = ins[1];
            if x.len() != 2 || b.len() != 2 || x[1] != b[0] {
                return Err(format!(
                    "{x:?} x {b:?}: deepvis multiplies two matrices [M, K] x [K, N]"
                ));
            }
            Ok(vec![x[0], b[1]])
        }
        Op::Flatten { axis: a } => {
            let r = x.len() as i64;
            let ax = if *a < 0 { a + r } else { *a };
            if !(0..=r).contains(&ax) {
                return Err(format!("axis {a} out of range"));
            }
            let ax = ax as usize;
            Ok(vec![x[..ax].iter().product(), x[ax..].iter().product()])
        }
        Op::Reshape { shape, allowzero } => {
            let total: usize = x.iter().product();
            let mut out = Vec::with_capacity(shape.len());
            let mut infer_at = None;
            for (i, &d) in shape.iter().enumerate() {
                match d {
                    -1 if infer_at.is_none() => {
                        infer_at = Some(i);
                        out.push(1);
                    }
                    0 if !allowzero => out.push(
                        *x.get(i)
                            .ok_or_else(|| format!("shape {shape:?}: no dimension {i} to copy"))?,
                    ),
                    d if d > 0 => out.push(d as usize),
                    _ => return Err(format!("shape {shape:?} is not a valid target")),
                }
            }
            let known: usize = out.iter().product();
            if let Some(i) = infer_at {
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(format!("cannot reshape {x:?} into {shape:?}"));
                }
                out[i] = total / known;
            } else if known != total {
                return Err(format!("cannot reshape {x:?} into {shape:?}"));
            }
            Ok(out)
        }
        Op::Softmax { axis: a, .. } => {
            axis(*a, x.len()).ok_or_else(|| format!("axis {a} out of range"))?;
            Ok(x.to_vec())
        }
        Op::Pad { pads, mode } => {
            let r = x.len();
            if pads.len() != 2 * r {
                return Err(format!("{} pads for a rank-{r} input", pads.len()));
            }
            if pads.iter().any(|&p| p < 0) {
                return Err(format!(
                    "negative pads {pads:?} (cropping) are not supported"
                ));
            }
            let lead = r.saturating_sub(2);
            if (0..lead).any(|i| pads[i] != 0 || pads[r + i] != 0) {
                return Err(format!(
                    "pads {pads:?}: deepvis pads only the last two axes"
                ));
            }
            let out: Vec<usize> = (0..r)
                .map(|i| x[i] + pads[i] as usize + pads[r + i] as usize)
                .collect();
            if *mode == super::PadMode::Reflect
                && (0..r).any(|i| pads[i] as usize >= x[i] || pads[r + i] as usize >= x[i])
            {
                return Err(format!("reflect pads {pads:?} must be smaller than {x:?}"));
            }
            Ok(out)
        }
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
