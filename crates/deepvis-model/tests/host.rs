//! The CPU path (`deepvis-kernels` under `GraphNet` on burn-flex) against burn's own ops on the
//! same device (`burn_only`), layer by layer on SqueezeNet: the forward values bit for bit, and
//! under autodiff the values and input gradients of the kernels' tape.

mod common;

use burn::prelude::*;
use deepvis_model::Request;

fn noise(n: usize) -> Vec<f32> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 80.0
        })
        .collect()
}

fn values(t: &Tensor<4>) -> Vec<f32> {
    deepvis_model::to_vec(t.clone()).expect("read")
}

/// Asserts `a` equals `b` within 1e-5 of `b`'s largest magnitude (which must not be zero).
fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{what} is all zero");
    let worst = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-5 * scale, "{what}: {worst} of {scale}");
}

#[test]
fn the_cpu_path_agrees_with_burn_on_every_layer_and_fuses_relus() {
    let cpu = deepvis_model::device::cpu().device;
    let net = common::squeezenet(&cpu);
    let burn_net = net.clone().burn_only();
    let layers = deepvis_model::squeezenet::LAYERS;
    let x = noise(2 * 3 * 227 * 227);
    let input = |d: &Device| deepvis_model::tensor4(x.clone(), [2, 3, 227, 227], d).expect("x");
    let req = Request::layers(&layers).with_pre_relu("conv1");
    let fast = net.forward(input(&cpu), &req).expect("cpu path");
    let slow = burn_net.forward(input(&cpu), &req).expect("burn");
    let pairs = layers
        .iter()
        .map(|l| (l.to_string(), fast.get(l), slow.get(l)))
        .chain([(
            "conv1 pre-ReLU".to_string(),
            fast.pre_relu("conv1"),
            slow.pre_relu("conv1"),
        )]);
    for (name, a, b) in pairs {
        let (a, b) = (values(a.expect("fast")), values(b.expect("slow")));
        assert_eq!(a.len(), b.len(), "{name}");
        // the kernels sum in burn's order: the same values to the last bit (which decides the
        // ties of the poolings' maxima, and so the gradients, as burn and the reference do)
        let differ = a.iter().zip(&b).filter(|(p, q)| p.to_bits() != q.to_bits());
        assert_eq!(differ.count(), 0, "{name}");
    }
    // the profile names each node once; conv1's ReLU ran inside its convolution, the fire
    // modules' (after their concatenation) inside the expand convolutions
    let graph = net.graph();
    let times = graph.profile(input(&cpu), "prob").expect("profile");
    let fused: Vec<&str> = times
        .iter()
        .filter(|t| t.fused)
        .map(|t| t.node.as_str())
        .collect();
    assert!(fused.contains(&"conv1"), "{fused:?}");
    assert!(fused.contains(&"fire2"), "{fused:?}");
    assert!(times.iter().all(|t| t.ms >= 0.0 && t.ms.is_finite()));
    assert_eq!(times.last().map(|t| t.node.as_str()), Some("prob"));
    assert!(!times.iter().any(|t| t.node == "conv1.conv"), "fused away");
}

/// `sum(t * w)` for a fixed pseudo-random `w`: an objective that weighs every element.
fn weighed(t: &Tensor<4>, seed: usize) -> Tensor<1> {
    let n: usize = t.dims().iter().product();
    let w: Vec<f32> = noise(n + seed)[seed..].iter().map(|v| v / 40.0).collect();
    let w = deepvis_model::tensor4(w, t.dims(), &t.device()).expect("weights");
    (t.clone() * w).sum()
}

