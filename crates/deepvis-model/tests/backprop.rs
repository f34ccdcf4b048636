//! Back-projection on SqueezeNet: the `grad` mode against the golden gradients, and what
//! deconv and guided backprop must look like next to it.

mod common;

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use common::*;
use deepvis_model::{BackMode, BackProjector, Piece, to_vec};

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

#[test]
fn grad_mode_equals_autodiff_through_alexnets_pooling_and_linear_layers() {
    // random AlexNet weights: the layer-by-layer projection must equal burn's own gradient
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let net = deepvis_model::Net::AlexNet(Box::new(
        deepvis_model::alexnet::AlexNetConfig::new().init(&device),
    ))
    .no_grad();
    let ad_net = net.clone().to_device(&ad).no_grad();
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

fn conv(weights: Vec<f32>, shape: [usize; 4], device: &Device) -> Conv2d {
    let [o, i, kh, kw] = shape;
    let mut c = Conv2dConfig::new([i, o], [kh, kw]).init(device);
    c.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weights, shape), device));
    c.bias = Some(Param::from_tensor(Tensor::zeros([o], device)));
    c
}

/// Two layers by hand: conv 1x1 (1 -> 2 channels, weights +1 and -1) + ReLU, then conv
/// 1x2 (2 -> 1) + ReLU, on the 1x2 image [2, 1].
///   layer 1 pre-ReLU: ch0 [2, 1], ch1 [-2, -1]; post: ch0 [2, 1], ch1 [0, 0]
///   layer 2 weights: ch0 [3, -1], ch1 [2, -5]; output 3*2 - 1*1 = 5 > 0
///   signal after layer 1's ReLU: ch0 [3, -1], ch1 [2, -5]
///   grad   keeps it where pre > 0:          ch0 [3, -1], ch1 [0, 0] -> x: [3, -1]
///   deconv keeps its positive part:         ch0 [3, 0],  ch1 [2, 0] -> x: [1, 0]
///   guided keeps both:                      ch0 [3, 0],  ch1 [0, 0] -> x: [3, 0]
#[test]
fn the_three_modes_on_a_hand_set_two_layer_net() {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let l1 = conv(vec![1.0, -1.0], [2, 1, 1, 1], &ad);
    let l2 = conv(vec![3.0, -1.0, 2.0, -5.0], [1, 2, 1, 2], &ad);
    let x = Tensor::<4>::from_data(TensorData::new(vec![2.0f32, 1.0], [1, 1, 1, 2]), &plain);
    let h = relu(l1.forward(x.clone().autodiff())).without_autodiff();
    let out = relu(l2.forward(h.autodiff())).without_autodiff();
    assert_eq!(to_vec(out).unwrap(), vec![5.0]);
    let expected = [
        (BackMode::Grad, [3.0, -1.0]),
        (BackMode::Deconv, [1.0, 0.0]),
        (BackMode::Guided, [3.0, 0.0]),
    ];
    for (mode, want) in expected {
        let (p1, h1) = Piece::new(&x, true, |x| l1.forward(x));
        let (p2, _) = Piece::new(&h1, true, |h| l2.forward(h));
        let seed = Tensor::<4>::ones([1, 1, 1, 1], &plain);
        let gh = p2.back(seed, mode).unwrap();
        let gx = p1.back(gh, mode).unwrap();
        assert_eq!(to_vec(gx).unwrap(), want.to_vec(), "{mode:?}");
    }
    // the plain gradient equals burn's own autodiff through the whole net
    let xa = x.clone().autodiff().require_grad();
    let y = relu(l2.forward(relu(l1.forward(xa.clone()))));
    let g = xa.grad(&y.sum().backward()).unwrap();
    assert_eq!(to_vec(g).unwrap(), vec![3.0, -1.0]);
}

#[test]
fn modes_parse() {
    for m in BackMode::ALL {
        assert_eq!(BackMode::from_name(m.as_str()).unwrap(), m);
    }
    assert!(BackMode::from_name("deconvolution").is_err());
}
