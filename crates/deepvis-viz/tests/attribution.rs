//! Colour maps, attribution pictures, bilinear resizing, Spearman and SSIM against values
//! worked out by hand.

use deepvis_viz::*;
use image::Rgb;

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn color_map_names_and_default() {
    assert_eq!(ColorMap::default(), ColorMap::Gray);
    for m in ColorMap::ALL {
        assert_eq!(ColorMap::from_name(m.as_str()), Some(m));
    }
    assert_eq!(ColorMap::from_name("Diverging"), Some(ColorMap::Diverging));
    assert_eq!(
        ColorMap::from_name("SEQUENTIAL"),
        Some(ColorMap::Sequential)
    );
    assert_eq!(ColorMap::from_name("jet"), None);
    assert_eq!(ColorMap::Diverging.as_str(), "diverging");
}

#[test]
fn gray_endpoints_and_midpoint() {
    let g = ColorMap::Gray;
    assert_eq!(g.color(0.0), [0, 0, 0]);
    assert_eq!(g.color(1.0), [255, 255, 255]);
    assert_eq!(g.color(0.5), [128, 128, 128]); // 127.5 rounds up
    assert_eq!(g.color(-2.0), [0, 0, 0]);
    assert_eq!(g.color(7.0), [255, 255, 255]);
    assert_eq!(g.color(f32::NAN), [0, 0, 0]);
}

#[test]
fn diverging_is_blue_white_red() {
    let d = ColorMap::Diverging;
    assert_eq!(d.color(0.0), [5, 48, 97]);
    assert_eq!(d.color(0.5), [255, 255, 255]);
    assert_eq!(d.color(1.0), [103, 0, 31]);
    assert_eq!(d.color(f32::NAN), [255, 255, 255]);
    assert_eq!(d.color(-1.0), d.color(0.0));
    assert_eq!(d.color(f32::INFINITY), d.color(1.0));
    // halfway between the control points at 0.2 and 0.3
    assert_eq!(d.color(0.25), [107, 172, 209]);
    for i in 0..50 {
        let lo = d.color(i as f32 / 100.0);
        let hi = d.color(1.0 - i as f32 / 100.0);
        assert!(lo[2] > lo[0], "{lo:?} should be blue");
        assert!(hi[0] > hi[2], "{hi:?} should be red");
    }
}

#[test]
fn sequential_is_dark_to_bright() {
    let s = ColorMap::Sequential;
    assert_eq!(s.color(0.0), [0, 0, 4]);
    assert_eq!(s.color(0.5), [188, 55, 84]);
    assert_eq!(s.color(1.0), [252, 255, 164]);
    assert_eq!(s.color(f32::NAN), [0, 0, 4]);
    let luma = |c: [u8; 3]| 0.299 * c[0] as f32 + 0.587 * c[1] as f32 + 0.114 * c[2] as f32;
    let mut prev = -1.0;
    for i in 0..=100 {
        let l = luma(s.color(i as f32 / 100.0));
        assert!(l > prev, "luma not increasing at {i}");
        prev = l;
    }
}

#[test]
fn plane_image_signed_ramp_is_white_at_zero() {
    let ramp = [-2.0, -1.0, 0.0, 1.0, 2.0];
    let img = plane_image(&ramp, 1, 5, true, ColorMap::Diverging).unwrap();
    assert_eq!(img.dimensions(), (5, 1));
    assert_eq!(*img.get_pixel(0, 0), Rgb([5, 48, 97]));
    assert_eq!(*img.get_pixel(1, 0), Rgb([107, 172, 209]));
    assert_eq!(*img.get_pixel(2, 0), Rgb([255, 255, 255]));
    assert_eq!(*img.get_pixel(4, 0), Rgb([103, 0, 31]));
    // scaled by max |v| only: a lopsided ramp keeps zero white
    let img = plane_image(&[0.0, 1.0, 4.0], 1, 3, true, ColorMap::Diverging).unwrap();
    assert_eq!(*img.get_pixel(0, 0), Rgb([255, 255, 255]));
    assert_eq!(*img.get_pixel(2, 0), Rgb([103, 0, 31]));
    let img = plane_image(&ramp, 1, 5, true, ColorMap::Gray).unwrap();
    let g: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
    assert_eq!(g, vec![0, 64, 128, 191, 255]);
}

