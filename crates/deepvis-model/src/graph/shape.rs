//! Shape inference: every value's dimensions for an input of a given size, with every
//! operand checked, so that the executor meets no shape it cannot handle.

use std::collections::HashMap;

use super::ops::Infer;
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

/// Numpy broadcasting of two shapes (`None`: they do not broadcast).
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
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
            let out = self.infer_node(node, &ins, n)?;
            s.insert(node.output.clone(), out);
        }
        Ok(Shapes(s))
    }

    /// The output dimensions of `node` (of this graph, or one being built) whose inputs have
    /// the dimensions `ins`, in a pass over a batch of `batch`; every operand checked.
    pub fn infer_node(
        &self,
        node: &Node,
        ins: &[&[usize]],
        batch: usize,
    ) -> Result<Vec<usize>, GraphError> {
        if !node.op.arity().contains(&ins.len()) {
            return Err(self.error(node, format!("has {} input(s)", ins.len())));
        }
        if let Some(d) = ins.iter().find(|d| d.len() > 5) {
            return Err(self.error(
                node,
                format!("an input has rank {} (deepvis handles 1 to 5)", d.len()),
            ));
        }
        if ins.iter().any(|d| d.len() > 4) && !takes_rank5(&node.op, ins) {
            return Err(self.error(
                node,
                format!(
                    "an input has rank 5 ({ins:?}); deepvis takes rank 5 only in reshape, \
                     transpose, gather, slice and elementwise ops"
                ),
            ));
        }
        let infer = Infer {
            graph: self,
            node,
            ins,
            batch,
        };
        let out = infer.output()?;
        if out.is_empty() || out.len() > 5 {
            return Err(self.error(
                node,
                format!("its output has rank {} (deepvis handles 1 to 5)", out.len()),
            ));
        }
        if out.contains(&0) {
            return Err(self.error(node, format!("its output {out:?} is empty")));
        }
        Ok(out)
    }
}

/// Whether `op` takes rank-5 operands `ins` (stored with their first two dimensions merged):
/// the ops that move elements, elementwise ones, and sums and products whose rank-5 operands
/// are alike and whose others leave the merged dimensions alone.
fn takes_rank5(op: &Op, ins: &[&[usize]]) -> bool {
    match op {
        Op::Reshape { .. }
        | Op::Flatten { .. }
        | Op::Transpose { .. }
        | Op::Gather { .. }
        | Op::Slice { .. }
        | Op::Identity
        | Op::Dropout
        | Op::Relu
        | Op::LeakyRelu { .. }
        | Op::Clip { .. }
        | Op::Sigmoid
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::Erf
        | Op::Tanh
        | Op::Sqrt
        | Op::Reciprocal
        | Op::Pow { .. }
        | Op::Gelu { .. } => ins.len() == 1,
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            let big: Vec<&&[usize]> = ins.iter().filter(|d| d.len() == 5).collect();
            big.windows(2).all(|w| w[0] == w[1]) && ins.iter().all(|d| d.len() == 5 || d.len() <= 3)
        }
        _ => false,
    }
}
