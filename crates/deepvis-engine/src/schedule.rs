//! How the worker shares its time, as plain structs the tests drive without a thread: the
//! [`Scheduler`] decides when an attribution turn runs and how long the optimizer may step
//! after a frame; the [`Handover`] follows the GPU warming up beside the CPU and says when the
//! worker moves to it (or stays on the CPU, and why).

use std::time::{Duration, Instant};

use crate::error::EngineError;

/// An attribution turn waits at least this many times its own cost after the last one, so that
/// on a slow device it takes at most a third of the worker's time and the grid stays live.
pub const BACK_SPACING: u32 = 2;

/// How long the optimizer steps when no frame or attribution took the worker's time.
pub const IDLE_BUDGET: Duration = Duration::from_millis(50);

/// When each kind of work runs.
#[derive(Clone, Debug)]
pub struct Scheduler {
    /// The selection or the attribution settings changed: the pane's turn runs at once.
    forced: bool,
    /// When the next unforced attribution turn may start.
    next: Instant,
}

impl Scheduler {
    /// A scheduler whose first attribution turn may run at once.
    pub fn new(now: Instant) -> Scheduler {
        Scheduler {
            forced: false,
            next: now,
        }
    }

    /// Something the attribution pane shows changed: its next turn runs without waiting.
    pub fn force(&mut self) {
        self.forced = true;
    }

    /// Whether an attribution turn runs now (`busy`: the lanes have work).
    pub fn attribution_due(&self, busy: bool, now: Instant) -> bool {
        busy && (self.forced || now >= self.next)
    }

    /// An attribution turn that started at `started` ended at `now`; `main_due`: the pane's
    /// own lane still has a turn owed (a forced turn is the pane's, the others wait theirs).
    pub fn attribution_done(&mut self, started: Instant, now: Instant, main_due: bool) {
        self.forced = main_due;
        self.next = now + now.saturating_duration_since(started) * BACK_SPACING;
    }

    /// How long the optimizer may step: its `share` (0.05..0.95) of the worker's time against
    /// the `busy` time a frame and an attribution turn just took, or [`IDLE_BUDGET`] when
    /// nothing else ran. A NaN share counts as a half.
    pub fn optimizer_budget(share: f32, busy: Option<Duration>) -> Duration {
        let share = if share.is_nan() {
            0.5
        } else {
            share.clamp(0.05, 0.95)
        };
        match busy {
            Some(t) => t.mul_f32(share / (1.0 - share)),
            None => IDLE_BUDGET,
        }
    }
}

/// What became of the GPU warming up beside the CPU.
#[derive(Debug)]
pub enum Handover<T> {
    /// Still loading and compiling.
    Waiting,
    /// Ready: move the network, the optimizer and the projections to it.
    Switch(T),
    /// It failed: stay on the CPU, and say why ([`EngineError::Gpu`]).
    Stay(EngineError),
}

impl<T> Handover<T> {
    /// The hand-over for what the warm-up thread's channel holds: a network, its error, or
    /// nothing yet (`Ok(None)`); `Err(())` when the thread ended without a word.
    pub fn from_channel(got: Result<Option<Result<T, EngineError>>, ()>) -> Handover<T> {
        match got {
            Ok(None) => Handover::Waiting,
            Ok(Some(Ok(net))) => Handover::Switch(net),
            Ok(Some(Err(e))) => Handover::Stay(EngineError::Gpu(Box::new(e))),
            Err(()) => Handover::Stay(EngineError::Gpu(Box::new(EngineError::GpuCrashed))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribution_turns_are_spaced_by_their_cost_unless_forced() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut s = Scheduler::new(t0);
        assert!(s.attribution_due(true, t0));
        assert!(!s.attribution_due(false, t0), "no work, no turn");
        // a 100 ms turn: the next waits 200 ms after it
        s.attribution_done(t0, ms(100), false);
        assert!(!s.attribution_due(true, ms(250)));
        assert!(s.attribution_due(true, ms(300)));
        // a change forces the next turn at once, and a pane still owed a turn keeps it forced
        s.force();
        assert!(s.attribution_due(true, ms(110)));
        s.attribution_done(ms(110), ms(120), true);
        assert!(s.attribution_due(true, ms(121)));
        s.attribution_done(ms(121), ms(131), false);
        assert!(!s.attribution_due(true, ms(140)));
    }

    #[test]
    fn the_optimizer_gets_its_share_of_the_busy_time() {
        let busy = Some(Duration::from_millis(90));
        let ms = |share: f32| Scheduler::optimizer_budget(share, busy).as_secs_f64() * 1e3;
        let near = |a: f64, b: f64| (a - b).abs() < 1e-3;
        assert!(near(ms(0.5), 90.0), "{}", ms(0.5));
        assert!(near(ms(0.25), 30.0), "{}", ms(0.25));
        // out-of-range and NaN shares are held to 5-95% and a half
        assert!(near(ms(2.0), 90.0 * 19.0), "{}", ms(2.0));
        assert!(near(ms(-1.0), 90.0 / 19.0), "{}", ms(-1.0));
        assert!(near(ms(f32::NAN), 90.0), "{}", ms(f32::NAN));
        assert_eq!(Scheduler::optimizer_budget(0.5, None), IDLE_BUDGET);
    }

    #[test]
    fn the_gpu_hand_over_switches_once_ready_and_stays_on_a_failure() {
        use deepvis_protocol::{Doing, ErrorKind};
        assert!(matches!(
            Handover::<u8>::from_channel(Ok(None)),
            Handover::Waiting
        ));
        assert!(matches!(
            Handover::from_channel(Ok(Some(Ok(7u8)))),
            Handover::Switch(7)
        ));
        let failed = EngineError::Load("no adapter".into());
        match Handover::<u8>::from_channel(Ok(Some(Err(failed)))) {
            Handover::Stay(e) => {
                let f = e.failure(Doing::MoveToGpu);
                assert_eq!(f.kind, ErrorKind::Device);
                assert!(f.message.contains("no adapter"), "{f:?}");
            }
            other => panic!("{other:?}"),
        }
        match Handover::<u8>::from_channel(Err(())) {
            Handover::Stay(e) => assert!(e.to_string().contains("crashed"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
