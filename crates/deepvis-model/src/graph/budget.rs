//! The memory budget: from a graph's shapes at an input size, the bytes every value and
//! every weight needs and the peak of a forward pass (and of a backward one), checked before
//! anything is allocated. A model padded by 100000, a 65536-channel layer or a huge input is
//! refused with the node and the size instead of aborting the process.
//!
//! The budget is, in order: what [`set_memory_budget`] set (the `--memory-budget` flag), the
//! environment variable [`BUDGET_ENV`], else [`DEFAULT_SHARE`] of the machine's memory
//! (`/proc/meminfo`'s `MemTotal`, and no more than `MemAvailable`), else [`FALLBACK_BUDGET`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Graph, GraphError, Op, Shapes};
use crate::fsguard::human_bytes;

/// The environment variable that sets the budget (`8G`, `512M`, `1.5GB`, bytes).
pub const BUDGET_ENV: &str = "DEEPVIS_MEMORY_BUDGET";

/// The share of the machine's memory the default budget is.
pub const DEFAULT_SHARE: f64 = 0.5;

/// The budget where the machine's memory cannot be read.
pub const FALLBACK_BUDGET: u64 = 8 << 30;

/// Bytes per value element (every value is float32).
const ELEM: u128 = 4;

/// 0: no override.
static OVERRIDE: AtomicU64 = AtomicU64::new(0);

/// Sets the process's memory budget (`None` goes back to the environment or the default).
pub fn set_memory_budget(bytes: Option<u64>) {
    OVERRIDE.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// Parses a byte count: a number with an optional unit `k`, `M`, `G`, `T` (powers of 1024,
/// with or without a trailing `B` or `iB`, any case).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let scale = match unit {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let bytes = num * scale as f64;
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// The value of a `/proc/meminfo` field (`MemTotal`), in bytes.
pub fn meminfo_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        kb.checked_mul(1024)
    })
}

/// The default budget for a machine whose `/proc/meminfo` reads `meminfo`.
pub fn default_budget(meminfo: &str) -> Option<u64> {
    let total = meminfo_field(meminfo, "MemTotal")?;
    let share = (total as f64 * DEFAULT_SHARE) as u64;
    Some(match meminfo_field(meminfo, "MemAvailable") {
        Some(avail) => share.min(avail),
        None => share,
    })
}

/// The memory budget now, in bytes (see the module's documentation).
pub fn memory_budget() -> u64 {
    let o = OVERRIDE.load(Ordering::Relaxed);
    if o > 0 {
        return o;
    }
    if let Some(b) = std::env::var(BUDGET_ENV).ok().and_then(|v| parse_bytes(&v)) {
        return b;
    }
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| default_budget(&m))
        .unwrap_or(FALLBACK_BUDGET)
}

/// What a graph needs at one input size.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryEstimate {
    /// The constants (weights and others), in bytes.
    pub weights: u64,
    /// The largest value: its node and bytes.
    pub largest: Option<(String, u64)>,
    /// The most a forward pass holds at once (weights, live values and a node's scratch).
    pub forward_peak: u64,
    /// The node where the forward pass peaks.
    pub forward_peak_at: Option<String>,
    /// A backward pass's estimate: the weights, every value kept for the backward, and the
    /// two largest gradients at once.
    pub backward_peak: u64,
}

fn bytes_of(dims: &[usize]) -> u128 {
    dims.iter()
        .fold(ELEM, |acc, &d| acc.saturating_mul(d as u128))
}

