//! The attribution lanes: the pane's method on the newest frame, the compare view's round of
//! every method, and the sanity check. Each turn the worker gives them runs one batch of
//! network passes of one lane, so methods of many passes (occlusion, SmoothGrad, integrated
//! gradients, the sanity cascade) go at their own pace while the grid stays live.

use std::collections::VecDeque;
use std::time::Instant;

use burn::prelude::*;
use deepvis_attribution::{AttrOptions, Attribution, Job, Method, Sanity, Target};
use deepvis_model::Net;
use deepvis_protocol::{BackMode, Doing, SanityReport, SanityStep};

use crate::error::{EngineError, Result};

/// Parametric nodes the live sanity check randomizes at most (top first).
pub(crate) const SANITY_NODES: usize = 64;

/// The unit and the frame the lanes explain.
#[derive(Clone, Debug)]
pub(crate) struct Subject {
    /// The frame, `[1, C, H, W]` on the network's device.
    pub x: Tensor<4>,
    /// The layer shown (what the UI selected).
    pub layer: String,
    /// The layer the unit is explained through (a softmax's units through the class scores).
    pub through: String,
    /// Channel.
    pub channel: usize,
    /// Position (`None`: where the map peaks).
    pub pos: Option<(usize, usize)>,
    /// The whole channel (the mean of its map) rather than one unit.
    pub whole_map: bool,
}

/// What a lane produced.
#[derive(Debug)]
pub(crate) enum Out {
    /// A finished map, for the pane or (`compare`) the compare view.
    Map {
        compare: bool,
        layer: String,
        channel: usize,
        attribution: Attribution,
        through: Option<String>,
        ms: f32,
    },
    /// A method of many passes moved on.
    Progress {
        compare: bool,
        method: BackMode,
        done: usize,
        total: usize,
    },
    /// The sanity check moved on (or stopped, with its error).
    Sanity(SanityReport),
    /// A lane failed (the pane's, a method of the compare view's, the sanity check's); it
    /// stopped until the next frame or setting.
    Error(Doing, EngineError),
}

/// A job and what it was started for.
struct Running {
    job: Job,
    req: Subject,
    spent: f32,
}

/// The compare view's round: every method on one frame.
struct Round {
    generation: u64,
    queue: VecDeque<Method>,
    current: Option<Running>,
}

struct SanityRun {
    sanity: Sanity,
    req: Subject,
}

/// Which lane has the next turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Main,
    Compare,
    Sanity,
}

/// The three lanes and whose turn it is.
pub(crate) struct Lanes {
    mode: BackMode,
    opts: AttrOptions,
    frame: Option<Subject>,
    generation: u64,
    main_due: bool,
    main: Option<Running>,
    compare_on: bool,
    round: Option<Round>,
    sanity: Option<SanityRun>,
    last: Lane,
}

fn target(req: &Subject) -> Target {
    match req.whole_map {
        true => Target {
            layer: req.through.clone(),
            channel: req.channel,
            seed: deepvis_model::graph::Seed::Mean,
        },
        false => Target::unit(&req.through, req.channel, req.pos),
    }
}

impl Lanes {
    pub(crate) fn new(mode: BackMode, opts: AttrOptions) -> Lanes {
        Lanes {
            mode,
            opts,
            frame: None,
            generation: 0,
            main_due: false,
            main: None,
            compare_on: false,
            round: None,
            sanity: None,
            last: Lane::Sanity,
        }
    }

    /// The newest frame and selection; `None` when no unit is selected.
    pub(crate) fn set_frame(&mut self, req: Option<Subject>) {
        self.generation += 1;
        self.main_due = req.is_some();
        self.frame = req;
    }

    /// The method or its settings changed, or the selection did: what was under way for the
    /// pane and the compare view starts over on the newest frame; the sanity check stops
    /// when the unit changed.
    pub(crate) fn reset(&mut self, mode: BackMode, opts: AttrOptions, unit_changed: bool) {
        self.mode = mode;
        self.opts = opts;
        self.main = None;
        self.main_due = self.frame.is_some();
        self.round = None;
        if unit_changed {
            self.sanity = None;
        }
    }

    /// Everything on a network that is gone (a device change): start over.
    pub(crate) fn drop_jobs(&mut self) {
        self.main = None;
        self.round = None;
        self.sanity = None;
        self.frame = None;
        self.main_due = false;
    }

    /// Shows every method side by side (true) or stops (false).
    pub(crate) fn set_compare(&mut self, on: bool) {
        self.compare_on = on;
        if !on {
            self.round = None;
        }
    }

