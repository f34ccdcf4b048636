//! The structural fuzzer of ONNX files: instead of flipping bytes, it decodes a real model and
//! changes its structure (dimensions, attributes, names, initializer sizes, node order,
//! external-data entries, the input's size), then re-encodes it. Each case is loaded as
//! `--model` loads it, checked against a small memory budget, and when accepted run forward
//! on the CPU, with the process's peak memory measured: a case that takes more than the
//! budget allowed is a finding, like a panic or a hang.

use std::path::Path;

use deepvis_onnx::proto::{
    AttributeProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto, dtype,
};
use prost::Message;

use crate::mutate::Rng;
use crate::targets::Refusal;

/// The memory budget a structural case is checked against.
pub const CASE_BUDGET: u64 = 256 << 20;

/// The peak memory above the budget a case may take (the runtime's own buffers, threads).
const SLACK: u64 = 512 << 20;

/// The shared models the structural fuzzer starts from (small CNNs deepvis loads, and two
/// exporter-style graphs whose shape arithmetic is folded at load).
pub const SEEDS: [&str; 6] = [
    "models/ops/caffenet_mini.onnx",
    "models/ops/resnet_mini.onnx",
    "models/ops/mobile_mini.onnx",
    "models/ops/preproc_mini.onnx",
    "models/ops/vit_mini.onnx",
    "models/ops/detect_mini.onnx",
];

/// Extreme values for dimensions and integer attributes.
const EXTREMES: [i64; 12] = [
    0,
    -1,
    1,
    2,
    3,
    7,
    4096,
    10_000,
    65_536,
    100_000,
    1 << 31,
    i64::MAX,
];

/// External-data locations a case may name (the target makes the files in its scratch
/// folder: a plain file, a link out of the folder, a named pipe, a link to a device).
const LOCATIONS: [&str; 8] = [
    "w.bin",
    "link.bin",
    "fifo.bin",
    "zero.bin",
    "../w.bin",
    "/etc/passwd",
    "missing.bin",
    "sub/../w.bin",
];

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> Option<&'a T> {
    (!v.is_empty()).then(|| &v[rng.below(v.len())])
}

fn pick_mut<'a, T>(rng: &mut Rng, v: &'a mut [T]) -> Option<&'a mut T> {
    if v.is_empty() {
        None
    } else {
        let i = rng.below(v.len());
        Some(&mut v[i])
    }
}

fn extreme(rng: &mut Rng, like: i64) -> i64 {
    match rng.below(4) {
        0 => like.saturating_mul(1 + rng.below(64) as i64),
        1 => -like,
        _ => EXTREMES[rng.below(EXTREMES.len())],
    }
}

/// A name that a file name or a lookup may choke on.
fn hostile_name(rng: &mut Rng, names: &[String]) -> String {
    match rng.below(6) {
        0 => "../../escape".into(),
        1 => "/etc/x".into(),
        2 => String::new(),
        3 => "a\nb\0c".into(),
        4 => "n".repeat(300),
        _ => pick(rng, names).cloned().unwrap_or_default(),
    }
}

/// One structural change of `m`.
fn mutate_once(rng: &mut Rng, m: &mut ModelProto) {
    let Some(g) = m.graph.as_mut() else {
        return;
    };
    let values: Vec<String> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().chain(&n.input).cloned())
        .collect();
    match rng.below(9) {
        // a dimension of an initializer
        0 => {
            if let Some(t) = pick_mut(rng, &mut g.initializer)
                && let Some(d) = pick_mut(rng, &mut t.dims)
            {
                *d = extreme(rng, *d);
            }
        }
        // an integer attribute (pads, strides, kernel_shape, group, axis, ...)
        1 => {
            if let Some(n) = pick_mut(rng, &mut g.node) {
                attribute(rng, n);
            }
        }
        // a node's name or one of its values' names
        2 => {
            if let Some(n) = pick_mut(rng, &mut g.node) {
                rename(rng, n, &values);
            }
        }
        // an initializer's data cut, grown or retyped
        3 => {
            if let Some(t) = pick_mut(rng, &mut g.initializer) {
                resize_data(rng, t);
            }
        }
        // node order: two swapped, one repeated, or all reversed
        4 => {
            let n = g.node.len();
            if n > 1 {
                match rng.below(3) {
                    0 => g.node.swap(rng.below(n), rng.below(n)),
                    1 => {
                        let dup = g.node[rng.below(n)].clone();
                        g.node.insert(rng.below(n + 1), dup);
                    }
                    _ => g.node.reverse(),
                }
            }
        }
        // an initializer moved to external data
        5 => {
            if let Some(t) = pick_mut(rng, &mut g.initializer) {
                external(rng, t);
            }
        }
        // the input's size or channels
        6 => {
            if let Some(dim) = g
                .input
                .first_mut()
                .and_then(|i| i.r#type.as_mut())
                .and_then(|t| t.tensor_type.as_mut())
                .and_then(|t| t.shape.as_mut())
                .map(|s| &mut s.dim)
                && let Some(d) = pick_mut(rng, dim)
            {
                d.dim_value = if rng.one_in(4) {
                    None
                } else {
                    Some(extreme(rng, d.dim_value.unwrap_or(224)))
                };
            }
        }
        // a node dropped
        7 => {
            if !g.node.is_empty() {
                g.node.remove(rng.below(g.node.len()));
            }
        }
        // the opset
        _ => {
            if let Some(o) = m.opset_import.first_mut() {
                o.version = [1, 8, 9, 13, 18, 19, i64::MAX][rng.below(7)];
            }
        }
    }
}

