//! The ops that move elements without computing new ones (gather, slice, expand, tile):
//! their output shapes and their forwards. They run on a rank-5 view of the stored value (the
//! logical dimensions right-aligned in five), so a `[B, T, 3, heads, dim]` value is as easy as
//! a map.

use burn::prelude::*;

use super::Extent;
use super::shape::{axis, broadcast};

/// The logical dimensions right-aligned in five.
pub(super) fn dims5(dims: &[usize]) -> [usize; 5] {
    let mut d = [1; 5];
    let off = 5 - dims.len().min(5);
    for (i, &v) in dims.iter().take(5).enumerate() {
        d[off + i] = v;
    }
    d
}

/// A stored value of logical dimensions `dims` seen as rank 5, and the offset of its first
/// logical axis there.
pub(super) fn view5(x: Tensor<4>, dims: &[usize]) -> (Tensor<5>, usize) {
    (x.reshape(dims5(dims)), 5 - dims.len().min(5))
}

/// One axis of a slice: the first index, how many, and the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    start: usize,
    len: usize,
    step: i64,
}

/// A slice's window along every axis of `dims` (ONNX's clamping: negative starts and ends
/// count from the end, ends past the axis are cut at it, `INT64_MAX` included).
pub(super) fn slice_spans(
    dims: &[usize],
    [axes, starts, ends, steps]: [&[i64]; 4],
) -> Result<Vec<Span>, String> {
    let r = dims.len();
    if starts.len() != ends.len()
        || (!axes.is_empty() && axes.len() != starts.len())
        || (!steps.is_empty() && steps.len() != starts.len())
    {
        return Err(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"
        ));
    }
    let mut spans: Vec<Span> = dims
        .iter()
        .map(|&d| Span {
            start: 0,
            len: d,
            step: 1,
        })
        .collect();
    let mut seen = vec![false; r];
    for k in 0..starts.len() {
        let a = axes.get(k).copied().unwrap_or(k as i64);
        let ax = axis(a, r).ok_or_else(|| format!("axis {a} out of range for rank {r}"))?;
        if std::mem::replace(&mut seen[ax], true) {
            return Err(format!("axis {ax} is sliced twice"));
        }
        let step = steps.get(k).copied().unwrap_or(1);
        if step == 0 {
            return Err("a step of 0".into());
        }
        let d = dims[ax] as i64;
        let from_end = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, e) = (from_end(starts[k]), from_end(ends[k]));
        let (s, e) = if step > 0 {
            (s.clamp(0, d), e.clamp(0, d))
        } else {
            (s.clamp(0, (d - 1).max(0)), e.clamp(-1, d - 1))
        };
        let span = e - s;
        let len = if (span > 0) == (step > 0) && span != 0 {
            let n = span.unsigned_abs().div_ceil(step.unsigned_abs());
            usize::try_from(n).map_err(|_| "the slice is too long".to_string())?
        } else {
            0
        };
        spans[ax] = Span {
            start: s.max(0) as usize,
            len,
            step,
        };
    }
    Ok(spans)
}

/// The dimensions a slice with `spans` leaves.
pub(super) fn slice_dims(spans: &[Span]) -> Vec<usize> {
    spans.iter().map(|s| s.len).collect()
}

/// The slice forward.
pub(super) fn slice(x: Tensor<4>, dims: &[usize], spans: &[Span], out: [usize; 4]) -> Tensor<4> {
    let (mut y, off) = view5(x, dims);
    for (i, s) in spans.iter().enumerate() {
        if s.step == 1 && s.start == 0 && s.len == dims[i] {
            continue;
        }
        y = match s.step {
            1 => y.narrow(off + i, s.start, s.len),
            step => {
                let idx: Vec<i64> = (0..s.len as i64)
                    .map(|k| s.start as i64 + k * step)
                    .collect();
                let idx = Tensor::<1, Int>::from_ints(idx.as_slice(), &y.device());
                y.select(off + i, idx)
            }
        };
    }
    y.reshape(out)
}

/// Gather's normalized indices along an axis of length `len`.
pub(super) fn gather_indices(indices: &[i64], len: usize) -> Result<Vec<i64>, String> {
    indices
        .iter()
        .map(|&i| {
            let j = if i < 0 {
                i.saturating_add(len as i64)
            } else {
                i
            };
            if (0..len as i64).contains(&j) {
                Ok(j)
            } else {
                Err(format!("index {i} is outside an axis of {len}"))
            }
        })
        .collect()
}

/// Gather's output dimensions: `dims` with axis `ax` replaced by `index_dims`.
pub(super) fn gather_dims(dims: &[usize], ax: usize, index_dims: &[usize]) -> Vec<usize> {
    let mut out = dims[..ax].to_vec();
    out.extend_from_slice(index_dims);
    out.extend_from_slice(&dims[ax + 1..]);
    out
}

/// The gather forward (`indices` normalized).
pub(super) fn gather(
    x: Tensor<4>,
    dims: &[usize],
    ax: usize,
    indices: &[i64],
    out: [usize; 4],
) -> Tensor<4> {
    let (y, off) = view5(x, dims);
    let y = match indices {
        [one] => y.narrow(off + ax, *one as usize, 1),
        many => {
            let idx = Tensor::<1, Int>::from_ints(many, &y.device());
            y.select(off + ax, idx)
        }
    };
    y.reshape(out)
}

/// Expand's output dimensions (bidirectional broadcasting of `dims` and the target).
pub(super) fn expand_dims(dims: &[usize], shape: &[Extent], batch: usize) -> Option<Vec<usize>> {
    let target: Vec<usize> = shape.iter().map(|e| e.at(batch)).collect();
    broadcast(dims, &target)
}

/// Tile's output dimensions.
pub(super) fn tile_dims(dims: &[usize], repeats: &[usize]) -> Option<Vec<usize>> {
    (repeats.len() == dims.len()).then(|| dims.iter().zip(repeats).map(|(d, r)| d * r).collect())
}

/// The tile forward (rank at most 4).
pub(super) fn tile(x: Tensor<4>, dims: &[usize], repeats: &[usize]) -> Tensor<4> {
    let off = 4 - dims.len();
    let mut y = x;
    for (i, &r) in repeats.iter().enumerate() {
        if r != 1 {
            y = y.repeat_dim(off + i, r);
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_clamp_as_onnx_does() {
        let d = [1, 67, 48];
        let s = slice_spans(&d, [&[1], &[3], &[i64::MAX], &[1]]).unwrap_or_default();
        assert_eq!(slice_dims(&s), [1, 64, 48]);
        let s = slice_spans(&d, [&[-1], &[-1], &[i64::MIN], &[-2]]).unwrap_or_default();
        assert_eq!(slice_dims(&s), [1, 67, 24]);
        assert!(slice_spans(&d, [&[3], &[0], &[1], &[1]]).is_err());
        assert!(slice_spans(&d, [&[0], &[0], &[1], &[0]]).is_err());
    }

    #[test]
    fn gather_replaces_the_axis_by_the_indices() {
        assert_eq!(gather_dims(&[3, 1, 3, 67, 16], 0, &[]), [1, 3, 67, 16]);
        assert_eq!(gather_dims(&[1, 67, 48], 1, &[2]), [1, 2, 48]);
        assert_eq!(gather_indices(&[-1, 0], 3), Ok(vec![2, 0]));
        assert!(gather_indices(&[3], 3).is_err());
    }
}