fn clamp(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Graph {
    /// The scratch memory of a node beyond its output: a convolution's unfolded input (the
    /// CPU path's im2col) for one image and group, a transposed convolution's columns, a
    /// resize's half-way value (the columns resized, the rows not yet) and its matrices.
    fn scratch(&self, i: usize, shapes: &Shapes) -> u128 {
        let n = &self.nodes[i];
        match n.op {
            Op::ConvTranspose { .. } => {
                let w = n.inputs.get(1).and_then(|w| shapes.get(w));
                let x = n.inputs.first().and_then(|x| shapes.get(x));
                match (w, x) {
                    (Some([_, cout, kh, kw]), Some([_, _, h, wd])) => {
                        bytes_of(&[*cout, *kh, *kw, *h, *wd])
                    }
                    _ => 0,
                }
            }
            Op::Resize(_) => {
                let x = n.inputs.first().and_then(|x| shapes.get(x));
                let out = shapes.get(&n.output);
                match (x, out) {
                    (Some(x), Some(o)) if x.len() >= 2 && x.len() == o.len() => {
                        let mut d = x.to_vec();
                        let last = d.len() - 1;
                        d[last] = o[last];
                        // and the two interpolation matrices, [oh, h] and [ow, w]
                        bytes_of(&d)
                            .saturating_add(bytes_of(&[o[last - 1], x[last - 1]]))
                            .saturating_add(bytes_of(&[o[last], x[last]]))
                    }
                    _ => 0,
                }
            }
            Op::Conv { .. } => {
                let w = n.inputs.get(1).and_then(|w| shapes.get(w));
                let out = shapes.get(&n.output);
                match (w, out) {
                    (Some([_, cin, kh, kw]), Some([_, _, oh, ow])) => {
                        bytes_of(&[*cin, *kh, *kw, *oh, *ow])
                    }
                    _ => 0,
                }
            }
            _ => 0,
        }
    }

    /// The memory a pass over the graph needs with the value shapes `shapes`.
    pub fn memory(&self, shapes: &Shapes) -> MemoryEstimate {
        let weights: u128 = self
            .constants
            .keys()
            .filter_map(|k| shapes.get(k))
            .map(bytes_of)
            .fold(0, u128::saturating_add);
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for v in &n.inputs {
                last_use.insert(v, i);
            }
        }
        let size = |v: &str| {
            if self.constants.contains_key(v) {
                0
            } else {
                shapes.get(v).map(bytes_of).unwrap_or(0)
            }
        };
        let mut live = size(&self.input);
        let (mut peak, mut peak_at, mut all, mut largest) =
            (live, None, live, None::<(usize, u128)>);
        let (mut big1, mut big2) = (live, 0u128);
        for (i, n) in self.nodes.iter().enumerate() {
            let out = size(&n.output);
            all = all.saturating_add(out);
            if out > big1 {
                (big1, big2) = (out, big1);
            } else if out > big2 {
                big2 = out;
            }
            if largest.is_none_or(|(_, b)| out > b) {
                largest = Some((i, out));
            }
            live = live.saturating_add(out);
            let here = live.saturating_add(self.scratch(i, shapes));
            if here > peak {
                (peak, peak_at) = (here, Some(i));
            }
            for v in &n.inputs {
                if last_use.get(v.as_str()) == Some(&i) && !self.outputs.contains(v) {
                    live = live.saturating_sub(size(v));
                }
            }
        }
        MemoryEstimate {
            weights: clamp(weights),
            largest: largest.map(|(i, b)| (self.nodes[i].name.clone(), clamp(b))),
            forward_peak: clamp(weights.saturating_add(peak)),
            forward_peak_at: peak_at.map(|i| self.nodes[i].name.clone()),
            backward_peak: clamp(
                weights
                    .saturating_add(all)
                    .saturating_add(big1)
                    .saturating_add(big2),
            ),
        }
    }

    /// The memory estimate of a pass at an input of `dims` with the value shapes `shapes`,
    /// refused when a forward pass (and a backward one, when `backward`) would need more than
    /// `budget` bytes: the error names the node and the sizes.
    pub fn check_memory(
        &self,
        shapes: &Shapes,
        dims: [usize; 4],
        budget: u64,
        backward: bool,
    ) -> Result<MemoryEstimate, GraphError> {
        let est = self.memory(shapes);
        let how = format!(
            "the memory budget of {} (a share of this machine's memory; set it with \
             --memory-budget or {BUDGET_ENV})",
            human_bytes(budget)
        );
        let input = format!("{}x{}x{}x{}", dims[0], dims[1], dims[2], dims[3]);
        if est.weights > budget {
            return Err(GraphError {
                graph: self.name.clone(),
                node: "(weights)".into(),
                op: "constants".into(),
                reason: format!("the weights take {}, over {how}", human_bytes(est.weights)),
            });
        }
        let peak = if backward {
            est.backward_peak
        } else {
            est.forward_peak
        };
        if peak > budget {
            let at = est
                .largest
                .as_ref()
                .filter(|(_, b)| b.saturating_add(est.weights) > budget)
                .map(|(n, _)| n.clone())
                .or_else(|| est.forward_peak_at.clone())
                .unwrap_or_default();
            let node = self.nodes.iter().find(|n| n.name == at);
            let out = node.and_then(|n| shapes.get(&n.output)).unwrap_or(&[]);
            let value = clamp(bytes_of(out));
            let pass = if backward { "a backward" } else { "a forward" };
            let reason = format!(
                "its output {out:?} takes {}; {pass} pass at an input of {input} needs about {} \
                 in all, over {how}",
                human_bytes(value),
                human_bytes(peak)
            );
            return Err(match node {
                Some(n) => self.error(n, reason),
                None => GraphError {
                    graph: self.name.clone(),
                    node: at,
                    op: "?".into(),
                    reason,
                },
            });
        }
        Ok(est)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x [1, 1, 10, 10] -> relu `a` -> relu `b`: three values of 400 bytes.
    fn two_relus() -> Graph {
        let relu = |name: &str, input: &str| super::super::Node {
            name: name.into(),
            op_type: "Relu".into(),
            op: Op::Relu,
            inputs: vec![input.into()],
            output: name.into(),
        };
        Graph {
            name: "g".into(),
            input: "x".into(),
            input_channels: 1,
            nodes: vec![relu("a", "x"), relu("b", "a")],
            outputs: vec!["b".into()],
            ..Graph::default()
        }
    }

    #[test]
    fn the_forward_peak_frees_values_after_their_last_reader_and_the_backward_keeps_them() {
        let g = two_relus();
        let shapes = g.shapes(1, 10, 10).unwrap_or_default();
        let est = g.memory(&shapes);
        assert_eq!(est.weights, 0);
        // x and a live together, then a and b
        assert_eq!(est.forward_peak, 800);
        assert_eq!(est.forward_peak_at.as_deref(), Some("a"));
        // every value kept, and two gradients of the largest size
        assert_eq!(est.backward_peak, 2000);
        let dims = [1, 1, 10, 10];
        assert!(g.check_memory(&shapes, dims, 1000, false).is_ok());
        let e = g.check_memory(&shapes, dims, 1000, true).err();
        let e = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("backward") && e.contains("1.0 kB"), "{e}");
    }

    #[test]
    fn byte_counts_parse_with_units() {
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("8G"), Some(8 << 30));
        assert_eq!(parse_bytes("512 MiB"), Some(512 << 20));
        assert_eq!(parse_bytes("1.5gb"), Some(3 << 29));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("0"), None);
    }

    #[test]
    fn the_default_is_half_the_memory_and_no_more_than_what_is_available() {
        let m = "MemTotal:       16000000 kB\nMemFree: 1 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(default_budget(m), Some(4_000_000 * 1024));
        let m = "MemTotal:       16000000 kB\nMemAvailable:   15000000 kB\n";
        assert_eq!(default_budget(m), Some(8_000_000 * 1024));
        assert_eq!(default_budget("nothing"), None);
    }
}
