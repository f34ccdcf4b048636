//! The composable optimizer's parts against hand values and definitions: the Fourier transform
//! both ways, lucent's frequency scaling and colour decorrelation, the transforms, MACO's fixed
//! magnitude, diversity, composed objectives, and the paper's path step for step.

mod common;
use common::squeezenet;

use burn::prelude::*;
use deepvis_model::{Arch, ModelInfo, Net, Request, to_vec};
use deepvis_optim::fft::{Irfft, Spectrum, columns, freq_scale, irfft2, rfft2};
use deepvis_optim::param::{Parameterization, color_mix};
use deepvis_optim::regularize::{clip_to_pixels, penalties};
use deepvis_optim::spectrum::{Magnitude, natural_planes};
use deepvis_optim::transform::{Affine, resample};
use deepvis_optim::{
    Goal, Init, Method, MethodKind, Objective, Optimizer, Params, Penalties, PenaltyKind,
    RunConfig, Term, TransformKind, Transforms,
};
use deepvis_testdata::shared;

fn info() -> std::sync::Arc<ModelInfo> {
    Arch::SqueezeNet1_0.info()
}

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = deepvis_model::rng::Rng::new(seed);
    (0..n).map(|_| rng.normal() as f32).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn fft_round_trips_and_finds_a_cosine() {
    for (h, w) in [(227, 227), (12, 16), (7, 10)] {
        let x = noise(h * w, 3);
        let back = irfft2(&rfft2(&x, h, w));
        let d = x
            .iter()
            .zip(&back)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(d < 1e-9, "{h}x{w}: round trip off by {d}");
    }
    // cos(2 pi 3 n / w) along x: one coefficient, sqrt(h w) / 2 (orthonormal)
    let (h, w) = (8, 12);
    let plane: Vec<f32> = (0..h * w)
        .map(|i| (2.0 * std::f64::consts::PI * 3.0 * (i % w) as f64 / w as f64).cos() as f32)
        .collect();
    let s = rfft2(&plane, h, w);
    let k = columns(w);
    for j in 0..h {
        for q in 0..k {
            let want = if (j, q) == (0, 3) {
                ((h * w) as f64).sqrt() / 2.0
            } else {
                0.0
            };
            assert!((s.re[j * k + q] - want).abs() < 1e-9, "({j}, {q})");
            assert!(s.im[j * k + q].abs() < 1e-9);
        }
    }
}

#[test]
fn the_device_inverse_matches_the_host_inverse() {
    let device = Device::flex();
    for (h, w) in [(227, 227), (12, 16)] {
        let k = columns(w);
        let (re, im) = (noise(h * k, 1), noise(h * k, 2));
        let host = irfft2(&Spectrum {
            h,
            w,
            re: re.iter().map(|&v| v as f64).collect(),
            im: im.iter().map(|&v| v as f64).collect(),
        });
        let t = |v: &[f32]| deepvis_model::tensor4(v.to_vec(), [1, 1, h, k], &device).unwrap();
        let dev = to_vec(Irfft::new(h, w).apply(t(&re), t(&im))).unwrap();
        let host: Vec<f32> = host.iter().map(|&v| v as f32).collect();
        let d = max_diff(&dev, &host);
        assert!(d < 1e-4, "{h}x{w}: device and host differ by {d}");
    }
}

