//! The worker-to-window event queue: every event in order, except that the pictures and other
//! latest-state events (the input, the grid, the unit map, the attribution maps, the preferred
//! image, the predictions, progress and statistics) keep only their newest value while the
//! window is not reading (minimised, say), like the frame slot does. The queue's memory stays
//! bounded by one of each however long the window sleeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::{BackMode, Event};

/// Slots: input, grid, unit map, back, session, preferred, predictions, stats, back progress,
/// compare progress, sanity, and one per compared method.
const SLOTS: usize = 11 + BackMode::METHODS.len();

/// The slot an event keeps its newest value in, if it is a latest-state event.
fn slot(e: &Event) -> Option<usize> {
    let method = |m: &BackMode| BackMode::METHODS.iter().position(|x| x == m);
    match e {
        Event::Input(_) => Some(0),
        Event::Grid { .. } => Some(1),
        Event::UnitMap(_) => Some(2),
        Event::Back { .. } => Some(3),
        Event::SessionTop { .. } => Some(4),
        Event::Preferred { .. } => Some(5),
        Event::Predictions(_) => Some(6),
        Event::Stats { .. } => Some(7),
        Event::BackProgress { compare: false, .. } => Some(8),
        Event::BackProgress { compare: true, .. } => Some(9),
        Event::Sanity(_) => Some(10),
        Event::Compare { info, .. } => method(&info.method).map(|i| 11 + i),
        _ => None,
    }
}

enum Msg {
    Event(Box<Event>),
    /// Slot `k` was filled while empty: its value is read here, in order.
    Slot(usize),
}

type Slots = Arc<[Mutex<Option<Event>>; SLOTS]>;

fn slots() -> Slots {
    Arc::new(std::array::from_fn(|_| Mutex::new(None)))
}

fn take(slots: &Slots, k: usize) -> Option<Event> {
    match slots[k].lock() {
        Ok(mut g) => g.take(),
        Err(p) => p.into_inner().take(),
    }
}

/// The sending end (the worker's).
#[derive(Clone)]
pub struct Outbox {
    tx: Sender<Msg>,
    slots: Slots,
}

/// The receiving end (the window's).
#[derive(Clone)]
pub struct Inbox {
    rx: Receiver<Msg>,
    slots: Slots,
}

/// The window is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

/// A connected pair.
pub fn queue() -> (Outbox, Inbox) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let slots = slots();
    (
        Outbox {
            tx,
            slots: slots.clone(),
        },
        Inbox { rx, slots },
    )
}

impl Outbox {
    /// Sends an event; a latest-state event replaces one of its kind not read yet.
    pub fn send(&self, e: Event) -> Result<(), Disconnected> {
        let Some(k) = slot(&e) else {
            return self
                .tx
                .send(Msg::Event(Box::new(e)))
                .map_err(|_| Disconnected);
        };
        let was_empty = {
            let mut g = match self.slots[k].lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let empty = g.is_none();
            *g = Some(e);
            empty
        };
        match was_empty {
            true => self.tx.send(Msg::Slot(k)).map_err(|_| Disconnected),
            false => Ok(()),
        }
    }

    /// Messages waiting (at most one per latest-state kind, plus the other events).
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl Inbox {
    /// Messages waiting (at most one per latest-state kind, plus the other events).
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The next event, if one waits.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        loop {
            match self.rx.try_recv()? {
                Msg::Event(e) => return Ok(*e),
                Msg::Slot(k) => {
                    if let Some(e) = take(&self.slots, k) {
                        return Ok(e);
                    }
                }
            }
        }
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let end = std::time::Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left)? {
                Msg::Event(e) => return Ok(*e),
                Msg::Slot(k) => {
                    if let Some(e) = take(&self.slots, k) {
                        return Ok(e);
                    }
                }
            }
        }
    }
}
