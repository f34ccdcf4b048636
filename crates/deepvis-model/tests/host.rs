//! The CPU path (`deepvis-kernels` under `GraphNet` on burn-flex) against burn's own ops on the
//! same device (the autodiff device declines the CPU path), layer by layer on SqueezeNet.

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

#[test]
fn the_cpu_path_agrees_with_burn_on_every_layer_and_fuses_relus() {
    let cpu = deepvis_model::device::cpu().device;
    let ad = cpu.clone().autodiff();
    let net = common::squeezenet(&cpu);
    let burn_net = net.clone().to_device(&ad);
    let layers = deepvis_model::squeezenet::LAYERS;
    let x = noise(2 * 3 * 227 * 227);
    let input = |d: &Device| deepvis_model::tensor4(x.clone(), [2, 3, 227, 227], d).expect("x");
    let req = Request::layers(&layers).with_pre_relu("conv1");
    let fast = net.forward(input(&cpu), &req).expect("cpu path");
    let slow = burn_net.forward(input(&ad), &req).expect("burn");
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
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-5 * scale.max(1e-6),
            "{name}: {worst} of {scale}"
        );
    }
    // the profile names each node once; conv1's ReLU ran inside its convolution, the fire
    // modules' (after their concatenation) did not
    let graph = net.graph();
    let times = graph.profile(input(&cpu), "prob").expect("profile");
    let fused: Vec<&str> = times
        .iter()
        .filter(|t| t.fused)
        .map(|t| t.node.as_str())
        .collect();
    assert!(fused.contains(&"conv1"), "{fused:?}");
    assert!(!fused.contains(&"fire2"), "{fused:?}");
    assert!(times.iter().all(|t| t.ms >= 0.0 && t.ms.is_finite()));
    assert_eq!(times.last().map(|t| t.node.as_str()), Some("prob"));
    assert!(!times.iter().any(|t| t.node == "conv1.conv"), "fused away");
}