/// A node's name, or one of its values' names, made hostile (or another value's name: two
/// producers, a cycle).
fn rename(rng: &mut Rng, n: &mut NodeProto, values: &[String]) {
    let name = hostile_name(rng, values);
    match rng.below(3) {
        0 => n.name = name,
        1 => {
            if let Some(o) = pick_mut(rng, &mut n.output) {
                *o = name;
            }
        }
        _ => {
            if let Some(i) = pick_mut(rng, &mut n.input) {
                *i = name;
            }
        }
    }
}

/// An initializer's data cut, grown or retyped.
fn resize_data(rng: &mut Rng, t: &mut TensorProto) {
    match rng.below(3) {
        0 => {
            let keep = rng.below(t.raw_data.len() + 1);
            t.raw_data.truncate(keep);
        }
        1 => t
            .raw_data
            .extend(std::iter::repeat_n(0u8, 4 * rng.below(64))),
        _ => {
            t.data_type = [dtype::FLOAT, dtype::DOUBLE, dtype::INT64, dtype::BOOL, 10][rng.below(5)]
        }
    }
}

/// Changes, adds or drops an integer attribute of `n`.
fn attribute(rng: &mut Rng, n: &mut NodeProto) {
    const NAMES: [&str; 8] = [
        "pads",
        "strides",
        "kernel_shape",
        "dilations",
        "group",
        "axis",
        "ceil_mode",
        "count_include_pad",
    ];
    if rng.one_in(4) && !n.attribute.is_empty() {
        n.attribute.remove(rng.below(n.attribute.len()));
        return;
    }
    let name = NAMES[rng.below(NAMES.len())];
    let len = [0, 1, 2, 4][rng.below(4)];
    let ints: Vec<i64> = (0..len).map(|_| extreme(rng, 1)).collect();
    let value = AttributeProto {
        name: name.into(),
        r#type: if len == 0 { 2 } else { 7 },
        i: extreme(rng, 1),
        ints,
        ..Default::default()
    };
    match n.attribute.iter_mut().find(|a| a.name == name) {
        Some(a) => *a = value,
        None => n.attribute.push(value),
    }
}

/// Moves `t`'s data to an external file of [`LOCATIONS`], at an offset and length that may
/// be wrong.
fn external(rng: &mut Rng, t: &mut TensorProto) {
    let len = t.raw_data.len() as u64;
    t.raw_data.clear();
    t.data_location = 1;
    let mut entries = vec![StringStringEntryProto {
        key: "location".into(),
        value: LOCATIONS[rng.below(LOCATIONS.len())].into(),
    }];
    if rng.one_in(2) {
        entries.push(StringStringEntryProto {
            key: "offset".into(),
            value: [0, 4, 1 << 40, u64::MAX][rng.below(4)].to_string(),
        });
    }
    if rng.one_in(2) {
        entries.push(StringStringEntryProto {
            key: "length".into(),
            value: [len, 0, len + 4, 1 << 40][rng.below(4)].to_string(),
        });
    }
    t.external_data = entries;
}

/// A structural mutation of the ONNX file `seed` (one to three changes); the seed's bytes
/// flipped instead when it does not decode.
pub fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let Ok(mut m) = ModelProto::decode(seed) else {
        let mut d = seed.to_vec();
        crate::mutate::mutate(rng, &mut d, seed);
        return d;
    };
    for _ in 0..1 + rng.below(3) {
        mutate_once(rng, &mut m);
    }
    m.encode_to_vec()
}