#[test]
fn frequency_scaling_is_lucents_for_227() {
    let s = freq_scale(227, 227, 1.0);
    let k = columns(227);
    assert_eq!(k, 114);
    let at = |j: usize, q: usize| s[j * k + q];
    // the constant: f = 0 is floored at 1 / 227
    assert!((at(0, 0) - 227.0).abs() < 1e-9);
    assert!((at(0, 1) - 227.0).abs() < 1e-9);
    assert!((at(1, 0) - 227.0).abs() < 1e-9);
    // row 226 is frequency -1/227
    assert!((at(226, 0) - 227.0).abs() < 1e-9);
    // f = sqrt(2) / 227
    assert!((at(1, 1) - 227.0 / 2f64.sqrt()).abs() < 1e-9);
    // the highest: 113 / 227 along x, and row 113 is +113/227, row 114 is -113/227
    assert!((at(0, 113) - 227.0 / 113.0).abs() < 1e-9);
    assert!((at(113, 113) - 227.0 / (113.0 * 2f64.sqrt())).abs() < 1e-9);
    assert!((at(114, 113) - at(113, 113)).abs() < 1e-12);
    // decay power 2 squares it
    let s2 = freq_scale(227, 227, 2.0);
    assert!((s2[k + 1] - 227.0 * 227.0 / 2.0).abs() < 1e-6);
}

#[test]
fn colour_decorrelation_is_lucents_and_inverts() {
    // lucent's matrix over its largest column norm, sqrt(0.26^2 + 0.27^2 + 0.27^2)
    let m = color_mix();
    let norm = (0.26f64 * 0.26 + 0.27 * 0.27 + 0.27 * 0.27).sqrt();
    assert!((m[0][0] - 0.26 / norm).abs() < 1e-12);
    assert!((m[1][2] + 0.05 / norm).abs() < 1e-12);
    assert!((m[2][1] + 0.09 / norm).abs() < 1e-12);
    // picture -> spectrum -> picture, through the decorrelation, the scale and the sigmoid
    let device = Device::flex();
    let info = info();
    let norm = info.norm();
    let s = info.input_size();
    let plane = s * s;
    // a smooth picture inside 2..253 in every channel, in the normalized space
    let chw: Vec<f32> = (0..3 * plane)
        .map(|i| {
            let (c, p) = (i / plane, i % plane);
            let (y, x) = ((p / s) as f32, (p % s) as f32);
            let px = 128.0 + 100.0 * ((x / 20.0 + c as f32).sin() * (y / 31.0).cos());
            (px * norm.scale - norm.mean[c]) / norm.std[c]
        })
        .collect();
    for param in [Method::FOURIER, Method::MACO] {
        let p = Parameterization::new(&param, &info).unwrap();
        let values = p.from_image(&chw).unwrap();
        let t = deepvis_model::tensor4(values, p.shape(1), &device).unwrap();
        let back = to_vec(p.render(t).unwrap()).unwrap();
        if param.param == deepvis_optim::ParamKind::Fourier {
            let d = max_diff(&back, &chw);
            assert!(
                d < 0.05,
                "Fourier: the picture came back off by {d} grey levels"
            );
        } else {
            // MACO keeps the phase only: a different picture, still valid pixels
            assert!(back.iter().all(|v| v.is_finite()));
        }
    }
}

