//! Crops of a large canvas, the transparency map and MACO's colours: the map against the
//! gradient computed by hand, a whole-canvas crop against the plain run, a crop's footprint,
//! and a colour-defined class's mean colour against its photo's.

mod common;
use common::squeezenet;

use burn::prelude::*;
use deepvis_model::{Arch, ModelInfo, Request, to_vec};
use deepvis_optim::{
    Canvas, Init, Method, MethodKind, Objective, Optimizer, RunConfig, Transforms,
};
use deepvis_testdata::shared;

fn info() -> std::sync::Arc<ModelInfo> {
    Arch::SqueezeNet1_0.info()
}

/// A run of `method` (no transforms) for class `class` from seeded noise.
fn run(opt: &mut Optimizer, method: Method, class: usize) -> usize {
    let info = info();
    opt.add_run(RunConfig {
        method: Method {
            transforms: Transforms::OFF,
            ..method
        },
        ..RunConfig::paper(
            Objective::class(&info, class).unwrap(),
            Method::default_params(method.kind()),
            Init::Noise { seed: 5, std: 10.0 },
        )
    })
    .unwrap()
}

#[test]
fn the_transparency_map_is_the_gradient_on_the_picture_summed_over_steps() {
    let device = Device::flex();
    let info = info();
    // the network as the optimizer holds it, to take the gradient by hand
    let ad = device.clone().autodiff();
    let net = squeezenet(&device).to_device(&ad).no_grad();
    let layer = info.logits_layer().to_string();
    let s = info.input_size();
    for method in [Method::PAPER, Method::FOURIER, Method::MACO] {
        let mut opt = Optimizer::new(squeezenet(&device), &device);
        let id = run(&mut opt, method, 130);
        assert_eq!(opt.transparency(id).unwrap(), None, "no map before a step");
        let mut want = vec![0f64; s * s];
        for step in 0..3 {
            // the picture the step will see, and the class score's gradient on it
            let x = opt.current_image(id).unwrap();
            let x = deepvis_model::tensor4(x, [1, 3, s, s], &ad)
                .unwrap()
                .require_grad();
            let taps = net
                .forward(x.clone(), &Request::layers(&[layer.as_str()]))
                .unwrap();
            let score = taps
                .get(&layer)
                .unwrap()
                .clone()
                .slice([0..1, 130..131, 0..1, 0..1])
                .sum();
            let g = to_vec(x.grad(&score.backward()).unwrap()).unwrap();
            for (i, w) in want.iter_mut().enumerate() {
                *w += (0..3).map(|c| g[c * s * s + i].abs() as f64).sum::<f64>();
            }
            opt.step(1).unwrap();
            let got = opt.transparency(id).unwrap().unwrap();
            assert_eq!(got.len(), 1);
            let top = want.iter().fold(0f64, |m, v| m.max(*v));
            assert!(top > 0.0, "{:?}: a zero gradient", method.kind());
            let d = got[0]
                .iter()
                .zip(&want)
                .map(|(a, b)| (*a as f64 - b).abs())
                .fold(0f64, f64::max);
            assert!(
                d <= 2e-3 * top,
                "{:?}, step {step}: the map is off by {d} (largest {top})",
                method.kind()
            );
        }
        // a new start forgets the map
        opt.reset(id, Some(9)).unwrap();
        assert_eq!(opt.transparency(id).unwrap(), None);
    }
}

#[test]
fn a_canvas_the_inputs_size_cropped_whole_is_the_plain_run() {
    let device = Device::flex();
    let s = info().input_size();
    let whole = Canvas {
        side: s,
        crops: 1,
        crop_min: 1.0,
        crop_max: 1.0,
        noise: 0.0,
    };
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let plain = run(&mut opt, Method::MACO, 107);
    let canvas = run(
        &mut opt,
        Method {
            canvas: whole,
            ..Method::MACO
        },
        107,
    );
    opt.step(3).unwrap();
    let (a, b) = (
        opt.current_image(plain).unwrap(),
        opt.current_image(canvas).unwrap(),
    );
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-3, "the pictures differ by {d}");
    let (ma, mb) = (
        opt.transparency(plain).unwrap().unwrap(),
        opt.transparency(canvas).unwrap().unwrap(),
    );
    let top = ma[0].iter().fold(0f32, |m, v| m.max(*v));
    let d = ma[0]
        .iter()
        .zip(&mb[0])
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(d <= 1e-3 * top, "the maps differ by {d} of {top}");
}

