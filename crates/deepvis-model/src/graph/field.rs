//! Receptive fields through a graph: the input pixels a unit can see, following the
//! geometry of every convolution, pooling and pad back to the input through every branch.

use std::collections::HashMap;

use super::shape::Shapes;
use super::{Graph, GraphError, Layout, Op};
use crate::arch::Region;

/// An inclusive box `[y0, y1] x [x0, x1]` in some value's coordinates, or the whole input.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    Box([i64; 4]),
    Whole,
}

impl Field {
    fn union(self, o: Field) -> Field {
        match (self, o) {
            (Field::Box(a), Field::Box(b)) => Field::Box([
                a[0].min(b[0]),
                a[1].max(b[1]),
                a[2].min(b[2]),
                a[3].max(b[3]),
            ]),
            _ => Field::Whole,
        }
    }
}

/// The `[H, W]` of a value held as `layout` says (a sequence's: its patch grid).
fn spatial(d: &[usize], layout: Layout) -> Option<[usize; 2]> {
    match (d, layout) {
        (&[_, h, w, _], Layout::ChannelsLast) => Some([h, w]),
        (&[_, _, h, w], Layout::ChannelsFirst) => Some([h, w]),
        (&[_, _, _], Layout::Tokens(g)) => Some([g.h, g.w]),
        (&[_, _, _], Layout::Flat { h, w }) => Some([h, w]),
        _ => None,
    }
}

