//! Graphs built by hand: receptive fields through strides, dilations, pads and branches.

use std::collections::HashMap;

use deepvis_model::graph::{Graph, HostTensor, Node, Op, Padding, Window};

fn conv(name: &str, input: &str, k: usize, s: usize, d: usize, p: usize) -> (Node, HostTensor) {
    let w = HostTensor::new(vec![1, 1, k, k], vec![1.0; k * k]).expect("weight");
    let node = Node {
        name: name.into(),
        op_type: "Conv".into(),
        op: Op::Conv {
            window: Window {
                kernel: [k, k],
                strides: [s, s],
                dilations: [d, d],
                padding: Padding::Explicit([p; 4]),
                ceil: false,
            },
            group: 1,
        },
        inputs: vec![input.into(), format!("{name}.w")],
        output: name.into(),
    };
    (node, w)
}

/// input 32x32 -> a: conv k3 s2 p1 (16) -> b: conv k3 dilation 2 p2 (16) -> c: maxpool k2 s2
/// (8); a branch e: conv k15 s4 p7 (8) of the input; sum = c + e.
fn chain() -> Graph {
    let mut constants = HashMap::new();
    let mut nodes = Vec::new();
    for (n, w) in [
        conv("a", "x", 3, 2, 1, 1),
        conv("b", "a", 3, 1, 2, 2),
        conv("e", "x", 15, 4, 1, 7),
    ] {
        constants.insert(format!("{}.w", n.name), w);
        nodes.push(n);
    }
    nodes.push(Node {
        name: "c".into(),
        op_type: "MaxPool".into(),
        op: Op::MaxPool(Window {
            kernel: [2, 2],
            strides: [2, 2],
            dilations: [1, 1],
            padding: Padding::Explicit([0; 4]),
            ceil: false,
        }),
        inputs: vec!["b".into()],
        output: "c".into(),
    });
    nodes.push(Node {
        name: "sum".into(),
        op_type: "Add".into(),
        op: Op::Add,
        inputs: vec!["c".into(), "e".into()],
        output: "sum".into(),
    });
    Graph {
        name: "chain".into(),
        input: "x".into(),
        input_channels: 1,
        input_hw: None,
        nodes,
        constants,
        outputs: vec!["sum".into()],
        layers: Vec::new(),
        ..Default::default()
    }
}

#[test]
fn receptive_fields_through_strides_dilations_pads_and_a_branch() {
    let g = chain();
    g.validate().expect("valid");
    let shapes = g.shapes(1, 32, 32).expect("shapes");
    assert_eq!(shapes.get("a"), Some(&[1, 1, 16, 16][..]));
    assert_eq!(shapes.get("b"), Some(&[1, 1, 16, 16][..]));
    assert_eq!(shapes.get("c"), Some(&[1, 1, 8, 8][..]));
    assert_eq!(shapes.get("e"), Some(&[1, 1, 8, 8][..]));
    // c (3, 5): b rows 6..=7, cols 10..=11; a rows 6-2..=7-2+4 = 4..=9, cols 8..=13;
    // input rows 4*2-1..=9*2-1+2 = 7..=19, cols 15..=27.
    let r = g.receptive_field("c", (3, 5), &shapes).expect("field");
    assert_eq!(r.bounds(), [7, 15, 20, 28]);
    // sum (7, 7): the main path gives rows 23..=35 (b 14..=15, a 12..=17), the branch e
    // 7*4-7..=7*4-7+14 = 21..=35: the union starts at 21.
    let r = g.receptive_field("sum", (7, 7), &shapes).expect("field");
    assert_eq!(r.bounds(), [21, 21, 36, 36]);
    // a 1x1 input unit of the first conv: 3x3 starting one pixel into the padding
    let r = g.receptive_field("a", (0, 0), &shapes).expect("field");
    assert_eq!(r.bounds(), [-1, -1, 2, 2]);
    assert!(g.receptive_field("c", (8, 0), &shapes).is_err());
    assert!(g.receptive_field("nope", (0, 0), &shapes).is_err());
}

