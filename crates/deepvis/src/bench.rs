//! `deepvis bench`: forward and backward timings on the chosen backend.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use deepvis_model::{Arch, ModelInfo, Net, Request, to_vec};

use crate::Global;
use crate::common::{Loaded, load, log};

/// Arguments of `deepvis bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed iterations of each case.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Untimed iterations first (the first call also compiles kernels on wgpu).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Batch size.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Time the live pipeline instead: the worker on a 640x480 synthetic source, grid frames
    /// per second alone, with a concept scored on every frame, with the frame's NMF parts,
    /// with a fire9 unit's preferred image running, with its circuit too, with its guided
    /// back-projection too, and the optimizer alone.
    #[arg(long)]
    live: bool,
    /// Frames per second of `--live`'s synthetic source, as a camera gives them (0: as fast as
    /// it can draw them, which keeps a core busy drawing frames the worker mostly drops).
    #[arg(long, default_value_t = 60)]
    source_fps: u32,
    /// Also time every attribution method of a class score on one input (Grad-CAM,
    /// Grad-CAM++, occlusion batched and one patch per pass, SmoothGrad, integrated
    /// gradients, the back-projections), with the default settings.
    #[arg(long)]
    attribution: bool,
    /// Seconds per phase of `--live`.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print each figure beside a baseline's: an earlier `deepvis bench --json`, or a peer's
    /// figures in the same form (`scripts/bench-onnxruntime.py` writes ONNX Runtime's forward
    /// as `forward_to_prob`); the ratio is ours over the baseline's median.
    #[arg(long, value_name = "BASE.json")]
    compare: Option<std::path::PathBuf>,
    /// Time the forward pass node by node instead (the device synchronised after each node):
    /// each node's median, its share and a sum per operator, to see where the time goes.
    #[arg(long)]
    nodes: bool,
}

/// `bench --nodes`: the median time of each node of the forward pass to the graph's output.
fn nodes(g: &Global, a: &Args) -> Result<ExitCode> {
    let l = load(g)?;
    let size = l.info.input_size();
    let batch = a.batch.max(1);
    let dims = [batch, 3, size, size];
    let data = noise(dims.iter().product(), 40.0 * l.info.norm().scale);
    let device = l.device.device.clone();
    let graph = l.net.graph();
    let last = graph
        .graph()
        .nodes
        .last()
        .map(|n| n.name.clone())
        .ok_or_else(|| anyhow::anyhow!("{} has no nodes", l.info.name()))?;
    let mut runs: Vec<Vec<deepvis_model::graph::NodeTime>> = Vec::new();
    for k in 0..a.warmup + a.iters.max(1) {
        let x = deepvis_model::tensor4(data.clone(), dims, &device)?;
        let t = graph.profile(x, &last)?;
        if k >= a.warmup {
            runs.push(t);
        }
    }
    let Some(first) = runs.first() else {
        anyhow::bail!("no timed run");
    };
    let rows: Vec<(String, String, bool, f64)> = first
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let v: Vec<f64> = runs.iter().filter_map(|r| r.get(i)).map(|t| t.ms).collect();
            (n.node.clone(), n.op.clone(), n.fused, stats(&v).0)
        })
        .collect();
    let total: f64 = rows.iter().map(|r| r.3).sum();
    let mut per_op: Vec<(String, f64, usize)> = Vec::new();
    for (_, op, fused, ms) in &rows {
        let op = match fused {
            true => format!("Conv+{op}"),
            false => op.clone(),
        };
        match per_op.iter_mut().find(|p| p.0 == op) {
            Some(p) => {
                p.1 += ms;
                p.2 += 1;
            }
            None => per_op.push((op, *ms, 1)),
        }
    }
    per_op.sort_by(|a, b| b.1.total_cmp(&a.1));
    if a.json {
        let v = serde_json::json!({
            "model": l.info.name(), "batch": batch, "input": size,
            "device": l.device.description, "iters": runs.len(), "total_ms": total,
            "nodes": rows.iter().map(|(n, op, fused, ms)| serde_json::json!({
                "node": n, "op": op, "fused_with_conv": fused, "median_ms": ms,
            })).collect::<Vec<_>>(),
            "per_op": per_op.iter().map(|(op, ms, n)| serde_json::json!({
                "op": op, "ms": ms, "nodes": n,
            })).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} batch {batch} {size}x{size} on {}: the forward pass node by node, median of {} \
         (synchronised after each node: {total:.2} ms in all)",
        l.info.name(),
        l.device.description,
        runs.len()
    );
    println!("{:<28} {:<18} {:>9} {:>7}", "node", "op", "ms", "share");
    for (n, op, fused, ms) in &rows {
        let op = match fused {
            true => format!("{op} (with Conv)"),
            false => op.clone(),
        };
        println!("{n:<28} {op:<18} {ms:>9.3} {:>6.1}%", 100.0 * ms / total);
    }
    println!(
        "\n{:<28} {:>7} {:>9} {:>7}",
        "per op", "nodes", "ms", "share"
    );
    for (op, ms, n) in &per_op {
        println!("{op:<28} {n:>7} {ms:>9.3} {:>6.1}%", 100.0 * ms / total);
    }
    Ok(ExitCode::SUCCESS)
}