#[test]
fn transforms_move_pixels_where_they_should() {
    let device = Device::flex();
    // one 4x5 channel, value = 10 y + x
    let (h, w) = (4, 5);
    let img: Vec<f32> = (0..h * w).map(|i| (10 * (i / w) + i % w) as f32).collect();
    let t = deepvis_model::tensor4(img.clone(), [1, 1, h, w], &device).unwrap();
    let get = |a: Affine| to_vec(resample(t.clone(), &[a]).unwrap()).unwrap();
    // identity: exactly the picture
    assert_eq!(get(Affine::IDENTITY), img);
    // a shift right by 1: column x shows column x - 1, the first is outside (0)
    let out = get(Affine::shift(0.0, 1.0));
    for y in 0..h {
        assert_eq!(out[y * w], 0.0);
        for x in 1..w {
            assert_eq!(out[y * w + x], img[y * w + x - 1]);
        }
    }
    // a half-pixel shift down: the mean of two rows
    let out = get(Affine::shift(0.5, 0.0));
    assert!((out[2 * w + 3] - (img[w + 3] + img[2 * w + 3]) / 2.0).abs() < 1e-5);
    // a batch of two images of two channels, each image through its own map; the gradient
    // goes back to the pixels read (the shifted image's last column is read by nobody)
    let two: Vec<f32> = (0..2 * 2 * h * w).map(|i| i as f32).collect();
    let ad = device.clone().autodiff();
    let tb = deepvis_model::tensor4(two.clone(), [2, 2, h, w], &ad)
        .unwrap()
        .require_grad();
    let out = resample(tb.clone(), &[Affine::shift(0.0, 1.0), Affine::IDENTITY]).unwrap();
    let grads = out.clone().sum().backward();
    let (out, g) = (
        to_vec(out).unwrap(),
        to_vec(tb.grad(&grads).unwrap()).unwrap(),
    );
    for ch in 0..2 {
        for y in 0..h {
            for x in 0..w {
                let (a, b) = ((ch * h + y) * w + x, ((2 + ch) * h + y) * w + x);
                let shifted = if x == 0 { 0.0 } else { two[a - 1] };
                assert_eq!((out[a], out[b]), (shifted, two[b]), "{ch} {y} {x}");
                let read = if x == w - 1 { 0.0 } else { 1.0 };
                assert_eq!((g[a], g[b]), (read, 1.0), "{ch} {y} {x}");
            }
        }
    }
    // a quarter turn counter-clockwise of a 3x3: the top right corner goes to the top left
    let sq: Vec<f32> = (0..9).map(|i| i as f32).collect();
    let t3 = deepvis_model::tensor4(sq.clone(), [1, 1, 3, 3], &device).unwrap();
    let rot = to_vec(resample(t3, &[Affine::rotate(90.0, 3)]).unwrap()).unwrap();
    let want = [2.0, 5.0, 8.0, 1.0, 4.0, 7.0, 0.0, 3.0, 6.0];
    assert!(max_diff(&rot, &want) < 1e-5, "{rot:?}");
    // scaling by 2 about the centre of a 5-wide ramp in x: the slope halves
    let ramp: Vec<f32> = (0..25).map(|i| (i % 5) as f32).collect();
    let t5 = deepvis_model::tensor4(ramp, [1, 1, 5, 5], &device).unwrap();
    let sc = to_vec(resample(t5, &[Affine::scale(2.0, 5)]).unwrap()).unwrap();
    assert!(
        max_diff(&sc[..5], &[1.0, 1.5, 2.0, 2.5, 3.0]) < 1e-5,
        "{sc:?}"
    );
    // the draws: all off is the identity; pad alone shrinks by size / (size + 2 pad)
    let mut rng = deepvis_model::rng::Rng::new(1);
    let mut u = || rng.uniform();
    assert_eq!(Transforms::OFF.draw(227, &mut u), Affine::IDENTITY);
    let pad = Transforms::OFF.with(TransformKind::Pad, 12.0);
    let a = pad.draw(227, &mut u);
    assert!((a.m[0][0] - 227.0 / 251.0).abs() < 1e-12);
    // the standard draws stay within their ranges: the centre moves at most 12 pixels
    for _ in 0..100 {
        let a = Transforms::STANDARD.draw(227, &mut u);
        let c = a.source([113.0, 113.0]);
        assert!(
            (c[0] - 113.0).abs() <= 14.0 && (c[1] - 113.0).abs() <= 14.0,
            "{c:?}"
        );
        let scale = (a.m[0][0] * a.m[1][1] - a.m[0][1] * a.m[1][0]).sqrt();
        let lo = 227.0 / 251.0 * 0.9;
        let hi = 227.0 / 251.0 * 1.1;
        assert!((lo - 1e-9..=hi + 1e-9).contains(&scale), "{scale}");
    }
}