#[test]
fn plane_image_unsigned_and_constant_planes() {
    let img = plane_image(&[1.0, 2.0, 3.0, 5.0], 2, 2, false, ColorMap::Gray).unwrap();
    let g: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
    assert_eq!(g, vec![0, 64, 128, 255]);
    let zeros = [0.0; 6];
    let img = plane_image(&zeros, 2, 3, true, ColorMap::Diverging).unwrap();
    assert!(img.pixels().all(|p| *p == Rgb([255, 255, 255])));
    let img = plane_image(&zeros, 2, 3, true, ColorMap::Gray).unwrap();
    assert!(img.pixels().all(|p| *p == Rgb([128, 128, 128])));
    let img = plane_image(&zeros, 2, 3, false, ColorMap::Sequential).unwrap();
    assert!(img.pixels().all(|p| *p == Rgb([0, 0, 4])));
    // NaN reads as 0
    let img = plane_image(&[-1.0, f32::NAN, 1.0], 1, 3, true, ColorMap::Diverging).unwrap();
    assert_eq!(*img.get_pixel(1, 0), Rgb([255, 255, 255]));
    // bad sizes
    assert!(plane_image(&[1.0, 2.0, 3.0], 2, 2, false, ColorMap::Gray).is_none());
    assert!(plane_image(&[], 0, 0, false, ColorMap::Gray).is_none());
}

/// Three 2x2 channels; per pixel (c0, c1, c2): (1, 2, 2), (-3, 0, -4), (2, -3, 6), (0, 0, 0).
const MAP: [f32; 12] = [
    1.0, -3.0, 2.0, 0.0, 2.0, 0.0, -3.0, 0.0, 2.0, -4.0, 6.0, 0.0,
];

#[test]
fn reduce_map_by_hand() {
    let (mean, signed) = reduce_map(&MAP, 3, 2, 2, BackFilter::Raw).unwrap();
    assert!(signed);
    assert!(close(&mean, &[5.0 / 3.0, -7.0 / 3.0, 5.0 / 3.0, 0.0], 1e-6));
    let (gray, signed) = reduce_map(&MAP, 3, 2, 2, BackFilter::Gray).unwrap();
    assert!(signed);
    assert_eq!(gray, mean);
    let (norm, signed) = reduce_map(&MAP, 3, 2, 2, BackFilter::Norm).unwrap();
    assert!(!signed);
    assert!(close(&norm, &[3.0, 5.0, 7.0, 0.0], 1e-6));
    let (blurred, signed) = reduce_map(&MAP, 3, 2, 2, BackFilter::NormBlur).unwrap();
    assert!(!signed);
    assert_eq!(blurred, blur_plane(&norm, 2, 2, NORM_BLUR_SIGMA));
    let (lo, hi) = finite_range(&blurred);
    assert!(lo > 0.0 && hi < 7.0 && hi - lo < 7.0);
    // one channel: the value itself, or its magnitude
    let one = [-2.0, 3.0];
    assert_eq!(
        reduce_map(&one, 1, 1, 2, BackFilter::Raw),
        Some((vec![-2.0, 3.0], true))
    );
    assert_eq!(
        reduce_map(&one, 1, 1, 2, BackFilter::Norm),
        Some((vec![2.0, 3.0], false))
    );
    // non-finite values count as 0
    let nan = [f32::NAN, 4.0, f32::INFINITY, 4.0, 0.0, 4.0];
    assert_eq!(
        reduce_map(&nan, 3, 1, 2, BackFilter::Gray),
        Some((vec![0.0, 4.0], true))
    );
    assert!(reduce_map(&MAP, 3, 2, 3, BackFilter::Raw).is_none());
    assert!(reduce_map(&MAP, 0, 2, 2, BackFilter::Raw).is_none());
    assert!(reduce_map(&MAP, 3, usize::MAX, 2, BackFilter::Raw).is_none());
}