/// A baseline's median per case, from a bench's JSON (`results`: `case`, `median_ms`).
fn baseline(path: &std::path::Path) -> Result<std::collections::HashMap<String, f64>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the baseline {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(text.trim())
        .with_context(|| format!("{} is not a bench's JSON", path.display()))?;
    let rows = v["results"].as_array().with_context(|| {
        format!(
            "{} has no `results` list of {{case, median_ms}} (a `deepvis bench --json` output)",
            path.display()
        )
    })?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((r["case"].as_str()?.to_string(), r["median_ms"].as_f64()?)))
        .filter(|(_, ms)| ms.is_finite() && *ms > 0.0)
        .collect())
}

struct Case {
    name: &'static str,
    first_ms: f64,
    times_ms: Vec<f64>,
}

fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let med = if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    };
    let min = s.first().copied().unwrap_or(f64::NAN);
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    (med, min, mean)
}

/// Averages the worker's 1-second statistics over `secs` seconds (the first report skipped):
/// grid frames, optimizer iterations and back-projections per second.
fn measure(h: &deepvis_engine::EngineHandle, secs: u64) -> (f32, f32, f32) {
    let t0 = Instant::now();
    let (mut fps, mut ips, mut bps, mut n, mut seen) = (0.0, 0.0, 0.0, 0, 0);
    while t0.elapsed().as_secs() < secs + 1 {
        if let Ok(deepvis_protocol::Event::Stats {
            grid_fps,
            optim_ips,
            back_fps,
        }) = h.events.recv_timeout(std::time::Duration::from_millis(200))
        {
            seen += 1;
            if seen > 1 {
                fps += grid_fps;
                ips += optim_ips;
                bps += back_fps;
                n += 1;
            }
        }
    }
    let n = n.max(1) as f32;
    (fps / n, ips / n, bps / n)
}