#[test]
fn the_penalties_on_tensors_are_the_tables_formulas() {
    let device = Device::flex();
    // two images: [[0, 1], [1, 1]] and all grey; one channel each
    let px = deepvis_model::tensor4(
        vec![0.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5],
        [2, 1, 2, 2],
        &device,
    )
    .unwrap();
    let value = |kind: PenaltyKind| {
        let p = Penalties::OFF.with(kind, 2.0);
        to_vec(penalties(&p, px.clone(), None).unwrap()).unwrap()[0]
    };
    // summed over the images, weighted 2: TV (0.5 + 0.5) + 0; L1 0.5 + 0; L2 0.25 + 0
    assert!((value(PenaltyKind::Tv) - 2.0).abs() < 1e-6);
    assert!((value(PenaltyKind::L1) - 1.0).abs() < 1e-6);
    assert!((value(PenaltyKind::L2) - 0.5).abs() < 1e-6);
    assert!(penalties(&Penalties::OFF, px.clone(), None).is_none());
    // keep to the start: the mean squared distance from the start pictures (none: no penalty)
    let start = deepvis_model::tensor4(vec![0.0; 8], [2, 1, 2, 2], &device).unwrap();
    let keep = Penalties::OFF.with(PenaltyKind::Start, 2.0);
    assert!(penalties(&keep, px.clone(), None).is_none());
    let v = to_vec(penalties(&keep, px, Some(start)).unwrap()).unwrap()[0];
    // image 1: (0 + 1 + 1 + 1) / 4 = 0.75; image 2: 0.25; weighted 2
    assert!((v - 2.0).abs() < 1e-6, "{v}");
}

fn unit(layer: &str, channel: usize) -> Objective {
    Objective::channel_mean(&info(), layer, channel).unwrap()
}

/// The paper's update written out in the test: clip to valid pixels, the gradient of the
/// objective through the network directly, `x + lr g`.
#[test]
fn the_composable_path_with_pixels_and_plain_sgd_is_the_paper_step_for_step() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let info = info();
    let params = Params {
        decay: 0.0,
        blur_radius: 0.0,
        blur_every: 0,
        norm_pct: 0.0,
        contrib_pct: 0.0,
        lr: 50.0,
        ..Params::PRESET_3
    };
    let objective = unit("fire5", 17);
    let init = Init::Noise { seed: 4, std: 10.0 };
    let mut opt = Optimizer::new(net.clone(), &device);
    let paper = opt
        .add_run(RunConfig::paper(objective.clone(), params, init.clone()))
        .unwrap();
    // a Fourier run in the same batch must not change the paper run
    opt.add_run(RunConfig {
        method: Method::FOURIER,
        ..RunConfig::paper(objective.clone(), params, init.clone())
    })
    .unwrap();
    let ad = device.clone().autodiff();
    let net_ad = net.to_device(&ad).no_grad();
    let mut x = deepvis_model::tensor4(init.materialize(&info).unwrap(), [1, 3, 227, 227], &device)
        .unwrap();
    for step in 0..4 {
        opt.step(1).unwrap();
        x = clip_to_pixels(x, &info.norm());
        let leaf = x.clone().autodiff().require_grad();
        let taps = net_ad
            .forward(leaf.clone(), &Request::layers(&["fire5"]))
            .unwrap();
        let a = taps.get("fire5").unwrap().clone();
        let [_, c, h, w] = a.dims();
        let value = a.slice([0..1, 17..18, 0..h, 0..w]).mean();
        let _ = c;
        let g = leaf.grad(&value.backward()).unwrap();
        x = x + g * params.lr;
        let ours = opt.state(paper).unwrap();
        let want = to_vec(x.clone()).unwrap();
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = max_diff(&ours, &want);
        assert!(d <= 1e-5 * scale, "step {step}: off by {d} (scale {scale})");
    }
}

