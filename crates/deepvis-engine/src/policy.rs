//! The worker's decisions as plain state machines and functions, driven by the tests without a
//! thread, a device or a model: a run's [`Policy`] (which objective a run starts with, the
//! automatic switch to the pre-ReLU value when the unit is silent and back once it comes alive,
//! the one fallback to the current frame, when a stop is reported); what new settings do to
//! the runs under way ([`retune`]); whether a crashed worker restarts ([`CrashPolicy`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use deepvis_protocol::{
    MethodKind, OptimSettings, OptimView, PreReluMode, RunMode, StartFrom, StopReason,
};

/// What a run's settings and its layer allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The pre-ReLU setting.
    pub pre_relu: PreReluMode,
    /// Where the run's image starts (the current frame only when there is one).
    pub start: StartFrom,
    /// Whether the unit's layer has a pre-ReLU value (a pooling layer has none).
    pub has_pre: bool,
}

/// What the worker must do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Go on.
    Continue,
    /// Optimize the pre-ReLU (true) or post-ReLU (false) value from here on, in the same run:
    /// its iteration count, plot, blur schedule and budget go on.
    Objective(bool),
    /// Take the current frame as the run's image and go on.
    StartFromFrame,
    /// Report this stop (once per run).
    Report(StopReason),
}

/// One run's policy.
#[derive(Clone, Debug)]
pub struct Policy {
    setup: Setup,
    mode: RunMode,
    /// The objective is the pre-ReLU value because the unit was silent.
    silent_pre: bool,
    /// The fallback to the frame was taken (once: a unit silent there too stops).
    frame_tried: bool,
    reported: bool,
    steps: usize,
}

impl Policy {
    /// A new run: the pre-ReLU objective only when asked for and the layer has one.
    pub fn new(setup: Setup) -> Policy {
        Policy {
            setup,
            mode: RunMode::Asked {
                pre_relu: setup.pre_relu == PreReluMode::On && setup.has_pre,
                start: setup.start,
            },
            silent_pre: false,
            frame_tried: false,
            reported: false,
            steps: 0,
        }
    }

    /// Whether the run starts with the pre-ReLU objective.
    pub fn pre_relu(&self) -> bool {
        matches!(self.mode, RunMode::Asked { pre_relu: true, .. })
    }

    /// The objective in use and why.
    pub fn mode(&self) -> RunMode {
        self.mode
    }

    /// Steps done.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// New settings resumed a stopped run: its next stop is reported again.
    pub fn resumed(&mut self) {
        self.reported = false;
    }

    /// One step done, after which the unit's post-ReLU activation is `act`.
    pub fn stepped(&mut self, act: f32) -> Action {
        self.steps += 1;
        if self.silent_pre && act > 0.0 {
            // alive: back to the paper's objective
            self.silent_pre = false;
            self.mode = RunMode::AliveAt {
                step: self.steps,
                start: self.setup.start,
            };
            return Action::Objective(false);
        }
        Action::Continue
    }

    /// The optimizer's state after a burst of steps: stopped or not, and whether a frame is
    /// there to fall back to.
    pub fn status(&mut self, stop: Option<StopReason>, has_frame: bool) -> Action {
        let Some(reason) = stop else {
            return Action::Continue;
        };
        let auto = self.setup.pre_relu == PreReluMode::Auto;
        if reason == StopReason::ZeroGrad && auto && !self.silent_pre {
            if self.setup.has_pre {
                self.silent_pre = true;
                self.mode = RunMode::SilentPre {
                    start: self.setup.start,
                };
                return Action::Objective(true);
            }
            if has_frame && self.setup.start == StartFrom::Noise && !self.frame_tried {
                self.frame_tried = true;
                self.mode = RunMode::FrameFallback;
                return Action::StartFromFrame;
            }
        }
        if self.reported {
            return Action::Continue;
        }
        self.reported = true;
        Action::Report(reason)
    }
}

/// What new preferred-image settings do to the runs under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retune {
    /// Start them over: the objective, the start, the view or the runs shown changed.
    Restart,
    /// Keep them and resume them (a stopped run goes on with the new settings).
    Keep {
        /// The run shown at this place takes the new parameters (`None`: none does, the
        /// presets keep theirs).
        tune: Option<usize>,
        /// It takes the new method too (its knobs changed).
        method: bool,
    },
}

