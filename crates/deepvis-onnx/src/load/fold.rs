//! Shape arithmetic folded to constants at load: the host evaluator of the nodes whose
//! operands are all known (constants, and the shapes of values at the size the graph is folded
//! for). PyTorch's exporter computes every reshape target, expand shape and resize size from
//! `Shape` at run time (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`); here those
//! chains become constants, and only real tensor ops reach the graph.
//!
//! The batch size stays free: an integer is `per_batch * N + fixed` ([`Sym`]), so a reshape
//! to `[B, T, heads, dim]` folded once runs every batch. What would need the data itself (a
//! shape computed from values, a product of two batch sizes) is an error naming the node.

use deepvis_model::graph::HostTensor;

use super::attr;
use crate::proto::{NodeProto, dtype};

/// An integer the folding knows: `per_batch * N + fixed`, `N` the batch size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sym {
    /// The multiple of the batch size.
    pub(crate) per_batch: i64,
    /// The constant part.
    pub(crate) fixed: i64,
}

impl Sym {
    /// A fixed integer.
    pub(crate) const fn fixed(v: i64) -> Sym {
        Sym {
            per_batch: 0,
            fixed: v,
        }
    }

    /// The integer a dimension that is `d1` at batch 1 and `d2` at batch 2 is.
    pub(crate) fn from_two(d1: usize, d2: usize) -> Sym {
        let (a, b) = (d1 as i64, d2 as i64);
        Sym {
            per_batch: b - a,
            fixed: 2 * a - b,
        }
    }

    /// Its value when it does not depend on the batch.
    pub(crate) fn known(self) -> Option<i64> {
        (self.per_batch == 0).then_some(self.fixed)
    }
}

impl std::fmt::Display for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.per_batch, self.fixed) {
            (0, c) => write!(f, "{c}"),
            (1, 0) => write!(f, "N"),
            (b, 0) => write!(f, "{b}N"),
            (b, c) => write!(f, "{b}N{c:+}"),
        }
    }
}

/// An integer (or boolean) constant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ints {
    /// Its dimensions.
    pub(crate) dims: Vec<usize>,
    /// Its values, row-major.
    pub(crate) data: Vec<Sym>,
    /// Whether it is a boolean (0 or 1).
    pub(crate) boolean: bool,
}

impl Ints {
    /// Fixed values.
    pub(crate) fn fixed(dims: Vec<usize>, data: &[i64]) -> Ints {
        Ints {
            dims,
            data: data.iter().map(|&v| Sym::fixed(v)).collect(),
            boolean: false,
        }
    }

    /// The values when none depends on the batch.
    pub(crate) fn known(&self) -> Option<Vec<i64>> {
        self.data.iter().map(|s| s.known()).collect()
    }
}

/// A value of the evaluator: an integer or a float (held as f64, rounded to f32 per op).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    I(Sym),
    F(f64),
}

/// A constant the evaluator computes with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Host {
    dims: Vec<usize>,
    data: Vec<Num>,
    boolean: bool,
}

/// What a folded node made.
pub(crate) enum Folded {
    Floats(HostTensor),
    Ints(Ints),
}

impl From<&Ints> for Host {
    fn from(i: &Ints) -> Host {
        Host {
            dims: i.dims.clone(),
            data: i.data.iter().map(|&s| Num::I(s)).collect(),
            boolean: i.boolean,
        }
    }
}

impl From<&HostTensor> for Host {
    fn from(t: &HostTensor) -> Host {
        Host {
            dims: t.dims.clone(),
            data: t.data.iter().map(|&v| Num::F(f64::from(v))).collect(),
            boolean: false,
        }
    }
}

impl Host {
    /// The shape of a value as a constant (`Shape`'s output).
    pub(crate) fn shape_of(dims: &[Sym]) -> Host {
        Host {
            dims: vec![dims.len()],
            data: dims.iter().map(|&s| Num::I(s)).collect(),
            boolean: false,
        }
    }