#[test]
fn maco_keeps_the_prescribed_magnitude_exactly() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let info = info();
    let mut opt = Optimizer::new(net, &device);
    let id = opt
        .add_run(RunConfig {
            method: Method::MACO,
            ..RunConfig::paper(
                Objective::class(&info, 130).unwrap(),
                Method::default_params(MethodKind::Maco),
                Init::Noise { seed: 1, std: 10.0 },
            )
        })
        .unwrap();
    let want = Magnitude::shipped().unwrap().resample(227, 227);
    let p = Parameterization::new(&Method::MACO, &info).unwrap();
    let k = columns(227);
    let mut before = Vec::new();
    for round in 0..2 {
        opt.step(2).unwrap();
        let phase = opt.state(id).unwrap();
        assert_ne!(phase, before, "round {round}: the phase did not move");
        let spectra = p.maco_plane_spectrum(&phase, &device).unwrap();
        let scale = want.iter().fold(0f32, |m, v| m.max(*v)) as f64;
        let mut dc_moved = false;
        for (c, s) in spectra.iter().enumerate() {
            for i in 0..227 * k {
                let got = (s.re[i] * s.re[i] + s.im[i] * s.im[i]).sqrt();
                let m = want[c * 227 * k + i] as f64;
                if i == 0 {
                    // the constant term (227 is odd: the only frequency that is its own
                    // mirror) is M cos(parameter): real, at most M, free to move (its
                    // parameter is the channel's mean amplitude in the picture, so the
                    // picture's mean colour is optimized too)
                    assert!(s.im[0].abs() <= 1e-4 * scale, "channel {c}: {}", s.im[0]);
                    assert!(got <= m + 1e-4 * scale, "channel {c}: {got} over {m}");
                    dc_moved |= (got - m).abs() > 1e-3 * m;
                    continue;
                }
                assert!(
                    (got - m).abs() <= 1e-4 * scale,
                    "round {round}, channel {c}, frequency {i}: magnitude {got}, prescribed {m}"
                );
            }
        }
        assert!(
            dc_moved,
            "round {round}: every channel's mean is held at +M"
        );
        before = phase;
    }
}