/// What changing the settings from `old` to `new` does to the runs: the run being tuned is the
/// only one outside the comparisons, the method's own among the methods compared.
pub fn retune(old: &OptimSettings, new: &OptimSettings) -> Retune {
    let diversity = new.view == OptimView::Diversity
        && (old.diversity != new.diversity || old.diversity_weight != new.diversity_weight);
    let methods = new.view != OptimView::Single && old.method.kind() != new.method.kind();
    let objective = old.suppress != new.suppress
        || old.pre_relu != new.pre_relu
        || old.direction_at != new.direction_at;
    if objective || old.start != new.start || old.view != new.view || diversity || methods {
        return Retune::Restart;
    }
    let tune = match new.view {
        OptimView::ComparePresets => None,
        OptimView::CompareMethods => Some(
            MethodKind::ALL
                .iter()
                .position(|&k| k == new.method.kind())
                .unwrap_or(0),
        ),
        OptimView::Single | OptimView::Diversity => Some(0),
    };
    Retune::Keep {
        tune,
        method: old.method != new.method,
    }
}

/// Crashes within [`CRASH_WINDOW`] after which the worker pauses instead of restarting.
pub const CRASH_LIMIT: usize = 5;
/// The window crashes are counted in.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// Whether a crashed worker restarts: yes, unless it crashed more than `limit` times within
/// `window` (then restarting is not helping, and it waits to be asked).
#[derive(Debug)]
pub struct CrashPolicy {
    limit: usize,
    window: Duration,
    recent: VecDeque<Instant>,
    total: u32,
}