fn live(g: &Global, a: &Args) -> Result<ExitCode> {
    use deepvis_protocol::{Command, Event, SourceSpec};
    let model = crate::common::model_loader(g)?;
    let name = model.name.clone();
    let mut c = deepvis_engine::EngineConfig::new(
        model,
        SourceSpec::Synthetic {
            width: 640,
            height: 480,
            fps: a.source_fps,
        },
    );
    c.backend = deepvis_model::BackendChoice::from_name(&g.backend)?;
    let back_off = deepvis_protocol::BackSettings {
        mode: deepvis_protocol::BackMode::Off,
        ..Default::default()
    };
    c.back = back_off.clone();
    let h = deepvis_engine::spawn(c, std::sync::Arc::new(|| {}));
    let t0 = Instant::now();
    let mut backend = String::new();
    let mut ready_s = 0.0;
    // wait for the final Ready (a GPU sends a second one once warm)
    while t0.elapsed().as_secs() < 600 {
        match h.events.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(Event::Ready { backend: b, .. }) => {
                let words = deepvis_ui::words::backend(&b);
                log(
                    g,
                    format!(
                        "live: ready on {words} after {:.1} s",
                        t0.elapsed().as_secs_f64()
                    ),
                );
                ready_s = t0.elapsed().as_secs_f64();
                let warming = b.warming.is_some();
                backend = b.serving;
                if !warming {
                    break;
                }
            }
            Ok(Event::Error(e)) => {
                anyhow::bail!("the worker failed: {}", deepvis_ui::words::failure(&e))
            }
            _ => {}
        }
    }
    let (grid_alone, _, _) = measure(&h, a.seconds);
    let (grid_concept, grid_parts) = live_concepts(&h, a.seconds);
    h.send(Command::SelectUnit(146));
    let (grid_with, optim_with, _) = measure(&h, a.seconds);
    h.send(Command::Circuit(Some(4)));
    let (grid_circuit, optim_circuit, _) = measure(&h, a.seconds);
    h.send(Command::Circuit(None));
    h.send(Command::SetBack(deepvis_protocol::BackSettings {
        mode: deepvis_protocol::BackMode::Guided,
        ..back_off.clone()
    }));
    let (grid_back, optim_back, back_per_s) = measure(&h, a.seconds);
    h.send(Command::SetBack(back_off));
    h.send(Command::Freeze(true));
    let (_, optim_alone, _) = measure(&h, a.seconds);
    h.shutdown();
    let v = serde_json::json!({
        "model": name, "backend": backend, "source": "synthetic 640x480",
        "source_fps": a.source_fps,
        "ready_s": ready_s, "seconds_per_phase": a.seconds,
        "grid_fps_alone": grid_alone, "grid_fps_with_optimizer": grid_with,
        "grid_fps_with_concept": grid_concept, "grid_fps_with_nmf_parts": grid_parts,
        "grid_fps_with_circuit_and_optimizer": grid_circuit,
        "optimizer_ips_with_grid_and_circuit": optim_circuit,
        "optimizer_ips_with_grid": optim_with, "optimizer_ips_alone": optim_alone,
        "grid_fps_with_guided_back_and_optimizer": grid_back,
        "optimizer_ips_with_grid_and_back": optim_back,
        "back_projections_per_s_with_grid_and_optimizer": back_per_s,
    });
    if a.json {
        println!("{v}");
    } else {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `bench --live`'s concept phases, before a unit is selected: the grid's frames per second
/// with a concept scored and mapped on every frame (taught on a second of the source's frames
/// against the next second's), then with the frame's 3 parts by NMF instead.
fn live_concepts(h: &deepvis_engine::EngineHandle, seconds: u64) -> (f32, f32) {
    use deepvis_protocol::{Command, ConceptFit, ConceptSide};
    let wait = |s: f32| {
        let t = Instant::now();
        while t.elapsed().as_secs_f32() < s {
            let _ = h.events.recv_timeout(std::time::Duration::from_millis(50));
        }
    };
    h.send(Command::ConceptRecord(Some(ConceptSide::Concept)));
    wait(1.0);
    h.send(Command::ConceptRecord(Some(ConceptSide::Others)));
    wait(1.0);
    h.send(Command::ConceptRecord(None));
    h.send(Command::ConceptFit(ConceptFit::Mean));
    let (with_concept, _, _) = measure(h, seconds);
    h.send(Command::ConceptClear);
    h.send(Command::ConceptParts(Some(3)));
    let (with_parts, _, _) = measure(h, seconds);
    h.send(Command::ConceptParts(None));
    (with_concept, with_parts)
}

type Step<'a> = Box<dyn Fn() -> Result<()> + 'a>;

/// The window's concept work on one frame's grid layer (beside `forward_to_grid_layer`): a
/// concept's score and map, and the frame's 3 parts by NMF from nothing and from another
/// frame's parts, as the concept stage makes them.
fn concept_steps(
    l: &Loaded,
    grid: &str,
    chw: &[f32],
) -> Result<Vec<(&'static str, Step<'static>)>> {
    let s = l.info.input_size();
    let map = |data: Vec<f32>| -> Result<(Vec<f32>, [usize; 3])> {
        let x = deepvis_model::tensor4(data, [1, 3, s, s], &l.device.device)?;
        let t = l
            .net
            .forward(x, &Request::layers(&[grid]))?
            .take(grid)
            .context("no grid layer")?;
        let [_, c, h, w] = t.dims();
        Ok((to_vec(t)?, [c, h, w]))
    };
    let (a, [c, h, w]) = map(chw.to_vec())?;
    let (b, _) = map(chw.iter().rev().copied().collect())?;
    let n = h * w;
    // positions by channels, as the stage factorises them
    let rows = |m: &[f32]| -> Vec<f32> {
        (0..n)
            .flat_map(|p| (0..c).map(move |ch| m[ch * n + p]))
            .collect()
    };
    let (va, vb) = (rows(&a), rows(&b));
    let direction: Vec<f32> = (0..c).map(|ch| ((ch * 7919) % 13) as f32 - 6.0).collect();
    let cav = deepvis_concepts::Cav {
        direction,
        bias: 0.0,
        fit: deepvis_concepts::Fit::Mean,
        positives: 1,
        negatives: 1,
        train_accuracy: 1.0,
    };
    let options = deepvis_engine::parts_options(3.min(n).min(c).max(1));
    let last = deepvis_concepts::Nmf::fit(&va, n, c, &options)?;
    let score: Step<'static> = Box::new(move || {
        cav.score(&deepvis_concepts::channel_means(&a, [c, h, w])?)?;
        cav.map(&a, c, h, w)?;
        Ok(())
    });
    let cold_v = va.clone();
    let cold: Step<'static> = Box::new(move || {
        deepvis_concepts::Nmf::fit(&cold_v, n, c, &options)?;
        Ok(())
    });
    let warm: Step<'static> = Box::new(move || {
        deepvis_concepts::Nmf::fit_warm(&vb, n, c, &last.h, &options)?;
        Ok(())
    });
    Ok(vec![
        ("concept_score_and_map", score),
        ("concept_parts_nmf_cold", cold),
        ("concept_parts_nmf_warm", warm),
    ])
}