    /// What the evaluator's result is as a constant of the reader.
    pub(crate) fn into_folded(self) -> Result<Folded, String> {
        let is_float = self.data.iter().any(|n| matches!(n, Num::F(_)));
        if is_float {
            let data = self
                .data
                .iter()
                .map(|n| match n {
                    Num::F(v) => Ok(*v as f32),
                    Num::I(_) => Err("a tensor mixes floats and integers".to_string()),
                })
                .collect::<Result<Vec<f32>, _>>()?;
            return HostTensor::new(self.dims, data)
                .map(Folded::Floats)
                .ok_or_else(|| "its values do not fill its shape".into());
        }
        let data = self
            .data
            .iter()
            .map(|n| match n {
                Num::I(s) => *s,
                Num::F(_) => Sym::fixed(0),
            })
            .collect();
        Ok(Folded::Ints(Ints {
            dims: self.dims,
            data,
            boolean: self.boolean,
        }))
    }

    /// Its fixed integers (indices, axes, sizes), or why not.
    fn ints(&self, what: &str) -> Result<Vec<i64>, String> {
        self.data
            .iter()
            .map(|n| match n {
                Num::I(s) => s
                    .known()
                    .ok_or_else(|| format!("{what} depends on the batch size ({s})")),
                Num::F(_) => Err(format!("{what} must be integers")),
            })
            .collect()
    }

    /// A new value with the elements at `from` (flat indices into this one).
    fn pick(&self, dims: Vec<usize>, from: &[usize]) -> Host {
        Host {
            dims,
            data: from.iter().map(|&i| self.data[i]).collect(),
            boolean: self.boolean,
        }
    }
}

/// Whether the evaluator computes operator `op`.
pub(crate) fn is_host_op(op: &str) -> bool {
    HOST_OPS.contains(&op)
}

/// The operators the evaluator computes (`Shape` reads a value's dimensions; the others
/// need every operand known).
const HOST_OPS: &[&str] = &[
    "Shape",
    "Size",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Slice",
    "Reshape",
    "Flatten",
    "ConstantOfShape",
    "Expand",
    "Where",
    "Equal",
    "Less",
    "Greater",
    "Not",
    "Cast",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Mod",
    "Pow",
    "Sqrt",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Min",
    "Max",
    "Range",
    "Identity",
    "Transpose",
];

/// The operators whose outputs are integers or booleans whatever their inputs: they must fold.
pub(crate) fn must_fold(op: &str) -> bool {
    matches!(
        op,
        "Shape"
            | "Size"
            | "ConstantOfShape"
            | "Equal"
            | "Less"
            | "Greater"
            | "Not"
            | "Where"
            | "Range"
            | "Mod"
    )
}

fn int_attr(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map(|a| a.i).unwrap_or(default)
}

fn norm_axis(a: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("axis {a} is out of range for rank {rank}"))
    }
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

fn count(dims: &[usize]) -> Result<usize, String> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&c| c <= 1 << 20)
        .ok_or_else(|| format!("{dims:?} is too large to fold"))
}

/// Numpy broadcasting of two shapes (the graph's own rule), or why not.
fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    deepvis_model::graph::broadcast(a, b).ok_or_else(|| format!("{a:?} and {b:?} do not broadcast"))
}

/// The flat index in a value of `dims` of output element `flat` of a broadcast to `out`.
fn source_index(dims: &[usize], out: &[usize], flat: usize) -> usize {
    let (so, si) = (strides(out), strides(dims));
    let off = out.len() - dims.len();
    let mut idx = 0;
    for (i, &d) in dims.iter().enumerate() {
        let c = (flat / so[off + i]) % out[off + i];
        if d != 1 {
            idx += c * si[i];
        }
    }
    idx
}

