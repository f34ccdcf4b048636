//! Where the worker's events go: the window's queue, the window recording (it sees every event
//! and records the pictures), and the wake that repaints the window.

use std::path::PathBuf;

use deepvis_protocol::{Doing, Event, Outbox, RecordTarget};

use crate::Wake;
use crate::error::EngineError;
use crate::tape::Tape;

/// Where events go: the window's queue, the window recording (it sees every event), the wake.
pub(crate) struct Outlet<'a> {
    events: &'a Outbox,
    wake: &'a Wake,
    tape: Tape,
}

impl<'a> Outlet<'a> {
    /// Events to `events`, `wake` called after each.
    pub fn new(events: &'a Outbox, wake: &'a Wake) -> Outlet<'a> {
        Outlet {
            events,
            wake,
            tape: Tape::default(),
        }
    }

    /// Sends an event (the window recording sees it first).
    pub fn send(&mut self, e: Event) {
        let status = match self.tape.running() {
            true => self.tape.observe(&e),
            false => None,
        };
        let _ = self.events.send(e);
        if let Some(status) = status {
            let _ = self.events.send(Event::Recording {
                what: RecordTarget::Window,
                status,
            });
        }
        (self.wake)();
    }

    /// Sends events in order.
    pub fn send_all(&mut self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.send(e);
        }
    }

    /// Tells the window what went wrong while `doing` this.
    pub fn fail(&mut self, doing: Doing, e: &EngineError) {
        self.send(e.event(doing));
    }

    /// Starts recording the window into `path` (a recording under way is closed first), or
    /// stops.
    pub fn record(&mut self, path: Option<PathBuf>) {
        if let Some(status) = self.tape.stop() {
            self.send(Event::Recording {
                what: RecordTarget::Window,
                status,
            });
        }
        if let Some(p) = path {
            self.tape.start(&p);
        }
    }
}
