//! The CPU path (`deepvis-kernels` under `GraphNet` on burn-flex: grouped, depthwise, strided
//! and SAME-padded convolutions) against burn's own ops (`burn_only`), every node of
//! EfficientNet-Lite0; under autodiff and in the back-projections, the kernels' walk there and
//! back (ReLU6 clips, residual sums, depthwise transposes) against burn's.

use burn::prelude::*;
use deepvis_model::graph::GraphNet;
use deepvis_model::to_vec;

/// The largest difference of two equally long vectors and the second's largest magnitude.
fn gap(p: &[f32], q: &[f32], name: &str) -> (f32, f32) {
    assert_eq!(p.len(), q.len(), "{name}");
    let scale = q.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = p
        .iter()
        .zip(q)
        .map(|(u, v)| (u - v).abs())
        .fold(0f32, f32::max);
    (worst, scale)
}

/// The largest difference of two taps' values relative to the second's largest magnitude.
fn relative_gap(a: &Tensor<4>, b: &Tensor<4>, name: &str) -> f32 {
    let p = to_vec(a.clone()).expect("read");
    let q = to_vec(b.clone()).expect("read");
    let (worst, scale) = gap(&p, &q, name);
    worst / scale.max(1e-6)
}

#[test]
fn the_cpu_path_agrees_with_burn_on_every_node_of_efficientnet() {
    let shared = deepvis_testdata::shared();
    let m = deepvis_onnx::load(&shared.join("models/efficientnet_lite0/efficientnet_lite0.onnx"))
        .expect("load");
    let cpu = deepvis_model::device::cpu().device;
    let fast = GraphNet::new(m.graph.clone(), &cpu).expect("graph");
    let slow = GraphNet::new(m.graph.clone(), &cpu)
        .expect("graph")
        .burn_only();
    let x: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| {
            let (c, y, xx) = (i / (224 * 224), (i / 224) % 224, i % 224);
            ((y as f32 * 0.05 + c as f32).sin() * (xx as f32 * 0.07).cos()) * 0.8
        })
        .collect();
    let names: Vec<&str> = m.graph.nodes.iter().map(|n| n.name.as_str()).collect();
    let input =
        |d: &Device| Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, 224, 224]), d);
    let a = fast.forward(input(&cpu), &names, &[]).expect("cpu path");
    let b = slow.forward(input(&cpu), &names, &[]).expect("burn");
    let mut worst_rel = 0f32;
    for name in &names {
        let gap = relative_gap(&a.outputs[*name], &b.outputs[*name], name);
        worst_rel = worst_rel.max(gap);
        assert!(gap <= 1e-4, "{name}: {gap} of its largest value");
    }
    eprintln!("largest difference: {worst_rel:e} of a node's largest value");
}

#[test]
fn fire_modules_write_their_expands_into_the_concatenation() {
    let shared = deepvis_testdata::shared();
    let m =
        deepvis_onnx::load(&shared.join("models/squeezenet1_0/squeezenet1_0.onnx")).expect("load");
    let cpu = deepvis_model::device::cpu().device;
    let fast = GraphNet::new(m.graph.clone(), &cpu).expect("graph");
    let slow = GraphNet::new(m.graph.clone(), &cpu)
        .expect("graph")
        .burn_only();
    // the concatenations and the output asked for, their parts not: the parts go straight
    // into the concatenations' buffers (batch 2, so the parts interleave per image)
    let mut names: Vec<&str> = m
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "Concat")
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names.len(), 8);
    let last = m
        .graph
        .nodes
        .last()
        .map(|n| n.name.as_str())
        .expect("nodes");
    names.push(last);
    let x: Vec<f32> = (0..2 * 3 * 227 * 227)
        .map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 0.1)
        .collect();
    let input =
        |d: &Device| Tensor::<4>::from_data(TensorData::new(x.clone(), [2, 3, 227, 227]), d);
    let a = fast.forward(input(&cpu), &names, &[]).expect("cpu path");
    let b = slow.forward(input(&cpu), &names, &[]).expect("burn");
    for name in &names {
        let gap = relative_gap(&a.outputs[*name], &b.outputs[*name], name);
        assert!(gap <= 1e-5, "{name}: {gap} of its largest value");
    }
    // the profile: each expand and its ReLU one node, the concatenation no copy of its own
    let times = fast.profile(input(&cpu), last).expect("profile");
    let fused = times.iter().filter(|t| t.fused).count();
    assert_eq!(fused, 26, "conv1, 8 x 3 in the fire modules, conv10");
    assert!(times.iter().any(|t| t.op == "Concat"));
}

