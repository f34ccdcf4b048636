//! Grids, images scaled about zero, back filters, crops, blends and montages by hand.

use deepvis_viz::*;
use image::{Rgb, RgbImage};

#[test]
fn grid_is_near_square() {
    let g = GridLayout::new(512, 13, 13, 1);
    assert_eq!((g.cols, g.rows), (23, 23));
    let g = GridLayout::new(96, 111, 111, 1);
    assert_eq!((g.cols, g.rows), (10, 10));
    let g = GridLayout::new(256, 13, 13, 1);
    assert_eq!((g.cols, g.rows), (16, 16));
    assert_eq!(g.width(), 16 * 13 + 15);
    let g = GridLayout::new(1, 5, 5, 1);
    assert_eq!((g.cols, g.rows, g.width()), (1, 1, 5));
}

#[test]
fn tile_at_inverts_origin_and_skips_separators() {
    let g = GridLayout::new(10, 4, 3, 1);
    for i in 0..10 {
        let (x, y) = g.origin(i);
        assert_eq!(g.tile_at(x, y), Some(i));
        assert_eq!(g.tile_at(x + 3, y + 2), Some(i));
    }
    assert_eq!(g.tile_at(4, 0), None); // separator column
    assert_eq!(g.tile_at(0, 3), None); // separator row
    assert_eq!(g.tile_at(g.width() + 5, 0), None);
    // cell 10 and 11 exist in the 4x3 grid but hold no tile
    let (x, y) = (2 * 5, 2 * 4);
    assert_eq!(g.tile_at(x, y), None);
}

#[test]
fn channel_grid_normalizes_over_the_layer() {
    // two 1x2 channels: [0, 1] and [2, 4]
    let (img, layout) = channel_grid(&[0.0, 1.0, 2.0, 4.0], 2, 1, 2, 77).unwrap();
    assert_eq!((layout.cols, layout.rows), (2, 1));
    assert_eq!(img.dimensions(), (5, 1));
    let px: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
    assert_eq!(px, vec![0, 64, 77, 128, 255]);
    assert!(channel_grid(&[0.0; 3], 2, 1, 2, 0).is_none());
}

#[test]
fn constant_layer_is_black_not_nan() {
    let (img, _) = channel_grid(&[3.0; 8], 2, 2, 2, 9).unwrap();
    assert!(img.pixels().all(|p| p.0[0] == 0 || p.0[0] == 9));
}

#[test]
fn scaled_about_zero_maps_signs_to_either_side_of_gray() {
    // BGR planes of two pixels: blue [-2, 0], green [1, 2], red [0, 0]; max |x| = 2
    let chw = [-2.0, 0.0, 1.0, 2.0, 0.0, 0.0];
    let img = scaled_about_zero(&chw, 1, 2, [2, 1, 0]).unwrap();
    assert_eq!(img.get_pixel(0, 0).0, [128, 191, 0]);
    assert_eq!(img.get_pixel(1, 0).0, [128, 255, 128]);
}

#[test]
fn back_filters_by_hand() {
    // 3 channels of a 1x2 image: pixel 0 = (3, 4, 0) (B, G, R order), pixel 1 = (0, 0, -1)
    let chw = [3.0, 0.0, 4.0, 0.0, 0.0, -1.0];
    let bgr = [2, 1, 0];
    let raw = back_image(&chw, 1, 2, bgr, BackFilter::Raw).unwrap();
    // max |x| = 4: R of pixel 0 is 0 -> mid-gray, G = 4 -> 255, B = 3 -> 223
    assert_eq!(raw.get_pixel(0, 0).0, [128, 255, 223]);
    assert_eq!(raw.get_pixel(1, 0).0, [96, 128, 128]);
    let gray = back_image(&chw, 1, 2, bgr, BackFilter::Gray).unwrap();
    // means 7/3 and -1/3, scaled about zero by 7/3
    assert_eq!(gray.get_pixel(0, 0).0, [255, 255, 255]);
    assert_eq!(gray.get_pixel(1, 0).0[0], 109);
    let norm = back_image(&chw, 1, 2, bgr, BackFilter::Norm).unwrap();
    // norms 5 and 1: min to max
    assert_eq!(norm.get_pixel(0, 0).0[0], 255);
    assert_eq!(norm.get_pixel(1, 0).0[0], 0);
    assert!(back_image(&chw, 2, 2, bgr, BackFilter::Raw).is_none());
    for f in BackFilter::ALL {
        assert_eq!(BackFilter::from_name(f.as_str()), Some(f));
    }
}

#[test]
fn blur_spreads_an_impulse_and_keeps_its_mass() {
    let (h, w) = (41, 41);
    let mut p = vec![0f32; h * w];
    p[20 * w + 20] = 1.0;
    let b = blur_plane(&p, h, w, 4.0);
    let total: f32 = b.iter().sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    // symmetric, peak at the centre, one sigma away exp(-1/2) of the peak
    assert!((b[20 * w + 24] / b[20 * w + 20] - (-0.5f32).exp()).abs() < 1e-4);
    assert_eq!(b[20 * w + 16], b[20 * w + 24]);
    let normblur = back_image(
        &[p.clone(), p.clone(), p].concat(),
        h,
        w,
        [0, 1, 2],
        BackFilter::NormBlur,
    )
    .unwrap();
    assert_eq!(normblur.get_pixel(20, 20).0[0], 255);
}

#[test]
fn field_crop_pads_outside_the_image() {
    let img = RgbImage::from_pixel(4, 4, Rgb([200, 0, 0]));
    // two columns left of the image, two inside
    let t = field_crop(&img, [0, -2, 4, 2], 4);
    assert_eq!(t.get_pixel(0, 0).0, [64, 64, 64]);
    assert_eq!(t.get_pixel(3, 3).0, [200, 0, 0]);
    assert_eq!(field_crop(&img, [2, 2, 2, 4], 5).dimensions(), (5, 5));
}

#[test]
fn blend_mixes_pixels() {
    let a = RgbImage::from_pixel(2, 1, Rgb([0, 100, 200]));
    let b = RgbImage::from_pixel(2, 1, Rgb([200, 100, 0]));
    assert_eq!(
        blend(&a, &b, 0.5).unwrap().get_pixel(1, 0).0,
        [100, 100, 100]
    );
    assert!(blend(&a, &RgbImage::new(1, 1), 0.5).is_none());
}

#[test]
fn montage_places_images_in_a_grid() {
    let a = RgbImage::from_pixel(2, 2, Rgb([255, 0, 0]));
    let b = RgbImage::from_pixel(2, 2, Rgb([0, 255, 0]));
    let m = montage(&[a.clone(), b.clone(), a, b], 2, 1, [0, 0, 0]);
    assert_eq!(m.dimensions(), (5, 5));
    assert_eq!(m.get_pixel(3, 0).0, [0, 255, 0]);
    assert_eq!(m.get_pixel(0, 3).0, [255, 0, 0]);
    assert_eq!(m.get_pixel(2, 2).0, [0, 0, 0]);
}
