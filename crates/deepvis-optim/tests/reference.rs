//! The optimizer against the reference steps of an independent port of the toolbox
//! (`../shared/reference/am_steps_flamingo_p{1,3,4}.safetensors`), whole-run behaviour on the
//! shared start image, and the gradient against finite differences.

mod common;
use common::squeezenet;

use burn::prelude::*;
use deepvis_model::{Arch, Net, Request, WeightMap, to_vec};
use deepvis_optim::regularize::regularized_update;
use deepvis_optim::{Init, Objective, Optimizer, Params, RunConfig, StopReason};

use deepvis_testdata::shared;

fn steps(preset: u8) -> WeightMap {
    WeightMap::read_safetensors(
        &shared().join(format!("reference/am_steps_flamingo_p{preset}.safetensors")),
    )
    .unwrap()
}

fn t4(data: &[f32], device: &Device) -> Tensor<4> {
    deepvis_model::tensor4(data.to_vec(), [1, 3, 227, 227], device).unwrap()
}

/// Compares element-wise with `|a - b| <= rel * |b| + floor`; returns how many differ.
fn count_mismatches(got: &[f32], want: &[f32], rel: f32) -> usize {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let floor = 1e-6 * scale;
    got.iter()
        .zip(want)
        .filter(|(a, b)| {
            let d = (*a - *b).abs();
            d.is_nan() || d > rel * b.abs() + floor
        })
        .count()
}

#[test]
fn single_steps_reproduce_the_reference() {
    let device = Device::flex();
    let net = squeezenet(&device);
    for preset in [1u8, 3, 4] {
        let file = steps(preset);
        let params = Params::preset(preset).unwrap();
        let iters: &[usize] = if preset == 3 { &[0] } else { &[0, 1, 4] };
        for &i in iters {
            let get = |k: &str| file.tensors[&format!("iter{i}/{k}")].data.clone();
            let (x_in, grad, x_out) = (get("x_in"), get("grad"), get("x_out"));
            let (want_lr, want_obj) = (get("lr")[0] as f64, get("obj")[0]);

            // the objective of our network on the reference input
            let logits = to_vec(net.logits(t4(&x_in, &device)).unwrap()).unwrap();
            assert!(
                (logits[130] - want_obj).abs() <= 1e-4 * want_obj.abs().max(1.0),
                "p{preset} iter{i}: obj {} vs {want_obj}",
                logits[130]
            );

            // the learning rate from the reference gradient, in f64 as the reference does
            let g2: f64 = grad.iter().map(|v| (*v as f64) * (*v as f64)).sum();
            let lr = params.learning_rate(g2);
            assert!(
                (lr - want_lr).abs() <= 1e-5 * want_lr.abs(),
                "p{preset} iter{i}: lr {lr} vs {want_lr}"
            );

            // the update and every regularizer
            let out = regularized_update(t4(&x_in, &device), t4(&grad, &device), lr, &params, i);
            let got = to_vec(out).unwrap();
            let bad = count_mismatches(&got, &x_out, 1e-4);
            let allowed = got.len() / 1000;
            eprintln!("p{preset} iter{i}: {bad} of {} elements off", got.len());
            assert!(
                bad <= allowed,
                "p{preset} iter{i}: {bad} elements differ (allowed {allowed})"
            );
        }
    }
}

