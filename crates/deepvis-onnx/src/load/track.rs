//! The reader's side of folding: the dimensions of every value as the nodes are read (for a
//! batch of 1 and of 2 at the input size folded for), the nodes evaluated on the host, and the
//! folded integers turned into the ops' own parameters.

use deepvis_model::graph::{Extent, Graph, Node};
use deepvis_model::preprocess::MAX_INPUT_SIDE;

use super::fold::{self, Folded, Host, Sym};
use super::{DEFAULT_FOLD_SIDE, Reader, Tracker, attr};
use crate::error::{OnnxError, Result};
use crate::proto::{GraphProto, NodeProto};

/// Float operands above this many values are left to the graph (a position table), not
/// folded on the host.
const FOLD_FLOATS: usize = 1 << 16;

impl Reader<'_> {
    /// The error of a node whose shape arithmetic cannot be folded.
    pub(super) fn not_foldable(&self, n: &NodeProto, reason: impl Into<String>) -> OnnxError {
        OnnxError::NotFoldable {
            path: self.path.to_path_buf(),
            node: super::node_name(n),
            op: n.op_type.clone(),
            h: self.shapes.hw[0],
            w: self.shapes.hw[1],
            reason: reason.into(),
        }
    }

    /// Starts following dimensions from the graph's input (`channels`, `declared` the size
    /// the file fixes); returns the size the graph is for ([`Graph::input_hw`]).
    pub(super) fn start_tracking(
        &mut self,
        g: &GraphProto,
        input: &str,
        channels: usize,
        declared: Option<[usize; 2]>,
    ) -> Result<Option<[usize; 2]>> {
        let needed = g
            .node
            .iter()
            .any(|n| matches!(n.op_type.as_str(), "Shape" | "Size"));
        let hw = match (needed, self.at, declared) {
            (true, Some(at), _) => at,
            (_, _, Some(d)) => d,
            (_, Some(at), None) => at,
            (_, None, None) => [DEFAULT_FOLD_SIDE; 2],
        };
        if hw.contains(&0) || hw[0].max(hw[1]) > MAX_INPUT_SIDE {
            return Err(OnnxError::Input {
                path: self.path.to_path_buf(),
                reason: format!(
                    "an input of {}x{}: deepvis feeds inputs of 1x1 to \
                     {MAX_INPUT_SIDE}x{MAX_INPUT_SIDE}",
                    hw[0], hw[1]
                ),
            });
        }
        let name = self
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut dims = std::collections::HashMap::new();
        dims.insert(
            input.to_string(),
            [1, 2].map(|b| vec![b, channels, hw[0], hw[1]]),
        );
        self.shapes = Tracker {
            stub: Graph {
                name,
                ..Graph::default()
            },
            dims,
            needed,
            on: true,
            hw,
        };
        Ok(match needed {
            true => Some(hw),
            false => declared,
        })
    }

    /// The dimensions of value `v` for a batch of 1 (`k` 0) or 2 (`k` 1).
    fn dims_at(&self, v: &str, k: usize) -> Option<&[usize]> {
        match self.floats.get(v) {
            Some(t) => Some(&t.dims),
            None => match self.ints.get(v) {
                Some(i) => Some(&i.dims),
                None => self.shapes.dims.get(v).map(|d| d[k].as_slice()),
            },
        }
    }

    /// The dimensions of value `v` in the batch size, where they are followed.
    pub(super) fn sym_dims(&self, v: &str) -> Option<Vec<Sym>> {
        let (a, b) = (self.dims_at(v, 0)?, self.dims_at(v, 1)?);
        (a.len() == b.len()).then(|| {
            a.iter()
                .zip(b)
                .map(|(&p, &q)| Sym::from_two(p, q))
                .collect()
        })
    }

    /// Records the output dimensions of `node` (a node of the graph being built).
    pub(super) fn track(&mut self, node: &Node) -> Result<()> {
        if !self.shapes.on {
            return Ok(());
        }
        let mut out: [Vec<usize>; 2] = Default::default();
        for (k, batch) in [1, 2].into_iter().enumerate() {
            let ins: Option<Vec<&[usize]>> =
                node.inputs.iter().map(|i| self.dims_at(i, k)).collect();
            let inferred = match ins {
                Some(ins) => self.shapes.stub.infer_node(node, &ins, batch),
                None => {
                    self.shapes.on = false;
                    return Ok(());
                }
            };
            match inferred {
                Ok(d) => out[k] = d,
                Err(e) if self.shapes.needed => {
                    return Err(OnnxError::Graph {
                        path: self.path.to_path_buf(),
                        source: Box::new(deepvis_model::Error::Graph(e)),
                    });
                }
                Err(_) => {
                    self.shapes.on = false;
                    return Ok(());
                }
            }
        }
        self.shapes.dims.insert(node.output.clone(), out);
        Ok(())
    }

    /// Operand `name` as a constant of the evaluator, if it is one.
    fn host(&self, name: &str) -> Option<Host> {
        match self.ints.get(name) {
            Some(i) => Some(Host::from(i)),
            None => self.floats.get(name).map(Host::from),
        }
    }

    /// Evaluates node `n` on the host when its operands are known (every `Shape`, and the
    /// arithmetic on constants); `false` leaves it to the graph.
    pub(super) fn try_fold(&mut self, n: &NodeProto) -> Result<bool> {
        let op = n.op_type.as_str();
        if !fold::is_host_op(op) {
            return Ok(false);
        }
        let must = fold::must_fold(op);
        let mut ins = Vec::with_capacity(n.input.len());
        for (k, name) in n.input.iter().enumerate() {
            if name.is_empty() {
                ins.push(None);
                continue;
            }
            let h = match (op, k) {
                ("Shape" | "Size", 0) => self.shape_of(n, name)?,
                _ => self.host(name),
            };
            match h {
                Some(h) => ins.push(Some(h)),
                None if must => {
                    return Err(
                        self.not_foldable(n, format!("operand `{name}` is computed from the data"))
                    );
                }
                None => return Ok(false),
            }
        }
        let floats: usize = n
            .input
            .iter()
            .filter_map(|i| self.floats.get(i))
            .map(|t| t.data.len())
            .sum();
        if !must && floats > FOLD_FLOATS {
            return Ok(false);
        }
        // an op on constants that the host cannot fold for every batch size (an expand to
        // [N, 1, 1]) is left to the graph; shape arithmetic must fold
        let value = match fold::eval(n, &ins, self.opset) {
            Ok(v) => v,
            Err(e) if must => return Err(self.not_foldable(n, e)),
            Err(_) => return Ok(false),
        };
        let out = n
            .output
            .first()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| self.bad(n, "no output"))?
            .clone();
        match value.into_folded().map_err(|e| self.not_foldable(n, e))? {
            Folded::Floats(t) => {
                self.floats.insert(out, t);
            }
            Folded::Ints(i) => {
                // a fixed integer is also usable as a float operand
                if let Some(v) = i.known()
                    && !i.boolean
                {
                    let f = deepvis_model::graph::HostTensor::new(
                        i.dims.clone(),
                        v.iter().map(|&x| x as f32).collect(),
                    );
                    if let Some(f) = f {
                        self.floats.insert(out.clone(), f);
                    }
                }
                self.ints.insert(out, i);
            }
        }
        Ok(true)
    }

    /// `Shape` of value `name` (its `start` and `end` attributes applied).
    fn shape_of(&self, n: &NodeProto, name: &str) -> Result<Option<Host>> {
        let dims = self.sym_dims(name).ok_or_else(|| {
            self.not_foldable(n, format!("the dimensions of `{name}` are not known here"))
        })?;
        let r = dims.len() as i64;
        let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let (start, end) = match n.op_type.as_str() {
            "Shape" => (
                clampi(attr(n, "start").map(|a| a.i).unwrap_or(0)),
                clampi(attr(n, "end").map(|a| a.i).unwrap_or(r)),
            ),
            _ => (0, r as usize),
        };
        Ok(Some(Host::shape_of(&dims[start..end.max(start)])))
    }

    /// A folded integer operand (`k`) with its values in the batch size.
    pub(super) fn sym_operand(&self, n: &NodeProto, k: usize, what: &str) -> Result<Vec<Sym>> {
        let name = n
            .input
            .get(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.bad(n, format!("no {what}")))?;
        self.ints.get(name).map(|i| i.data.clone()).ok_or_else(|| {
            self.not_foldable(
                n,
                format!("{what} `{name}` is computed from the data, not from shapes"),
            )
        })
    }

    /// A reshape target in the batch size as [`Op::Reshape`] takes it: a dimension that is
    /// the batch size where the input has it is `0` (copied), another that depends on the
    /// batch `-1` (inferred) where the target has no `-1`.
    ///
    /// [`Op::Reshape`]: deepvis_model::graph::Op::Reshape
    pub(super) fn reshape_target(
        &self,
        n: &NodeProto,
        target: &[Sym],
        allowzero: bool,
    ) -> Result<Vec<i64>> {
        if let Some(t) = target
            .iter()
            .map(|s| s.known())
            .collect::<Option<Vec<i64>>>()
        {
            return Ok(t);
        }
        let input = self.sym_dims(&n.input[0]).unwrap_or_default();
        let mut inferred = target.iter().any(|s| s.known() == Some(-1));
        let mut out = Vec::with_capacity(target.len());
        for (i, s) in target.iter().enumerate() {
            out.push(match s.known() {
                Some(v) => v,
                None if !allowzero && input.get(i) == Some(s) => 0,
                None if !inferred => {
                    inferred = true;
                    -1
                }
                None => {
                    return Err(self.not_foldable(
                        n,
                        format!(
                            "the target [{}] depends on the batch size in more than one \
                             dimension",
                            target
                                .iter()
                                .map(Sym::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            });
        }
        Ok(out)
    }

    /// Dimensions in the batch size as an [`Extent`] each (an expand's target).
    pub(super) fn extents(&self, n: &NodeProto, dims: &[Sym]) -> Result<Vec<Extent>> {
        dims.iter()
            .map(|s| match (s.per_batch, s.fixed) {
                (0, c) if c >= 0 => Ok(Extent::Fixed(c as usize)),
                (b, 0) if b > 0 => Ok(Extent::Batch(b as usize)),
                _ => Err(self.not_foldable(n, format!("the dimension {s} is not a size"))),
            })
            .collect()
    }
}