#[test]
fn attribution_image_paths() {
    // RGB, raw, gray: exactly the back-projection picture
    let order = [2, 1, 0];
    let rgb = attribution_image(&MAP, 3, 2, 2, order, BackFilter::Raw, ColorMap::Gray).unwrap();
    assert_eq!(rgb, back_image(&MAP, 2, 2, order, BackFilter::Raw).unwrap());
    // Raw with a diverging map: the signed mean, zero white
    let div =
        attribution_image(&MAP, 3, 2, 2, order, BackFilter::Raw, ColorMap::Diverging).unwrap();
    assert_eq!(*div.get_pixel(1, 1), Rgb([255, 255, 255]));
    assert_eq!(*div.get_pixel(1, 0), Rgb([5, 48, 97])); // -7/3 is the largest magnitude
    // a signed plane under a sequential map is drawn by magnitude
    let one = [-2.0, 0.0, 1.0, 2.0];
    let seq =
        attribution_image(&one, 1, 2, 2, order, BackFilter::Gray, ColorMap::Sequential).unwrap();
    assert_eq!(
        seq,
        plane_image(&[2.0, 0.0, 1.0, 2.0], 2, 2, false, ColorMap::Sequential).unwrap()
    );
    assert_eq!(*seq.get_pixel(0, 0), Rgb([252, 255, 164]));
    assert_eq!(*seq.get_pixel(1, 0), Rgb([0, 0, 4]));
    // an unsigned plane under a diverging map uses white..red
    let up = [0.0, 1.0, -2.0];
    let img =
        attribution_image(&up, 1, 1, 3, order, BackFilter::Norm, ColorMap::Diverging).unwrap();
    assert_eq!(*img.get_pixel(0, 0), Rgb([255, 255, 255]));
    assert_eq!(*img.get_pixel(1, 0), Rgb([229, 131, 104])); // t = 0.75
    assert_eq!(*img.get_pixel(2, 0), Rgb([103, 0, 31]));
    // norm in gray: min to black, max to white
    let img = attribution_image(&MAP, 3, 2, 2, order, BackFilter::Norm, ColorMap::Gray).unwrap();
    let g: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
    assert_eq!(g, vec![109, 182, 255, 0]); // 3/7, 5/7, 1, 0
    // bad sizes and orders
    assert!(attribution_image(&MAP, 3, 2, 3, order, BackFilter::Raw, ColorMap::Gray).is_none());
    assert!(attribution_image(&MAP, 3, 2, 3, order, BackFilter::Norm, ColorMap::Gray).is_none());
    assert!(attribution_image(&MAP, 3, 2, 2, [0, 1, 3], BackFilter::Raw, ColorMap::Gray).is_none());
}

#[test]
fn upsample_uses_half_pixel_centres() {
    let up = upsample_bilinear(&[0.0, 1.0, 2.0, 3.0], 2, 2, 4, 4).unwrap();
    #[rustfmt::skip]
    let want = [
        0.0, 0.25, 0.75, 1.0,
        0.5, 0.75, 1.25, 1.5,
        1.5, 1.75, 2.25, 2.5,
        2.0, 2.25, 2.75, 3.0,
    ];
    assert!(close(&up, &want, 1e-6), "{up:?}");
    // 1 x 2 -> 1 x 3: sources at -1/6 (clamped), 1/2, 7/6 (clamped)
    let up = upsample_bilinear(&[0.0, 3.0], 1, 2, 1, 3).unwrap();
    assert!(close(&up, &[0.0, 1.5, 3.0], 1e-6), "{up:?}");
    // down: 1 x 4 -> 1 x 2 samples at 0.5 and 2.5
    let down = upsample_bilinear(&[0.0, 1.0, 2.0, 3.0], 1, 4, 1, 2).unwrap();
    assert!(close(&down, &[0.5, 2.5], 1e-6), "{down:?}");
    // same size is the identity; 1x1 becomes constant
    let p = [1.0, -2.0, 3.5, 4.0, 5.0, 6.0];
    assert_eq!(upsample_bilinear(&p, 2, 3, 2, 3).unwrap(), p.to_vec());
    assert_eq!(upsample_bilinear(&[7.0], 1, 1, 3, 2).unwrap(), vec![7.0; 6]);
    assert_eq!(
        upsample_bilinear(&[f32::NAN], 1, 1, 1, 2).unwrap(),
        vec![0.0; 2]
    );
    assert!(upsample_bilinear(&p, 2, 2, 4, 4).is_none());
    assert!(upsample_bilinear(&p, 2, 3, 0, 4).is_none());
}