    /// Starts the sanity check of the pane's method on the newest frame (or says why not).
    pub(crate) fn start_sanity(&mut self, net: &Net) -> Option<Out> {
        let Some(req) = self.frame.clone() else {
            return Some(Out::Error(Doing::Sanity, EngineError::NoSubject));
        };
        let method = match self.mode {
            BackMode::Off => BackMode::Grad,
            m => m,
        };
        match Sanity::new(
            net,
            req.x.clone(),
            &target(&req),
            method,
            &self.opts,
            SANITY_NODES,
            0,
        ) {
            Ok(sanity) => {
                let run = SanityRun { sanity, req };
                let report = report(&run, None);
                self.sanity = Some(run);
                Some(Out::Sanity(report))
            }
            Err(e) => Some(Out::Error(Doing::Sanity, e.into())),
        }
    }

    /// Stops the sanity check.
    pub(crate) fn cancel_sanity(&mut self) {
        self.sanity = None;
    }

    fn wants(&self, lane: Lane) -> bool {
        match lane {
            Lane::Main => {
                self.mode != BackMode::Off
                    && (self.main.is_some() || (self.main_due && self.frame.is_some()))
            }
            Lane::Compare => {
                self.compare_on
                    && self.frame.is_some()
                    && self.round.as_ref().is_none_or(|r| {
                        r.current.is_some() || !r.queue.is_empty() || r.generation < self.generation
                    })
            }
            Lane::Sanity => self.sanity.is_some(),
        }
    }

    /// Whether any lane has work.
    pub(crate) fn busy(&self) -> bool {
        [Lane::Main, Lane::Compare, Lane::Sanity]
            .into_iter()
            .any(|l| self.wants(l))
    }

    /// Whether the pane's lane has a new frame or setting to show.
    pub(crate) fn main_due(&self) -> bool {
        self.main_due && self.mode != BackMode::Off
    }

    /// Runs one batch of passes of the next lane that has work, on `net`.
    pub(crate) fn step(&mut self, net: &Net) -> Vec<Out> {
        let order = match self.last {
            Lane::Main => [Lane::Compare, Lane::Sanity, Lane::Main],
            Lane::Compare => [Lane::Sanity, Lane::Main, Lane::Compare],
            Lane::Sanity => [Lane::Main, Lane::Compare, Lane::Sanity],
        };
        let Some(lane) = order.into_iter().find(|&l| self.wants(l)) else {
            return Vec::new();
        };
        self.last = lane;
        match lane {
            Lane::Main => self.step_main(net),
            Lane::Compare => self.step_compare(net),
            Lane::Sanity => self.step_sanity(),
        }
    }

    fn step_main(&mut self, net: &Net) -> Vec<Out> {
        if self.main.is_none() {
            let Some(req) = self.frame.clone() else {
                return Vec::new();
            };
            self.main_due = false;
            match start(net, &req, self.mode, &self.opts) {
                Ok(r) => self.main = Some(r),
                Err(e) => return vec![Out::Error(Doing::Attribution, e)],
            }
        }
        let Some(run) = self.main.as_mut() else {
            return Vec::new();
        };
        match advance(net, run, false) {
            Ok(Some(out)) => {
                self.main = None;
                vec![out]
            }
            Ok(None) => vec![progress(run, false)],
            Err(e) => {
                self.main = None;
                vec![Out::Error(Doing::Attribution, e)]
            }
        }
    }

    fn step_compare(&mut self, net: &Net) -> Vec<Out> {
        let fresh = self
            .round
            .as_ref()
            .is_none_or(|r| r.current.is_none() && r.queue.is_empty());
        if fresh {
            self.round = Some(Round {
                generation: self.generation,
                queue: deepvis_attribution::methods_for(net.info())
                    .into_iter()
                    .collect(),
                current: None,
            });
        }
        let (Some(round), Some(req)) = (self.round.as_mut(), self.frame.as_ref()) else {
            return Vec::new();
        };
        if round.current.is_none() {
            let Some(method) = round.queue.pop_front() else {
                return Vec::new();
            };
            match start(net, req, method, &self.opts) {
                Ok(r) => round.current = Some(r),
                Err(e) => return vec![Out::Error(Doing::Compare { method }, e)],
            }
        }
        let Some(run) = round.current.as_mut() else {
            return Vec::new();
        };
        match advance(net, run, true) {
            Ok(Some(out)) => {
                round.current = None;
                vec![out]
            }
            Ok(None) => vec![progress(run, true)],
            Err(e) => {
                let method = run.job.method();
                round.current = None;
                vec![Out::Error(Doing::Compare { method }, e)]
            }
        }
    }