fn broadcast_to(x: &Host, out: &[usize]) -> Result<Host, String> {
    let n = count(out)?;
    let from: Vec<usize> = (0..n).map(|f| source_index(&x.dims, out, f)).collect();
    Ok(x.pick(out.to_vec(), &from))
}

/// Evaluates node `n` (operator `op`) on known operands (`None`: an omitted optional one).
pub(crate) fn eval(n: &NodeProto, ins: &[Option<Host>], opset: i64) -> Result<Host, String> {
    let arg = |k: usize| -> Result<&Host, String> {
        ins.get(k)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("operand {k} is missing"))
    };
    let x = arg(0)?;
    match n.op_type.as_str() {
        // the reader gives Shape and Size the input's dimensions
        "Identity" | "Shape" => Ok(x.clone()),
        "Size" => {
            let mut total = Num::I(Sym::fixed(1));
            for &d in &x.data {
                total = match (total, d) {
                    (Num::I(p), Num::I(q)) => int_op("Mul", p, q)?,
                    _ => return Err("a size of floats".into()),
                };
            }
            Ok(Host {
                dims: vec![],
                data: vec![total],
                boolean: false,
            })
        }
        "Gather" => gather(x, arg(1)?, int_attr(n, "axis", 0)),
        "Unsqueeze" | "Squeeze" => {
            let axes = match opset >= 13 {
                true => ins.get(1).and_then(Option::as_ref).map(|a| a.ints("axes")),
                false => attr(n, "axes").map(|a| Ok(a.ints.clone())),
            }
            .transpose()?;
            let dims = match n.op_type.as_str() {
                "Unsqueeze" => unsqueeze_dims(&x.dims, &axes.unwrap_or_default())?,
                _ => squeeze_dims(&x.dims, axes.as_deref())?,
            };
            Ok(Host { dims, ..x.clone() })
        }
        "Concat" => concat(ins, int_attr(n, "axis", 0)),
        "Slice" => slice(n, ins, opset),
        "Reshape" => {
            let shape = arg(1)?.ints("the shape")?;
            let dims = reshape_dims(&x.dims, &shape, int_attr(n, "allowzero", 0) != 0)?;
            Ok(Host { dims, ..x.clone() })
        }
        "Flatten" => {
            let ax = int_attr(n, "axis", 1);
            let r = x.dims.len() as i64;
            let ax = if ax < 0 { ax + r } else { ax };
            if !(0..=r).contains(&ax) {
                return Err(format!("axis {ax} out of range"));
            }
            let (a, b) = x.dims.split_at(ax as usize);
            Ok(Host {
                dims: vec![a.iter().product(), b.iter().product()],
                ..x.clone()
            })
        }
        "ConstantOfShape" => constant_of_shape(n, x),
        "Expand" => {
            let shape: Vec<usize> = arg(1)?
                .ints("the shape")?
                .iter()
                .map(|&v| usize::try_from(v).map_err(|_| format!("shape entry {v}")))
                .collect::<Result<_, _>>()?;
            let out = broadcast(&x.dims, &shape)?;
            broadcast_to(x, &out)
        }
        "Transpose" => transpose(n, x),
        "Range" => range(x, arg(1)?, arg(2)?),
        "Where" => where_(x, arg(1)?, arg(2)?),
        "Cast" => cast(x, int_attr(n, "to", i64::from(dtype::FLOAT))),
        "Not" => map(x, true, |v| match v {
            Num::I(s) => Ok(Num::I(Sym::fixed(i64::from(s.known() == Some(0))))),
            Num::F(_) => Err("Not of a float".into()),
        }),
        "Sqrt" | "Neg" | "Abs" | "Floor" | "Ceil" => unary(n.op_type.as_str(), x),
        op => binary(op, x, arg(1)?),
    }
}