#[test]
fn under_autodiff_the_kernels_tape_gives_burns_values_and_input_gradients() {
    let ad = deepvis_model::device::cpu().device.autodiff();
    let net = common::squeezenet(&ad);
    let burn_net = net.clone().burn_only();
    assert!(
        net.graph()
            .runs_on_kernels([2, 3, 227, 227], "pool10")
            .unwrap()
    );
    assert!(
        !burn_net
            .graph()
            .runs_on_kernels([2, 3, 227, 227], "pool10")
            .unwrap()
    );
    assert!(
        net.graph()
            .runs_on_kernels([1, 3, 227, 227], "nope")
            .is_err()
    );
    let x = noise(2 * 3 * 227 * 227);
    // taps at several depths, one twice, a pre-activation: every value the optimizer's and the
    // attributions' objectives read
    let req = Request::layers(&["conv1", "fire3", "fire9", "pool10", "fire9"])
        .with_pre_relu("conv1")
        .with_pre_relu("fire9");
    let run = |net: &deepvis_model::Net| {
        let input = deepvis_model::tensor4(x.clone(), [2, 3, 227, 227], &ad)
            .expect("x")
            .require_grad();
        let taps = net.forward(input.clone(), &req).expect("forward");
        let mut got = Vec::new();
        let mut y = Tensor::<1>::zeros([1], &ad);
        for (k, name) in ["conv1", "fire3", "fire9", "pool10"].iter().enumerate() {
            let t = taps.get(name).expect("tap");
            got.push((name.to_string(), values(t)));
            y = y + weighed(t, k);
        }
        for (k, name) in ["conv1", "fire9"].iter().enumerate() {
            let t = taps.pre_relu(name).expect("pre tap");
            got.push((format!("{name} pre-ReLU"), values(t)));
            y = y + weighed(t, 10 + k);
        }
        let unit = taps
            .get("fire9")
            .expect("fire9")
            .clone()
            .slice([1..2, 146..147, 6..7, 6..7])
            .sum();
        let grads = (y + unit * 100.0).backward();
        let gx = input.grad(&grads).expect("the input's gradient");
        got.push(("input gradient".to_string(), values(&gx)));
        got
    };
    for ((name, a), (_, b)) in run(&net).into_iter().zip(run(&burn_net)) {
        assert_close(&name, &a, &b);
    }
}

#[test]
fn back_projections_on_the_kernels_match_burns_in_every_mode() {
    let cpu = deepvis_model::device::cpu().device;
    let net = common::squeezenet(&cpu);
    let burn_net = net.clone().burn_only();
    let (fast, slow) = (net.graph(), burn_net.graph());
    let x = noise(2 * 3 * 227 * 227);
    let input = deepvis_model::tensor4(x, [2, 3, 227, 227], &cpu).expect("x");
    let close = |what: &str, a: &Tensor<4>, b: &Tensor<4>| {
        assert_close(what, &values(a), &values(b));
    };
    for mode in deepvis_model::BackMode::PROJECTIONS {
        for (node, seed) in [
            ("fire9", deepvis_model::graph::Seed::Peak),
            ("fire5", deepvis_model::graph::Seed::At(3, 20)),
            ("pool10", deepvis_model::graph::Seed::Mean),
        ] {
            let what = format!("{mode:?} {node} {seed:?}");
            let capture =
                Some("fire4").filter(|_| node != "fire5" || mode != deepvis_model::BackMode::Grad);
            let a = fast
                .backward(input.clone(), node, 146, seed, mode, capture)
                .expect("kernels");
            let b = slow
                .backward(input.clone(), node, 146, seed, mode, capture)
                .expect("burn");
            close(&what, &a.grad, &b.grad);
            assert_eq!(a.pos, b.pos, "{what}");
            for (p, q) in a.values.iter().zip(&b.values) {
                assert!(
                    (p - q).abs() <= 1e-5 * q.abs().max(1.0),
                    "{what}: {p} against {q}"
                );
            }
            match (a.captured, b.captured) {
                (Some((av, ag)), Some((bv, bg))) => {
                    close(&format!("{what} captured value"), &av, &bv);
                    close(&format!("{what} captured signal"), &ag, &bg);
                }
                (None, None) => assert!(capture.is_none(), "{what}"),
                _ => panic!("{what}: one captured, the other not"),
            }
        }
    }
    // a capture after the unit is refused on both paths
    for g in [fast, slow] {
        let e = g.backward(
            input.clone(),
            "fire3",
            1,
            deepvis_model::graph::Seed::Peak,
            deepvis_model::BackMode::Grad,
            Some("fire9"),
        );
        assert!(e.is_err());
    }
}

