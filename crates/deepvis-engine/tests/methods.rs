//! The preferred image's methods in the worker: the compare views in one batch, diversity,
//! the direction at a clicked place, a method switch while it runs, and the judge's line.

mod common;
use common::{collect, weights};

use std::sync::Arc;
use std::time::Duration;

use deepvis_engine::{EngineConfig, EngineHandle, ModelLoader, spawn};
use deepvis_model::{Arch, BackendChoice};
use deepvis_protocol::{
    Command, Event, Method, MethodKind, OptimSettings, OptimView, PreReluMode, SourceSpec,
    Transforms,
};

fn engine(layer: &str, judge: bool) -> EngineHandle {
    let mut c = EngineConfig::new(
        ModelLoader::builtin(Arch::SqueezeNet1_0, weights()),
        SourceSpec::Synthetic {
            width: 320,
            height: 240,
            fps: 5,
        },
    );
    c.backend = BackendChoice::Cpu;
    c.grid_layer = Some(layer.into());
    c.optim.pre_relu = PreReluMode::Off;
    if judge {
        // the same network as its own judge: a real second load, its verdict checkable
        c.judge = Some(ModelLoader::builtin(Arch::SqueezeNet1_0, weights()));
    }
    spawn(c, Arc::new(|| {}))
}

/// The events in a few words (pictures are not printed).
fn words(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .map(|e| match e {
            Event::Error(f) => format!("error: {f:?}"),
            Event::Preferred {
                iteration,
                objective,
                captions,
                image,
                ..
            } => format!(
                "preferred {}x{} it {iteration} obj {objective} {captions:?}",
                image.width(),
                image.height()
            ),
            Event::Stopped { reason, iterations } => format!("stopped {reason:?} at {iterations}"),
            Event::Judged { verdicts, .. } => format!("judged {verdicts:?}"),
            Event::Preparing(p) => format!("preparing {p:?}"),
            _ => "other".into(),
        })
        .filter(|w| w != "other")
        .collect()
}

fn ready(h: &EngineHandle) {
    let ev = collect(h, Duration::from_secs(60), |e| {
        matches!(e, Event::Ready { .. })
    });
    assert!(
        ev.iter().any(|e| matches!(e, Event::Ready { .. })),
        "{:?}",
        words(&ev)
    );
}

fn settings(view: OptimView, kind: MethodKind) -> OptimSettings {
    let mut o = OptimSettings {
        view,
        pre_relu: PreReluMode::On,
        ..Default::default()
    };
    o.method = kind.method();
    o.params = Method::default_params(kind);
    o
}

/// The next preferred image of `tiles` captions after `after` iterations: (size, captions).
fn next_picture(
    h: &EngineHandle,
    after: usize,
    tiles: usize,
) -> ((u32, u32), Vec<String>, Vec<Event>) {
    let mut got = None;
    let ev = collect(h, Duration::from_secs(120), |e| {
        if let Event::Preferred {
            image,
            captions,
            iteration,
            ..
        } = e
            && *iteration > after
            && captions.len() == tiles
        {
            got = Some((image.dimensions(), captions.clone()));
        }
        got.is_some()
    });
    let (dims, captions) = got.unwrap_or_else(|| panic!("no picture: {:?}", words(&ev)));
    (dims, captions, ev)
}