#[test]
fn the_shipped_spectrum_is_the_shared_photos_measured() {
    let mut photos: Vec<_> = std::fs::read_dir(shared().join("images"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
        .collect();
    photos.sort();
    // the example was run as `maco_spectrum OUT *.jpg *.png`
    photos.sort_by_key(|p| p.extension().is_some_and(|e| e == "png"));
    let mut planes = Vec::new();
    for p in &photos {
        planes.extend(natural_planes(&image::open(p).unwrap().to_rgb8(), 227));
    }
    let measured = Magnitude::measure(&planes, 227, 227).unwrap();
    let shipped = Magnitude::shipped().unwrap();
    assert_eq!((shipped.h, shipped.w), (227, 227));
    let scale = shipped.values.iter().fold(0f32, |m, v| m.max(*v));
    let d = max_diff(&measured.values, &shipped.values);
    assert!(d <= 1e-5 * scale, "the shipped spectrum differs by {d}");
    // natural images: energy falls with frequency
    let k = columns(227);
    assert!(shipped.values[1] > 10.0 * shipped.values[100]);
    assert!(shipped.values[k] > 10.0 * shipped.values[100 * k]);
    // and the file format refuses what it is not
    assert!(Magnitude::decode(b"not a spectrum").is_err());
    let mut bytes = shipped.encode();
    bytes.truncate(bytes.len() - 4);
    assert!(Magnitude::decode(&bytes).is_err());
    assert_eq!(Magnitude::decode(&shipped.encode()).unwrap(), shipped);
}

/// The mean cosine distance between the images' Gram matrices at `layer`.
fn gram_distance(net: &Net, images: &[Vec<f32>], layer: &str, device: &Device) -> f64 {
    let grams: Vec<Vec<f64>> = images
        .iter()
        .map(|chw| {
            let x = deepvis_model::tensor4(chw.clone(), [1, 3, 227, 227], device).unwrap();
            let taps = net.forward(x, &Request::layers(&[layer])).unwrap();
            let a = taps.get(layer).unwrap().clone();
            let [_, c, h, w] = a.dims();
            let v = to_vec(a).unwrap();
            let hw = h * w;
            let mut g = vec![0f64; c * c];
            for i in 0..c {
                for j in 0..c {
                    g[i * c + j] = (0..hw)
                        .map(|p| v[i * hw + p] as f64 * v[j * hw + p] as f64)
                        .sum();
                }
            }
            let n = g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            g.iter().map(|v| v / n).collect()
        })
        .collect();
    let mut d = 0.0;
    let mut pairs = 0.0;
    for i in 0..grams.len() {
        for j in i + 1..grams.len() {
            let cos: f64 = grams[i].iter().zip(&grams[j]).map(|(a, b)| a * b).sum();
            d += 1.0 - cos;
            pairs += 1.0;
        }
    }
    d / pairs
}

#[test]
fn diversity_makes_the_images_differ() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let info = info();
    let layer = "fire3";
    let run = |weight: f32| {
        let mut opt = Optimizer::new(net.clone(), &device);
        let goal: Goal = unit(layer, 5).into();
        let goal = if weight > 0.0 {
            goal.with_diversity(weight, layer)
        } else {
            goal
        };
        let id = opt
            .add_run(RunConfig {
                objective: goal,
                params: Params {
                    max_iter: 25,
                    ..Method::default_params(MethodKind::Fourier)
                },
                init: Init::Noise { seed: 2, std: 10.0 },
                method: Method {
                    transforms: Transforms::OFF,
                    ..Method::FOURIER
                },
                images: 3,
            })
            .unwrap();
        while opt.any_active() {
            opt.step(5).unwrap();
        }
        let images = opt.current_images(id).unwrap();
        assert_eq!(images.len(), 3);
        gram_distance(&net, &images, layer, &device)
    };
    let without = run(0.0);
    let with = run(1000.0);
    eprintln!("Gram distance: {without} without the diversity term, {with} with it");
    assert!(
        with > 1.5 * without,
        "Gram distance with the diversity term {with}, without {without}"
    );
    let _ = info;
}

#[test]
fn objective_errors_name_the_text_and_the_term() {
    let info = info();
    let msg = |t: &str| Goal::parse(t, &info).unwrap_err().to_string();
    assert_eq!(
        msg("x*class:1"),
        "bad setting: objective `x*class:1`: `x` is not a weight"
    );
    assert_eq!(
        msg("class:q"),
        "bad setting: objective `class:q`: `q` is not a number"
    );
    assert_eq!(
        msg("neuron:fire9:1@3"),
        "bad setting: objective `neuron:fire9:1@3`: `@3`: write the position as @Y,X"
    );
    assert_eq!(
        msg("pool:1"),
        "bad setting: objective `pool:1`: `pool:1` is not a term: use neuron:LAYER:CH[@Y,X], \
         neuron-pre:LAYER:CH, channel:LAYER:CH, class:N or diversity:LAYER"
    );
}

#[test]
fn objectives_compose_from_text() {
    let info = info();
    let g = Goal::parse(
        "channel:fire9:12 + 0.5*class:130 - 0.25*neuron:conv1:3@10,20 + diversity:fire5",
        &info,
    )
    .unwrap();
    let w: Vec<f32> = g.terms.iter().map(|(w, _)| *w).collect();
    assert_eq!(w, [1.0, 0.5, -0.25, 1.0]);
    match &g.terms[2].1 {
        Term::Unit(o) => {
            assert_eq!(o.layer, "conv1");
            assert_eq!(
                o.unit,
                deepvis_optim::Unit::At {
                    channel: 3,
                    y: 10,
                    x: 20
                }
            );
        }
        t => panic!("{t:?}"),
    }
    assert!(matches!(&g.terms[3].1, Term::Diversity { layer } if layer == "fire5"));
    for bad in [
        "channel:fire9",
        "channel:nope:1",
        "channel:fire9:100000",
        "x*class:1",
        "class:1 + ",
    ] {
        let e = Goal::parse(bad, &info).unwrap_err().to_string();
        assert!(
            e.contains(bad.trim()) || e.contains("objective"),
            "{bad}: {e}"
        );
    }
    // a saved single objective (earlier versions' files) reads as a goal of one term
    let o = Objective::class(&info, 7).unwrap();
    let json = serde_json::to_string(&o).unwrap();
    let g: Goal = serde_json::from_str(&json).unwrap();
    assert_eq!(g, o.clone().into());
    let back: Goal = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back, g);
}

