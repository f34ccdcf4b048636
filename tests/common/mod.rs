//! What the window's kittest tests share: drawing the window until something holds, the shared
//! photos as sources, and SqueezeNet's worker on one of them.

#![allow(dead_code)] // not every test binary uses every helper

use std::time::{Duration, Instant};

use deepvis_engine::{EngineConfig, ModelLoader};
use deepvis_protocol::SourceSpec;
use deepvis_testdata::shared;
use deepvis_ui::DeepvisApp;
use egui_kittest::Harness;

/// Draws the window until `done` holds of it (the worker runs meanwhile), at most `secs` s.
pub fn until(
    h: &mut Harness<'static, DeepvisApp>,
    secs: u64,
    what: &str,
    done: impl Fn(&DeepvisApp) -> bool,
) {
    let t0 = Instant::now();
    while !done(h.state()) {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "no {what} after {secs} s; messages: {:?}",
            h.state().messages
        );
        std::thread::sleep(Duration::from_millis(30));
        h.run_steps(1);
    }
    h.run_steps(2);
}

/// A shared photo as the source.
pub fn photo(name: &str) -> SourceSpec {
    SourceSpec::Path(shared().join("images").join(name))
}

/// SqueezeNet's worker on the CPU on the photo `name`, the grid on `layer`, the optimizer
/// paused.
pub fn squeezenet(name: &str, layer: &str) -> EngineConfig {
    let mut c = EngineConfig::new(
        ModelLoader::builtin(
            deepvis_model::Arch::SqueezeNet1_0,
            deepvis_testdata::shared_file("weights/squeezenet1_0/squeezenet1_0.safetensors"),
        ),
        photo(name),
    );
    c.backend = deepvis_model::BackendChoice::Cpu;
    c.grid_layer = Some(layer.into());
    c.running = false;
    c
}