#[test]
fn bad_graphs_are_errors_not_panics() {
    let mut g = chain();
    g.nodes[1].inputs[0] = "missing".into();
    assert!(g.validate().is_err());
    let mut g = chain();
    // a kernel larger than the padded input
    assert!(g.shapes(1, 2, 2).is_err());
    // channels that do not fit the weight
    g.input_channels = 3;
    let e = g.shapes(1, 32, 32).expect_err("channels").to_string();
    assert!(e.contains("`a`"), "{e}");
}

fn node(name: &str, op_type: &str, op: Op, inputs: &[&str]) -> Node {
    Node {
        name: name.into(),
        op_type: op_type.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        output: name.into(),
    }
}

fn conv1(name: &str, input: &str, w: &str, kw: usize) -> Node {
    let op = Op::Conv {
        window: Window {
            kernel: [1, kw],
            strides: [1, 1],
            dilations: [1, 1],
            padding: Padding::Explicit([0; 4]),
            ceil: false,
        },
        group: 1,
    };
    node(name, "Conv", op, &[input, w])
}

/// A residual net by hand on the 1x2 image [2, 1]:
///   a = conv 1x1 (1 -> 2, weights +1, -1): ch0 [2, 1], ch1 [-2, -1]; r = relu(a)
///   b = conv 1x2 (2 -> 1, ch0 [3, -1], ch1 [2, -5]) of r = 5
///   s = conv 1x2 (1 -> 1, [1, 1]) of x = 3 (the skip path); y = relu(b + s) = 8
/// Back from y (8 > 0, so every mode passes 1), through the sum to both paths:
///   skip: x gets [1, 1]
///   main: the signal on r is ch0 [3, -1], ch1 [2, -5]; at the ReLU (a's sign):
///     grad   keeps it where a > 0:  ch0 [3, -1], ch1 [0, 0]  -> x [3, -1]
///     deconv keeps its positive part: ch0 [3, 0], ch1 [2, 0] -> x [3 - 2, 0] = [1, 0]
///     guided keeps both:             ch0 [3, 0],  ch1 [0, 0] -> x [3, 0]
///   total: grad [4, 0], deconv [2, 1], guided [4, 1]
#[test]
fn the_three_modes_on_a_hand_set_residual_net() {
    use burn::prelude::*;
    use deepvis_model::graph::GraphNet;
    use deepvis_model::{BackMode, to_vec};

    let mut constants = HashMap::new();
    let t = |dims: Vec<usize>, v: Vec<f32>| HostTensor::new(dims, v).expect("tensor");
    constants.insert("wa".to_string(), t(vec![2, 1, 1, 1], vec![1.0, -1.0]));
    constants.insert(
        "wb".to_string(),
        t(vec![1, 2, 1, 2], vec![3.0, -1.0, 2.0, -5.0]),
    );
    constants.insert("ws".to_string(), t(vec![1, 1, 1, 2], vec![1.0, 1.0]));
    let g = Graph {
        name: "residual".into(),
        input: "x".into(),
        input_channels: 1,
        input_hw: None,
        nodes: vec![
            conv1("a", "x", "wa", 1),
            node("r", "Relu", Op::Relu, &["a"]),
            conv1("b", "r", "wb", 2),
            conv1("s", "x", "ws", 2),
            node("sum", "Add", Op::Add, &["b", "s"]),
            node("y", "Relu", Op::Relu, &["sum"]),
        ],
        constants,
        outputs: vec!["y".into()],
        layers: Vec::new(),
        ..Default::default()
    };
    let device = Device::flex();
    let net = GraphNet::new(g, &device).expect("graph");
    let x = Tensor::<4>::from_data(TensorData::new(vec![2.0f32, 1.0], [1, 1, 1, 2]), &device);
    let taps = net.forward(x.clone(), &["y"], &[]).expect("forward");
    assert_eq!(to_vec(taps.outputs["y"].clone()).expect("read"), vec![8.0]);
    for (mode, want) in [
        (BackMode::Grad, [4.0, 0.0]),
        (BackMode::Deconv, [2.0, 1.0]),
        (BackMode::Guided, [4.0, 1.0]),
    ] {
        let p = net.project(x.clone(), "y", 0, None, mode).expect("project");
        assert_eq!(p.value, 8.0);
        assert_eq!(to_vec(p.grad).expect("read"), want.to_vec(), "{mode:?}");
    }
    // the gradient mode equals burn's autodiff through the whole graph
    let ad = device.clone().autodiff();
    let ad_net = net.clone().to_device(&ad);
    let xa = x.autodiff().require_grad();
    let y = ad_net
        .forward(xa.clone(), &["y"], &[])
        .expect("forward")
        .outputs["y"]
        .clone();
    let g = xa.grad(&y.sum().backward()).expect("gradient");
    assert_eq!(to_vec(g).expect("read"), vec![4.0, 0.0]);
}

