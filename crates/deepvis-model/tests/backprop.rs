//! Back-projection on SqueezeNet: the `grad` mode against the golden gradients, and what
//! deconv and guided backprop must look like next to it.

mod common;

use burn::prelude::*;
use common::*;
use deepvis_model::{BackMode, BackProjector, to_vec};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn projector() -> (BackProjector, Tensor<4>) {
    let device = Device::flex();
    let net = squeezenet(&device);
    let x = input_tensor(&golden_tensor(&golden(), "dog/input"), &device);
    (BackProjector::new(net, &device), x)
}

#[test]
fn grad_mode_matches_the_golden_gradients() {
    let (bp, x) = projector();
    let g = golden();
    let p = bp
        .project(x.clone(), "fire9", 146, Some((6, 6)), BackMode::Grad)
        .unwrap();
    assert_eq!(p.pos, Some((6, 6)));
    assert!(p.value > 0.0);
    assert_eq!(p.grad.dims(), [1, 3, 227, 227]);
    let got = to_vec(p.grad).unwrap();
    let want = golden_tensor(&g, "dog/grad_fire9_c146_6_6");
    let c = cosine(&got, &want.data);
    assert!(c > 0.999, "cosine {c}");

    let p = bp.project(x, "pool10", 130, None, BackMode::Grad).unwrap();
    assert_eq!(p.pos, None);
    let got = to_vec(p.grad).unwrap();
    let want = golden_tensor(&g, "dog/grad_logit130");
    let c = cosine(&got, &want.data);
    assert!(c > 0.999, "cosine {c}");
}

#[test]
fn deconv_and_guided_differ_from_the_gradient_as_their_rules_say() {
    let (bp, x) = projector();
    let run = |m| {
        let p = bp.project(x.clone(), "fire9", 146, None, m).unwrap();
        (p.pos, to_vec(p.grad).unwrap())
    };
    let (pos, grad) = run(BackMode::Grad);
    // the default position is the argmax of the unit's map
    let (_, deconv) = run(BackMode::Deconv);
    let (pos_guided, guided) = run(BackMode::Guided);
    assert_eq!(pos, pos_guided);
    for v in [&grad, &deconv, &guided] {
        assert!(v.iter().all(|x| x.is_finite()));
        assert!(v.iter().any(|x| *x != 0.0));
    }
    // guided passes a subset of what the gradient passes: it is zero wherever no path is
    // open in the forward pass, so its support lies inside the gradient's receptive support
    let outside = guided
        .iter()
        .zip(&grad)
        .filter(|(g, d)| **g != 0.0 && **d == 0.0)
        .count();
    assert_eq!(
        outside, 0,
        "guided is non-zero where no forward path exists"
    );
    // the three are different pictures
    assert!(cosine(&grad, &guided) < 0.99);
    assert!(cosine(&deconv, &guided) < 0.99);
}

#[test]
fn bad_units_are_errors() {
    let (bp, x) = projector();
    let e = bp
        .project(x.clone(), "fire9", 512, None, BackMode::Grad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("512"), "{e}");
    assert!(
        bp.project(x.clone(), "fire9", 0, Some((13, 2)), BackMode::Grad)
            .is_err()
    );
    assert!(bp.project(x, "fire10", 0, None, BackMode::Grad).is_err());
}

/// AlexNet with random torchvision-named weights.
fn random_alexnet(device: &Device) -> deepvis_model::Net {
    let mut s = 99u64;
    let tensors = deepvis_model::alexnet::tensor_specs()
        .into_iter()
        .map(|(name, shape)| {
            let fan_in: usize = shape[1..].iter().product::<usize>().max(1);
            let scale = (2.0 / fan_in as f32).sqrt() * 1.7;
            let data = (0..shape.iter().product::<usize>())
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5) * scale
                })
                .collect();
            (name, deepvis_model::RawTensor { shape, data })
        })
        .collect();
    let map = deepvis_model::WeightMap {
        path: "random-alexnet".into(),
        tensors,
    };
    deepvis_model::Net::from_weights(deepvis_model::Arch::AlexNet, map, device).unwrap()
}

#[test]
fn grad_mode_equals_autodiff_through_alexnets_pooling_and_linear_layers() {
    // random AlexNet weights: the graph's one-backward projection must equal burn's gradient
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let net = random_alexnet(&device);
    let ad_net = net.clone().to_device(&ad);
    let bp = BackProjector::new(net, &device);
    let mut s = 7u64;
    let data: Vec<f32> = (0..3 * 224 * 224)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    let x = deepvis_model::tensor4(data.clone(), [1, 3, 224, 224], &device).unwrap();
    for layer in ["fc7", "conv5"] {
        // the layer's most active unit, so that the gradient is not trivially zero
        let out = to_vec(
            net_out(&ad_net, &data, layer, &ad)
                .max_dims(&[2, 3])
                .without_autodiff(),
        )
        .unwrap();
        let unit = (0..out.len())
            .max_by(|a, b| out[*a].total_cmp(&out[*b]))
            .unwrap();
        assert!(out[unit] > 0.0);
        let p = bp
            .project(x.clone(), layer, unit, None, BackMode::Grad)
            .unwrap();
        let xa = deepvis_model::tensor4(data.clone(), [1, 3, 224, 224], &ad)
            .unwrap()
            .require_grad();
        let taps = ad_net
            .forward(xa.clone(), &deepvis_model::Request::layers(&[layer]))
            .unwrap();
        let t = taps.get(layer).unwrap().clone();
        let (y, x_) = p.pos.unwrap_or((0, 0));
        let v = t.slice([0..1, unit..unit + 1, y..y + 1, x_..x_ + 1]).sum();
        let want = to_vec(xa.grad(&v.backward()).unwrap()).unwrap();
        let got = to_vec(p.grad).unwrap();
        let c = cosine(&got, &want);
        assert!(c > 0.9999, "{layer} unit {unit}: cosine {c}");
    }
}

fn net_out(net: &deepvis_model::Net, data: &[f32], layer: &str, device: &Device) -> Tensor<4> {
    let x = deepvis_model::tensor4(data.to_vec(), [1, 3, 224, 224], device).unwrap();
    let mut taps = net
        .forward(x, &deepvis_model::Request::layers(&[layer]))
        .unwrap();
    taps.take(layer).unwrap()
}

#[test]
fn modes_parse() {
    for m in BackMode::ALL {
        assert_eq!(BackMode::from_name(m.as_str()).unwrap(), m);
    }
    assert!(BackMode::from_name("deconvolution").is_none());
    for m in BackMode::PROJECTIONS {
        assert_eq!(BackMode::parse_projection(m.as_str()), Ok(m));
    }
    let e = BackMode::parse_projection("gradcam").unwrap_err();
    assert!(e.contains("grad, deconv or guided"), "{e}");
    assert!(BackMode::parse_projection("deconvolution").is_err());
}
