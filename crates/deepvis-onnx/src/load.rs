//! From ONNX protobuf messages to a [`Graph`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use deepvis_model::fsguard;
use deepvis_model::graph::budget::memory_budget;
use deepvis_model::graph::{Graph, HostTensor, Node, Padding, Window};
use deepvis_model::preprocess::MAX_INPUT_SIDE;
use fold::Ints;
use prost::Message;

use crate::error::{OnnxError, Result};
use crate::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, dtype};

mod fold;
mod ops;
mod track;

/// The default-domain opsets deepvis reads.
pub const OPSETS: RangeInclusive<i64> = 9..=20;

/// The input side shape arithmetic is folded for when neither the caller nor the file says.
pub const DEFAULT_FOLD_SIDE: usize = 224;

/// An ONNX file read into a graph.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// The graph (named after the file).
    pub graph: Graph,
    /// The default-domain opset.
    pub opset: i64,
    /// Who wrote the file (`pytorch`, `onnx.helper`, ...).
    pub producer: String,
}

/// Reads and converts an ONNX file; external data files are looked for beside it. Shape
/// arithmetic is folded for the input size the file fixes (else 224x224): see [`load_at`].
pub fn load(path: &Path) -> Result<OnnxModel> {
    load_at(path, None)
}

/// Reads and converts an ONNX file for an input of `hw` (`None`: the size the file fixes,
/// else 224x224). A graph that computes shapes (`Shape`, as PyTorch's exporter writes a
/// reshape's target, an expand's or a resize's size) has them folded to constants for that
/// size, and its [`Graph::input_hw`] is then that size: to run it at another size, load it
/// again at that size. A graph that computes no shapes keeps the size its file fixes, or
/// takes any size when the file fixes none (`hw` changes nothing there).
pub fn load_at(path: &Path, hw: Option<[usize; 2]>) -> Result<OnnxModel> {
    // only a regular file (a pipe or a link to /dev/zero is refused), of a bounded size
    let bytes = fsguard::read_regular(path, fsguard::MAX_MODEL_FILE_BYTES).map_err(|source| {
        OnnxError::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    read_bytes_at(&bytes, path, hw)
}

/// Converts the bytes of an ONNX file; `path` names it in messages and locates external data.
pub fn read_bytes(bytes: &[u8], path: &Path) -> Result<OnnxModel> {
    read_bytes_at(bytes, path, None)
}

/// [`read_bytes`] for an input of `hw` (see [`load_at`]).
pub fn read_bytes_at(bytes: &[u8], path: &Path, hw: Option<[usize; 2]>) -> Result<OnnxModel> {
    let not_onnx = |reason: String| OnnxError::NotOnnx {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(not_onnx("the file is empty".into()));
    }
    let model = ModelProto::decode(bytes).map_err(|e| not_onnx(format!("protobuf: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("it holds no graph".into()))?;
    if graph.node.is_empty() {
        return Err(not_onnx("its graph has no nodes".into()));
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| not_onnx("it imports no default-domain operator set".into()))?;
    if !OPSETS.contains(&opset) {
        return Err(OnnxError::Opset {
            path: path.to_path_buf(),
            found: opset,
            lo: *OPSETS.start(),
            hi: *OPSETS.end(),
        });
    }
    let mut r = Reader {
        path,
        dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        opset,
        floats: HashMap::new(),
        ints: HashMap::new(),
        shapes: Tracker::default(),
        at: hw,
    };
    let g = r.graph(graph)?;
    Ok(OnnxModel {
        graph: g,
        opset,
        producer: model.producer_name.clone(),
    })
}

struct Reader<'a> {
    path: &'a Path,
    dir: PathBuf,
    opset: i64,
    floats: HashMap<String, HostTensor>,
    /// Integer and boolean constants: the file's, and the folded shape arithmetic.
    ints: HashMap<String, Ints>,
    /// The dimensions of the graph's values as the nodes are read.
    shapes: Tracker,
    /// The input size asked for.
    at: Option<[usize; 2]>,
}

/// The dimensions of every value of the graph being read, for a batch of 1 and of 2 at the
/// input size folded for (from the two, a dimension is a [`Sym`] in the batch size).
#[derive(Default)]
struct Tracker {
    /// The graph so far (its name names inference errors).
    stub: Graph,
    /// `[batch 1, batch 2]` dimensions by value.
    dims: HashMap<String, [Vec<usize>; 2]>,
    /// Whether the file computes shapes (then every value's dimensions must be known).
    needed: bool,
    /// Whether dimensions are still followed (a graph that computes no shapes stops at the
    /// first node it cannot infer, as before: the error comes when it runs).
    on: bool,
    /// The `[H, W]` folded for.
    hw: [usize; 2],
}

/// Values of a tensor before they are sorted into float and integer constants.
enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

impl Reader<'_> {
    fn bad(&self, node: &NodeProto, reason: impl Into<String>) -> OnnxError {
        OnnxError::BadNode {
            path: self.path.to_path_buf(),
            node: node_name(node),
            op: node.op_type.clone(),
            reason: reason.into(),
        }
    }

    fn tensor_err(&self, t: &str, reason: impl Into<String>) -> OnnxError {
        OnnxError::Tensor {
            path: self.path.to_path_buf(),
            tensor: t.to_string(),
            reason: reason.into(),
        }
    }

    fn graph(&mut self, g: &GraphProto) -> Result<Graph> {
        for t in &g.initializer {
            let v = self.values(t)?;
            self.store(&t.name, t, v)?;
        }
        let inputs: Vec<_> = g
            .input
            .iter()
            .filter(|i| !self.floats.contains_key(&i.name) && !self.ints.contains_key(&i.name))
            .collect();
        let input = match inputs.as_slice() {
            [one] => *one,
            [] => {
                return Err(OnnxError::Input {
                    path: self.path.to_path_buf(),
                    reason: "the graph has no input".into(),
                });
            }
            many => {
                return Err(OnnxError::Input {
                    path: self.path.to_path_buf(),
                    reason: format!(
                        "the graph has {} inputs ({}); deepvis feeds one image batch",
                        many.len(),
                        many.iter()
                            .map(|i| i.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        };
        let (channels, declared) = self.input_shape(input)?;
        let hw = self.start_tracking(g, &input.name, channels, declared)?;
        let unsupported = self.check_ops(g)?;
        if let Some((op, node)) = unsupported.first() {
            let more = if unsupported.len() > 1 {
                let others: BTreeSet<&str> =
                    unsupported[1..].iter().map(|(o, _)| o.as_str()).collect();
                format!(
                    " (also unsupported: {})",
                    others.into_iter().collect::<Vec<_>>().join(", ")
                )
            } else {
                String::new()
            };
            return Err(OnnxError::Unsupported {
                path: self.path.to_path_buf(),
                op: op.clone(),
                node: node.clone(),
                more,
            });
        }
        let mut nodes = Vec::new();
        let mut names = HashSet::new();
        for n in &g.node {
            if n.op_type == ops::CONSTANT {
                self.constant(n)?;
                continue;
            }
            if self.try_fold(n)? {
                continue;
            }
            for mut node in self.nodes_of(n)? {
                if !names.insert(node.name.clone()) {
                    node.name = node.output.clone();
                    names.insert(node.name.clone());
                }
                self.track(&node)?;
                nodes.push(node);
            }
        }
        let name = self
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model.onnx".into());
        // keep only the float constants some node reads
        let used: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(String::as_str))
            .collect();
        let constants = std::mem::take(&mut self.floats)
            .into_iter()
            .filter(|(k, _)| used.contains(k.as_str()))
            .collect();
        let graph = Graph {
            name,
            input: input.name.clone(),
            input_channels: channels,
            input_hw: hw,
            nodes,
            constants,
            outputs: g.output.iter().map(|o| o.name.clone()).collect(),
            layers: Vec::new(),
            ..Default::default()
        };
        graph.validate().map_err(|e| OnnxError::Graph {
            path: self.path.to_path_buf(),
            source: Box::new(deepvis_model::Error::Graph(e)),
        })?;
        Ok(graph)
    }

    /// Every node whose operator is not supported, in file order (one per operator).
    fn check_ops(&self, g: &GraphProto) -> Result<Vec<(String, String)>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for n in &g.node {
            let known = (n.domain.is_empty() || n.domain == "ai.onnx")
                && (ops::is_supported(&n.op_type) || fold::is_host_op(&n.op_type));
            if !known {
                let op = if n.domain.is_empty() {
                    n.op_type.clone()
                } else {
                    format!("{}:{}", n.domain, n.op_type)
                };
                if seen.insert(op.clone()) {
                    out.push((op, node_name(n)));
                }
            }
        }
        Ok(out)
    }

    fn input_shape(
        &self,
        input: &crate::proto::ValueInfoProto,
    ) -> Result<(usize, Option<[usize; 2]>)> {
        let err = |reason: String| OnnxError::Input {
            path: self.path.to_path_buf(),
            reason,
        };
        let tt = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .ok_or_else(|| err(format!("input `{}` is not a tensor", input.name)))?;
        if tt.elem_type != dtype::FLOAT {
            return Err(err(format!(
                "input `{}` is {}; deepvis feeds float32 images",
                input.name,
                dtype::name(tt.elem_type)
            )));
        }
        let dims: Vec<Option<i64>> = tt
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| d.dim_value.filter(|v| *v > 0))
                    .collect()
            })
            .unwrap_or_default();
        if dims.len() != 4 {
            return Err(err(format!(
                "input `{}` has rank {}; deepvis feeds [N, C, H, W] images",
                input.name,
                dims.len()
            )));
        }
        let c = dims[1]
            .ok_or_else(|| err(format!("input `{}` has no fixed channel count", input.name)))?
            as usize;
        let hw = match (dims[2], dims[3]) {
            (Some(h), Some(w)) => Some([h as usize, w as usize]),
            _ => None,
        };
        if let Some([h, w]) = hw
            && h.max(w) > MAX_INPUT_SIDE
        {
            return Err(err(format!(
                "input `{}` is {h}x{w}; deepvis feeds inputs of at most \
                 {MAX_INPUT_SIDE}x{MAX_INPUT_SIDE}",
                input.name
            )));
        }
        if c > 4096 {
            return Err(err(format!(
                "input `{}` has {c} channels; deepvis feeds images (at most 4096 channels)",
                input.name
            )));
        }
        Ok((c, hw))
    }

    fn store(&mut self, name: &str, t: &TensorProto, v: Values) -> Result<()> {
        let dims = dims_of(t).ok_or_else(|| self.tensor_err(name, "negative dimension"))?;
        match v {
            Values::F32(data) => {
                let h = HostTensor::new(dims.clone(), data).ok_or_else(|| {
                    self.tensor_err(name, format!("its values do not fill shape {dims:?}"))
                })?;
                self.floats.insert(name.to_string(), h);
            }
            Values::I64(data) => {
                let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                if count != Some(data.len()) {
                    return Err(self.tensor_err(name, format!("its values do not fill {dims:?}")));
                }
                // integer constants are also usable as float operands
                let f = HostTensor::new(dims.clone(), data.iter().map(|&v| v as f32).collect());
                if let Some(f) = f {
                    self.floats.insert(name.to_string(), f);
                }
                let mut ints = Ints::fixed(dims, &data);
                ints.boolean = t.data_type == dtype::BOOL;
                self.ints.insert(name.to_string(), ints);
            }
        }
        Ok(())
    }

    fn raw(&self, t: &TensorProto) -> Result<Option<Vec<u8>>> {
        if t.data_location != 1 {
            return Ok((!t.raw_data.is_empty()).then(|| t.raw_data.clone()));
        }
        let get = |k: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == k)
                .map(|e| e.value.as_str())
        };
        let loc = get("location")
            .ok_or_else(|| self.tensor_err(&t.name, "external data without a location"))?;
        let rel = Path::new(loc);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(self.tensor_err(
                &t.name,
                format!("external data location `{loc}` must be a plain path beside the model"),
            ));
        }
        let file = self.dir.join(rel);
        let ext = |reason: String| self.tensor_err(&t.name, reason);
        // links are followed: the file they reach must be inside the model's folder too
        match fsguard::resolves_inside(&self.dir, &file) {
            Ok(true) => {}
            Ok(false) => {
                let real = file.canonicalize().unwrap_or_else(|_| file.clone());
                return Err(ext(format!(
                    "external data `{loc}` resolves to {}, outside the model's folder {}",
                    real.display(),
                    self.dir.display()
                )));
            }
            Err(e) => return Err(ext(format!("external data file {}: {e}", file.display()))),
        }
        let mut f = fsguard::open_regular(&file, fsguard::MAX_EXTERNAL_DATA_BYTES)
            .map_err(|e| ext(format!("external data file {}: {e}", file.display())))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let num = |k: &str| -> Result<Option<u64>> {
            get(k)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        self.tensor_err(&t.name, format!("external data {k} `{v}` is not a number"))
                    })
                })
                .transpose()
        };
        let off = num("offset")?.unwrap_or(0);
        let len = num("length")?.unwrap_or(size.saturating_sub(off));
        if off.checked_add(len).is_none_or(|e| e > size) {
            return Err(ext(format!(
                "external data {}..{} lies past the end of {} ({size} bytes)",
                off,
                off.saturating_add(len),
                file.display(),
            )));
        }
        self.check_declared(t, len)?;
        read_range(&mut f, off, len)
            .map(Some)
            .map_err(|e| ext(format!("external data file {}: {e}", file.display())))
    }

    /// Refuses a tensor whose bytes (`len` of them, or its dimensions' worth) are over the
    /// memory budget, before they are read.
    fn check_declared(&self, t: &TensorProto, len: u64) -> Result<()> {
        let declared = t
            .dims
            .iter()
            .try_fold(1u64, |a, &d| {
                u64::try_from(d).ok().and_then(|d| a.checked_mul(d))
            })
            .and_then(|n| n.checked_mul(4))
            .unwrap_or(u64::MAX);
        let need = declared.max(len);
        let budget = memory_budget();
        if need > budget {
            return Err(self.tensor_err(
                &t.name,
                format!(
                    "its {:?} values take {}, over the memory budget of {} (set it with \
                     --memory-budget or {})",
                    t.dims,
                    fsguard::human_bytes(need),
                    fsguard::human_bytes(budget),
                    deepvis_model::graph::budget::BUDGET_ENV
                ),
            ));
        }
        Ok(())
    }

    fn values(&self, t: &TensorProto) -> Result<Values> {
        let raw = self.raw(t)?;
        let chunks = |raw: &[u8], n: usize| -> Result<Vec<[u8; 8]>> {
            if !raw.len().is_multiple_of(n) {
                return Err(
                    self.tensor_err(&t.name, "raw data length is not a whole number of values")
                );
            }
            Ok(raw
                .chunks_exact(n)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b[..n].copy_from_slice(c);
                    b
                })
                .collect())
        };
        Ok(match t.data_type {
            dtype::FLOAT => Values::F32(match raw {
                Some(r) => chunks(&r, 4)?
                    .iter()
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                None => t.float_data.clone(),
            }),
            dtype::DOUBLE => Values::F32(match raw {
                Some(r) => chunks(&r, 8)?
                    .iter()
                    .map(|b| f64::from_le_bytes(*b) as f32)
                    .collect(),
                None => t.double_data.iter().map(|&v| v as f32).collect(),
            }),
            dtype::INT64 => Values::I64(match raw {
                Some(r) => chunks(&r, 8)?
                    .iter()
                    .map(|b| i64::from_le_bytes(*b))
                    .collect(),
                None => t.int64_data.clone(),
            }),
            dtype::INT32 => Values::I64(match raw {
                Some(r) => chunks(&r, 4)?
                    .iter()
                    .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                    .collect(),
                None => t.int32_data.iter().map(|&v| v as i64).collect(),
            }),
            dtype::BOOL | dtype::UINT8 | dtype::INT8 => Values::I64(match raw {
                Some(r) if t.data_type == dtype::INT8 => {
                    r.iter().map(|&b| b as i8 as i64).collect()
                }
                Some(r) => r.iter().map(|&b| b as i64).collect(),
                None => t.int32_data.iter().map(|&v| v as i64).collect(),
            }),
            other => {
                return Err(self.tensor_err(
                    &t.name,
                    format!(
                        "is {}; deepvis reads float32, float64 and integer tensors",
                        dtype::name(other)
                    ),
                ));
            }
        })
    }

    fn constant(&mut self, n: &NodeProto) -> Result<()> {
        let out = n
            .output
            .first()
            .ok_or_else(|| self.bad(n, "no output"))?
            .clone();
        let a = n.attribute.first().ok_or_else(|| self.bad(n, "no value"))?;
        let t = TensorProto {
            name: out.clone(),
            ..Default::default()
        };
        match a.name.as_str() {
            "value" => {
                let t =
                    a.t.as_ref()
                        .ok_or_else(|| self.bad(n, "`value` holds no tensor"))?;
                let v = self.values(t)?;
                self.store(&out, t, v)
            }
            "value_float" => self.store(&out, &t, Values::F32(vec![a.f])),
            "value_floats" => {
                let t = TensorProto {
                    dims: vec![a.floats.len() as i64],
                    ..t
                };
                self.store(&out, &t, Values::F32(a.floats.clone()))
            }
            "value_int" => self.store(&out, &t, Values::I64(vec![a.i])),
            "value_ints" => {
                let t = TensorProto {
                    dims: vec![a.ints.len() as i64],
                    ..t
                };
                self.store(&out, &t, Values::I64(a.ints.clone()))
            }
            other => Err(self.bad(n, format!("constant attribute `{other}` is not supported"))),
        }
    }

    fn ints_attr(
        &self,
        n: &NodeProto,
        name: &str,
        len: usize,
        default: usize,
    ) -> Result<Vec<usize>> {
        match attr(n, name) {
            None => Ok(vec![default; len]),
            Some(a) if a.ints.len() == len && a.ints.iter().all(|&v| v >= 0) => {
                Ok(a.ints.iter().map(|&v| v as usize).collect())
            }
            Some(a) => Err(self.bad(
                n,
                format!(
                    "`{name}` is {:?}, expected {len} non-negative values",
                    a.ints
                ),
            )),
        }
    }

    fn int(n: &NodeProto, name: &str, default: i64) -> i64 {
        attr(n, name).map(|a| a.i).unwrap_or(default)
    }

    fn float(n: &NodeProto, name: &str, default: f32) -> f32 {
        attr(n, name).map(|a| a.f).unwrap_or(default)
    }

    fn string(n: &NodeProto, name: &str) -> Option<String> {
        attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    fn window(&self, n: &NodeProto, kernel: Option<[usize; 2]>) -> Result<Window> {
        let kernel = match attr(n, "kernel_shape") {
            Some(a) if a.ints.len() == 2 && a.ints.iter().all(|&v| v > 0) => {
                [a.ints[0] as usize, a.ints[1] as usize]
            }
            Some(a) => {
                return Err(self.bad(
                    n,
                    format!("kernel_shape {:?}: deepvis handles 2-D windows", a.ints),
                ));
            }
            None => kernel.ok_or_else(|| self.bad(n, "no kernel_shape"))?,
        };
        let strides = self.ints_attr(n, "strides", 2, 1)?;
        let dilations = self.ints_attr(n, "dilations", 2, 1)?;
        let pads = self.ints_attr(n, "pads", 4, 0)?;
        let padding = match Self::string(n, "auto_pad").as_deref() {
            None | Some("NOTSET") | Some("") => {
                Padding::Explicit([pads[0], pads[1], pads[2], pads[3]])
            }
            Some("VALID") => Padding::Explicit([0; 4]),
            Some("SAME_UPPER") => Padding::SameUpper,
            Some("SAME_LOWER") => Padding::SameLower,
            Some(other) => {
                return Err(self.bad(n, format!("auto_pad `{other}` is not an ONNX value")));
            }
        };
        if strides.contains(&0) || dilations.contains(&0) {
            return Err(self.bad(n, "strides and dilations must be positive"));
        }
        Ok(Window {
            kernel,
            strides: [strides[0], strides[1]],
            dilations: [dilations[0], dilations[1]],
            padding,
            ceil: Self::int(n, "ceil_mode", 0) != 0,
        })
    }

    /// A constant integer operand (`Reshape`'s shape, `Pad`'s pads).
    fn const_ints(&self, n: &NodeProto, k: usize, what: &str) -> Result<Option<Vec<i64>>> {
        match n.input.get(k).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => match self.ints.get(name).map(Ints::known) {
                Some(Some(v)) => Ok(Some(v)),
                Some(None) => Err(self.bad(
                    n,
                    format!("{what} `{name}` depends on the batch size, which it cannot here"),
                )),
                None => Err(self.bad(
                    n,
                    format!(
                        "{what} `{name}` must be a constant or computed from shapes (a value \
                         computed from the data cannot be folded)"
                    ),
                )),
            },
        }
    }

    /// A constant scalar float operand (`Clip`'s bounds, `Pad`'s value).
    fn const_scalar(&self, n: &NodeProto, k: usize, what: &str) -> Result<Option<f32>> {
        match n.input.get(k).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => match self.floats.get(name) {
                Some(t) if t.data.len() == 1 => Ok(Some(t.data[0])),
                _ => Err(self.bad(n, format!("{what} `{name}` must be a constant scalar"))),
            },
        }
    }

    /// The graph nodes of file node `n`: one, or one per output (a `Split`'s parts, named
    /// `<node>:<k>`).
    fn nodes_of(&self, n: &NodeProto) -> Result<Vec<Node>> {
        let output = n
            .output
            .first()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| self.bad(n, "no output"))?
            .clone();
        let mut inputs: Vec<String> = n.input.iter().filter(|s| !s.is_empty()).cloned().collect();
        let operator = ops::find(&n.op_type).ok_or_else(|| match fold::must_fold(&n.op_type) {
            true => self.not_foldable(n, "an operand is computed from the data"),
            false => self.bad(n, format!("unsupported operator {}", n.op_type)),
        })?;
        if operator.data_only {
            inputs.truncate(1);
        }
        if inputs.is_empty() {
            return Err(self.bad(n, "no input"));
        }
        let name = if n.name.is_empty() {
            output.clone()
        } else {
            n.name.clone()
        };
        let node = |name: String, op, output: String| Node {
            name,
            op_type: n.op_type.clone(),
            op,
            inputs: inputs.clone(),
            output,
        };
        Ok(match operator.build {
            ops::Build::One(build) => vec![node(name, build(self, n)?, output)],
            ops::Build::Each(build) => build(self, n)?
                .into_iter()
                .zip(&n.output)
                .enumerate()
                .filter(|(_, (_, o))| !o.is_empty())
                .map(|(k, (op, o))| node(format!("{name}:{k}"), op, o.clone()))
                .collect(),
        })
    }
}

/// Reads `len` bytes at `off` of `f` (whose size was checked to hold them).
fn read_range(f: &mut File, off: u64, len: u64) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(off))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(len).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("it ended after {} of {len} bytes", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn node_name(n: &NodeProto) -> String {
    if n.name.is_empty() {
        n.output.first().cloned().unwrap_or_default()
    } else {
        n.name.clone()
    }
}

fn dims_of(t: &TensorProto) -> Option<Vec<usize>> {
    t.dims.iter().map(|&d| usize::try_from(d).ok()).collect()
}