    fn step_sanity(&mut self) -> Vec<Out> {
        let Some(run) = self.sanity.as_mut() else {
            return Vec::new();
        };
        let before = run.sanity.progress().0;
        match run.sanity.step() {
            Ok(done) => {
                let moved = run.sanity.progress().0 != before;
                let out = (moved || done).then(|| Out::Sanity(report(run, None)));
                if done {
                    self.sanity = None;
                }
                out.into_iter().collect()
            }
            Err(e) => {
                let out = Out::Sanity(report(run, Some(e.to_string())));
                self.sanity = None;
                vec![out]
            }
        }
    }
}

fn start(net: &Net, req: &Subject, method: Method, opts: &AttrOptions) -> Result<Running> {
    let t0 = Instant::now();
    let job = Job::new(net, req.x.clone(), &target(req), method, opts)?;
    Ok(Running {
        job,
        req: req.clone(),
        spent: t0.elapsed().as_secs_f32() * 1e3,
    })
}

/// One batch of `run`; the finished map when it is done.
fn advance(net: &Net, run: &mut Running, compare: bool) -> Result<Option<Out>> {
    let t0 = Instant::now();
    let done = run.job.step(net)?;
    run.spent += t0.elapsed().as_secs_f32() * 1e3;
    if !done {
        return Ok(None);
    }
    let attribution = run
        .job
        .result()
        .cloned()
        .ok_or(EngineError::NotComputed("the attribution map"))?;
    Ok(Some(Out::Map {
        compare,
        layer: run.req.layer.clone(),
        channel: run.req.channel,
        attribution,
        through: (run.req.through != run.req.layer).then(|| run.req.through.clone()),
        ms: run.spent,
    }))
}

fn progress(run: &Running, compare: bool) -> Out {
    let (done, total) = run.job.progress();
    Out::Progress {
        compare,
        method: run.job.method(),
        done,
        total,
    }
}

fn report(run: &SanityRun, error: Option<String>) -> SanityReport {
    let (done, total) = run.sanity.progress();
    SanityReport {
        method: run.sanity.current().0,
        layer: run.req.layer.clone(),
        channel: run.req.channel,
        steps: run
            .sanity
            .points()
            .iter()
            .map(|p| SanityStep {
                node: p.node.clone(),
                randomized: p.randomized,
                spearman: p.spearman,
                ssim: p.ssim,
            })
            .collect(),
        done,
        total,
        error,
    }
}

#[cfg(test)]
mod tests {
    //! The lanes' policy on a tiny network, without a thread.

    use std::collections::HashMap;

    use deepvis_model::graph::build::window;
    use deepvis_model::graph::{Graph, HostTensor, Node, Op};
    use deepvis_model::preprocess::{InputSpec, Normalization};

    use super::*;

    /// x (3x8x8) -> u = relu(2x2 conv, stride 2, 2 channels) -> s = global average.
    fn tiny() -> Net {
        let node = |name: &str, op: Op, inputs: &[&str]| Node {
            name: name.into(),
            op_type: "op".into(),
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output: name.into(),
        };
        let conv = Op::Conv {
            window: window(2, 2, 0, false),
            group: 1,
        };
        let w: Vec<f32> = (0..24).map(|i| (i % 5) as f32 * 0.2 - 0.3).collect();
        let g = Graph {
            name: "tiny".into(),
            input: "x".into(),
            input_channels: 3,
            input_hw: None,
            nodes: vec![
                node("c", conv, &["x", "w"]),
                node("u", Op::Relu, &["c"]),
                node("s", Op::GlobalAveragePool, &["u"]),
            ],
            constants: HashMap::from([(
                "w".to_string(),
                HostTensor::new(vec![2, 3, 2, 2], w).expect("weights"),
            )]),
            outputs: vec!["s".into()],
            layers: Vec::new(),
            ..Default::default()
        };
        let spec = InputSpec {
            size: 8,
            resize: 8,
            norm: Normalization {
                order: [0, 1, 2],
                scale: 1.0,
                mean: [0.0; 3],
                std: [1.0; 3],
            },
        };
        Net::from_any_graph(g, "tiny", spec, None, &Device::flex()).expect("tiny net")
    }

    fn subject() -> Subject {
        let x: Vec<f32> = (0..192).map(|i| ((i * 13) % 17) as f32 / 4.0).collect();
        Subject {
            x: deepvis_model::tensor4(x, [1, 3, 8, 8], &Device::flex()).expect("input"),
            layer: "u".into(),
            through: "u".into(),
            channel: 1,
            pos: None,
            whole_map: false,
        }
    }