/// The field on input `k` of a node with `op` (`in_hw` and `out_hw` that input's and the
/// output's spatial size) given its field `f` on the output; `None` where that input does not
/// carry the field (a convolution's weights, a 1x1 gate broadcast over the map).
fn through(
    f: Field,
    op: &Op,
    k: usize,
    in_hw: Option<[usize; 2]>,
    out_hw: Option<[usize; 2]>,
) -> Option<Field> {
    Some(match (f, op) {
        (Field::Whole, _) => Field::Whole,
        (Field::Box(b), Op::Conv { window, .. } | Op::MaxPool(window))
        | (Field::Box(b), Op::AveragePool { window, .. }) => {
            if k > 0 {
                return None;
            }
            let hw = in_hw?;
            let p = window.pads(hw);
            let (s, d, kk) = (window.strides, window.dilations, window.kernel);
            let map = |a: i64, i: usize| a * s[i] as i64 - p[i] as i64;
            let ext = |i: usize| ((kk[i] - 1) * d[i]) as i64;
            Field::Box([
                map(b[0], 0),
                map(b[1], 0) + ext(0),
                map(b[2], 1),
                map(b[3], 1) + ext(1),
            ])
        }
        (Field::Box(b), Op::ConvTranspose { window, .. }) => {
            if k > 0 {
                return None;
            }
            // output o gathers input i where o = i * s - p + j * d for a tap j < k
            let p = window.pads([0, 0]);
            let (s, d, kk) = (window.strides, window.dilations, window.kernel);
            let lo = |o: i64, i: usize| {
                (o + p[i] as i64 - ((kk[i] - 1) * d[i]) as i64).div_euclid(s[i] as i64)
            };
            let hi = |o: i64, i: usize| (o + p[i] as i64).div_euclid(s[i] as i64);
            Field::Box([lo(b[0], 0), hi(b[1], 0), lo(b[2], 1), hi(b[3], 1)])
        }
        (Field::Box(b), Op::Resize(_)) => {
            // the input rows the output rows interpolate (cubic: two on each side)
            let (i, o) = (in_hw?, out_hw?);
            let map = |v: i64, a: usize, end: bool| {
                let x = (v as f64 + 0.5) * i[a] as f64 / o[a] as f64;
                match end {
                    true => x.ceil() as i64 + 1,
                    false => x.floor() as i64 - 2,
                }
            };
            Field::Box([
                map(b[0], 0, false).max(0),
                map(b[1], 0, true).min(i[0] as i64 - 1),
                map(b[2], 1, false).max(0),
                map(b[3], 1, true).min(i[1] as i64 - 1),
            ])
        }
        (Field::Box(b), Op::Pad { pads, .. }) => {
            let r = pads.len() / 2;
            if r < 2 {
                Field::Whole
            } else {
                let (py, px) = (pads[r - 2], pads[r - 1]);
                Field::Box([b[0] - py, b[1] - py, b[2] - px, b[3] - px])
            }
        }
        // a map flattened (or unflattened) keeps its places
        (Field::Box(b), Op::Reshape { .. }) if in_hw.is_some() && in_hw == out_hw => Field::Box(b),
        (
            Field::Box(_),
            Op::GlobalAveragePool
            | Op::AdaptiveAvgPool { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Flatten { .. }
            | Op::Reshape { .. },
        ) => Field::Whole,
        (Field::Box(_), Op::Softmax { axis, .. })
            if !(out_hw.is_some() && (*axis == 1 || *axis == -3)) =>
        {
            Field::Whole
        }
        (Field::Box(b), _) => match (in_hw, out_hw) {
            (Some(i), Some(o)) if i == o => Field::Box(b),
            // a 1x1 gate broadcast over the map: follow the map only
            (Some([1, 1]), Some(_)) | (None, Some(_)) => return None,
            _ => Field::Whole,
        },
    })
}

impl Graph {
    /// The input pixels unit `(y, x)` of node `name` can see (half-open, possibly reaching
    /// into the padding), for the input size of `shapes`. Units of global values (after a
    /// global pooling, a fully connected layer, a flatten) see the whole input. Where a map is
    /// multiplied or added with a 1x1 value (a squeeze-excitation gate), the field follows the
    /// map, not the gate's global path.
    pub fn receptive_field(
        &self,
        name: &str,
        (y, x): (usize, usize),
        shapes: &Shapes,
    ) -> Result<Region, GraphError> {
        let idx = self.node_index(name).ok_or_else(|| GraphError {
            graph: self.name.clone(),
            node: name.to_string(),
            op: "?".into(),
            reason: "no such node".into(),
        })?;
        let dim = |v: &str| shapes.get(v).unwrap_or(&[]).to_vec();
        let layouts = self.layouts();
        let layout = |v: &str| layouts.get(v).copied().unwrap_or_default();
        let hw = |v: &str| spatial(&dim(v), layout(v));
        let input = dim(&self.input);
        let whole = Region {
            y0: 0,
            x0: 0,
            y1: input.get(2).copied().unwrap_or(1) as i64,
            x1: input.get(3).copied().unwrap_or(1) as i64,
        };
        let mut fields: HashMap<&str, Field> = HashMap::new();
        let out = &self.nodes[idx].output;
        let start = match hw(out) {
            Some([h, w]) if y < h && x < w => Field::Box([y as i64, y as i64, x as i64, x as i64]),
            Some([h, w]) => {
                return Err(self.error(
                    &self.nodes[idx],
                    format!("position (y {y}, x {x}) is outside its {h}x{w} map"),
                ));
            }
            None => Field::Whole,
        };
        fields.insert(out, start);
        for node in self.nodes[..=idx].iter().rev() {
            let Some(&f) = fields.get(node.output.as_str()) else {
                continue;
            };
            let out_hw = hw(&node.output);
            for (k, inp) in node.inputs.iter().enumerate() {
                if self.constants.contains_key(inp) {
                    continue;
                }
                let in_hw = hw(inp);
                // a channels-last value or a sequence times a matrix (one data input) mixes
                // each pixel's or token's channels alone; two data inputs (attention) mix
                // every token with every other
                let per_pixel = matches!(node.op, Op::MatMul)
                    && matches!(layout(inp), Layout::ChannelsLast | Layout::Tokens(_))
                    && node
                        .inputs
                        .iter()
                        .filter(|i| !self.constants.contains_key(*i))
                        .count()
                        == 1;
                let mapped = match per_pixel {
                    true => Some(f),
                    false => through(f, &node.op, k, in_hw, out_hw),
                };
                let Some(mapped) = mapped else {
                    continue;
                };
                let e = fields.entry(inp.as_str()).or_insert(mapped);
                *e = e.union(mapped);
            }
        }
        Ok(match fields.get(self.input.as_str()) {
            Some(Field::Box(b)) => Region {
                y0: b[0],
                x0: b[2],
                y1: b[1] + 1,
                x1: b[3] + 1,
            },
            _ => whole,
        })
    }
}
