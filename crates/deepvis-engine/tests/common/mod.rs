//! What the worker's tests share: the shared SqueezeNet weights and an event collector.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use deepvis_engine::EngineHandle;
use deepvis_protocol::Event;

/// The decoded SqueezeNet weights of `../shared`.
#[allow(dead_code)] // not every test target loads SqueezeNet
pub fn weights() -> PathBuf {
    deepvis_testdata::shared_file("weights/squeezenet1_0/squeezenet1_0.safetensors")
}

/// Collects events until `done` says so or `limit` passes.
pub fn collect(
    h: &EngineHandle,
    limit: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    while t0.elapsed() < limit {
        if let Ok(e) = h.events.recv_timeout(Duration::from_millis(100)) {
            let stop = done(&e);
            out.push(e);
            if stop {
                break;
            }
        }
    }
    out
}

/// Waits for an error event whose message holds `text` (at most 30 s), and fails without one.
#[allow(dead_code)] // not every test target checks errors
pub fn error_with(h: &EngineHandle, text: &str) {
    let e = collect(
        h,
        Duration::from_secs(30),
        |e| matches!(e, Event::Error(f) if f.message.contains(text)),
    );
    assert!(
        e.iter()
            .any(|e| matches!(e, Event::Error(f) if f.message.contains(text))),
        "no error with {text:?}: {e:?}"
    );
}