/// Runs each step once (its first call timed alone), `warmup - 1` more times, then `iters`
/// timed times.
fn time_cases(g: &Global, a: &Args, named: Vec<(&'static str, Step<'_>)>) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (name, step) in named {
        log(g, format!("bench: {name} ..."));
        let t0 = Instant::now();
        step()?;
        let first_ms = t0.elapsed().as_secs_f64() * 1e3;
        for _ in 1..a.warmup {
            step()?;
        }
        let mut times_ms = Vec::with_capacity(a.iters);
        for _ in 0..a.iters {
            let t0 = Instant::now();
            step()?;
            times_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        cases.push(Case {
            name,
            first_ms,
            times_ms,
        });
    }
    Ok(cases)
}

/// A fixed pseudo-random input of `n` values and amplitude `amp` (the network's response to
/// noise is what the optimizer sees).
fn noise(n: usize, amp: f32) -> Vec<f32> {
    let mut seed = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * amp
        })
        .collect()
}

/// Prints the cases as a table under `title`, or as one JSON object (`head` plus `results`),
/// each beside the baseline's median where `--compare` gave one.
fn print_cases(a: &Args, head: serde_json::Value, title: String, cases: &[Case]) -> Result<()> {
    let base = match &a.compare {
        Some(p) => Some(baseline(p)?),
        None => None,
    };
    let against = |c: &Case, med: f64| {
        let b = base.as_ref().and_then(|b| b.get(c.name).copied());
        (b, b.map(|b| med / b))
    };
    if a.json {
        let rows: Vec<_> = cases
            .iter()
            .map(|c| {
                let (med, min, mean) = stats(&c.times_ms);
                let mut row = serde_json::json!({
                    "case": c.name, "first_call_ms": c.first_ms, "median_ms": med,
                    "min_ms": min, "mean_ms": mean, "iters": c.times_ms.len(),
                });
                if base.is_some() {
                    let (b, r) = against(c, med);
                    row["baseline_ms"] = serde_json::json!(b);
                    row["ratio"] = serde_json::json!(r);
                }
                row
            })
            .collect();
        let mut v = head;
        v["results"] = serde_json::json!(rows);
        if let Some(p) = &a.compare {
            v["baseline"] = serde_json::json!(p.display().to_string());
        }
        println!("{v}");
    } else {
        println!("{title}");
        let extra = match base {
            Some(_) => format!(" {:>10} {:>8}", "base ms", "ratio"),
            None => String::new(),
        };
        println!(
            "{:<34} {:>10} {:>10} {:>10} {:>12}{extra}",
            "case", "median ms", "min ms", "mean ms", "first ms"
        );
        for c in cases {
            let (med, min, mean) = stats(&c.times_ms);
            let extra = match (base.is_some(), against(c, med)) {
                (false, _) => String::new(),
                (true, (Some(b), Some(r))) => format!(" {b:>10.2} {:>7.2}x", r),
                (true, _) => format!(" {:>10} {:>8}", "-", "-"),
            };
            println!(
                "{:<34} {med:>10.2} {min:>10.2} {mean:>10.2} {:>12.1}{extra}",
                c.name, c.first_ms
            );
        }
    }
    Ok(())
}

