//! Start images: seeded noise, the uniform pixel range, refused images.

use deepvis_model::Arch;
use deepvis_optim::init::Init;

#[test]
fn noise_is_seeded_and_has_the_asked_spread() {
    let a = Init::Noise { seed: 3, std: 10.0 }
        .materialize(&Arch::SqueezeNet1_0.info())
        .unwrap();
    let b = Init::Noise { seed: 3, std: 10.0 }
        .materialize(&Arch::SqueezeNet1_0.info())
        .unwrap();
    let c = Init::Noise { seed: 4, std: 10.0 }
        .materialize(&Arch::SqueezeNet1_0.info())
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let n = a.len() as f64;
    let mean = a.iter().map(|v| *v as f64).sum::<f64>() / n;
    let var = a.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 0.1, "{mean}");
    assert!((var.sqrt() - 10.0).abs() < 0.1, "{}", var.sqrt());
}

#[test]
fn uniform_spans_the_pixel_range() {
    let u = Init::Uniform { seed: 1 }
        .materialize(&Arch::SqueezeNet1_0.info())
        .unwrap();
    let plane = 227 * 227;
    let (lo, hi) = u[..plane]
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    assert!(
        (-104.0..-100.0).contains(&lo) && hi > 145.0 && hi <= 151.0,
        "{lo} {hi}"
    );
}

#[test]
fn images_of_the_wrong_size_are_refused() {
    let e = Init::Image {
        chw: vec![0.0; 10],
        label: "x.png".into(),
    }
    .materialize(&Arch::SqueezeNet1_0.info())
    .unwrap_err();
    assert!(e.to_string().contains("x.png"));
    let e = Init::Image {
        chw: vec![f32::NAN; 3 * 227 * 227],
        label: "nan".into(),
    }
    .materialize(&Arch::SqueezeNet1_0.info());
    assert!(e.is_err());
}
