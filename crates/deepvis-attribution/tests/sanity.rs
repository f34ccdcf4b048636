//! The cascading-randomization sanity check on SqueezeNet's "espresso" class score for the
//! coffee photo: the gradient's map loses its likeness to the trained network's as soon as the
//! top layers are re-initialised; guided backprop's keeps most of it (Adebayo et al. 2018
//! found the same: guided backprop shows the image's edges more than what the network
//! learned).

use burn::prelude::*;
use deepvis_attribution::{AttrOptions, Method, Sanity, SanityPoint, Target};
use deepvis_model::preprocess::preprocess_file;
use deepvis_model::{Arch, Net, tensor4};

fn cascade(method: Method) -> Vec<SanityPoint> {
    let device = Device::flex();
    let w = deepvis_testdata::shared_file("weights/squeezenet1_0/squeezenet1_0.safetensors");
    let net = Net::load(Arch::SqueezeNet1_0, &w, &device).expect("squeezenet");
    let p = preprocess_file(
        &deepvis_testdata::shared_file("images/coffee.png"),
        &Arch::SqueezeNet1_0.input_spec(),
    )
    .expect("photo");
    let x = tensor4(p.chw.clone(), p.dims(), &device).expect("input");
    let target = Target::unit("pool10", 967, None);
    let s = Sanity::new(&net, x, &target, method, &AttrOptions::default(), 64, 0)
        .expect("start")
        .run()
        .expect("cascade");
    // every parametric layer below the class score, top first
    assert_eq!(s.nodes().len(), 26);
    assert_eq!(s.nodes()[0], "conv10.conv");
    assert_eq!(s.nodes()[25], "conv1.conv");
    let pts = s.points().to_vec();
    for p in &pts {
        eprintln!(
            "{method:?} {:>2} {:<20} spearman {:.3} ssim {:.3}",
            p.randomized, p.node, p.spearman, p.ssim
        );
    }
    pts
}

fn mean(v: impl Iterator<Item = f32>) -> f32 {
    let v: Vec<f32> = v.collect();
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn the_gradient_fails_to_survive_randomization_and_guided_backprop_survives_it() {
    let grad = cascade(Method::Grad);
    let guided = cascade(Method::Guided);
    assert_eq!((grad.len(), guided.len()), (26, 26));
    assert!(grad.iter().zip(1..).all(|(p, k)| p.randomized == k));
    // the gradient: below 0.3 within the top four layers, never above 0.4 after the first,
    // 0.3 or less on average over the cascade
    let g_top = grad[..4]
        .iter()
        .map(|p| p.spearman)
        .fold(f32::MAX, f32::min);
    assert!(g_top < 0.3, "{g_top}");
    assert!(grad[1..].iter().all(|p| p.spearman < 0.4), "{grad:?}");
    let g_mean = mean(grad.iter().map(|p| p.spearman));
    assert!(g_mean < 0.3, "{g_mean}");
    // guided backprop: like the original through the top eight layers, and far more alike
    // than the gradient over the whole cascade
    assert!(guided[..8].iter().all(|p| p.spearman > 0.55), "{guided:?}");
    let s_mean = mean(guided.iter().map(|p| p.spearman));
    assert!(
        s_mean > g_mean + 0.3,
        "guided {s_mean} vs gradient {g_mean}"
    );
    let ssim_g = mean(grad.iter().map(|p| p.ssim));
    let ssim_s = mean(guided.iter().map(|p| p.ssim));
    assert!(
        ssim_s > ssim_g + 0.2,
        "SSIM: guided {ssim_s} vs gradient {ssim_g}"
    );
}