#[test]
fn efficientnets_gradients_and_back_projections_on_the_kernels_are_burns() {
    let shared = deepvis_testdata::shared();
    let m = deepvis_onnx::load(&shared.join("models/efficientnet_lite0/efficientnet_lite0.onnx"))
        .expect("load");
    let cpu = deepvis_model::device::cpu().device;
    let ad = cpu.clone().autodiff();
    let x: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| {
            let (c, y, xx) = (i / (224 * 224), (i / 224) % 224, i % 224);
            ((y as f32 * 0.05 + c as f32).sin() * (xx as f32 * 0.07).cos()) * 0.8
        })
        .collect();
    let fast = GraphNet::new(m.graph.clone(), &ad).expect("graph");
    let slow = GraphNet::new(m.graph.clone(), &ad)
        .expect("graph")
        .burn_only();
    // ReLU6 clips, residual sums and depthwise convolutions all the way to the head, and the
    // classifier (Gemm); the softmax after it is burn's
    for node in ["blocks.10.add", "head.relu6", "logits"] {
        assert!(
            fast.runs_on_kernels([1, 3, 224, 224], node).unwrap(),
            "{node}"
        );
    }
    assert!(!fast.runs_on_kernels([1, 3, 224, 224], "prob").unwrap());
    let gradient = |net: &GraphNet, node: &str| {
        let xa = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, 224, 224]), &ad)
            .require_grad();
        let taps = net.forward(xa.clone(), &[node], &[]).expect("forward");
        let out = taps.outputs[node].clone();
        let [_, c, h, w] = out.dims();
        // a unit (of the logits, class 7) and a little of everything, so every path carries
        // a signal
        let unit = out
            .clone()
            .slice([0..1, 7..8, h / 2..h / 2 + 1, w / 2..w / 2 + 1]);
        let y = unit.sum() + out.sum() * (1.0 / (c * h * w) as f32);
        let g = y.backward();
        (
            to_vec(taps.outputs[node].clone()).expect("read"),
            to_vec(xa.grad(&g).expect("input gradient")).expect("read"),
        )
    };
    let close = |what: &str, a: &[f32], b: &[f32]| {
        let (worst, scale) = gap(a, b, what);
        assert!(scale > 0.0, "{what} is all zero");
        assert!(worst <= 1e-4 * scale, "{what}: {worst} of {scale}");
    };
    for node in ["blocks.10.add", "head.relu6", "logits"] {
        let (va, ga) = gradient(&fast, node);
        let (vb, gb) = gradient(&slow, node);
        close(&format!("{node} value"), &va, &vb);
        close(&format!("{node} gradient"), &ga, &gb);
    }
    // the back-projections, every mode (the ReLU6 clips take the deconvolution's and guided
    // backprop's rules as ReLUs do)
    let plain = GraphNet::new(m.graph.clone(), &cpu).expect("graph");
    let plain_burn = plain.clone().burn_only();
    let input = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, 224, 224]), &cpu);
    for mode in deepvis_model::BackMode::PROJECTIONS {
        let a = plain
            .project(input.clone(), "blocks.10.add", 7, None, mode)
            .expect("kernels");
        let b = plain_burn
            .project(input.clone(), "blocks.10.add", 7, None, mode)
            .expect("burn");
        assert_eq!(a.pos, b.pos, "{mode:?}");
        let (ga, gb) = (to_vec(a.grad).expect("read"), to_vec(b.grad).expect("read"));
        close(&format!("{mode:?} projection"), &ga, &gb);
    }
}
