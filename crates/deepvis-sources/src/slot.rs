//! A one-frame mailbox: the newest frame replaces an unprocessed older one.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::Frame;

/// A bounded channel of capacity one where `put` replaces the waiting frame, so a slow
/// consumer always gets the newest frame and never a growing queue.
#[derive(Clone)]
pub struct FrameSlot {
    tx: Sender<Frame>,
    rx: Receiver<Frame>,
}

impl Default for FrameSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameSlot {
    /// An empty slot.
    pub fn new() -> FrameSlot {
        let (tx, rx) = crossbeam_channel::bounded(1);
        FrameSlot { tx, rx }
    }

    /// Puts a frame, dropping the one waiting if any.
    pub fn put(&self, frame: Frame) {
        let mut frame = frame;
        loop {
            match self.tx.try_send(frame) {
                Ok(()) => return,
                Err(TrySendError::Full(f)) => {
                    let _ = self.rx.try_recv();
                    frame = f;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// Takes the waiting frame, if any.
    pub fn take(&self) -> Option<Frame> {
        self.rx.try_recv().ok()
    }

    /// How many frames wait (0 or 1).
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_frame_replaces_older_ones() {
        let slot = FrameSlot::new();
        for seq in 0..10_000u64 {
            slot.put(Frame {
                image: image::RgbImage::new(2, 2),
                seq,
                label: String::new(),
            });
            assert!(slot.len() <= 1);
        }
        assert_eq!(slot.take().map(|f| f.seq), Some(9_999));
        assert!(slot.take().is_none());
    }
}
