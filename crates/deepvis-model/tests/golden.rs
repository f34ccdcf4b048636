//! SqueezeNet v1.0 against golden tensors from an independent implementation
//! (`../shared/reference/squeezenet1_0_golden.safetensors`).

mod common;

use burn::prelude::*;
use common::*;
use deepvis_model::{Request, to_vec};

const STEMS: [&str; 4] = ["dog", "eagle", "giraffe", "coffee"];

#[test]
fn forward_matches_golden_activations() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let g = golden();
    for stem in STEMS {
        let input = input_tensor(&golden_tensor(&g, &format!("{stem}/input")), &device);
        let mut names = vec!["fire5", "fire9", "conv10", "pool10", "prob"];
        if stem == "dog" {
            names.push("conv1");
        }
        let mut taps = net.forward(input, &Request::layers(&names)).unwrap();
        for name in names {
            let got = to_vec(taps.take(name).unwrap()).unwrap();
            let gold = match name {
                "pool10" => "logits",
                n => n,
            };
            let want = golden_tensor(&g, &format!("{stem}/{gold}"));
            assert_close(&format!("{stem}/{name}"), &got, &want.data, 1e-4, 0);
        }
    }
}

fn gradient_of(select: impl Fn(&deepvis_model::Taps) -> Tensor<1>, layers: &[&str]) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let net = squeezenet(&device);
    let g = golden();
    let x = input_tensor(&golden_tensor(&g, "dog/input"), &device).require_grad();
    let taps = net.forward(x.clone(), &Request::layers(layers)).unwrap();
    let y = select(&taps);
    let grads = y.backward();
    to_vec(x.grad(&grads).expect("input gradient")).unwrap()
}

#[test]
fn gradient_of_fire9_unit_matches_golden() {
    let got = gradient_of(
        |t| {
            t.get("fire9")
                .unwrap()
                .clone()
                .slice([0..1, 146..147, 6..7, 6..7])
                .reshape([1])
        },
        &["fire9"],
    );
    let want = golden_tensor(&golden(), "dog/grad_fire9_c146_6_6");
    // A handful of elements sit on ReLU / max-pool kinks.
    assert_close("grad fire9[146,6,6]", &got, &want.data, 1e-4, 20);
}

#[test]
fn gradient_of_flamingo_logit_matches_golden() {
    let got = gradient_of(
        |t| {
            t.get("pool10")
                .unwrap()
                .clone()
                .slice([0..1, 130..131, 0..1, 0..1])
                .reshape([1])
        },
        &["pool10"],
    );
    let want = golden_tensor(&golden(), "dog/grad_logit130");
    assert_close("grad logit 130", &got, &want.data, 1e-4, 20);
}

#[test]
fn forward_stops_at_the_deepest_requested_layer_and_rejects_unknown_names() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let g = golden();
    let input = input_tensor(&golden_tensor(&g, "dog/input"), &device);
    let taps = net
        .forward(
            input.clone(),
            &Request::layers(&["pool1"]).with_pre_relu("conv1"),
        )
        .unwrap();
    assert_eq!(taps.get("pool1").unwrap().dims(), [1, 96, 55, 55]);
    let pre = to_vec(taps.pre_relu("conv1").unwrap().clone()).unwrap();
    assert!(pre.iter().any(|v| *v < 0.0), "pre-ReLU conv1 has negatives");
    assert!(taps.get("fire9").is_none());

    let e = net
        .forward(input.clone(), &Request::layers(&["fire10"]))
        .unwrap_err();
    assert!(e.to_string().contains("no layer `fire10`"), "{e}");
    let e = net
        .forward(input.clone(), &Request::default().with_pre_relu("pool4"))
        .unwrap_err();
    assert!(e.to_string().contains("no ReLU"), "{e}");
    let bad = Tensor::<4>::zeros([1, 1, 227, 227], &device);
    assert!(net.forward(bad, &Request::layers(&["conv1"])).is_err());
}

#[test]
fn pre_relu_conv10_is_relu_of_itself() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let g = golden();
    let input = input_tensor(&golden_tensor(&g, "eagle/input"), &device);
    let taps = net
        .forward(input, &Request::layers(&["conv10"]).with_pre_relu("conv10"))
        .unwrap();
    let pre = to_vec(taps.pre_relu("conv10").unwrap().clone()).unwrap();
    let post = to_vec(taps.get("conv10").unwrap().clone()).unwrap();
    assert!(pre.iter().any(|v| *v < 0.0));
    for (a, b) in pre.iter().zip(&post) {
        assert_eq!(a.max(0.0), *b);
    }
}
