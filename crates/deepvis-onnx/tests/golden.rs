//! Every node of the four `ops` models against ONNX Runtime's outputs, EfficientNet-Lite0's
//! logits and inner nodes on the four photos, SqueezeNet from ONNX against the built-in one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use deepvis_model::graph::{GraphNet, Layout};
use deepvis_model::{Arch, Net, Request, to_vec};
use safetensors::{Dtype, SafeTensors};

struct Golden {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    meta: HashMap<String, String>,
}

fn golden(path: &Path) -> Golden {
    let bytes = std::fs::read(path).expect("golden file");
    let (_, meta) = SafeTensors::read_metadata(&bytes).expect("golden header");
    let st = SafeTensors::deserialize(&bytes).expect("golden file");
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            continue;
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), data));
    }
    Golden {
        tensors,
        meta: meta.metadata().clone().unwrap_or_default(),
    }
}

fn models() -> PathBuf {
    deepvis_testdata::shared().join("models")
}

fn cpu() -> Device {
    deepvis_model::device::cpu().device
}

/// `|got - want| <= tol * max|want|` everywhere; returns the worst relative difference.
fn close(name: &str, got: &[f32], want: &[f32], tol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs() / scale;
        assert!(
            d <= tol,
            "{name}: element {i} is {g}, ONNX Runtime gives {w} (max|ref| {scale})"
        );
        worst = worst.max(d);
    }
    worst
}

fn input(shape: &[usize], data: &[f32], device: &Device) -> Tensor<4> {
    let dims: [usize; 4] = shape.try_into().expect("4-d input");
    Tensor::from_data(TensorData::new(data.to_vec(), dims), device)
}

fn check_ops_model(name: &str) {
    let dir = models().join("ops");
    let m = deepvis_onnx::load(&dir.join(format!("{name}.onnx"))).expect("load");
    let g = golden(&dir.join(format!("{name}.golden.safetensors")));
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let (shape, data) = &g.tensors["input"];
    let names: Vec<String> = net.graph().nodes.iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let taps = net
        .forward(input(shape, data, &device), &refs, &[])
        .expect("forward");
    let order: Vec<String> =
        serde_json::from_str(&g.meta["node_outputs"]).expect("node_outputs metadata");
    let mut checked = 0;
    for node in &net.graph().nodes {
        let (want_shape, want) = g
            .tensors
            .get(&node.output)
            .unwrap_or_else(|| panic!("{name}: golden has no {}", node.output));
        let got = taps.outputs[&node.name].clone();
        let got_n: usize = got.dims().iter().product();
        assert_eq!(got_n, want_shape.iter().product::<usize>(), "{}", node.name);
        let w = close(
            &format!("{name}/{}", node.name),
            &to_vec(got).expect("read"),
            want,
            1e-4,
        );
        eprintln!(
            "{name}: {:<28} {:<18} worst {w:.2e}",
            node.name, node.op_type
        );
        checked += 1;
    }
    // every node the file has, but the folded constants, was run and compared
    let constants = order
        .iter()
        .filter(|o| !g.tensors.contains_key(*o) || net.graph().node_index(o).is_none())
        .count();
    assert_eq!(checked + constants, order.len(), "{name}: nodes compared");
    assert!(checked >= 10, "{name}: only {checked} nodes");
}

#[test]
fn caffenet_mini_every_node() {
    check_ops_model("caffenet_mini");
}

#[test]
fn resnet_mini_every_node() {
    check_ops_model("resnet_mini");
}