/// A step that runs `net` forward to `layer` on a fixed input.
fn forward_step<'a>(
    net: &'a Net,
    layer: String,
    dims: [usize; 4],
    data: Vec<f32>,
    device: burn::prelude::Device,
) -> Step<'a> {
    Box::new(move || {
        let x = deepvis_model::tensor4(data.clone(), dims, &device)?;
        let mut taps = net.forward(x, &Request::layers(&[&layer]))?;
        if let Some(t) = taps.take(&layer) {
            to_vec(t.sum())?;
        }
        Ok(())
    })
}

/// The name of the node that makes the graph's output (the probabilities of a classifier),
/// else `logits`.
fn graph_output(info: &ModelInfo, logits: &str) -> String {
    info.graph()
        .outputs
        .first()
        .and_then(|o| info.graph().nodes.iter().find(|n| &n.output == o))
        .map(|n| n.name.clone())
        .unwrap_or_else(|| logits.to_string())
}

/// A step that runs `net` (on the autodiff device) forward to the class scores `logits` and
/// back from one class score to the input.
fn backward_step<'a>(
    net: &'a Net,
    logits: &'a str,
    dims: [usize; 4],
    data: Vec<f32>,
    ad_device: burn::prelude::Device,
) -> Step<'a> {
    let batch = dims[0];
    Box::new(move || {
        let x = deepvis_model::tensor4(data.clone(), dims, &ad_device)?.require_grad();
        let mut taps = net.forward(x.clone(), &Request::layers(&[logits]))?;
        if let Some(t) = taps.take(logits) {
            let [_, c, _, _] = t.dims();
            let k = 207.min(c - 1);
            let y = t.slice([0..batch, k..k + 1, 0..1, 0..1]).sum();
            let grads = y.backward();
            if let Some(gx) = x.grad(&grads) {
                to_vec(gx.abs().sum())?;
            }
        }
        Ok(())
    })
}