/// Makes the model's folder in `scratch` (once) with the files external data may name: a
/// plain file, a link to a file outside the folder, a link to `/dev/zero`, a named pipe; and
/// a file outside it (`../w.bin`). Returns the model's folder.
fn prepare(scratch: &Path) -> std::io::Result<std::path::PathBuf> {
    let dir = scratch.join("model");
    let w = dir.join("w.bin");
    if w.exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(dir.join("sub"))?;
    let outside = scratch.join("w.bin");
    std::fs::write(&outside, vec![0u8; 4096])?;
    #[cfg(unix)]
    {
        let _ = std::os::unix::fs::symlink(&outside, dir.join("link.bin"));
        let _ = std::os::unix::fs::symlink("/dev/zero", dir.join("zero.bin"));
        let _ = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo.bin"))
            .status();
    }
    std::fs::write(&w, vec![0u8; 4096])?;
    Ok(dir)
}

/// The multiply-adds of a forward pass (convolutions and matrix products), to keep the
/// fuzzer's forward passes short: a case within the memory budget may still compute for
/// minutes (a huge kernel on a small map).
fn macs(g: &deepvis_model::graph::Graph, shapes: &deepvis_model::graph::Shapes) -> u128 {
    g.nodes
        .iter()
        .map(|n| {
            let out: u128 = shapes
                .get(&n.output)
                .map(|d| d.iter().map(|&v| v as u128).product())
                .unwrap_or(0);
            let w: u128 = n
                .inputs
                .get(1)
                .and_then(|w| shapes.get(w))
                .map(|d| d.iter().skip(1).map(|&v| v as u128).product())
                .unwrap_or(1);
            out.saturating_mul(w)
        })
        .fold(0, u128::saturating_add)
}

/// The most multiply-adds a case is run forward with.
const MAX_MACS: u128 = 200_000_000;

/// Peak resident memory of this process since the last reset, and a reset (Linux: the
/// `VmHWM` of `/proc/self/status`, reset by writing 5 to `/proc/self/clear_refs`).
fn peak_rss(reset: bool) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let hwm = field("VmHWM:");
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        return field("VmRSS:");
    }
    hwm
}

/// Runs one structural case: load (as `--model` does), the memory check at the model's input
/// size, and a forward pass on the CPU when the check passes; the peak memory is measured.
pub fn run(bytes: &[u8], scratch: &Path) -> Result<(), Refusal> {
    let dir = prepare(scratch)?;
    let path = dir.join("case.onnx");
    std::fs::write(&path, bytes)?;
    let before = peak_rss(true);
    let m = deepvis_onnx::load(&path)?;
    let g = &m.graph;
    let [h, w] = g.input_hw.unwrap_or([32, 32]);
    let shapes = g.shapes(1, h, w).map_err(deepvis_model::Error::Graph)?;
    let est = g
        .check_memory(&shapes, [1, g.input_channels, h, w], CASE_BUDGET, false)
        .map_err(deepvis_model::Error::Graph)?;
    let flags = deepvis_onnx::spec::Sidecar {
        size: (h == w).then_some(h),
        ..Default::default()
    };
    let spec = deepvis_onnx::spec::model_input(&path, g.input_hw, &flags)?.spec;
    if h != w || macs(g, &shapes) > MAX_MACS {
        return Ok(());
    }
    let cpu = deepvis_model::device::cpu();
    let net = deepvis_model::Net::from_any_graph(m.graph.clone(), "case", spec, None, &cpu.device)?;
    let x = deepvis_model::tensor4(
        vec![0.5; g.input_channels * h * w],
        [1, g.input_channels, h, w],
        &cpu.device,
    )?;
    let logits = net.info().logits_layer().to_string();
    net.forward(x, &deepvis_model::Request::layers(&[logits]))?;
    if let (Some(before), Some(peak)) = (before, peak_rss(false)) {
        let used = peak.saturating_sub(before);
        if used > est.forward_peak.max(CASE_BUDGET) + SLACK {
            return Err(Refusal::Overrun(format!(
                "the forward pass took {used} bytes at its peak, where the estimate was {} \
                 and the budget {CASE_BUDGET}",
                est.forward_peak
            )));
        }
    }
    Ok(())
}