/// A model of `make_modern.py`: every node for both inputs (`photo/...`, `noise/...`), and the
/// graph outputs for the two as one batch of 2 (`batch2/...`).
fn check_modern_model(name: &str) {
    let dir = models().join("ops");
    let m = deepvis_onnx::load(&dir.join(format!("{name}.onnx"))).expect("load");
    let g = golden(&dir.join(format!("{name}.golden.safetensors")));
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let names: Vec<String> = net.graph().nodes.iter().map(|n| n.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let order: Vec<String> =
        serde_json::from_str(&g.meta["node_outputs"]).expect("node_outputs metadata");
    // the tensor fed is keyed by the graph input's name (`input`, detect_mini's `images`)
    let input_name = g.meta.get("input_name").map_or("input", String::as_str);
    for label in ["photo", "noise"] {
        let (shape, data) = &g.tensors[&format!("{label}/{input_name}")];
        let taps = net
            .forward(input(shape, data, &device), &refs, &[])
            .expect("forward");
        let mut checked = 0;
        for node in &net.graph().nodes {
            let key = format!("{label}/{}", node.output);
            let (want_shape, want) = g
                .tensors
                .get(&key)
                .unwrap_or_else(|| panic!("{name}: golden has no {key}"));
            let w = compare_shown(
                &format!("{name}/{key}"),
                &taps,
                &node.name,
                net.layout(&node.output),
                (want_shape, want),
                1e-4,
            );
            eprintln!("{key:<60} {:<18} worst {w:.2e}", node.op_type);
            checked += 1;
        }
        let folded = order
            .iter()
            .filter(|o| net.graph().node_index(o).is_none())
            .count();
        assert_eq!(
            checked + folded,
            order.len(),
            "{name}/{label}: nodes compared"
        );
    }
    // detect_mini's input is [1, 3, 64, 64]: its golden has no batch of 2
    let Some((shape, data)) = g.tensors.get("batch2/input") else {
        return;
    };
    let outputs = net.graph().outputs.clone();
    let refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let taps = net
        .forward(input(shape, data, &device), &refs, &[])
        .expect("batch of 2");
    for o in &outputs {
        let (_, want) = &g.tensors[&format!("batch2/{o}")];
        let got = to_vec(taps.outputs[o].clone()).expect("read");
        close(&format!("{name}/batch2/{o}"), &got, want, 1e-4);
    }
}

#[test]
fn vit_mini_every_node() {
    // CLS and register tokens through `expand(B, -1, -1)`, decomposed LayerNorm, Erf GELU,
    // attention as the exporter writes it (a rank-5 [B, T, 3, heads, dim] picked into q, k, v)
    check_modern_model("vit_mini");
}

#[test]
fn detect_mini_every_node() {
    // SiLU, Split into two outputs, SPPF poolings, a nearest Resize, a head whose reshape
    // targets are computed from Shape
    check_modern_model("detect_mini");
}

/// The real PyTorch 2.7 ViT export (DINOv2-S/14 backbone, 1485 nodes of which 709 shape
/// arithmetic folded at load; a cubic Resize of the position table, a ConvTranspose decoder, a
/// linear Resize to the input size): block 0's input, the 12 block outputs, three attention
/// maps and the saliency map, for the photo and for noise, against ONNX Runtime. Tolerance
/// as the model's README: 1e-4 of each tensor's largest magnitude (at least 1).
#[test]
fn vit_s_focus_blocks_attention_and_map() {
    let dir = models().join("vit_s_focus");
    let started = std::time::Instant::now();
    let m = deepvis_onnx::load(&dir.join("vit_s_focus.onnx")).expect("load");
    assert_eq!(
        m.graph.input_hw,
        Some([224, 224]),
        "folded for its 224x224 input"
    );
    // the shape arithmetic is gone: no node computes integers
    let ops: std::collections::BTreeSet<&str> =
        m.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    for folded in [
        "Shape",
        "Gather",
        "Unsqueeze",
        "ConstantOfShape",
        "Equal",
        "Where",
    ] {
        assert!(!ops.contains(folded), "{folded} left in the graph: {ops:?}");
    }
    let g = golden(&dir.join("golden.safetensors"));
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
    let names: Vec<String> = serde_json::from_str(&g.meta["tensors"]).expect("tensors metadata");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for label in ["dog", "noise"] {
        let (shape, data) = &g.tensors[&format!("{label}/input_image")];
        let taps = net
            .forward(input(shape, data, &device), &refs, &[])
            .expect("forward");
        for name in &names {
            let (want_shape, want) = &g.tensors[&format!("{label}/{name}")];
            // a block's tokens are shown as 384 maps of 16x16, the CLS token apart
            let layout = net.layout(name);
            let (want, want_lead) = shown(layout, want_shape, want);
            let want = &[want, want_lead].concat();
            let mut got = to_vec(taps.outputs[name.as_str()].clone()).expect("read");
            if let Some(lead) = taps.leading.get(name.as_str()) {
                got.extend(to_vec(lead.clone()).expect("read"));
            }
            assert_eq!(got.len(), want_shape.iter().product::<usize>(), "{name}");
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs() / scale)
                .fold(0f32, f32::max);
            // probabilities and the map absolutely to 1e-5, the residual stream relatively
            let tol = match name.contains("Softmax") || name == "output_importance" {
                true => 1e-5,
                false => 1e-4,
            };
            eprintln!("{label}/{name:<64} worst {worst:.2e}");
            assert!(worst <= tol, "{label}/{name}: {worst} of {scale}");
        }
    }
    // the photo and the noise as one batch of 2: the same maps (the folded reshapes and the
    // CLS token's expand follow the batch size)
    let cat = |key: &str| -> Vec<f32> {
        ["dog", "noise"]
            .iter()
            .flat_map(|l| g.tensors[&format!("{l}/{key}")].1.clone())
            .collect()
    };
    let batch = Tensor::<4>::from_data(
        TensorData::new(cat("input_image"), [2, 3, 224, 224]),
        &device,
    );
    let taps = net
        .forward(batch, &["output_importance"], &[])
        .expect("batch of 2");
    let got = to_vec(taps.outputs["output_importance"].clone()).expect("read");
    close(
        "batch2/output_importance",
        &got,
        &cat("output_importance"),
        1e-5,
    );
    eprintln!(
        "vit_s_focus: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// vit_s_focus loaded again for a 280x280 input: the shape arithmetic is folded anew (20x20
/// patches + CLS = 401 tokens, the position table resized to 20x20), and the map follows the
/// input's size.
#[test]
fn vit_s_focus_refolds_for_another_input_size() {
    let path = models().join("vit_s_focus/vit_s_focus.onnx");
    let m = deepvis_onnx::load_at(&path, Some([280, 280])).expect("load at 280");
    assert_eq!(m.graph.input_hw, Some([280, 280]));
    let shapes = m.graph.shapes(1, 280, 280).expect("shapes at 280");
    assert_eq!(
        shapes.get("/backbone/encoder/layer.11/Add_1_output_0"),
        Some(&[1, 401, 384][..])
    );
    assert_eq!(shapes.get("output_importance"), Some(&[1, 1, 280, 280][..]));
    // folded for 280, the graph refuses 224 with a clear error rather than wrong tokens
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let x = Tensor::<4>::zeros([1, 3, 224, 224], &device);
    let e = net.forward(x, &["output_importance"], &[]).err();
    let e = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("280x280"), "{e}");
    let x = Tensor::<4>::ones([1, 3, 280, 280], &device) * 0.5;
    let taps = net
        .forward(x, &["output_importance"], &[])
        .expect("forward at 280");
    let map = to_vec(taps.outputs["output_importance"].clone()).expect("read");
    assert_eq!(map.len(), 280 * 280);
    assert!(
        map.iter().all(|v| (0.0..=1.0).contains(v)),
        "a sigmoid's map"
    );
}

/// A golden value as deepvis shows it: `[N, C, H, W]` (channels-last values reordered, a
/// sequence's patches as maps) and a sequence's leading tokens `[N, lead, D]`.
fn shown(layout: Layout, shape: &[usize], data: &[f32]) -> (Vec<f32>, Vec<f32>) {
    match layout {
        Layout::ChannelsLast => (nhwc_to_nchw(shape, data), Vec::new()),
        Layout::Tokens(g) => {
            let [n, t, d]: [usize; 3] = shape.try_into().expect("a 3-d value");
            let (mut maps, mut lead) = (vec![0f32; n * d * g.h * g.w], Vec::new());
            for b in 0..n {
                for tok in 0..t {
                    let row = &data[(b * t + tok) * d..(b * t + tok + 1) * d];
                    match tok.checked_sub(g.lead) {
                        None => lead.extend_from_slice(row),
                        Some(p) => {
                            for (ch, v) in row.iter().enumerate() {
                                maps[(b * d + ch) * g.h * g.w + p] = *v;
                            }
                        }
                    }
                }
            }
            (maps, lead)
        }
        Layout::ChannelsFirst | Layout::Flat { .. } => (data.to_vec(), Vec::new()),
    }
}

/// Compares node `node`'s taps (its maps and its leading tokens) with a golden value, as
/// deepvis shows it; the worst difference.
fn compare_shown(
    what: &str,
    taps: &deepvis_model::graph::GraphTaps,
    node: &str,
    layout: Layout,
    (want_shape, want): (&[usize], &[f32]),
    tol: f32,
) -> f32 {
    let (maps, lead) = shown(layout, want_shape, want);
    let got = to_vec(taps.outputs[node].clone()).expect("read");
    assert_eq!(got.len(), maps.len(), "{what}: maps");
    let mut worst = close(what, &got, &maps, tol);
    match taps.leading.get(node) {
        Some(l) => {
            let got = to_vec(l.clone()).expect("read");
            worst = worst.max(close(&format!("{what} (leading tokens)"), &got, &lead, tol));
        }
        None => assert!(lead.is_empty(), "{what}: no leading tokens came"),
    }
    worst
}

/// `[N, H, W, C]` values reordered as `[N, C, H, W]`.
fn nhwc_to_nchw(shape: &[usize], data: &[f32]) -> Vec<f32> {
    let [_, h, w, c]: [usize; 4] = shape.try_into().expect("a 4-d value");
    let mut out = vec![0f32; data.len()];
    for (i, v) in data.iter().enumerate() {
        let (b, y, x, ch) = (i / (h * w * c), (i / (w * c)) % h, (i / c) % w, i % c);
        out[((b * c + ch) * h + y) * w + x] = *v;
    }
    out
}

/// ConvNeXt's channels-last values (between a block's Transpose to [N, H, W, C] and the one
/// back) are shown as the maps they are: the layer table reads them as channels of H x W maps,
/// and the receptive field goes through them (a LayerNormalization and a product by a matrix
/// mix each pixel's channels alone).
#[test]
fn convnext_channels_last_values_are_maps() {
    let path = models().join("ops/convnext_mini.onnx");
    let m = deepvis_onnx::load(&path).expect("load");
    let spec = deepvis_model::preprocess::InputSpec {
        size: 64,
        resize: 73,
        norm: deepvis_model::preprocess::Normalization {
            order: [0, 1, 2],
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        },
    };
    let info = deepvis_model::ModelInfo::new(&m.graph, "convnext_mini", spec, None).expect("info");
    let layer = |name: &str| {
        let l = info.layer(name).expect(name);
        (l.channels, l.height, l.width)
    };
    let block = "/stages.0/stages.0.0";
    assert_eq!(layer(&format!("{block}/Transpose")), (24, 16, 16));
    assert_eq!(
        layer(&format!("{block}/norm/LayerNormalization")),
        (24, 16, 16)
    );
    assert_eq!(layer(&format!("{block}/pwconv1/MatMul")), (96, 16, 16));
    assert_eq!(layer(&format!("{block}/act/Erf")), (96, 16, 16));
    assert_eq!(layer(&format!("{block}/Transpose_1")), (24, 16, 16));
    // the 4x4 stem (stride 4) then the 7x7 depthwise conv: 4 + 6 * 4 = 28 pixels, and the
    // channels-last layers after it see what it sees
    let field = |name: &str| {
        info.receptive_field(&format!("{block}/{name}"), 8, 8, 64)
            .expect(name)
    };
    let dw = field("dwconv/Conv");
    assert_eq!((dw.y1 - dw.y0, dw.x1 - dw.x0), (28, 28), "{dw:?}");
    for name in [
        "Transpose",
        "norm/LayerNormalization",
        "pwconv1/MatMul",
        "act/Mul_1",
        "pwconv2/Add",
        "Transpose_1",
    ] {
        assert_eq!(field(name), dw, "{name}");
    }
    // a unit of a channels-last layer projects back like any other
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let g = golden(&models().join("ops/convnext_mini.golden.safetensors"));
    let (shape, data) = &g.tensors["photo/input"];
    let p = net
        .project(
            input(shape, data, &device),
            &format!("{block}/act/Erf"),
            5,
            Some((8, 8)),
            deepvis_model::BackMode::Grad,
        )
        .expect("project");
    let want = &g.tensors[&format!("photo/{block}/act/Erf_output_0")].1;
    // [1, 16, 16, 96]: the unit is channel 5 at (8, 8)
    assert!(
        (p.value - want[(8 * 16 + 8) * 96 + 5]).abs() < 1e-4,
        "{}",
        p.value
    );
    let grad = to_vec(p.grad).expect("read");
    assert!(grad.iter().any(|v| *v != 0.0));
}

#[test]
fn convnext_mini_every_node() {
    // channels-last blocks: Transpose, LayerNormalization over the channels, MatMul of a
    // [1, H, W, C] stack by a matrix, GELU through Erf, the spatial ReduceMean of the head;
    // a photo, noise, and the two as one batch
    check_modern_model("convnext_mini");
}

#[test]
fn mobile_mini_every_node() {
    check_ops_model("mobile_mini");
}

#[test]
fn preproc_mini_every_node() {
    check_ops_model("preproc_mini");
}

#[test]
fn efficientnet_lite0_logits_and_inner_nodes() {
    let dir = models().join("efficientnet_lite0");
    let m = deepvis_onnx::load(&dir.join("efficientnet_lite0.onnx")).expect("load");
    let g = golden(&dir.join("golden.safetensors"));
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let nodes = [
        "logits",
        "prob",
        "blocks.4.add",
        "blocks.10.add",
        "head.relu6",
    ];
    for photo in ["dog", "eagle", "giraffe", "coffee"] {
        let (shape, data) = &g.tensors[&format!("{photo}/input")];
        let taps = net
            .forward(input(shape, data, &device), &nodes, &[])
            .expect("forward");
        for node in nodes {
            let (_, want) = &g.tensors[&format!("{photo}/{node}")];
            let got = to_vec(taps.outputs[node].clone()).expect("read");
            let w = close(&format!("{photo}/{node}"), &got, want, 1e-3);
            eprintln!("{photo}/{node}: worst {w:.2e}");
        }
    }
}

#[test]
fn squeezenet_from_onnx_equals_the_builtin() {
    let device = cpu();
    let shared = deepvis_testdata::shared();
    let builtin = Net::load(
        Arch::SqueezeNet1_0,
        &shared.join("weights/squeezenet1_0/squeezenet1_0.safetensors"),
        &device,
    )
    .expect("built-in");
    let m =
        deepvis_onnx::load(&shared.join("models/squeezenet1_0/squeezenet1_0.onnx")).expect("load");
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let data: Vec<f32> = (0..3 * 227 * 227)
        .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 200.0)
        .collect();
    let x = input(&[1, 3, 227, 227], &data, &device);
    let mut want = builtin
        .forward(x.clone(), &Request::layers(&["fire9", "pool10"]))
        .expect("built-in forward");
    // the ONNX file's nodes are named by their outputs; the graph's outputs are prob
    let g = net.graph();
    let fire9 = g
        .nodes
        .iter()
        .find(|n| n.output.contains("fire9") && n.op_type == "Concat")
        .map(|n| n.name.clone())
        .expect("fire9 concat");
    let pool10 = g
        .nodes
        .iter()
        .find(|n| n.op_type == "GlobalAveragePool")
        .map(|n| n.name.clone())
        .expect("pool10");
    let taps = net.forward(x, &[&fire9, &pool10], &[]).expect("forward");
    let a = to_vec(taps.outputs[&fire9].clone()).expect("read");
    let b = to_vec(want.take("fire9").expect("fire9")).expect("read");
    close("fire9", &a, &b, 1e-4);
    let a = to_vec(taps.outputs[&pool10].clone()).expect("read");
    let b = to_vec(want.take("pool10").expect("pool10")).expect("read");
    close("pool10", &a, &b, 1e-4);
}