/// One step of the preferred image's optimizer by each method (Fourier and MACO with their
/// wide transforms; MACO also on crops of the CPU canvas and the authors'), one run of `batch`
/// images on the class unit `class`.
fn optim_steps<'a>(
    l: &Loaded,
    class: usize,
    batch: usize,
) -> Result<Vec<(&'static str, Step<'a>)>> {
    let mut named: Vec<(&'static str, Step<'a>)> = Vec::new();
    use deepvis_optim::{Canvas, MethodKind};
    for (name, kind, canvas) in [
        ("optim_step_paper_preset3", MethodKind::Paper, Canvas::OFF),
        (
            "optim_step_fourier_transforms",
            MethodKind::Fourier,
            Canvas::OFF,
        ),
        ("optim_step_maco_transforms", MethodKind::Maco, Canvas::OFF),
        ("optim_step_maco_canvas_cpu", MethodKind::Maco, Canvas::CPU),
        (
            "optim_step_maco_canvas_authors",
            MethodKind::Maco,
            Canvas::AUTHORS,
        ),
    ] {
        let mut opt = deepvis_optim::Optimizer::new(l.net.clone(), &l.device.device);
        let mut params = deepvis_optim::Method::default_params(kind);
        params.max_iter = usize::MAX / 2;
        opt.add_run(deepvis_optim::RunConfig {
            objective: deepvis_optim::Objective::class(&l.info, class)?.into(),
            params,
            init: deepvis_optim::Init::Noise { seed: 0, std: 10.0 },
            method: deepvis_optim::Method {
                canvas,
                ..kind.method()
            },
            images: batch,
        })?;
        let opt = std::cell::RefCell::new(opt);
        named.push((
            name,
            Box::new(move || {
                opt.borrow_mut().step(1)?;
                Ok(())
            }),
        ));
    }
    Ok(named)
}

/// The one picture the single-image cases read (the first of the batch), on its device.
struct Picture {
    chw: Vec<f32>,
    size: usize,
    device: burn::prelude::Device,
}

impl Picture {
    /// The back-projections of a unit of the grid layer `grid` by each mode, as the back pane
    /// computes them per frame.
    fn back_steps<'a>(
        &self,
        p: &'a deepvis_model::BackProjector,
        grid: &'a str,
    ) -> Vec<(&'static str, Step<'a>)> {
        let step = |mode: deepvis_model::BackMode| -> Step<'a> {
            let (first, size, device) = (self.chw.clone(), self.size, self.device.clone());
            Box::new(move || {
                let x = deepvis_model::tensor4(first.clone(), [1, 3, size, size], &device)?;
                let r = p.project(x, grid, 0, None, mode)?;
                to_vec(r.grad)?;
                Ok(())
            })
        };
        vec![
            ("back_grad_grid_unit", step(deepvis_model::BackMode::Grad)),
            (
                "back_deconv_grid_unit",
                step(deepvis_model::BackMode::Deconv),
            ),
            (
                "back_guided_grid_unit",
                step(deepvis_model::BackMode::Guided),
            ),
        ]
    }

    /// Every attribution method of the class score `unit` of `logits`, with the default
    /// settings (occlusion both batched and one patch per pass).
    fn attribution_steps<'a>(
        &self,
        p: &'a deepvis_model::BackProjector,
        logits: &str,
        unit: usize,
    ) -> Vec<(&'static str, Step<'a>)> {
        use deepvis_attribution::{AttrOptions, Job, Method, Target};
        let names: [(&'static str, Method, usize); 9] = [
            ("attr_grad", Method::Grad, 8),
            ("attr_deconv", Method::Deconv, 8),
            ("attr_guided", Method::Guided, 8),
            ("attr_gradcam", Method::GradCam, 8),
            ("attr_gradcampp", Method::GradCamPp, 8),
            ("attr_occlusion_batch8", Method::Occlusion, 8),
            ("attr_occlusion_batch1", Method::Occlusion, 1),
            ("attr_smoothgrad", Method::SmoothGrad, 8),
            ("attr_ig", Method::Ig, 8),
        ];
        let mut named: Vec<(&'static str, Step<'a>)> = Vec::new();
        for (name, method, per_pass) in names {
            let (first, size, device) = (self.chw.clone(), self.size, self.device.clone());
            let target = Target::unit(logits, unit, None);
            let opts = AttrOptions {
                batch: per_pass,
                ..AttrOptions::default()
            };
            named.push((
                name,
                Box::new(move || {
                    let x = deepvis_model::tensor4(first.clone(), [1, 3, size, size], &device)?;
                    Job::run(p.net(), x, &target, method, &opts)?;
                    Ok(())
                }),
            ));
        }
        named
    }
}

