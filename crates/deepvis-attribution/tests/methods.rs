//! Each attribution method against what it must be: Grad-CAM and Grad-CAM++ by hand on a tiny
//! net, occlusion on a net where one patch alone drives the unit (batched and one at a time),
//! integrated gradients' completeness, SmoothGrad without noise, and Grad-CAM of "espresso" in
//! the cup of the coffee photo.

use std::collections::HashMap;

use burn::prelude::*;
use deepvis_attribution::{AttrOptions, Attribution, Baseline, Error, Job, Method, Target};
use deepvis_model::graph::build::window;
use deepvis_model::graph::{Graph, HostTensor, Node, Op, Seed};
use deepvis_model::preprocess::{InputSpec, Normalization, preprocess_file};
use deepvis_model::{Arch, Net, tensor4};

fn node(name: &str, op: Op, inputs: &[&str]) -> Node {
    Node {
        name: name.into(),
        op_type: format!("{op:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or("")
            .into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        output: name.into(),
    }
}

fn conv(k: usize, stride: usize) -> Op {
    Op::Conv {
        window: window(k, stride, 0, false),
        group: 1,
    }
}

fn net_of(graph: Graph, size: usize) -> Net {
    let spec = InputSpec {
        size,
        resize: size as u32,
        norm: Normalization {
            order: [0, 1, 2],
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        },
    };
    Net::from_any_graph(graph, "tiny", spec, None, &Device::flex()).expect("tiny net")
}

fn graph(nodes: Vec<Node>, constants: Vec<(&str, Vec<usize>, Vec<f32>)>, out: &str) -> Graph {
    Graph {
        name: "tiny".into(),
        input: "x".into(),
        input_channels: 3,
        input_hw: None,
        nodes,
        constants: constants
            .into_iter()
            .map(|(k, d, v)| (k.to_string(), HostTensor::new(d, v).expect("constant")))
            .collect::<HashMap<_, _>>(),
        outputs: vec![out.into()],
        layers: Vec::new(),
        ..Default::default()
    }
}

/// x (3x4x4) -> a = relu(1x1 conv, 2 channels) -> o = 1x1 conv [0.5, -1] -> score = mean(o).
const W1: [[f32; 3]; 2] = [[1.0, -0.5, 0.25], [-0.75, 1.0, 0.5]];
const B1: [f32; 2] = [0.1, -0.2];
const W2: [f32; 2] = [0.5, -1.0];

fn tiny_cam_net() -> (Net, Vec<f32>) {
    let g = graph(
        vec![
            node("c1", conv(1, 1), &["x", "w1", "b1"]),
            node("a", Op::Relu, &["c1"]),
            node("o", conv(1, 1), &["a", "w2"]),
            node("score", Op::GlobalAveragePool, &["o"]),
        ],
        vec![
            ("w1", vec![2, 3, 1, 1], W1.concat()),
            ("b1", vec![2], B1.to_vec()),
            ("w2", vec![1, 2, 1, 1], W2.to_vec()),
        ],
        "score",
    );
    let x: Vec<f32> = (0..48).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
    (net_of(g, 4), x)
}

/// The activations of `a` by hand: `[2][16]`.
fn tiny_acts(x: &[f32]) -> Vec<Vec<f32>> {
    (0..2)
        .map(|k| {
            (0..16)
                .map(|i| {
                    let v: f32 = (0..3).map(|c| W1[k][c] * x[c * 16 + i]).sum::<f32>() + B1[k];
                    v.max(0.0)
                })
                .collect()
        })
        .collect()
}

fn run(
    net: &Net,
    x: Vec<f32>,
    dims: [usize; 4],
    t: &Target,
    m: Method,
    o: &AttrOptions,
) -> Attribution {
    let input = tensor4(x, dims, &Device::flex()).expect("input");
    Job::run(net, input, t, m, o).unwrap_or_else(|e| panic!("{m:?}: {e}"))
}

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1e-12f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * scale, "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn grad_cam_and_grad_cam_pp_equal_their_formulas_on_a_hand_set_net() {
    let (net, x) = tiny_cam_net();
    let acts = tiny_acts(&x);
    let target = Target::unit("score", 0, None);
    let opts = AttrOptions {
        target_layer: Some("a".into()),
        ..AttrOptions::default()
    };
    // d score / d a_k(i) = W2[k] / 16 everywhere
    let g: Vec<f32> = W2.iter().map(|w| w / 16.0).collect();
    let cam: Vec<f32> = (0..16)
        .map(|i| (g[0] * acts[0][i] + g[1] * acts[1][i]).max(0.0))
        .collect();
    let a = run(
        &net,
        x.clone(),
        [1, 3, 4, 4],
        &target,
        Method::GradCam,
        &opts,
    );
    assert_eq!((a.channels, a.height, a.width), (1, 4, 4));
    assert_eq!(a.cam_layer.as_deref(), Some("a"));
    assert!(cam.iter().any(|&v| v > 0.0) && cam.contains(&0.0));
    close(&a.map, &cam, 1e-5, "Grad-CAM");
    // Grad-CAM++: alpha = g^2 / (2 g^2 + sum(a) g^3) at every place, weight = 16 alpha relu(g)
    let weight: Vec<f32> = (0..2)
        .map(|k| {
            let s: f32 = acts[k].iter().sum();
            let alpha = g[k] * g[k] / (2.0 * g[k] * g[k] + s * g[k].powi(3));
            16.0 * alpha * g[k].max(0.0)
        })
        .collect();
    let pp: Vec<f32> = (0..16)
        .map(|i| (weight[0] * acts[0][i] + weight[1] * acts[1][i]).max(0.0))
        .collect();
    let a = run(&net, x, [1, 3, 4, 4], &target, Method::GradCamPp, &opts);
    close(&a.map, &pp, 1e-4, "Grad-CAM++");
}

