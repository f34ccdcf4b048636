//! Gradients through a loaded graph (burn's autodiff over the graph's ops, and the
//! back-projection's own backward) against central finite differences, on EfficientNet-Lite0:
//! a unit of `blocks.10.add` and a logit.

use burn::prelude::*;
use deepvis_model::graph::GraphNet;
use deepvis_model::{BackMode, to_vec};

/// The largest elementwise difference of two equally long vectors.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

fn value(net: &GraphNet, x: &[f32], node: &str, flat: usize) -> f32 {
    let t = Tensor::from_data(TensorData::new(x.to_vec(), [1, 3, 224, 224]), net.device());
    let taps = net.forward(t, &[node], &[]).expect("forward");
    to_vec(taps.outputs[node].clone()).expect("read")[flat]
}

#[test]
fn graph_gradients_match_finite_differences() {
    let shared = deepvis_testdata::shared();
    let m = deepvis_onnx::load(&shared.join("models/efficientnet_lite0/efficientnet_lite0.onnx"))
        .expect("load");
    let cpu = deepvis_model::device::cpu().device;
    let net = GraphNet::new(m.graph.clone(), &cpu).expect("graph");
    let ad = GraphNet::new(m.graph, &cpu.clone().autodiff()).expect("graph");
    // a smooth, image-like input
    let x: Vec<f32> = (0..3 * 224 * 224)
        .map(|i| {
            let (c, y, xx) = (i / (224 * 224), (i / 224) % 224, i % 224);
            ((y as f32 * 0.05 + c as f32).sin() * (xx as f32 * 0.07).cos()) * 0.8
        })
        .collect();
    // blocks.10.add is [1, 112, 14, 14]: channel 7 at (6, 8); logits: class 3
    for (node, flat, channel, pos) in [
        ("blocks.10.add", 7 * 196 + 6 * 14 + 8, 7, Some((6, 8))),
        ("logits", 3, 3, None),
    ] {
        let xa = Tensor::<4>::from_data(
            TensorData::new(x.clone(), [1, 3, 224, 224]),
            &cpu.clone().autodiff(),
        )
        .require_grad();
        let taps = ad.forward(xa.clone(), &[node], &[]).expect("forward");
        let out = taps.outputs[node].clone();
        let n: usize = out.dims().iter().product();
        let mut sel = vec![0f32; n];
        sel[flat] = 1.0;
        let mask =
            Tensor::<4>::from_data(TensorData::new(sel, out.dims()), &cpu.clone().autodiff());
        let grads = (out * mask).sum().backward();
        let g = to_vec(xa.grad(&grads).expect("input gradient")).expect("read");
        let gmax = g.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(gmax > 0.0, "{node}: zero gradient");
        // the back-projection's own backward (grad mode) gives the same gradient
        let plain = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 3, 224, 224]), &cpu);
        let p = net
            .project(plain, node, channel, pos, BackMode::Grad)
            .expect("project");
        let pg = to_vec(p.grad).expect("read");
        let worst = max_abs_diff(&g, &pg);
        // the projection's forward runs partly on the CPU kernels, autodiff's on burn: sums
        // in another order differ in the last bits (1.3e-5 of a node's largest value, see
        // tests/host.rs), which flips a few ReLU6 gates; each flip moves the gradient of the
        // pixels behind it (2.7e-4 of the largest for the unit, 6.7e-3 for the logit, whose
        // field is the whole image); a wrong rule would be of the gradient's own order
        assert!(
            worst <= 2e-2 * gmax,
            "{node}: projection differs by {worst} (max {gmax})"
        );
        // directional derivatives along smooth random directions: <grad, v> against
        // (f(x + e v) - f(x - e v)) / 2e (single coordinates cross too many ReLU6 kinks)
        for seed in 1..=3u64 {
            let mut s = seed.wrapping_mul(0x9e3779b97f4a7c15);
            let (a, b, c) = {
                let mut r = || {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as f32 / (1u64 << 24) as f32
                };
                (r() * 0.2, r() * 0.2, r())
            };
            let v: Vec<f32> = (0..x.len())
                .map(|i| {
                    let (ch, y, xx) = (i / (224 * 224), (i / 224) % 224, i % 224);
                    ((y as f32 * a + ch as f32 * c).sin() * (xx as f32 * b).cos()) * 0.5
                })
                .collect();
            let dot: f32 = g.iter().zip(&v).map(|(p, q)| p * q).sum();
            let shifted =
                |t: f32| -> Vec<f32> { x.iter().zip(&v).map(|(p, q)| p + t * q).collect() };
            // ReLU6 kinks bend the function within 1e-2 of x, float32 rounding below 1e-4:
            // the difference quotient must meet the gradient (within 5%) at one of the steps
            // between (the per-op check is `every_op_of_mobile_mini`, below, to 1%)
            let fds: Vec<f32> = [1e-3f32, 3e-4, 1e-4]
                .into_iter()
                .map(|e| {
                    (value(&net, &shifted(e), node, flat) - value(&net, &shifted(-e), node, flat))
                        / (2.0 * e)
                })
                .collect();
            eprintln!("{node} direction {seed}: autodiff {dot:.5} finite differences {fds:?}");
            assert!(
                fds.iter()
                    .any(|fd| (fd - dot).abs() <= 0.05 * dot.abs() + 1e-3),
                "{node} direction {seed}: autodiff {dot} vs {fds:?}"
            );
        }
    }
}