#[test]
fn efficientnet_lite0_on_deepvis_own_preprocessing_of_the_photos() {
    // issue 13, defect 8, and issue 24: the photos as deepvis preprocesses them (known
    // preset, Pillow's JPEG decoding and resize) against the reference inputs, and the class probabilities they give against
    // ONNX Runtime's on the reference inputs
    let dir = models().join("efficientnet_lite0");
    let (m, input) = deepvis_onnx::spec::open(
        &dir.join("efficientnet_lite0.onnx"),
        &deepvis_onnx::spec::Sidecar::default(),
    )
    .expect("open");
    let g = golden(&dir.join("golden.safetensors"));
    let device = cpu();
    let net = GraphNet::new(m.graph, &device).expect("graph");
    for (photo, ext) in [
        ("dog", "jpg"),
        ("eagle", "jpg"),
        ("giraffe", "jpg"),
        ("coffee", "png"),
    ] {
        let file = deepvis_testdata::shared().join(format!("images/{photo}.{ext}"));
        let p = deepvis_model::preprocess::preprocess_file(&file, &input.spec).expect("photo");
        let (shape, want_in) = &g.tensors[&format!("{photo}/input")];
        assert_eq!(p.chw.len(), want_in.len(), "{photo}");
        // the input is (x / 255 - 0.5) / 0.5: one level is 2/255
        let level = 2.0 / 255.0;
        let d: Vec<f32> = p
            .chw
            .iter()
            .zip(want_in)
            .map(|(a, b)| (a - b).abs() / level)
            .collect();
        let (mean, max) = (
            d.iter().sum::<f32>() / d.len() as f32,
            d.iter().copied().fold(0.0f32, f32::max),
        );
        let taps = net
            .forward(input_tensor(shape, &p.chw, &device), &["prob"], &[])
            .expect("forward");
        let got = to_vec(taps.outputs["prob"].clone()).expect("read");
        let (_, want) = &g.tensors[&format!("{photo}/prob")];
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "{photo}: input {mean:.3} levels off on average (max {max:.1}); prob off by {worst:.4}"
        );
        // PNG, and JPEG decoded by libjpeg-turbo as Pillow decodes it: the same pixels (the
        // normalisation's float rounding aside)
        assert!(
            max < 1e-3,
            "{photo}.{ext}: the input differs from Pillow's by {max} levels"
        );
        assert!(worst < 1e-3, "{photo}: a class probability is {worst} off");
    }
}

fn input_tensor(shape: &[usize], data: &[f32], device: &Device) -> Tensor<4> {
    input(shape, data, device)
}