/// x (3x8x8) -> u = 2x2 conv, stride 2 (4x4 map): unit (1, 1) sees x[2..4, 2..4] only.
fn tiny_patch_net() -> Net {
    let w: Vec<f32> = (0..12).map(|i| 0.5 + i as f32 * 0.1).collect();
    let g = graph(
        vec![node("u", conv(2, 2), &["x", "w"])],
        vec![("w", vec![1, 3, 2, 2], w)],
        "u",
    );
    net_of(g, 8)
}

#[test]
fn occlusion_peaks_where_the_only_patch_that_drives_the_unit_is_and_batching_changes_nothing() {
    let net = tiny_patch_net();
    let x = vec![1.0f32; 3 * 64];
    let target = Target::unit("u", 0, Some((1, 1)));
    let mut opts = AttrOptions::default();
    opts.occlusion.patch = 2;
    opts.occlusion.stride = 2;
    opts.batch = 5;
    let batched = run(
        &net,
        x.clone(),
        [1, 3, 8, 8],
        &target,
        Method::Occlusion,
        &opts,
    );
    let whole: f32 = (0..12).map(|i| 0.5 + i as f32 * 0.1).sum();
    assert!((batched.value - whole).abs() < 1e-4);
    assert_eq!(batched.passes, 1 + 16, "a probe and 16 patches");
    for y in 0..8 {
        for x in 0..8 {
            let v = batched.map[y * 8 + x];
            let want = if (2..4).contains(&y) && (2..4).contains(&x) {
                whole
            } else {
                0.0
            };
            assert!((v - want).abs() < 1e-4, "({y}, {x}): {v} vs {want}");
        }
    }
    opts.batch = 1;
    let single = run(&net, x, [1, 3, 8, 8], &target, Method::Occlusion, &opts);
    assert_eq!(single.map, batched.map);
}

fn squeezenet() -> Net {
    let w = deepvis_testdata::shared_file("weights/squeezenet1_0/squeezenet1_0.safetensors");
    Net::load(Arch::SqueezeNet1_0, &w, &Device::flex()).expect("squeezenet")
}

fn photo(name: &str) -> (Vec<f32>, [usize; 4]) {
    let p = preprocess_file(
        &deepvis_testdata::shared_file(&format!("images/{name}")),
        &Arch::SqueezeNet1_0.input_spec(),
    )
    .expect("photo");
    let dims = p.dims();
    (p.chw, dims)
}

const ESPRESSO: usize = 967;

#[test]
fn integrated_gradients_are_complete_within_one_percent_from_64_steps() {
    let net = squeezenet();
    let (x, dims) = photo("coffee.png");
    let target = Target::unit("pool10", ESPRESSO, None);
    let mut opts = AttrOptions::default();
    opts.ig.steps = 64;
    opts.batch = 16;
    for baseline in Baseline::ALL {
        opts.ig.baseline = baseline;
        let a = run(&net, x.clone(), dims, &target, Method::Ig, &opts);
        let diff = a.value as f64 - a.baseline_value.expect("baseline value") as f64;
        let total = a.total();
        eprintln!(
            "IG {baseline:?}: sum {total:.4}, f(x) - f(b) = {diff:.4}, {} passes",
            a.passes
        );
        assert!(diff.abs() > 1.0, "the class score must move along the path");
        assert!(
            (total - diff).abs() <= 0.01 * diff.abs(),
            "sum {total} vs {diff}"
        );
        // 64 points, or the refinements (128, 256, ...) the 1% bound asked for
        let refined = [64, 64 + 128, 64 + 128 + 256];
        assert!(refined.contains(&(a.passes - 2)), "{} passes", a.passes);
    }
}

#[test]
fn smoothgrad_without_noise_is_the_gradient() {
    let net = squeezenet();
    let (x, dims) = photo("dog.jpg");
    let target = Target::unit("fire9", 146, None);
    let mut opts = AttrOptions::default();
    opts.smoothgrad.noise = 0.0;
    opts.smoothgrad.samples = 3;
    opts.batch = 2;
    let grad = run(&net, x.clone(), dims, &target, Method::Grad, &opts);
    let smooth = run(&net, x.clone(), dims, &target, Method::SmoothGrad, &opts);
    assert_eq!(smooth.pos, grad.pos);
    assert!(grad.map.iter().any(|&v| v != 0.0));
    close(&smooth.map, &grad.map, 1e-5, "SmoothGrad(0)");
    // with noise it is a different, still finite map
    opts.smoothgrad.noise = 0.2;
    let noisy = run(&net, x, dims, &target, Method::SmoothGrad, &opts);
    assert!(noisy.map.iter().all(|v| v.is_finite()));
    assert_ne!(noisy.map, grad.map);
}