/// Runs the benchmark.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    // a bad baseline is an error before minutes of timing, not after
    if let Some(p) = &a.compare {
        baseline(p)?;
    }
    if a.live {
        return live(g, &a);
    }
    if a.nodes {
        return nodes(g, &a);
    }
    let l = load(g)?;
    let size = l.info.input_size();
    let batch = a.batch.max(1);
    let dims = [batch, 3, size, size];
    let data = noise(dims.iter().product(), 40.0 * l.info.norm().scale);
    let device = l.device.device.clone();
    let ad_device = device.clone().autodiff();
    let ad_net = l.net.clone().to_device(&ad_device).no_grad();
    let grid = l.info.default_grid_layer();
    let logits = l.info.logits_layer();
    let output = graph_output(&l.info, logits);
    // the built-in SqueezeNet beside any other model, in the same run
    let reference = match l.info.name() == Arch::SqueezeNet1_0.name() {
        true => None,
        false => Some(load(&Global {
            model: Arch::SqueezeNet1_0.name().into(),
            ..g.clone()
        })?),
    };
    let projector = deepvis_model::BackProjector::new(l.net.clone(), &device);
    let picture = Picture {
        chw: data[..3 * size * size].to_vec(),
        size,
        device: device.clone(),
    };
    let mut named: Vec<(&'static str, Step<'_>)> = vec![
        (
            "forward_to_grid_layer",
            forward_step(&l.net, grid.to_string(), dims, data.clone(), device.clone()),
        ),
        (
            "forward_to_prob",
            forward_step(&l.net, output.clone(), dims, data.clone(), device.clone()),
        ),
        (
            "forward_backward_class_unit",
            backward_step(&ad_net, logits, dims, data.clone(), ad_device),
        ),
    ];
    let class = 130.min(l.info.layer(logits)?.channels - 1);
    named.extend(optim_steps(&l, class, batch)?);
    if batch == 1 {
        named.extend(picture.back_steps(&projector, grid));
        named.extend(concept_steps(&l, grid, &data[..3 * size * size])?);
    }
    if a.attribution && batch == 1 {
        let unit = 207.min(l.info.layer(logits)?.channels - 1);
        named.extend(picture.attribution_steps(&projector, logits, unit));
    }
    if let Some(r) = &reference {
        let rdims = [batch, 3, 227, 227];
        named.push((
            "builtin_squeezenet_forward_to_prob",
            forward_step(
                &r.net,
                "prob".into(),
                rdims,
                noise(rdims.iter().product(), 40.0),
                r.device.device.clone(),
            ),
        ));
    }
    let cases = time_cases(g, &a, named)?;
    let head = serde_json::json!({
        "model": l.info.name(), "grid_layer": grid, "class_layer": logits, "output": output,
        "batch": batch, "input": size,
        "backend": l.device.kind.as_str(), "device": l.device.description,
    });
    let title = format!(
        "{} batch {batch} {size}x{size} on {} (grid layer {grid}, class scores {logits})",
        l.info.name(),
        l.device.description
    );
    print_cases(&a, head, title, &cases)?;
    Ok(ExitCode::SUCCESS)
}