fn gather(x: &Host, idx: &Host, a: i64) -> Result<Host, String> {
    let ax = norm_axis(a, x.dims.len())?;
    let len = x.dims[ax];
    let indices: Vec<usize> = idx
        .ints("the indices")?
        .iter()
        .map(|&i| {
            let j = if i < 0 {
                i.saturating_add(len as i64)
            } else {
                i
            };
            usize::try_from(j)
                .ok()
                .filter(|&j| j < len)
                .ok_or_else(|| format!("index {i} is outside an axis of {len}"))
        })
        .collect::<Result<_, _>>()?;
    let mut dims = x.dims[..ax].to_vec();
    dims.extend_from_slice(&idx.dims);
    dims.extend_from_slice(&x.dims[ax + 1..]);
    let outer: usize = x.dims[..ax].iter().product();
    let inner: usize = x.dims[ax + 1..].iter().product();
    let mut from = Vec::with_capacity(count(&dims)?);
    for o in 0..outer {
        for &i in &indices {
            for k in 0..inner {
                from.push((o * len + i) * inner + k);
            }
        }
    }
    Ok(x.pick(dims, &from))
}

fn unsqueeze_dims(dims: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let r = dims.len() + axes.len();
    let mut at: Vec<usize> = axes
        .iter()
        .map(|&a| norm_axis(a, r))
        .collect::<Result<_, _>>()?;
    at.sort_unstable();
    at.dedup();
    if at.len() != axes.len() {
        return Err(format!("axes {axes:?} repeat an axis"));
    }
    let mut src = dims.iter();
    Ok((0..r)
        .map(|i| match at.contains(&i) {
            true => 1,
            false => src.next().copied().unwrap_or(1),
        })
        .collect())
}