impl CrashPolicy {
    /// A policy allowing `limit` crashes within `window`.
    pub fn new(limit: usize, window: Duration) -> CrashPolicy {
        CrashPolicy {
            limit,
            window,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// Records a crash at `now`; whether the worker should restart.
    pub fn crashed(&mut self, now: Instant) -> bool {
        self.total += 1;
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.recent.pop_front();
        }
        self.recent.len() <= self.limit
    }

    /// Crashes within the window.
    pub fn recent(&self) -> usize {
        self.recent.len()
    }

    /// Crashes in all.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// The user asked for a restart: the window starts empty.
    pub fn forgive(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(pre_relu: PreReluMode, has_pre: bool) -> Setup {
        Setup {
            pre_relu,
            start: StartFrom::Noise,
            has_pre,
        }
    }

    #[test]
    fn a_silent_unit_switches_to_pre_relu_in_the_same_run_and_back_once_alive() {
        let mut p = Policy::new(setup(PreReluMode::Auto, true));
        assert!(!p.pre_relu());
        assert_eq!(p.stepped(0.0), Action::Continue);
        assert_eq!(
            p.status(Some(StopReason::ZeroGrad), true),
            Action::Objective(true)
        );
        assert_eq!(
            p.mode(),
            RunMode::SilentPre {
                start: StartFrom::Noise
            }
        );
        // the steps go on counting (defect 1: the switch restarted them)
        assert_eq!(p.stepped(0.0), Action::Continue);
        assert_eq!(p.stepped(0.5), Action::Objective(false));
        assert_eq!(p.steps(), 3);
        assert_eq!(
            p.mode(),
            RunMode::AliveAt {
                step: 3,
                start: StartFrom::Noise
            }
        );
        // no stop, nothing to report
        assert_eq!(p.status(None, true), Action::Continue);
        assert_eq!(
            p.status(Some(StopReason::MaxIter), true),
            Action::Report(StopReason::MaxIter)
        );
        assert_eq!(p.status(Some(StopReason::MaxIter), true), Action::Continue);
        // new settings resume it: the next stop is news again
        p.resumed();
        assert_eq!(
            p.status(Some(StopReason::MaxIter), true),
            Action::Report(StopReason::MaxIter)
        );
    }

    #[test]
    fn a_layer_without_pre_relu_falls_back_to_the_frame_once_then_reports() {
        // defect 2: a pooling unit silent on noise and on the frame
        let mut p = Policy::new(setup(PreReluMode::Auto, false));
        assert_eq!(
            p.status(Some(StopReason::ZeroGrad), true),
            Action::StartFromFrame
        );
        assert_eq!(p.mode(), RunMode::FrameFallback);
        assert_eq!(
            p.status(Some(StopReason::ZeroGrad), true),
            Action::Report(StopReason::ZeroGrad)
        );
        assert_eq!(p.status(Some(StopReason::ZeroGrad), true), Action::Continue);
        // with no frame yet there is nothing to fall back to
        let mut p = Policy::new(setup(PreReluMode::Auto, false));
        assert_eq!(
            p.status(Some(StopReason::ZeroGrad), false),
            Action::Report(StopReason::ZeroGrad)
        );
    }

    #[test]
    fn asked_objectives_never_switch() {
        let mut p = Policy::new(setup(PreReluMode::On, true));
        assert!(p.pre_relu());
        let mut off = Policy::new(setup(PreReluMode::Off, true));
        assert!(!off.pre_relu());
        assert_eq!(
            off.status(Some(StopReason::ZeroGrad), true),
            Action::Report(StopReason::ZeroGrad)
        );
        // asked for pre-ReLU on a layer without one: the post-ReLU value
        assert!(!Policy::new(setup(PreReluMode::On, false)).pre_relu());
        assert_eq!(
            p.status(Some(StopReason::NonFinite), true),
            Action::Report(StopReason::NonFinite)
        );
    }

    #[test]
    fn new_settings_restart_the_runs_only_when_what_they_optimize_changes() {
        use deepvis_protocol::Method;
        let base = OptimSettings::default();
        let with = |f: &dyn Fn(&mut OptimSettings)| {
            let mut o = base;
            f(&mut o);
            o
        };
        // a knob: the run goes on with it
        let lr = with(&|o| o.params.lr *= 2.0);
        assert_eq!(
            retune(&base, &lr),
            Retune::Keep {
                tune: Some(0),
                method: false
            }
        );
        // each of these changes what is optimized, or where from
        let restarts: [&dyn Fn(&mut OptimSettings); 5] = [
            &|o| o.suppress = true,
            &|o| o.pre_relu = PreReluMode::On,
            &|o| o.start = StartFrom::Frame,
            &|o| o.view = OptimView::ComparePresets,
            &|o| o.direction_at = Some((1, 2)),
        ];
        for (i, f) in restarts.iter().enumerate() {
            assert_eq!(retune(&base, &with(f)), Retune::Restart, "change {i}");
        }
        // one method's knobs tune its run; another method in the single view retunes it
        let fourier = with(&|o| o.method = MethodKind::Fourier.method());
        assert_eq!(
            retune(&base, &fourier),
            Retune::Keep {
                tune: Some(0),
                method: true
            }
        );
        // diversity: the count and weight restart it, only in its own view
        let div = with(&|o| o.view = OptimView::Diversity);
        let more = OptimSettings {
            diversity: 6,
            ..div
        };
        assert_eq!(retune(&div, &more), Retune::Restart);
        let single_more = OptimSettings {
            diversity: 6,
            ..base
        };
        assert!(matches!(retune(&base, &single_more), Retune::Keep { .. }));
        // compared methods: another method restarts, a knob tunes that method's run
        let cmp = with(&|o| o.view = OptimView::CompareMethods);
        let cmp_fourier = OptimSettings {
            method: MethodKind::Fourier.method(),
            ..cmp
        };
        assert_eq!(retune(&cmp, &cmp_fourier), Retune::Restart);
        let mut tuned = cmp_fourier;
        tuned.params.lr *= 2.0;
        let at = MethodKind::ALL
            .iter()
            .position(|&k| k == MethodKind::Fourier);
        assert_eq!(
            retune(&cmp_fourier, &tuned),
            Retune::Keep {
                tune: at,
                method: false
            }
        );
        // the presets compared keep their own knobs
        let presets = with(&|o| o.view = OptimView::ComparePresets);
        let mut p2 = presets;
        p2.params.lr *= 2.0;
        assert_eq!(
            retune(&presets, &p2),
            Retune::Keep {
                tune: None,
                method: false
            }
        );
        assert_eq!(base.method, Method::PAPER);
    }

    #[test]
    fn crashes_restart_the_worker_until_too_many_come_within_the_window() {
        let mut p = CrashPolicy::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // spread out, any number of crashes restart (the old counter stopped at 21)
        for k in 0..30 {
            assert!(p.crashed(at(k * 61)), "crash {k}");
        }
        assert_eq!((p.total(), p.recent()), (30, 1));
        // four within a minute pause it
        let mut q = CrashPolicy::new(3, Duration::from_secs(60));
        assert!(q.crashed(at(0)) && q.crashed(at(10)) && q.crashed(at(20)));
        assert!(!q.crashed(at(30)));
        assert_eq!(q.recent(), 4);
        // asked to restart: a fresh window
        q.forgive();
        assert!(q.crashed(at(31)));
        // old crashes leave the window: at 100 s the crash at 31 s is gone
        assert!(q.crashed(at(100)) && q.crashed(at(101)));
        assert_eq!(q.recent(), 2);
    }
}