#[test]
fn a_method_change_keeps_the_picture() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let info = info();
    let mut opt = Optimizer::new(net, &device);
    let id = opt
        .add_run(RunConfig::paper(
            unit("fire5", 3),
            Params::PRESET_3,
            Init::Noise { seed: 9, std: 10.0 },
        ))
        .unwrap();
    opt.step(3).unwrap();
    let before = opt.current_image(id).unwrap();
    opt.set_method(id, Method::FOURIER).unwrap();
    let after = opt.current_image(id).unwrap();
    // the sigmoid keeps pixels off 0 and 255 by a quarter grey level
    let d = max_diff(&before, &after);
    assert!(d < 0.5, "the picture moved by {d} grey levels");
    opt.step(2).unwrap();
    assert_eq!(opt.status(id).unwrap().iterations, 5);
    // bad methods are refused and the run goes on as it was
    let bad = Method {
        adam_lr: f64::NAN,
        ..Method::FOURIER
    };
    assert!(opt.set_method(id, bad).is_err());
    assert_eq!(opt.config(id).unwrap().method, Method::FOURIER);
    let _ = info;
}

#[test]
fn the_clip_mask_shows_the_pixels_the_norm_clipping_zeroed() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let mut opt = Optimizer::new(net, &device);
    // preset 1 clips the half of the pixels of smallest norm
    let id = opt
        .add_run(RunConfig::paper(
            Objective::class(&info(), 130).unwrap(),
            Params::preset(1).unwrap(),
            Init::Noise { seed: 5, std: 10.0 },
        ))
        .unwrap();
    assert_eq!(
        opt.clip_mask(id).unwrap(),
        None,
        "nothing clipped before a step"
    );
    opt.step(1).unwrap();
    let mask = opt.clip_mask(id).unwrap().expect("a mask");
    assert_eq!(mask.len(), 227 * 227);
    let share = mask.iter().filter(|&&m| m).count() as f64 / mask.len() as f64;
    assert!((0.49..=0.51).contains(&share), "{share}");
    // the masked pixels are exactly the zero ones of the state
    let x = opt.state(id).unwrap();
    let plane = 227 * 227;
    for (i, &m) in mask.iter().enumerate().step_by(97) {
        let zero = (0..3).all(|c| x[c * plane + i] == 0.0);
        assert_eq!(m, zero, "pixel {i}");
    }
    // a Fourier run has no such clipping
    opt.set_method(id, Method::FOURIER).unwrap();
    assert_eq!(opt.clip_mask(id).unwrap(), None);
}

/// The mean absolute difference of two pictures, in grey levels.
fn mean_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[test]
fn keeping_to_the_start_at_a_huge_weight_returns_the_photo() {
    let device = Device::flex();
    let info = info();
    let img = image::open(shared().join("images/coffee.png")).unwrap();
    let photo = info.input.apply(&img).chw;
    // feature accentuation: from the photo, the espresso class's unit, each method
    let moved = |method: Method, weight: f64| {
        let mut opt = Optimizer::new(squeezenet(&device), &device);
        let method = Method {
            penalties: Penalties::OFF.with(PenaltyKind::Start, weight),
            ..method
        };
        let params = match method.kind() {
            MethodKind::Paper => Params::PRESET_3,
            k => Method::default_params(k),
        };
        let id = opt
            .add_run(RunConfig {
                objective: Objective::class(&info, 967).unwrap().into(),
                params,
                init: Init::Image {
                    chw: photo.clone(),
                    label: "coffee".into(),
                },
                method,
                images: 1,
            })
            .unwrap();
        let start = opt.current_image(id).unwrap();
        opt.step(30).unwrap();
        mean_diff(&start, &opt.current_image(id).unwrap())
    };
    for method in [Method::FOURIER, Method::MACO] {
        let (free, kept) = (moved(method, 0.0), moved(method, 1e6));
        eprintln!("{:?}: free {free}, kept {kept}", method.kind());
        // Adam's steps keep their size at the optimum: the picture wobbles about the photo by
        // a grey level or so (MACO at the photos' contrast, its mean an amplitude of its own)
        assert!(
            kept < 1.5,
            "{:?}: kept to the photo within {kept} grey levels",
            method.kind()
        );
        assert!(
            free > 10.0 * kept,
            "{:?}: free {free}, kept {kept}",
            method.kind()
        );
    }
}

