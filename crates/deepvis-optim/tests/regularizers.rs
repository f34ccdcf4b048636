//! Each regularizer alone against hand-computed cases.

use burn::prelude::*;
use deepvis_model::{tensor4, to_vec};
use deepvis_optim::regularize::*;
use deepvis_optim::{LrPolicy, Params};

fn dev() -> Device {
    Device::flex()
}

#[test]
fn blur_of_an_impulse_is_the_sampled_gaussian() {
    let (h, w) = (21, 21);
    let mut x = vec![0f32; 3 * h * w];
    x[h * w + 10 * w + 10] = 1.0; // channel 1, centre
    let y = to_vec(gaussian_blur(
        tensor4(x, [1, 3, h, w], &dev()).unwrap(),
        1.0,
    ))
    .unwrap();
    let k = gaussian_kernel(1.0);
    assert_eq!(k.len(), 9); // radius int(4 * 1 + 0.5) = 4
    let s: f32 = k.iter().sum();
    assert!((s - 1.0).abs() < 1e-6);
    assert!((k[4] - 0.39894).abs() < 1e-3);
    for dy in 0..9 {
        for dx in 0..9 {
            let got = y[h * w + (6 + dy) * w + (6 + dx)];
            assert!((got - k[dy] * k[dx]).abs() < 1e-7, "({dy},{dx})");
        }
    }
    // the other channels stay zero; the total is kept
    assert!(y[..h * w].iter().all(|v| *v == 0.0));
    let total: f32 = y.iter().sum();
    assert!((total - 1.0).abs() < 1e-5);
    assert_eq!(gaussian_kernel(0.5).len(), 5); // radius int(2.5) = 2
}

#[test]
fn reflect_borders_are_half_sample_symmetric() {
    let x = tensor4(vec![1.0, 2.0, 3.0], [1, 1, 1, 3], &dev()).unwrap();
    let p = to_vec(pad_symmetric(x.clone(), 3, 2)).unwrap();
    assert_eq!(p, vec![2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]);
    let p = to_vec(pad_symmetric(x, 3, 4)).unwrap();
    assert_eq!(
        p,
        vec![3.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 1.0]
    );
    // blurring a constant image leaves it constant, edges included (no dark border)
    let c = tensor4(vec![5.0; 3 * 10 * 10], [1, 3, 10, 10], &dev()).unwrap();
    let b = to_vec(gaussian_blur(c, 1.5)).unwrap();
    assert!(b.iter().all(|v| (v - 5.0).abs() < 1e-5));
}

#[test]
fn percentile_interpolates_linearly() {
    let v = Tensor::<1>::from_floats([4.0, 1.0, 3.0, 2.0], &dev());
    let p = |q: f64| to_vec(percentile(v.clone(), q)).unwrap()[0];
    assert_eq!(p(0.0), 1.0);
    assert_eq!(p(100.0), 4.0);
    assert_eq!(p(50.0), 2.5);
    assert_eq!(p(25.0), 1.75);
    assert!((p(90.0) - 3.7).abs() < 1e-6);
}

#[test]
fn small_norm_clipping_zeroes_exactly_the_small_pixels() {
    // four pixels with norms 1, 2, 3, 4 (channel 0 only), percentile 50 = 2.5
    let mut x = vec![0f32; 12];
    x[..4].copy_from_slice(&[3.0, 1.0, 4.0, 2.0]);
    let y = to_vec(clip_small_norm(
        tensor4(x, [1, 3, 2, 2], &dev()).unwrap(),
        50.0,
    ))
    .unwrap();
    assert_eq!(&y[..4], &[3.0, 0.0, 4.0, 0.0]);
    // a pixel exactly at the threshold is kept (strictly below is cut)
    let x = vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let y = to_vec(clip_small_norm(
        tensor4(x, [1, 3, 1, 3], &dev()).unwrap(),
        50.0,
    ))
    .unwrap();
    assert_eq!(&y[..3], &[0.0, 2.0, 3.0]);
    // norm over channels: pixel (3,4,0) has norm 5
    let x = vec![3.0, 1.0, 4.0, 1.0, 0.0, 0.0];
    let y = to_vec(clip_small_norm(
        tensor4(x, [1, 3, 1, 2], &dev()).unwrap(),
        60.0,
    ))
    .unwrap();
    assert_eq!(y, vec![3.0, 0.0, 4.0, 0.0, 0.0, 0.0]);
}

#[test]
fn small_contribution_clipping_uses_gradient_times_minus_x() {
    // contributions |g.(-x)| per pixel: 6, 0.5, 2, 10 -> 50th percentile 4: keep pixels 0 and 3
    let x = vec![1.0, 1.0, 1.0, 1.0, 2.0, 0.5, 1.0, -5.0, 0.0, 0.0, 0.0, 0.0];
    let g = vec![2.0, 0.0, 2.0, 0.0, 2.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0];
    let y = to_vec(clip_small_contribution(
        tensor4(x, [1, 3, 2, 2], &dev()).unwrap(),
        tensor4(g, [1, 3, 2, 2], &dev()).unwrap(),
        50.0,
    ))
    .unwrap();
    assert_eq!(
        y,
        vec![1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, -5.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn decay_and_the_update_with_everything_else_off() {
    let p = Params {
        decay: 0.5,
        blur_radius: 0.0,
        blur_every: 0,
        norm_pct: 0.0,
        contrib_pct: 0.0,
        lr_policy: LrPolicy::Constant,
        lr: 2.0,
        max_lr: 0.0,
        desired_prog: 0.0,
        max_iter: 10,
    };
    let x = tensor4(vec![1.0; 3], [1, 3, 1, 1], &dev()).unwrap();
    let g = tensor4(vec![0.5, -0.5, 0.0], [1, 3, 1, 1], &dev()).unwrap();
    let y = to_vec(regularized_update(x, g, 2.0, &p, 0)).unwrap();
    assert_eq!(y, vec![1.0, 0.0, 0.5]);
}

#[test]
fn clipping_to_pixels_uses_the_mean() {
    let norm = deepvis_model::Arch::SqueezeNet1_0.input_spec().norm;
    let x = tensor4(vec![-200.0, 200.0, 0.0], [1, 3, 1, 1], &dev()).unwrap();
    let y = to_vec(clip_to_pixels(x, &norm)).unwrap();
    assert_eq!(y, vec![-104.0, 138.0, 0.0]);
}