#[test]
fn our_gradient_matches_the_reference_gradient() {
    let device = Device::flex();
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let file = steps(1);
    // iteration 0: a fresh run's first step is the reference's iteration 0 (it blurs)
    let x_in = file.tensors["iter0/x_in"].data.clone();
    let id = opt
        .add_run(RunConfig {
            objective: (Objective::class(&Arch::SqueezeNet1_0.info(), 130).unwrap()).into(),
            params: Params::preset(1).unwrap(),
            init: Init::Image {
                chw: x_in,
                label: "x_in".into(),
            },
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    let tel = opt.step(1).unwrap();
    assert_eq!(tel.len(), 1);
    let want_obj = file.tensors["iter0/obj"].data[0];
    assert!((tel[0].obj - want_obj).abs() < 1e-4 * want_obj.abs().max(1.0));
    let g = &file.tensors["iter0/grad"].data;
    let g_norm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    assert!(
        (tel[0].grad_norm - g_norm).abs() < 1e-3 * g_norm,
        "{} vs {g_norm}",
        tel[0].grad_norm
    );
    // the state after the step equals the reference x_out
    let got = opt.state(id).unwrap();
    let bad = count_mismatches(&got, &file.tensors["iter0/x_out"].data, 1e-3);
    assert!(bad <= got.len() / 1000, "{bad} elements differ");
}

#[test]
fn gradient_matches_central_finite_differences() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let ad = device.clone().autodiff();
    let ad_net = net.clone().to_device(&ad).no_grad();
    let x0 = steps(3).tensors["x0"].data.clone();
    // a point where flamingo is alive: a few steps of preset 1 from x0 would do, but the
    // pre-ReLU conv10 mean is smooth everywhere, so use that objective on x0 directly.
    let objective_value = |x: &[f32]| -> f64 {
        let taps = net
            .forward(t4(x, &device), &Request::default().with_pre_relu("conv10"))
            .unwrap();
        let m = taps.pre_relu("conv10").unwrap().clone();
        to_vec(m.slice([0..1, 130..131, 0..15, 0..15]).mean()).unwrap()[0] as f64
    };
    let x = t4(&x0, &ad).require_grad();
    let taps = ad_net
        .forward(x.clone(), &Request::default().with_pre_relu("conv10"))
        .unwrap();
    let y = taps
        .pre_relu("conv10")
        .unwrap()
        .clone()
        .slice([0..1, 130..131, 0..15, 0..15])
        .mean();
    let g = to_vec(x.grad(&y.backward()).unwrap()).unwrap();
    let mut seed = 99u64;
    let mut coin = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed & 1 == 0
    };
    // Random +-1 directions: g.d is typically about ||g||, so the error must be a small
    // fraction of ||g|| (float32 rounding and ReLU kinks make a few percent of noise). And one
    // direction along sign(g) on a random half of the pixels: a large effect, checked to 2%.
    let g_norm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let mut dirs: Vec<(Vec<f32>, f64)> = (0..3)
        .map(|_| {
            let d = (0..x0.len())
                .map(|_| if coin() { 1.0 } else { -1.0 })
                .collect();
            (d, 0.05)
        })
        .collect();
    let aligned = g
        .iter()
        .map(|v| if coin() { v.signum() } else { 0.0 })
        .collect();
    dirs.push((aligned, 0.02));
    for (k, (d, tol)) in dirs.iter().enumerate() {
        let eps = 0.01f32;
        let plus: Vec<f32> = x0.iter().zip(d).map(|(a, b)| a + eps * b).collect();
        let minus: Vec<f32> = x0.iter().zip(d).map(|(a, b)| a - eps * b).collect();
        let fd = (objective_value(&plus) - objective_value(&minus)) / (2.0 * eps as f64);
        let an: f64 = g
            .iter()
            .zip(d)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        eprintln!("direction {k}: finite difference {fd:.6}, gradient {an:.6}");
        let scale = if k < 3 {
            g_norm
        } else {
            an.abs().max(fd.abs())
        };
        assert!(
            (fd - an).abs() <= tol * scale,
            "direction {k}: {fd} vs {an} (||g|| {g_norm})"
        );
    }
}

fn x0_init() -> Init {
    Init::Image {
        chw: steps(3).tensors["x0"].data.clone(),
        label: "shared x0".into(),
    }
}