#[test]
fn the_views_run_side_by_side_and_the_judge_speaks() {
    let h = engine("pool10", true);
    ready(&h);
    // the three methods side by side, one picture of three tiles
    h.send(Command::SetOptim(settings(
        OptimView::CompareMethods,
        MethodKind::Fourier,
    )));
    h.send(Command::SelectUnit(130));
    let (dims, captions, _) = next_picture(&h, 2, 3);
    assert_eq!(
        captions,
        ["paper 2015", "Fourier + transforms", "MACO"].map(String::from)
    );
    assert_eq!(dims, (3 * 227 + 2 * 2, 227));
    // the judge's verdicts on the three pictures come within a few seconds
    let mut verdicts = None;
    let ev = collect(&h, Duration::from_secs(60), |e| {
        if let Event::Judged {
            channel,
            verdicts: v,
            ..
        } = e
        {
            verdicts = Some((*channel, v.clone()));
        }
        verdicts.is_some()
    });
    let (channel, verdicts) = verdicts.unwrap_or_else(|| panic!("no verdict: {:?}", words(&ev)));
    assert_eq!(channel, 130);
    assert_eq!(verdicts.len(), 3);
    for v in &verdicts {
        assert_eq!(v.class.as_deref(), Some("flamingo"));
        let (rank, prob) = (v.rank.unwrap(), v.prob.unwrap());
        assert!(
            (1..=1000).contains(&rank) && (0.0..=1.0).contains(&prob),
            "{v:?}"
        );
    }
    // the four presets: a 2x2 montage
    h.send(Command::SetOptim(settings(
        OptimView::ComparePresets,
        MethodKind::Paper,
    )));
    let (dims, captions, _) = next_picture(&h, 1, 4);
    assert_eq!(captions.len(), 4);
    assert_eq!(dims, (2 * 227 + 2, 2 * 227 + 2));
    // diversity: three images of the unit
    let mut o = settings(OptimView::Diversity, MethodKind::Fourier);
    o.diversity = 3;
    h.send(Command::SetOptim(o));
    let mut dims = (0, 0);
    for _ in 0..20 {
        // (pictures of the views before may still be on their way)
        dims = next_picture(&h, 1, 0).0;
        if dims != (227, 227) && dims.1 == 227 {
            break;
        }
    }
    assert_eq!(dims, (3 * 227 + 2 * 2, 227));
    // the judge rates each of the three images (after the presets' four)
    let mut n = 0;
    let ev = collect(&h, Duration::from_secs(60), |e| {
        if let Event::Judged { verdicts, .. } = e {
            n = verdicts.len();
        }
        n == 3
    });
    assert_eq!(n, 3, "{:?}", words(&ev));
    h.shutdown();
}

#[test]
fn a_method_switch_goes_on_and_a_direction_comes_from_the_frame() {
    let h = engine("fire9", false);
    ready(&h);
    h.send(Command::SetOptim(settings(
        OptimView::Single,
        MethodKind::Paper,
    )));
    h.send(Command::SelectUnit(20));
    let _ = next_picture(&h, 3, 0);
    // switched to Fourier while it runs: the same run goes on (its iterations keep counting)
    let mut o = settings(OptimView::Single, MethodKind::Fourier);
    o.params.max_iter = Method::default_params(MethodKind::Fourier).max_iter;
    h.send(Command::SetOptim(o));
    let mut iters = Vec::new();
    let ev = collect(&h, Duration::from_secs(60), |e| {
        if let Event::Preferred { iteration, .. } = e {
            iters.push(*iteration);
        }
        iters.len() >= 3
    });
    assert!(
        iters.len() >= 3 && iters.windows(2).all(|w| w[0] <= w[1]) && iters[0] > 3,
        "{iters:?} {:?}",
        words(&ev)
    );
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Error(_))),
        "{:?}",
        words(&ev)
    );
    // the direction of fire9's activation vector at (6, 6) of the current frame; without the
    // random transforms, so that the objective's rise is not lost in their noise
    o.direction_at = Some((6, 6));
    o.method.transforms = Transforms::OFF;
    h.send(Command::SetOptim(o));
    let mut objectives: Vec<(usize, f32)> = Vec::new();
    let ev = collect(&h, Duration::from_secs(90), |e| {
        if let Event::Preferred {
            iteration,
            objective,
            ..
        } = e
        {
            // (a picture of the run before may still be on its way: the new run counts anew)
            if objectives.last().is_some_and(|(i, _)| *iteration < *i) {
                objectives.clear();
            }
            objectives.push((*iteration, *objective));
        }
        objectives.last().is_some_and(|(i, _)| *i >= 20) && objectives[0].0 < 20
    });
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Error(_))),
        "{:?}",
        words(&ev)
    );
    // the restart counts from 0; a cosine similarity rises and stays within [-1, 1]
    let (first, last) = (objectives[0], objectives[objectives.len() - 1]);
    assert!(first.0 < 20, "{objectives:?}");
    assert!(
        objectives.iter().all(|(_, o)| (-1.0..=1.0).contains(o)),
        "{objectives:?}"
    );
    let tail = &objectives[objectives.len().saturating_sub(3)..];
    let tail_mean = tail.iter().map(|(_, o)| o).sum::<f32>() / tail.len() as f32;
    assert!(tail_mean > first.1 && last.1 > first.1, "{objectives:?}");
    // a position outside the map is a clear error, and the worker goes on
    o.direction_at = Some((60, 60));
    h.send(Command::SetOptim(o));
    let ev = collect(&h, Duration::from_secs(30), |e| {
        matches!(e, Event::Error(_))
    });
    let err = ev.iter().find_map(|e| match e {
        Event::Error(f) => Some(f.message.clone()),
        _ => None,
    });
    assert!(
        err.as_deref().is_some_and(|m| m.contains("outside")),
        "{err:?}"
    );
    h.shutdown();
}