    fn opts() -> AttrOptions {
        let mut o = AttrOptions::default();
        o.occlusion.patch = 4;
        o.occlusion.stride = 4;
        o.batch = 2;
        o.ig.steps = 4;
        o.smoothgrad.samples = 3;
        o
    }

    /// Steps until nothing is left (at most `limit` turns).
    fn drain(l: &mut Lanes, net: &Net, limit: usize) -> Vec<Out> {
        let mut all = Vec::new();
        for _ in 0..limit {
            if !l.busy() {
                break;
            }
            all.extend(l.step(net));
        }
        all
    }

    #[test]
    fn a_slow_method_reports_progress_then_its_map_and_waits_for_a_new_frame() {
        let net = tiny();
        let mut l = Lanes::new(BackMode::Occlusion, opts());
        assert!(!l.busy(), "no frame, no work");
        l.set_frame(Some(subject()));
        let outs = drain(&mut l, &net, 50);
        // 4 patches of 4 px over 8x8, 2 per turn: progress 2/4, then the map
        let progress: Vec<(usize, usize)> = outs
            .iter()
            .filter_map(|o| match o {
                Out::Progress { done, total, .. } => Some((*done, *total)),
                _ => None,
            })
            .collect();
        assert_eq!(progress, [(2, 4)]);
        let maps: Vec<&Attribution> = outs
            .iter()
            .filter_map(|o| match o {
                Out::Map {
                    attribution,
                    compare: false,
                    ..
                } => Some(attribution),
                _ => None,
            })
            .collect();
        assert_eq!(maps.len(), 1);
        assert_eq!((maps[0].method, maps[0].passes), (BackMode::Occlusion, 5));
        // nothing more until a new frame or setting
        assert!(!l.busy());
        l.set_frame(Some(subject()));
        assert!(l.busy() && l.main_due());
        l.reset(BackMode::Off, opts(), false);
        assert!(!l.busy(), "off: the pane computes nothing");
    }

    #[test]
    fn the_compare_round_takes_turns_with_the_pane_and_gives_every_method_once_per_frame() {
        let net = tiny();
        let mut l = Lanes::new(BackMode::Grad, opts());
        l.set_frame(Some(subject()));
        l.set_compare(true);
        let outs = drain(&mut l, &net, 200);
        let mut compared: Vec<BackMode> = Vec::new();
        let mut pane = 0;
        for o in &outs {
            match o {
                Out::Map {
                    compare: true,
                    attribution,
                    ..
                } => compared.push(attribution.method),
                Out::Map { compare: false, .. } => pane += 1,
                Out::Error(doing, e) => panic!("{doing:?}: {e}"),
                _ => {}
            }
        }
        // a network without attention: every method but rollout
        let want: Vec<BackMode> = BackMode::METHODS
            .iter()
            .copied()
            .filter(|m| *m != BackMode::Rollout)
            .collect();
        assert_eq!(compared, want);
        assert_eq!(pane, 1);
        // the pane went first: its map is the first output
        assert!(matches!(outs[0], Out::Map { compare: false, .. }));
        assert!(!l.busy(), "the same frame is not compared twice");
        l.set_frame(Some(subject()));
        assert!(l.busy());
        l.set_compare(false);
        l.reset(BackMode::Off, opts(), false);
        assert!(!l.busy());
    }

    #[test]
    fn the_sanity_check_reports_each_map_and_stops_when_the_unit_changes() {
        let net = tiny();
        let mut l = Lanes::new(BackMode::Grad, opts());
        assert!(
            matches!(
                l.start_sanity(&net),
                Some(Out::Error(Doing::Sanity, EngineError::NoSubject))
            ),
            "no frame yet"
        );
        l.set_frame(Some(subject()));
        l.reset(BackMode::Off, opts(), false);
        let Some(Out::Sanity(first)) = l.start_sanity(&net) else {
            panic!("the check did not start");
        };
        // one parametric node: the original and one randomized map
        assert_eq!(
            (first.method, first.done, first.total),
            (BackMode::Grad, 0, 2)
        );
        let outs = drain(&mut l, &net, 20);
        let last = outs
            .iter()
            .rev()
            .find_map(|o| match o {
                Out::Sanity(r) => Some(r),
                _ => None,
            })
            .expect("reports");
        assert_eq!((last.done, last.total, last.steps.len()), (2, 2, 1));
        assert_eq!(last.steps[0].node, "c");
        assert!(!l.busy());
        // a new unit stops a running check
        assert!(l.start_sanity(&net).is_some());
        assert!(l.busy());
        l.reset(BackMode::Off, opts(), true);
        assert!(!l.busy());
    }
}