#[test]
fn closed_form_convolution_and_pooling_backward_equal_autodiff() {
    // chain(): a k3 s2 p1 convolution of a 32x32 input (its transposed convolution needs an
    // output padding of 1), a dilated one, a pooling, a strided branch; the pooling as given
    // and as a ceil-mode k3 s2 with a pad, and with asymmetric pads (which goes back by its tape)
    use burn::prelude::*;
    use deepvis_model::graph::GraphNet;
    use deepvis_model::{BackMode, to_vec};

    let pools = [
        (2, false, [0; 4]),
        (3, true, [1; 4]),
        (3, true, [0, 0, 1, 1]),
    ];
    for (k, ceil, pads) in pools {
        let mut g = chain();
        g.nodes[3].op = Op::MaxPool(Window {
            kernel: [k, k],
            strides: [2, 2],
            dilations: [1, 1],
            padding: Padding::Explicit(pads),
            ceil,
        });
        // the unit is on the pooling (the sum would need the branch at its size)
        g.nodes.truncate(4);
        g.outputs = vec!["c".into()];
        let out = g.shapes(1, 32, 32).expect("shapes");
        let [oh, ow] = out.get("c").map(|d| [d[2], d[3]]).expect("c");
        let device = Device::flex();
        let mut s = 11u64;
        let data: Vec<f32> = (0..32 * 32)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(data.clone(), [1, 1, 32, 32]), &device);
        let net = GraphNet::new(g, &device).expect("graph");
        let (y, xx) = (oh / 2, ow / 2);
        let p = net
            .project(x, "c", 0, Some((y, xx)), BackMode::Grad)
            .expect("project");
        let ad = device.clone().autodiff();
        let ad_net = net.clone().to_device(&ad);
        let xa = Tensor::<4>::from_data(TensorData::new(data, [1, 1, 32, 32]), &ad).require_grad();
        let c = ad_net
            .forward(xa.clone(), &["c"], &[])
            .expect("forward")
            .outputs["c"]
            .clone();
        let unit = c.slice([0..1, 0..1, y..y + 1, xx..xx + 1]).sum();
        let want = to_vec(xa.grad(&unit.backward()).expect("gradient")).expect("read");
        let got = to_vec(p.grad).expect("read");
        assert!(
            want.iter().any(|v| *v != 0.0),
            "pool k{k}: a zero gradient tests nothing"
        );
        let worst = want
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "pool k{k} ceil {ceil} pads {pads:?}: off by {worst}"
        );
    }
}

#[test]
fn inputs_of_changing_sizes_get_their_own_shapes() {
    // the executor keeps the shapes of the last input size: a new size must not reuse them
    use burn::prelude::*;
    use deepvis_model::graph::GraphNet;

    let device = Device::flex();
    let net = GraphNet::new(chain(), &device).expect("graph");
    for (n, size, want) in [(1, 32, 8), (2, 16, 4), (1, 32, 8), (1, 64, 16)] {
        let x = Tensor::<4>::zeros([n, 1, size, size], &device);
        let taps = net.forward(x, &["sum"], &[]).expect("forward");
        assert_eq!(taps.outputs["sum"].dims(), [n, 1, want, want], "{n}x{size}");
    }
}