#[test]
fn grad_cam_of_espresso_lies_in_the_cup() {
    let net = squeezenet();
    let (x, dims) = photo("coffee.png");
    let target = Target::unit("pool10", ESPRESSO, None);
    let a = run(
        &net,
        x,
        dims,
        &target,
        Method::GradCam,
        &AttrOptions::default(),
    );
    assert_eq!(a.cam_layer.as_deref(), Some("conv10"));
    // the cup (rim, coffee and body, without the handle) in the 227x227 crop: y 0..140,
    // x 30..185, 42% of the picture
    let (y0, y1, x0, x1) = (0, 140, 30, 185);
    let total: f32 = a.map.iter().sum();
    let inside: f32 = (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (y, x)))
        .map(|(y, x)| a.map[y * 227 + x])
        .sum();
    let share = inside / total;
    eprintln!(
        "Grad-CAM espresso: {:.0}% of the mass in the cup",
        share * 100.0
    );
    assert!(share > 0.6, "share {share}");
}

#[test]
fn bad_settings_and_units_are_errors() {
    let (net, x) = tiny_cam_net();
    let input = || tensor4(x.clone(), [1, 3, 4, 4], &Device::flex()).expect("input");
    let t = Target::unit("score", 0, None);
    let mut o = AttrOptions::default();
    o.smoothgrad.noise = f32::NAN;
    assert!(matches!(
        Job::new(&net, input(), &t, Method::SmoothGrad, &o),
        Err(Error::Settings(_))
    ));
    let o = AttrOptions {
        batch: 0,
        ..AttrOptions::default()
    };
    assert!(Job::new(&net, input(), &t, Method::Grad, &o).is_err());
    let o = AttrOptions::default();
    assert!(matches!(
        Job::new(&net, input(), &t, Method::Off, &o),
        Err(Error::Off)
    ));
    let far = Target::unit("score", 5, None);
    assert!(Job::run(&net, input(), &far, Method::Occlusion, &o).is_err());
    assert!(Job::run(&net, input(), &far, Method::Grad, &o).is_err());
    let away = Target {
        layer: "a".into(),
        channel: 0,
        seed: Seed::At(9, 9),
    };
    assert!(Job::run(&net, input(), &away, Method::Ig, &o).is_err());
    let unknown = Target::unit("nope", 0, None);
    assert!(Job::new(&net, input(), &unknown, Method::Grad, &o).is_err());
    // Grad-CAM by a layer above the unit explains nothing
    let o = AttrOptions {
        target_layer: Some("score".into()),
        ..AttrOptions::default()
    };
    let below = Target::unit("a", 0, None);
    assert!(Job::run(&net, input(), &below, Method::GradCam, &o).is_err());
}

#[test]
fn the_gauss_legendre_rule_integrates_polynomials_exactly() {
    for n in [1usize, 2, 5, 16, 64] {
        let (x, w) = deepvis_attribution::gauss_legendre(n);
        assert_eq!((x.len(), w.len()), (n, n));
        assert!(x.windows(2).all(|p| p[0] < p[1]) && x[0] > 0.0 && x[n - 1] < 1.0);
        // exact up to degree 2n - 1: the integral of t^d over [0, 1] is 1 / (d + 1)
        for d in [0, n, 2 * n - 1] {
            let q: f64 = x.iter().zip(&w).map(|(t, w)| w * t.powi(d as i32)).sum();
            assert!(
                (q - 1.0 / (d as f64 + 1.0)).abs() < 1e-9,
                "n {n}, degree {d}: {q}"
            );
        }
    }
}

#[test]
fn a_whole_channel_is_explained_by_the_mean_of_its_map() {
    // u = 2x2 conv, stride 2, over 8x8: every input pixel feeds exactly one unit, so the
    // gradient of the map's mean is the kernel weight at that pixel over 16 units
    let net = tiny_patch_net();
    let x: Vec<f32> = (0..192).map(|i| (i % 7) as f32).collect();
    let target = Target {
        layer: "u".into(),
        channel: 0,
        seed: Seed::Mean,
    };
    let a = run(
        &net,
        x,
        [1, 3, 8, 8],
        &target,
        Method::Grad,
        &AttrOptions::default(),
    );
    assert_eq!(a.pos, None);
    for c in 0..3 {
        for y in 0..8 {
            for xx in 0..8 {
                let w = 0.5 + (c * 4 + (y % 2) * 2 + xx % 2) as f32 * 0.1;
                let got = a.map[c * 64 + y * 8 + xx];
                assert!((got - w / 16.0).abs() < 1e-6, "({c}, {y}, {xx}): {got}");
            }
        }
    }
}