fn squeeze_dims(dims: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>, String> {
    let drop: Vec<usize> = match axes {
        None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
        Some(axes) => axes
            .iter()
            .map(|&a| norm_axis(a, dims.len()))
            .collect::<Result<_, _>>()?,
    };
    if let Some(&i) = drop.iter().find(|&&i| dims[i] != 1) {
        return Err(format!("axis {i} of {dims:?} is not 1"));
    }
    Ok((0..dims.len())
        .filter(|i| !drop.contains(i))
        .map(|i| dims[i])
        .collect())
}

/// ONNX's reshape rule (`0` copies, `-1` is inferred).
pub(crate) fn reshape_dims(
    dims: &[usize],
    shape: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(
                *dims
                    .get(i)
                    .ok_or_else(|| format!("shape {shape:?}: no dimension {i} to copy"))?,
            ),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(format!("shape {shape:?} is not a valid target")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {dims:?} into {shape:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!("cannot reshape {dims:?} into {shape:?}"));
    }
    Ok(out)
}

fn concat(ins: &[Option<Host>], a: i64) -> Result<Host, String> {
    let parts: Vec<&Host> = ins.iter().flatten().collect();
    let first = parts.first().ok_or("no operand")?;
    let ax = norm_axis(a, first.dims.len())?;
    let mut dims = first.dims.clone();
    dims[ax] = 0;
    for p in &parts {
        let same =
            p.dims.len() == dims.len() && (0..dims.len()).all(|i| i == ax || p.dims[i] == dims[i]);
        if !same {
            return Err(format!("{:?} and {:?} differ off axis {ax}", p.dims, dims));
        }
        dims[ax] += p.dims[ax];
    }
    let outer: usize = dims[..ax].iter().product();
    let mut data = Vec::with_capacity(count(&dims)?);
    for o in 0..outer {
        for p in &parts {
            let chunk: usize = p.dims[ax..].iter().product();
            data.extend_from_slice(&p.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(Host {
        dims,
        data,
        boolean: parts.iter().all(|p| p.boolean),
    })
}

fn slice(n: &NodeProto, ins: &[Option<Host>], opset: i64) -> Result<Host, String> {
    let x = ins.first().and_then(Option::as_ref).ok_or("no input")?;
    let get = |k: usize, name: &str| -> Result<Option<Vec<i64>>, String> {
        match opset >= 10 {
            true => ins
                .get(k)
                .and_then(Option::as_ref)
                .map(|h| h.ints(name))
                .transpose(),
            false => Ok(attr(n, name).map(|a| a.ints.clone())),
        }
    };
    let starts = get(1, "starts")?.ok_or("no starts")?;
    let ends = get(2, "ends")?.ok_or("no ends")?;
    let axes = get(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = get(4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let r = x.dims.len();
    // per axis: the source indices kept
    let mut keep: Vec<Vec<usize>> = x.dims.iter().map(|&d| (0..d).collect()).collect();
    for k in 0..starts.len() {
        let ax = norm_axis(axes[k], r)?;
        let d = x.dims[ax] as i64;
        let step = steps[k];
        if step == 0 {
            return Err("a step of 0".into());
        }
        let from_end = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (mut s, e) = (from_end(starts[k]), from_end(ends[k]));
        let (lo, hi) = if step > 0 {
            (s.clamp(0, d), e.clamp(0, d))
        } else {
            (s.clamp(0, (d - 1).max(0)), e.clamp(-1, d - 1))
        };
        s = lo;
        let mut v = Vec::new();
        while (step > 0 && s < hi) || (step < 0 && s > hi) {
            v.push(s as usize);
            s += step;
        }
        keep[ax] = v;
    }
    let dims: Vec<usize> = keep.iter().map(Vec::len).collect();
    let st = strides(&x.dims);
    let total = count(&dims)?;
    let so = strides(&dims);
    let from: Vec<usize> = (0..total)
        .map(|f| (0..r).map(|i| keep[i][(f / so[i]) % dims[i]] * st[i]).sum())
        .collect();
    Ok(x.pick(dims, &from))
}

fn constant_of_shape(n: &NodeProto, shape: &Host) -> Result<Host, String> {
    let dims: Vec<usize> = shape
        .ints("the shape")?
        .iter()
        .map(|&v| usize::try_from(v).map_err(|_| format!("shape entry {v}")))
        .collect::<Result<_, _>>()?;
    let total = count(&dims)?;
    let value = match attr(n, "value").and_then(|a| a.t.as_ref()) {
        None => Num::F(0.0),
        Some(t) => {
            let is_int = !matches!(t.data_type, dtype::FLOAT | dtype::DOUBLE | 10 | 16);
            let raw = &t.raw_data;
            match (is_int, t.data_type) {
                (false, dtype::FLOAT) => Num::F(match raw.get(..4) {
                    Some(b) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    None => f64::from(t.float_data.first().copied().unwrap_or(0.0)),
                }),
                (false, _) => Num::F(0.0),
                (true, dtype::INT64) => Num::I(Sym::fixed(match raw.get(..8) {
                    Some(b) => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                    None => t.int64_data.first().copied().unwrap_or(0),
                })),
                (true, dtype::INT32) => Num::I(Sym::fixed(match raw.get(..4) {
                    Some(b) => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    None => i64::from(t.int32_data.first().copied().unwrap_or(0)),
                })),
                (true, _) => Num::I(Sym::fixed(match raw.first() {
                    Some(&b) => i64::from(b),
                    None => i64::from(t.int32_data.first().copied().unwrap_or(0)),
                })),
            }
        }
    };
    Ok(Host {
        dims,
        data: vec![value; total],
        boolean: false,
    })
}

fn transpose(n: &NodeProto, x: &Host) -> Result<Host, String> {
    let r = x.dims.len();
    let perm: Vec<usize> = match attr(n, "perm") {
        Some(a) if !a.ints.is_empty() => a
            .ints
            .iter()
            .map(|&p| norm_axis(p, r))
            .collect::<Result<_, _>>()?,
        _ => (0..r).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..r).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is no permutation of {r} axes"));
    }
    let dims: Vec<usize> = perm.iter().map(|&p| x.dims[p]).collect();
    let (si, so) = (strides(&x.dims), strides(&dims));
    let from: Vec<usize> = (0..count(&dims)?)
        .map(|f| (0..r).map(|i| ((f / so[i]) % dims[i]) * si[perm[i]]).sum())
        .collect();
    Ok(x.pick(dims, &from))
}

fn scalar(h: &Host, what: &str) -> Result<Num, String> {
    match h.data.as_slice() {
        [one] => Ok(*one),
        _ => Err(format!("{what} must be a scalar")),
    }
}

fn range(start: &Host, limit: &Host, delta: &Host) -> Result<Host, String> {
    let (s, l, d) = (
        scalar(start, "start")?,
        scalar(limit, "limit")?,
        scalar(delta, "delta")?,
    );
    let fixed = |n: Num| match n {
        Num::I(s) => s
            .known()
            .map(|v| v as f64)
            .ok_or_else(|| format!("a range bound depends on the batch size ({s})")),
        Num::F(v) => Ok(v),
    };
    let (fs, fl, fd) = (fixed(s)?, fixed(l)?, fixed(d)?);
    if fd == 0.0 {
        return Err("a range with step 0".into());
    }
    let n = ((fl - fs) / fd).ceil().max(0.0);
    if n > (1 << 20) as f64 {
        return Err("the range is too long to fold".into());
    }
    let is_int = matches!(s, Num::I(_));
    let data = (0..n as usize)
        .map(|k| match is_int {
            true => Num::I(Sym::fixed((fs + k as f64 * fd) as i64)),
            false => Num::F(f64::from((fs + k as f64 * fd) as f32)),
        })
        .collect();
    Ok(Host {
        dims: vec![n as usize],
        data,
        boolean: false,
    })
}

fn where_(cond: &Host, a: &Host, b: &Host) -> Result<Host, String> {
    let out = broadcast(&broadcast(&cond.dims, &a.dims)?, &b.dims)?;
    let mut data = Vec::with_capacity(count(&out)?);
    for f in 0..count(&out)? {
        let c = cond.data[source_index(&cond.dims, &out, f)];
        let take_a = match c {
            Num::I(s) => s.known().ok_or("a condition depends on the batch size")? != 0,
            Num::F(v) => v != 0.0,
        };
        let src = if take_a { a } else { b };
        data.push(src.data[source_index(&src.dims, &out, f)]);
    }
    Ok(Host {
        dims: out,
        data,
        boolean: a.boolean && b.boolean,
    })
}

fn cast(x: &Host, to: i64) -> Result<Host, String> {
    let to = i32::try_from(to).unwrap_or(0);
    let float = matches!(to, dtype::FLOAT | dtype::DOUBLE | 10 | 16);
    let boolean = to == dtype::BOOL;
    let mut out = map(x, boolean, |v| match (v, float) {
        (Num::F(f), true) => Ok(Num::F(f64::from(f as f32))),
        (Num::F(f), false) if boolean => Ok(Num::I(Sym::fixed(i64::from(f != 0.0)))),
        (Num::F(f), false) if f.is_finite() => Ok(Num::I(Sym::fixed(f.trunc() as i64))),
        (Num::F(f), false) => Err(format!("{f} has no integer value")),
        (Num::I(s), true) => s
            .known()
            .map(|v| Num::F(f64::from(v as f32)))
            .ok_or_else(|| format!("a float of the batch size ({s})")),
        (Num::I(s), false) if boolean => s
            .known()
            .map(|v| Num::I(Sym::fixed(i64::from(v != 0))))
            .ok_or_else(|| format!("a boolean of the batch size ({s})")),
        (Num::I(s), false) => Ok(Num::I(s)),
    })?;
    out.boolean = boolean;
    Ok(out)
}

fn map(x: &Host, boolean: bool, f: impl Fn(Num) -> Result<Num, String>) -> Result<Host, String> {
    Ok(Host {
        dims: x.dims.clone(),
        data: x.data.iter().map(|&v| f(v)).collect::<Result<_, _>>()?,
        boolean,
    })
}

fn unary(op: &str, x: &Host) -> Result<Host, String> {
    map(x, false, |v| {
        Ok(match (op, v) {
            ("Neg", Num::I(s)) => Num::I(Sym {
                per_batch: s.per_batch.checked_neg().ok_or("Neg overflows")?,
                fixed: s.fixed.checked_neg().ok_or("Neg overflows")?,
            }),
            ("Abs", Num::I(s)) if s.per_batch == 0 => {
                Num::I(Sym::fixed(s.fixed.checked_abs().ok_or("Abs overflows")?))
            }
            ("Floor" | "Ceil", Num::I(s)) => Num::I(s),
            (_, Num::I(s)) => {
                return Err(format!("{op} of an integer ({s}) is not folded"));
            }
            (op, Num::F(f)) => Num::F(f64::from(match op {
                "Sqrt" => f.sqrt(),
                "Neg" => -f,
                "Abs" => f.abs(),
                "Floor" => f.floor(),
                _ => f.ceil(),
            } as f32)),
        })
    })
}

fn binary(op: &str, a: &Host, b: &Host) -> Result<Host, String> {
    let out = broadcast(&a.dims, &b.dims)?;
    let compare = matches!(op, "Equal" | "Less" | "Greater");
    let mut data = Vec::with_capacity(count(&out)?);
    for f in 0..count(&out)? {
        let x = a.data[source_index(&a.dims, &out, f)];
        let y = b.data[source_index(&b.dims, &out, f)];
        data.push(match (x, y) {
            (Num::I(p), Num::I(q)) => int_op(op, p, q)?,
            (Num::F(p), Num::F(q)) => float_op(op, p, q)?,
            // an integer constant met as a float operand (ONNX types both alike)
            (Num::I(p), Num::F(q)) => float_op(op, as_float(p)?, q)?,
            (Num::F(p), Num::I(q)) => float_op(op, p, as_float(q)?)?,
        });
    }
    Ok(Host {
        dims: out,
        data,
        boolean: compare || (a.boolean && b.boolean),
    })
}

fn as_float(s: Sym) -> Result<f64, String> {
    s.known()
        .map(|v| v as f64)
        .ok_or_else(|| format!("a float of the batch size ({s})"))
}

fn truth(b: bool) -> Num {
    Num::I(Sym::fixed(i64::from(b)))
}

fn float_op(op: &str, p: f64, q: f64) -> Result<Num, String> {
    let r = match op {
        "Add" => p + q,
        "Sub" => p - q,
        "Mul" => p * q,
        "Div" => p / q,
        "Pow" => p.powf(q),
        "Min" => p.min(q),
        "Max" => p.max(q),
        "Mod" => p % q,
        "Equal" => return Ok(truth(p == q)),
        "Less" => return Ok(truth(p < q)),
        "Greater" => return Ok(truth(p > q)),
        other => return Err(format!("{other} is not folded")),
    };
    Ok(Num::F(f64::from(r as f32)))
}

fn int_op(op: &str, p: Sym, q: Sym) -> Result<Num, String> {
    let batch = |what: &str| format!("{what} of {p} and {q} depends on the batch size");
    let overflow = || format!("{op} of {p} and {q} overflows");
    let lin = |a: i64, x: Sym, b: i64, y: Sym| -> Result<Sym, String> {
        let part = |u: i64, v: i64| {
            a.checked_mul(u)
                .zip(b.checked_mul(v))
                .and_then(|(s, t)| s.checked_add(t))
        };
        Ok(Sym {
            per_batch: part(x.per_batch, y.per_batch).ok_or_else(overflow)?,
            fixed: part(x.fixed, y.fixed).ok_or_else(overflow)?,
        })
    };
    let zero = Sym::fixed(0);
    Ok(Num::I(match op {
        "Add" => lin(1, p, 1, q)?,
        "Sub" => lin(1, p, -1, q)?,
        "Mul" => match (p.known(), q.known()) {
            (Some(k), _) => lin(k, q, 0, zero)?,
            (_, Some(k)) => lin(k, p, 0, zero)?,
            _ => return Err(batch("the product")),
        },
        "Div" => {
            let d = q.known().ok_or_else(|| batch("the quotient"))?;
            if d == 0 {
                return Err("an integer division by 0".into());
            }
            match p.known() {
                Some(v) => Sym::fixed(v.checked_div(d).ok_or_else(overflow)?),
                None if p.per_batch % d == 0 && p.fixed % d == 0 => Sym {
                    per_batch: p.per_batch.checked_div(d).ok_or_else(overflow)?,
                    fixed: p.fixed.checked_div(d).ok_or_else(overflow)?,
                },
                None => return Err(batch("the quotient")),
            }
        }
        "Mod" | "Min" | "Max" | "Pow" => {
            let (x, y) = (
                p.known().ok_or_else(|| batch(op))?,
                q.known().ok_or_else(|| batch(op))?,
            );
            Sym::fixed(match op {
                "Mod" if y != 0 => {
                    x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 }
                }
                "Mod" => return Err("an integer modulo by 0".into()),
                "Min" => x.min(y),
                "Max" => x.max(y),
                _ => x
                    .checked_pow(u32::try_from(y).map_err(|_| "a negative power")?)
                    .ok_or("an integer power overflows")?,
            })
        }
        "Equal" => return equal(p, q).map(truth),
        "Less" | "Greater" => {
            let (x, y) = match op {
                "Less" => (p, q),
                _ => (q, p),
            };
            if x.per_batch != y.per_batch {
                return Err(batch("the comparison"));
            }
            return Ok(truth(x.fixed < y.fixed));
        }
        other => return Err(format!("{other} of integers is not folded")),
    }))
}

/// Whether two folded integers are equal for every batch size (an error where that depends
/// on the batch size).
fn equal(p: Sym, q: Sym) -> Result<bool, String> {
    if p == q {
        return Ok(true);
    }
    let db = p.per_batch.saturating_sub(q.per_batch);
    if db == 0 {
        return Ok(false);
    }
    // equal at N = (q.fixed - p.fixed) / db: only a batch size of at least 1 matters
    let dc = q.fixed.saturating_sub(p.fixed);
    if dc.checked_rem(db) == Some(0) && dc.checked_div(db).is_some_and(|b| b >= 1) {
        return Err(format!("whether {p} equals {q} depends on the batch size"));
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_fold_linearly() {
        let b = Sym::from_two(1, 2);
        assert_eq!(b.to_string(), "N");
        assert_eq!(Sym::from_two(67, 67), Sym::fixed(67));
        assert_eq!(
            int_op("Mul", b, Sym::fixed(3)),
            Ok(Num::I(Sym::from_two(3, 6)))
        );
        assert!(int_op("Mul", b, b).is_err());
        // expand(B, -1, -1): B == -1 is false for every batch size
        assert_eq!(equal(b, Sym::fixed(-1)), Ok(false));
        assert!(equal(b, Sym::fixed(4)).is_err());
    }

    #[test]
    fn slices_of_shape_vectors() {
        let x = Host::shape_of(&[Sym::fixed(1), Sym::fixed(48), Sym::fixed(8), Sym::fixed(8)]);
        let i = |v: &[i64]| Some(Host::from(&Ints::fixed(vec![v.len()], v)));
        let n = NodeProto::default();
        let s = slice(&n, &[Some(x), i(&[0]), i(&[2]), i(&[0])], 13).map(|h| h.ints("x"));
        assert_eq!(s, Ok(Ok(vec![1, 48])));
    }
}
