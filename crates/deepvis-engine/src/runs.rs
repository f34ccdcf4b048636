//! What the preferred image's runs are made of, from the settings, the unit and the frame: the
//! objective, the goal (the unit, or the direction at a place of the frame, with the diversity
//! term), the start image, and the runs each view shows.

use deepvis_optim::{Goal, Init, Method, MethodKind, Objective, Params, RunConfig, Term};
use deepvis_protocol::{OptimSettings, OptimView, StartFrom};

use crate::device::Model;
use crate::error::{EngineError, Result};

/// The label of a start image taken from the frame (in recipes and sidecars).
pub(crate) const FRAME_LABEL: &str = "the current frame";
/// The standard deviation of the start noise.
const NOISE_STD: f32 = 10.0;

/// The unit the runs are of, and the frame they may start from or take a direction from.
#[derive(Clone, Copy)]
pub(crate) struct Scene<'a> {
    /// The network.
    pub model: &'a Model,
    /// The grid layer.
    pub layer: &'a str,
    /// The selected channel.
    pub unit: Option<usize>,
    /// The newest frame, preprocessed (CHW).
    pub frame: Option<&'a [f32]>,
}

/// The objective of unit `channel` of `layer` (optimized through the class scores for a
/// softmax), pre-ReLU or not, pushed down when the settings suppress.
pub(crate) fn objective(
    model: &Model,
    o: &OptimSettings,
    layer: &str,
    channel: usize,
    pre: bool,
) -> Result<Objective> {
    let layer = model.optimizable(layer);
    let mut objective = Objective::new(&model.info, layer, channel, None, false, 1.0)?;
    objective.pre_relu = pre;
    objective.sign = if o.suppress { -1.0 } else { 1.0 };
    objective.validate(&model.info)?;
    Ok(objective)
}

/// Whether `layer`'s units have a pre-ReLU value.
pub(crate) fn has_pre_relu(model: &Model, layer: &str) -> bool {
    let layer = model.optimizable(layer);
    objective(model, &OptimSettings::default(), layer, 0, true).is_ok()
}

/// The frame as a start image.
pub(crate) fn frame_init(frame: &[f32]) -> Init {
    Init::Image {
        chw: frame.to_vec(),
        label: FRAME_LABEL.into(),
    }
}

/// The run's start image and where it came from (the frame only when there is one).
pub(crate) fn init(o: &OptimSettings, frame: Option<&[f32]>) -> (Init, StartFrom) {
    match (o.start, frame) {
        (StartFrom::Frame, Some(chw)) => (frame_init(chw), StartFrom::Frame),
        _ => (
            Init::Noise {
                seed: o.seed,
                std: NOISE_STD,
            },
            StartFrom::Noise,
        ),
    }
}

/// The direction of the grid layer's activation vector at `at` on the current frame.
fn frame_direction(scene: &Scene, at: (usize, usize)) -> Result<Term> {
    let chw = scene.frame.ok_or(EngineError::NoFrame)?;
    let x = scene.model.input(chw.to_vec())?;
    Ok(Term::direction_in(
        &scene.model.net,
        x,
        scene.layer,
        Some(at),
    )?)
}

/// The goal of the run(s): the unit's objective, or the direction at a clicked place, with
/// the diversity term in the diversity view.
pub(crate) fn goal(o: &OptimSettings, scene: &Scene, objective: Objective) -> Result<Goal> {
    let layer = objective.layer.clone();
    let mut goal: Goal = match o.direction_at {
        Some(at) => Goal {
            terms: vec![(1.0, frame_direction(scene, at)?)],
        },
        None => objective.into(),
    };
    if o.view == OptimView::Diversity {
        goal = goal.with_diversity(o.diversity_weight, &layer);
    }
    goal.validate(&scene.model.info)?;
    Ok(goal)
}

/// The runs of the view: (config, caption).
pub(crate) fn configs(o: &OptimSettings, goal: &Goal, init: &Init) -> Vec<(RunConfig, String)> {
    let one = |params, method, images| RunConfig {
        objective: goal.clone(),
        params,
        init: init.clone(),
        method,
        images,
    };
    let endless = |mut p: Params| {
        if o.endless {
            p.max_iter = usize::MAX / 2;
        }
        p
    };
    match o.view {
        OptimView::Single => vec![(one(o.effective(), o.method, 1), String::new())],
        OptimView::Diversity => {
            let n = o.diversity.clamp(2, 8) as usize;
            vec![(one(o.effective(), o.method, n), String::new())]
        }
        OptimView::ComparePresets => (1..=4u8)
            .filter_map(|n| Params::preset(n).ok().map(|p| (n, p)))
            .map(|(n, p)| (one(endless(p), Method::PAPER, 1), format!("preset {n}")))
            .collect(),
        OptimView::CompareMethods => MethodKind::ALL
            .iter()
            .map(|&k| {
                // the method being tuned keeps its knobs; the others their defaults
                let (params, method) = if k == o.method.kind() {
                    (o.effective(), o.method)
                } else {
                    (endless(Method::default_params(k)), k.method())
                };
                (one(params, method, 1), k.label().to_string())
            })
            .collect(),
    }
}