#[test]
fn preset3_makes_golden_retriever_win_within_60_iterations() {
    let device = Device::flex();
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let params = Params {
        max_iter: 60,
        ..Params::preset(3).unwrap()
    };
    let id = opt
        .add_run(RunConfig {
            objective: (Objective::class(&Arch::SqueezeNet1_0.info(), 207).unwrap()).into(),
            params,
            init: x0_init(),
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    let tel = opt.step(60).unwrap();
    let st = opt.status(id).unwrap().clone();
    eprintln!("{st:?}");
    assert_eq!(st.stop, Some(StopReason::MaxIter));
    assert_eq!(tel.len(), 60);
    assert!(
        tel.last().unwrap().obj > tel[0].obj + 1.0,
        "objective did not rise"
    );
    let m = st
        .majority_iter
        .expect("golden retriever never became the argmax");
    assert!(m < 60);
    assert!(st.best_obj.unwrap() >= tel.last().unwrap().obj);
}

#[test]
fn preset3_flamingo_hits_a_zero_gradient_and_pre_relu_goes_past_it() {
    let device = Device::flex();
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let faithful = opt
        .add_run(RunConfig {
            objective: (Objective::class(&Arch::SqueezeNet1_0.info(), 130).unwrap()).into(),
            params: Params::preset(3).unwrap(),
            init: x0_init(),
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    let mut pre = Objective::class(&Arch::SqueezeNet1_0.info(), 130).unwrap();
    pre.pre_relu = true;
    let pre_run = opt
        .add_run(RunConfig {
            objective: (pre).into(),
            params: Params::preset(3).unwrap(),
            init: x0_init(),
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    opt.step(6).unwrap();
    let st = opt.status(faithful).unwrap();
    assert_eq!(st.stop, Some(StopReason::ZeroGrad));
    assert_eq!(st.iterations, 2);
    let st = opt.status(pre_run).unwrap();
    assert_eq!(st.stop, None);
    assert_eq!(st.iterations, 6);
}

#[test]
fn a_run_that_overflows_stops_non_finite_and_keeps_its_best_image() {
    let device = Device::flex();
    let mut map = WeightMap::read_safetensors(
        &shared().join("weights/squeezenet1_0/squeezenet1_0.safetensors"),
    )
    .unwrap();
    for v in &mut map.tensors.get_mut("conv10.weight").unwrap().data {
        *v *= 1e30;
    }
    let net = Net::from_weights(Arch::SqueezeNet1_0, map, &device).unwrap();
    let mut opt = Optimizer::new(net, &device);
    let id = opt
        .add_run(RunConfig {
            objective: (Objective::class(&Arch::SqueezeNet1_0.info(), 207).unwrap()).into(),
            params: Params::preset(1).unwrap(),
            init: x0_init(),
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    opt.step(5).unwrap();
    let st = opt.status(id).unwrap();
    assert_eq!(st.stop, Some(StopReason::NonFinite), "{st:?}");
    assert_eq!(st.best_iter, Some(0));
    let best = opt.best_image(id).unwrap();
    assert!(best.iter().all(|v| v.is_finite()));
}

#[test]
fn settings_change_between_steps_without_restarting() {
    let device = Device::flex();
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let p = Params {
        max_iter: 3,
        ..Params::preset(3).unwrap()
    };
    let id = opt
        .add_run(RunConfig {
            objective: (Objective::class(&Arch::SqueezeNet1_0.info(), 207).unwrap()).into(),
            params: p,
            init: Init::Noise { seed: 1, std: 10.0 },
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    opt.step(10).unwrap();
    assert_eq!(opt.status(id).unwrap().stop, Some(StopReason::MaxIter));
    assert_eq!(opt.status(id).unwrap().iterations, 3);
    opt.set_params(
        id,
        Params {
            max_iter: 5,
            blur_radius: 0.0,
            ..p
        },
    )
    .unwrap();
    let tel = opt.step(10).unwrap();
    assert_eq!(tel.first().unwrap().iter, 2, "continues where it stopped");
    assert_eq!(opt.status(id).unwrap().iterations, 5);
    // bad settings are refused and the run keeps its own
    assert!(
        opt.set_params(
            id,
            Params {
                norm_pct: f64::NAN,
                ..p
            }
        )
        .is_err()
    );
    assert_eq!(opt.config(id).unwrap().params.blur_radius, 0.0);
    // reset goes back to iteration 0 with a new seed
    let before = opt.current_image(id).unwrap();
    opt.reset(id, Some(2)).unwrap();
    assert_eq!(opt.status(id).unwrap().iterations, 0);
    assert_ne!(before, opt.current_image(id).unwrap());
    assert!(opt.reset(99, None).is_err());
}

#[test]
fn bad_objectives_are_clear_errors() {
    let a = &Arch::SqueezeNet1_0.info();
    let e = Objective::class(a, 1000).unwrap_err().to_string();
    assert!(e.contains("channel 1000"), "{e}");
    let e = Objective::new(a, "fire10", 0, None, false, 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fire10"), "{e}");
    let e = Objective::new(a, "fire9", 3, Some((13, 0)), false, 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("13"), "{e}");
    assert!(Objective::new(a, "pool4", 0, None, true, 1.0).is_err());
    assert!(Objective::new(a, "fire9", 0, None, false, 0.5).is_err());
    let o = Objective::new(a, "fire9", 146, None, false, -1.0).unwrap();
    assert_eq!(
        o.unit,
        deepvis_optim::Unit::At {
            channel: 146,
            y: 6,
            x: 6
        }
    );
}

#[test]
fn switching_to_the_pre_relu_objective_goes_on_with_the_same_run() {
    // issue 13, defect 1: the switch restarted the count, the blur schedule and the budget
    let device = Device::flex();
    let mut opt = Optimizer::new(squeezenet(&device), &device);
    let params = Params {
        max_iter: 5,
        ..Params::preset(3).unwrap()
    };
    let id = opt
        .add_run(RunConfig {
            objective: (Objective::class(&Arch::SqueezeNet1_0.info(), 130).unwrap()).into(),
            params,
            init: x0_init(),
            method: Default::default(),
            images: 1,
        })
        .unwrap();
    opt.step(4).unwrap();
    assert_eq!(opt.status(id).unwrap().stop, Some(StopReason::ZeroGrad));
    assert_eq!(opt.status(id).unwrap().iterations, 2);
    let mut pre = Objective::class(&Arch::SqueezeNet1_0.info(), 130).unwrap();
    pre.pre_relu = true;
    opt.set_objective(id, pre).unwrap();
    assert_eq!(opt.status(id).unwrap().iterations, 2, "the count goes on");
    assert_eq!(opt.status(id).unwrap().stop, None);
    let tel = opt.step(10).unwrap();
    let iters: Vec<usize> = tel.iter().map(|t| t.iter).collect();
    // the plot's line goes on from where it was (the stopped iteration, which moved nothing,
    // is evaluated again under the new objective), and the budget of 5 still ends it
    assert_eq!(iters, [1, 2, 3, 4]);
    let st = opt.status(id).unwrap();
    assert_eq!((st.iterations, st.stop), (5, Some(StopReason::MaxIter)));
    assert!(st.best_iter.is_some_and(|i| i >= 2));
}