/// conv -> clip(0, 6) -> [conv -> relu] + itself -> global mean -> flatten -> Gemm (`B` as
/// given, transposed or not) -> Gemm, on made-up weights.
fn small_head(trans_b: bool) -> deepvis_model::graph::Graph {
    use deepvis_model::graph::{Graph, HostTensor, Node, Op, Padding, Window};
    let w = |dims: Vec<usize>, seed: usize| {
        let n: usize = dims.iter().product();
        HostTensor::new(
            dims,
            noise(n + seed)[seed..].iter().map(|v| v / 200.0).collect(),
        )
        .expect("constant")
    };
    let window = Window {
        kernel: [3, 3],
        strides: [1, 1],
        dilations: [1, 1],
        padding: Padding::Explicit([1; 4]),
        ceil: false,
    };
    let node = |name: &str, op_type: &str, op: Op, inputs: &[&str]| Node {
        name: name.into(),
        op_type: op_type.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        output: name.into(),
    };
    let conv = Op::Conv { window, group: 1 };
    let gemm = Op::Gemm {
        alpha: 0.5,
        beta: 2.0,
        trans_a: false,
        trans_b,
    };
    let fc_dims = match trans_b {
        true => vec![5, 6],
        false => vec![6, 5],
    };
    let constants = [
        ("c1.w", w(vec![6, 3, 3, 3], 1)),
        ("c1.b", w(vec![6], 2)),
        ("c2.w", w(vec![6, 6, 3, 3], 3)),
        ("fc.w", w(fc_dims, 4)),
        ("fc.b", w(vec![5], 5)),
        ("fc2.w", w(vec![4, 5], 6)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let clip = Op::Clip { min: 0.0, max: 6.0 };
    Graph {
        name: "small head".into(),
        input: "x".into(),
        input_channels: 3,
        input_hw: None,
        nodes: vec![
            node("c1", "Conv", conv.clone(), &["x", "c1.w", "c1.b"]),
            node("r6", "Clip", clip, &["c1"]),
            node("c2", "Conv", conv, &["r6", "c2.w"]),
            node("r", "Relu", Op::Relu, &["c2"]),
            node("sum", "Add", Op::Add, &["r", "r6"]),
            node("gap", "GlobalAveragePool", Op::GlobalAveragePool, &["sum"]),
            node("flat", "Flatten", Op::Flatten { axis: 1 }, &["gap"]),
            node("fc", "Gemm", gemm, &["flat", "fc.w", "fc.b"]),
            node(
                "fc2",
                "Gemm",
                Op::Gemm {
                    alpha: 1.0,
                    beta: 1.0,
                    trans_a: false,
                    trans_b: true,
                },
                &["fc", "fc2.w"],
            ),
        ],
        constants,
        outputs: vec!["fc2".into()],
        layers: Vec::new(),
        ..Default::default()
    }
}

#[test]
fn the_tape_runs_clips_residual_sums_and_fully_connected_layers_as_burn_does() {
    let ad = deepvis_model::device::cpu().device.autodiff();
    for trans_b in [true, false] {
        let g = small_head(trans_b);
        let fast = deepvis_model::graph::GraphNet::new(g.clone(), &ad).expect("graph");
        let slow = fast.clone().burn_only();
        assert!(fast.runs_on_kernels([2, 3, 9, 11], "fc2").expect("known"));
        let x = noise(2 * 3 * 9 * 11);
        // each value's own objective, so each layer's way back is seen at full scale
        let run = |net: &deepvis_model::graph::GraphNet, tap: &str| {
            let input = deepvis_model::tensor4(x.clone(), [2, 3, 9, 11], &ad)
                .expect("x")
                .require_grad();
            let taps = net.forward(input.clone(), &[tap], &[]).expect("forward");
            let grads = weighed(&taps.outputs[tap], 3).backward();
            let gx = values(&input.grad(&grads).expect("gradient"));
            (values(&taps.outputs[tap]), gx)
        };
        for tap in ["fc2", "fc", "sum"] {
            let ((ya, ga), (yb, gb)) = (run(&fast, tap), run(&slow, tap));
            for (what, a, b) in [("value", &ya, &yb), ("input gradient", &ga, &gb)] {
                assert_close(&format!("trans_b {trans_b}, {tap} {what}"), a, b);
            }
        }
    }
}
