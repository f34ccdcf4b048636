//! The source stage: owns the source thread and its frame slot, the freeze, the player and the
//! source's own recording, and says how the source stands.

use std::path::PathBuf;

use deepvis_protocol::{
    Command, Doing, Event, PlayerCommand, RecordTarget, SourceSpec, SourceState,
};
use deepvis_sources::{FrameSlot, SourceCommand, SourceStatus, SourceThread};
use image::RgbImage;

use crate::Wake;
use crate::error::{EngineError, Result};
use crate::stage::{Cx, Ripple, Took};

/// The source stage.
pub(crate) struct SourceStage {
    thread: Option<SourceThread>,
    slot: FrameSlot,
    wake: Wake,
    /// New frames are not taken.
    frozen: bool,
    /// A frozen input takes the next frame anyway (a video stepped or sought while paused).
    take_one: bool,
}

impl SourceStage {
    /// Starts taking frames from `spec`.
    pub fn new(spec: SourceSpec, frozen: bool, wake: &Wake) -> SourceStage {
        let slot = FrameSlot::new();
        SourceStage {
            thread: Some(SourceThread::spawn(spec, slot.clone(), wake.clone())),
            slot,
            wake: wake.clone(),
            frozen,
            take_one: false,
        }
    }

    /// Carries out a command for the source: what frames come from, the freeze, the player,
    /// the source's recording; any other is passed on.
    pub fn command(&mut self, c: Command, cx: &mut Cx) -> Took {
        match c {
            Command::SetSource(spec) => {
                cx.keep.update(|s| s.source = spec.clone());
                let events = self.set(spec);
                cx.out.send_all(events);
            }
            Command::Freeze(f) => {
                cx.keep.update(|s| s.frozen = f);
                self.freeze(f);
            }
            Command::Player(p) => self.player(p),
            Command::StepFile(d) => self.step_file(d),
            Command::Record {
                what: RecordTarget::Source,
                path,
            } => {
                if let Err(e) = self.record(path) {
                    cx.out.fail(Doing::Record, &e);
                }
            }
            other => return Took::Passed(other),
        }
        Took::Done(Ripple::NONE)
    }

    /// Takes frames from `spec` instead: the old source's last words, then the new one's.
    pub fn set(&mut self, spec: SourceSpec) -> Vec<Event> {
        let mut events: Vec<Event> = match self.thread.take() {
            Some(old) => old.stop().into_iter().map(event).collect(),
            None => Vec::new(),
        };
        events.push(Event::Playback(None));
        let s = SourceThread::spawn(spec, self.slot.clone(), self.wake.clone());
        s.command(SourceCommand::Pause(self.frozen));
        self.thread = Some(s);
        events
    }

    /// Stops taking new frames (a clip pauses where it is; a camera goes on, its frames are
    /// not taken), or takes them again.
    pub fn freeze(&mut self, frozen: bool) {
        self.frozen = frozen;
        self.tell(SourceCommand::Pause(frozen));
    }

    /// Controls a clip; its next frame is taken even when frozen.
    pub fn player(&mut self, c: PlayerCommand) {
        if self.thread.is_some() {
            self.tell(SourceCommand::Player(c));
            self.take_one = true;
        }
    }

    /// Steps a folder by `d` files.
    pub fn step_file(&self, d: i32) {
        self.tell(SourceCommand::Step(d));
    }

    /// Records the source's own frames into `path` (or stops).
    pub fn record(&self, path: Option<PathBuf>) -> Result<()> {
        match &self.thread {
            Some(s) => {
                s.command(SourceCommand::Record(path));
                Ok(())
            }
            None => Err(EngineError::NoSource),
        }
    }

    /// What the source reported since the last call.
    pub fn statuses(&self) -> Vec<Event> {
        match &self.thread {
            Some(s) => s.statuses().into_iter().map(event).collect(),
            None => Vec::new(),
        }
    }

    /// The newest frame, unless frozen.
    pub fn take(&mut self) -> Option<RgbImage> {
        if self.frozen && !self.take_one {
            return None;
        }
        let f = self.slot.take()?;
        self.take_one = false;
        Some(f.image)
    }

    /// Passes a command to the source thread, when there is one.
    fn tell(&self, c: SourceCommand) {
        if let Some(s) = &self.thread {
            s.command(c);
        }
    }
}

/// What the window hears of the source thread's report.
fn event(st: SourceStatus) -> Event {
    match st {
        SourceStatus::Running { label } => Event::Source {
            label,
            state: SourceState::Running,
        },
        SourceStatus::Failed { label, error } => Event::Source {
            label,
            state: SourceState::Failed {
                error,
                retry_secs: deepvis_sources::RETRY_EVERY.as_secs() as u32,
            },
        },
        SourceStatus::Notice { label, message } => Event::Source {
            label,
            state: SourceState::Notice(message),
        },
        SourceStatus::Playback(p) => Event::Playback(p),
        SourceStatus::Recording(status) => Event::Recording {
            what: RecordTarget::Source,
            status,
        },
    }
}