#[test]
fn a_canvas_run_makes_canvas_pictures_and_a_crop_leaves_its_footprint() {
    let device = Device::flex();
    let side = 300;
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let id = run(
        &mut opt,
        Method {
            canvas: Canvas {
                side,
                crops: 1,
                crop_min: 0.3,
                crop_max: 0.3,
                noise: 0.02,
            },
            ..Method::MACO
        },
        130,
    );
    assert_eq!(opt.picture_side(id).unwrap(), side);
    assert_eq!(opt.current_image(id).unwrap().len(), 3 * side * side);
    opt.step(1).unwrap();
    // one crop of 90 x 90 canvas pixels: the gradient fell there and nowhere else
    let map = &opt.transparency(id).unwrap().unwrap()[0];
    assert_eq!(map.len(), side * side);
    let lit: Vec<(usize, usize)> = (0..side * side)
        .filter(|&i| map[i] > 0.0)
        .map(|i| (i / side, i % side))
        .collect();
    let (y0, y1) = (
        lit.iter().map(|p| p.0).min().unwrap(),
        lit.iter().map(|p| p.0).max().unwrap(),
    );
    let (x0, x1) = (
        lit.iter().map(|p| p.1).min().unwrap(),
        lit.iter().map(|p| p.1).max().unwrap(),
    );
    for (lo, hi) in [(y0, y1), (x0, x1)] {
        let extent = hi - lo + 1;
        assert!(
            (89..=92).contains(&extent),
            "the footprint spans {extent} pixels"
        );
    }
    // the square is filled
    let area = (y1 - y0 + 1) * (x1 - x0 + 1);
    assert!(
        lit.len() * 100 >= area * 97,
        "{} of {area} pixels lit",
        lit.len()
    );
    // a method change to another canvas side starts its map afresh, keeping the picture
    opt.set_method(
        id,
        Method {
            canvas: Canvas::OFF,
            transforms: Transforms::OFF,
            ..Method::MACO
        },
    )
    .unwrap();
    assert_eq!(opt.picture_side(id).unwrap(), info().input_size());
    assert_eq!(opt.transparency(id).unwrap(), None);
    assert!(
        Method {
            canvas: Canvas::CPU,
            ..Method::PAPER
        }
        .validate()
        .is_err(),
        "pixels on a canvas are refused"
    );
}

/// The mean RGB colour of a picture (`3 x n` in 0..255, network order turned to RGB).
fn mean_rgb(chw: &[f32], info: &ModelInfo) -> [f64; 3] {
    let s = ((chw.len() / 3) as f64).sqrt() as usize;
    let img = info.norm().to_image(chw, s, s).unwrap();
    let mut sum = [0f64; 3];
    for p in img.pixels() {
        for (s, v) in sum.iter_mut().zip(p.0) {
            *s += v as f64;
        }
    }
    sum.map(|v| v / (s * s) as f64)
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f64>().sqrt()
}

#[test]
fn a_colour_defined_class_takes_its_colour() {
    let device = Device::flex();
    let info = info();
    // the shared espresso photo, as the network sees it
    let photo = image::open(shared().join("images/coffee.png")).unwrap();
    let photo = info.input.apply(&photo).chw;
    let photo_mean = mean_rgb(&photo, &info);
    let grey = [127.5; 3];
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let mut params = Method::default_params(MethodKind::Maco);
    params.max_iter = 96;
    let ids: Vec<usize> = [967, 950]
        .into_iter()
        .map(|class| {
            opt.add_run(RunConfig {
                method: Method::MACO,
                ..RunConfig::paper(
                    Objective::class(&info, class).unwrap(),
                    params,
                    Init::Noise { seed: 0, std: 10.0 },
                )
            })
            .unwrap()
        })
        .collect();
    // the start is grey on average
    for &id in &ids {
        let m = mean_rgb(&opt.current_image(id).unwrap(), &info);
        assert!(distance(m, grey) < 12.0, "the start's mean colour is {m:?}");
    }
    opt.step(96).unwrap();
    // espresso: warm like the photo, nearer its mean colour than grey is
    let espresso = mean_rgb(&opt.best_image(ids[0]).unwrap(), &info);
    assert!(
        distance(espresso, photo_mean) < 0.75 * distance(grey, photo_mean),
        "espresso's mean colour {espresso:?}, the photo's {photo_mean:?}"
    );
    assert!(espresso[0] > espresso[2] + 10.0, "espresso {espresso:?}");
    // orange (no photo shared; the class is its colour): red over blue, green between
    let orange = mean_rgb(&opt.best_image(ids[1]).unwrap(), &info);
    assert!(
        orange[0] > orange[2] + 40.0 && orange[1] > orange[2],
        "orange's mean colour {orange:?}"
    );
}

#[test]
fn a_picture_resized_for_a_canvas_keeps_flat_colours_and_averages_stripes() {
    use deepvis_optim::transform::resize_square;
    let flat: Vec<f32> = (0..3 * 8 * 8).map(|i| (i / 64) as f32 * 0.25).collect();
    let r = resize_square(&flat, 8, 20);
    assert_eq!(r.len(), 3 * 20 * 20);
    for (i, v) in r.iter().enumerate() {
        assert!((v - (i / 400) as f32 * 0.25).abs() < 1e-6, "{i}: {v}");
    }
    // stripes one pixel wide, halved: their mean away from the edges
    let stripes: Vec<f32> = (0..3 * 8 * 8).map(|i| (i % 2) as f32).collect();
    let r = resize_square(&stripes, 8, 4);
    for y in 0..4 {
        for x in 1..3 {
            assert!(
                (r[y * 4 + x] - 0.5).abs() < 1e-6,
                "({y}, {x}): {}",
                r[y * 4 + x]
            );
        }
    }
    assert_eq!(resize_square(&stripes, 8, 8), stripes);
}