/// Every node of `mobile_mini` (depthwise and dilated convolutions, asymmetric pads, Clip,
/// HardSigmoid, HardSwish, the squeeze-excitation product, average pooling without the pads,
/// LeakyRelu, Concat, MatMul, Softmax): the gradient of its first unit, from autodiff and from
/// the back-projection's backward, against a central difference at the input coordinate with
/// the largest gradient.
#[test]
fn every_op_of_mobile_mini() {
    every_op("mobile_mini", 20, false);
}

/// Every node of `convnext_mini` (channels-last blocks: Transpose, LayerNormalization, MatMul
/// of a stack by a matrix, GELU through Erf, the head's ReduceMean and LayerNormalization), as
/// [`every_op_of_mobile_mini`] checks its model.
#[test]
fn every_op_of_convnext_mini() {
    every_op("convnext_mini", 60, false);
}

/// Every node of `vit_mini` (the exporter's ViT: decomposed LayerNorm, GELU through Erf,
/// attention as batched products of heads picked from a rank-5 value, softmax, the CLS and
/// register tokens expanded and concatenated, a slice of the patch tokens), as
/// [`every_op_of_mobile_mini`] checks its model.
#[test]
fn every_op_of_vit_mini() {
    every_op("vit_mini", 100, false);
}

/// Every node of `detect_mini` (SiLU, Split, SPPF poolings, a nearest Resize, the head's
/// reshapes and concatenations), as [`every_op_of_mobile_mini`] checks its model. Three 5x5
/// poolings in a row on a smooth input put the maximum's neighbours within the step of the
/// finite difference: where the two one-sided differences disagree (a kink), the gradient
/// must be one of them (the subgradient of the first maximum).
#[test]
fn every_op_of_detect_mini() {
    every_op("detect_mini", 60, true);
}

/// Every node of the `ops` model `name`: autodiff and the back-projection's backward agree, and
/// autodiff meets a central difference (with `kinks`, or a one-sided one where the two sides
/// differ); at least `least` nodes have a gradient to check. Nodes whose value does not depend
/// on the input (a CLS token expanded to the batch) have no gradient to check.
fn every_op(name: &str, least: usize, kinks: bool) {
    let shared = deepvis_testdata::shared();
    let m = deepvis_onnx::load(&shared.join(format!("models/ops/{name}.onnx"))).expect("load");
    let cpu = deepvis_model::device::cpu().device;
    let ad_device = cpu.clone().autodiff();
    let net = GraphNet::new(m.graph.clone(), &cpu).expect("graph");
    let ad = GraphNet::new(m.graph.clone(), &ad_device).expect("graph");
    let n = 3 * 64 * 64;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() * 0.8).collect();
    let at = |data: Vec<f32>, device: &Device| {
        Tensor::<4>::from_data(TensorData::new(data, [1, 3, 64, 64]), device)
    };
    let mut checked = 0;
    let shapes = m.graph.shapes(1, 64, 64).expect("shapes");
    let mut from_input = std::collections::HashSet::from([m.graph.input.clone()]);
    for nd in &m.graph.nodes {
        if nd.inputs.iter().any(|i| from_input.contains(i)) {
            from_input.insert(nd.output.clone());
        }
    }
    for node in m.graph.nodes.iter().map(|n| n.name.clone()) {
        let output = &m.graph.nodes[m.graph.node_index(&node).expect("node")].output;
        // nor do values whose first axis is not the batch (vit_mini's q, k and v stacked
        // before the heads): no unit to project
        if !from_input.contains(output) || shapes.get(output).is_some_and(|d| d[0] != 1) {
            continue;
        }
        let xa = at(x.clone(), &ad_device).require_grad();
        let out = ad
            .forward(xa.clone(), &[&node], &[])
            .expect("forward")
            .outputs[&node]
            .clone();
        let g = to_vec(
            xa.grad(&out.slice([0..1, 0..1, 0..1, 0..1]).sum().backward())
                .expect("gradient"),
        )
        .expect("read");
        let pos = Some((0, 0));
        let p = net
            .project(at(x.clone(), &cpu), &node, 0, pos, BackMode::Grad)
            .expect("project");
        let pg = to_vec(p.grad).expect("read");
        let gmax = g.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = max_abs_diff(&g, &pg);
        assert!(
            worst <= 1e-5 + 1e-4 * gmax,
            "{name} {node}: projection differs by {worst}"
        );
        if gmax == 0.0 {
            continue;
        }
        let i = (0..n)
            .max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs()))
            .unwrap_or(0);
        let f = |d: f32| {
            let mut y = x.clone();
            y[i] += d;
            let t = net.forward(at(y, &cpu), &[&node], &[]).expect("forward");
            to_vec(t.outputs[&node].clone()).expect("read")[0]
        };
        let (up, here, down) = (f(1e-2), f(0.0), f(-1e-2));
        let fd = (up - down) / 2e-2;
        let near = |d: f32| (d - g[i]).abs() <= 0.01 * gmax + 1e-5;
        let sides = [(up - here) / 1e-2, (here - down) / 1e-2];
        let kink = kinks && (sides[0] - sides[1]).abs() > 0.02 * gmax;
        assert!(
            near(fd) || (kink && sides.into_iter().any(near)),
            "{name} {node}: autodiff {} vs finite differences {fd}",
            g[i]
        );
        checked += 1;
    }
    assert!(checked >= least, "{name}: {checked} nodes checked");
}