#[test]
fn spearman_by_hand() {
    let a = [0.1, 5.0, -2.0, 3.0, 7.0, 2.5];
    let cubed: Vec<f32> = a.iter().map(|v| v * v * v + 10.0).collect();
    assert!((spearman(&a, &cubed).unwrap() - 1.0).abs() < 1e-6);
    let neg: Vec<f32> = a.iter().map(|v| -v.exp()).collect();
    assert!((spearman(&a, &neg).unwrap() + 1.0).abs() < 1e-6);
    // ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
    let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert!((r - 0.9f32.sqrt()).abs() < 1e-6, "{r}");
    // ties in one: a ranks (1.5, 1.5, 3, 4), b = (3, 1, 2, 4) ranks (3, 1, 2, 4):
    // d_a = (-1, -1, 0.5, 1.5), d_b = (0.5, -1.5, -0.5, 1.5)
    // sum d_a d_b = -0.5 + 1.5 - 0.25 + 2.25 = 3; sum d_a^2 = 4.5; sum d_b^2 = 5
    let r = spearman(&[0.0, 0.0, 1.0, 2.0], &[3.0, 1.0, 2.0, 4.0]).unwrap();
    assert!((r - 3.0 / 22.5f32.sqrt()).abs() < 1e-6, "{r}");
    assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(spearman(&[1.0, 2.0, 3.0], &[4.0; 3]), None);
    assert_eq!(spearman(&[1.0, 2.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(spearman(&[1.0], &[1.0]), None);
}

fn pattern(h: usize, w: usize) -> Vec<f32> {
    (0..h * w)
        .map(|i| {
            let (y, x) = ((i / w) as f32, (i % w) as f32);
            (x * 0.7).sin() * (y * 0.45).cos() + 0.02 * x
        })
        .collect()
}

#[test]
fn ssim_of_identical_negated_and_noisy_planes() {
    let (h, w) = (24, 20);
    let a = pattern(h, w);
    let same = ssim(&a, &a, h, w).unwrap();
    assert!((same - 1.0).abs() < 1e-5, "{same}");
    // min-max normalisation makes it blind to gain and offset
    let affine: Vec<f32> = a.iter().map(|v| 3.0 * v - 2.0).collect();
    assert!((ssim(&a, &affine, h, w).unwrap() - 1.0).abs() < 1e-5);
    let neg: Vec<f32> = a.iter().map(|v| -v).collect();
    let s = ssim(&a, &neg, h, w).unwrap();
    assert!(s < 0.5, "negated: {s}");
    // deterministic uniform noise of +-0.2 on a range of about 2.4 (SSIM about 0.97)
    let mut state = 12345u32;
    let noisy: Vec<f32> = a
        .iter()
        .map(|v| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            v + 0.4 * ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
        .collect();
    let s = ssim(&a, &noisy, h, w).unwrap();
    assert!(s > 0.5 && s < 0.99, "noisy: {s}");
    // two constant planes are both all zero: identical
    assert!((ssim(&[2.0; 9], &[5.0; 9], 3, 3).unwrap() - 1.0).abs() < 1e-6);
    assert!(ssim(&a, &a[1..], h, w).is_none());
    assert!(ssim(&a, &a, h, w + 1).is_none());
}

#[test]
fn one_outlier_saturates_instead_of_washing_out_the_map() {
    // 999 values of 1 and one of 1000: scaled by the 99.5th percentile (1), not by 1000
    let mut plane = vec![1.0f32; 1000];
    plane[0] = 1000.0;
    let img = plane_image(&plane, 40, 25, true, ColorMap::Diverging).unwrap();
    assert_eq!(img.get_pixel(5, 5).0, ColorMap::Diverging.color(1.0));
    let img = plane_image(&plane, 40, 25, false, ColorMap::Gray).unwrap();
    // unsigned: minimum 1 and percentile 1, a constant picture at 0
    assert_eq!(img.get_pixel(5, 5).0, [0, 0, 0]);
    plane[1] = 0.0;
    let img = plane_image(&plane, 40, 25, false, ColorMap::Gray).unwrap();
    assert_eq!(img.get_pixel(2, 0).0, [255, 255, 255]);
}