#[test]
fn the_high_frequency_share_by_hand() {
    use deepvis_optim::spectrum::high_frequency_share;
    use image::{Rgb, RgbImage};
    // flat: nothing; a checkerboard: all its power at (1/2, 1/2), far above 0.25
    let flat = RgbImage::from_pixel(16, 16, Rgb([90, 90, 90]));
    assert_eq!(high_frequency_share(&flat, 0.25), 0.0);
    let checker = RgbImage::from_fn(16, 16, |x, y| {
        let v = if (x + y) % 2 == 0 { 255 } else { 0 };
        Rgb([v, v, v])
    });
    assert!((high_frequency_share(&checker, 0.25) - 1.0).abs() < 1e-9);
    // stripes of period 8 along x (1/8 cycle per pixel): below the cutoff
    let slow = RgbImage::from_fn(16, 16, |x, _| {
        let v = (127.5 + 127.5 * (2.0 * std::f64::consts::PI * x as f64 / 8.0).cos()) as u8;
        Rgb([v, v, v])
    });
    assert!(high_frequency_share(&slow, 0.25) < 1e-3);
    // half the power in each: the checkerboard and the stripes of equal amplitude
    let both = RgbImage::from_fn(16, 16, |x, y| {
        let c = if (x + y) % 2 == 0 { 1.0 } else { -1.0 };
        let s = (2.0 * std::f64::consts::PI * x as f64 / 8.0).cos() * std::f64::consts::SQRT_2;
        let v = (127.5 + 40.0 * (c + s)).round() as u8;
        Rgb([v, v, v])
    });
    let share = high_frequency_share(&both, 0.25);
    assert!((share - 0.5).abs() < 0.02, "{share}");
}

#[test]
fn nadam_steps_are_its_formula() {
    use deepvis_optim::update::Adam;
    let device = Device::flex();
    let t = |v: f32| deepvis_model::tensor4(vec![v], [1, 1, 1, 1], &device).unwrap();
    let mut adam = Adam::new([1, 1, 1, 1], &device);
    let (lr, (b1, b2, eps)) = (0.1, (0.9f64, 0.999f64, 1e-8));
    // PyTorch's NAdam, ascending, written out for gradients 2 then -1 from p = 1
    let mu = |t: f64| b1 * (1.0 - 0.5 * 0.96f64.powf(t * 0.004));
    let (mut p, mut m, mut v, mut prod) = (1.0f64, 0.0, 0.0, 1.0);
    let mut x = t(1.0);
    for (step, g) in [2.0f64, -1.0].into_iter().enumerate() {
        let k = step as f64 + 1.0;
        prod *= mu(k);
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let denom = (v / (1.0 - b2.powf(k))).sqrt() + eps;
        p += lr * (1.0 - mu(k)) / (1.0 - prod) * g / denom
            + lr * mu(k + 1.0) / (1.0 - prod * mu(k + 1.0)) * m / denom;
        x = adam.step_nesterov(x, t(g as f32), lr);
        let got = to_vec(x.clone()).unwrap()[0] as f64;
        assert!((got - p).abs() < 1e-5, "step {k}: {got} vs {p}");
    }
}
