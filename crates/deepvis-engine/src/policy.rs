//! The preferred image's policy as a plain state machine: which objective a run starts with,
//! the automatic switch to the pre-ReLU value when the unit is silent (and back once it comes
//! alive), the one fallback to the current frame, and when a stop is reported. The worker feeds
//! it what the optimizer says and does what it returns; the tests drive it without a thread,
//! a device or a model.

use deepvis_protocol::{PreReluMode, RunMode, StartFrom, StopReason};

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
}
