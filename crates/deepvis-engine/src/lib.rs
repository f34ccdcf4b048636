//! The worker: one thread owns the device, the network and the optimizer; it takes the newest
//! frame, computes the grid, the selected unit and the predictions, and steps the preferred
//! image, speaking [`Command`] and [`Event`] with the UI. A panic in it is reported and the
//! worker restarts with the same settings.

mod attr;
mod worker;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burn::prelude::Device;
use crossbeam_channel::{Receiver, Sender};
use deepvis_model::{Arch, BackendChoice, Net};
pub use deepvis_protocol::{BackSettings, Command, Event, OptimSettings, SourceSpec};

/// Builds a network on a device.
type LoadFn = dyn Fn(&Device) -> Result<Net, String> + Send + Sync;
/// Reads and checks a model file.
type OpenFn = dyn Fn(&std::path::Path) -> Result<ModelLoader, String> + Send + Sync;

/// How the worker gets its network on a device: a name for messages and a loader (a built-in
/// architecture with a weights file, or any closure: an ONNX file, a test's graph).
#[derive(Clone)]
pub struct ModelLoader {
    /// The model's name (`squeezenet1_0`, a file name).
    pub name: String,
    load: Arc<LoadFn>,
}

impl ModelLoader {
    /// A built-in architecture with its weights file.
    pub fn builtin(arch: Arch, weights: PathBuf) -> ModelLoader {
        ModelLoader::new(arch.name(), move |device| {
            Net::load(arch, &weights, device).map_err(|e| format!("{}: {e}", weights.display()))
        })
    }

    /// Any loader.
    pub fn new(
        name: &str,
        load: impl Fn(&Device) -> Result<Net, String> + Send + Sync + 'static,
    ) -> ModelLoader {
        ModelLoader {
            name: name.to_string(),
            load: Arc::new(load),
        }
    }

    /// Loads the network on `device`.
    pub fn load(&self, device: &Device) -> Result<Net, String> {
        (self.load)(device)
    }
}

impl std::fmt::Debug for ModelLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelLoader({})", self.name)
    }
}

/// Turns a model file (`Command::OpenModel`) into a loader, checking it; the binary gives
/// one that reads ONNX files.
#[derive(Clone)]
pub struct ModelOpener(Arc<OpenFn>);

impl ModelOpener {
    /// An opener.
    pub fn new(
        f: impl Fn(&std::path::Path) -> Result<ModelLoader, String> + Send + Sync + 'static,
    ) -> ModelOpener {
        ModelOpener(Arc::new(f))
    }

    /// Reads and checks a model file.
    pub fn open(&self, path: &std::path::Path) -> Result<ModelLoader, String> {
        (self.0)(path)
    }
}

impl std::fmt::Debug for ModelOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelOpener")
    }
}

/// What the worker starts with (and restarts with after a crash, updated by commands).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The network.
    pub model: ModelLoader,
    /// How `Command::OpenModel` reads a file (`None`: the command is refused).
    pub opener: Option<ModelOpener>,
    /// Where it runs.
    pub backend: BackendChoice,
    /// Where frames come from.
    pub source: SourceSpec,
    /// The layer of the grid (`None`: the architecture's default).
    pub grid_layer: Option<String>,
    /// The selected channel.
    pub selected: Option<usize>,
    /// Preferred-image settings.
    pub optim: OptimSettings,
    /// Whether the preferred image runs.
    pub running: bool,
    /// Whether new frames are ignored.
    pub frozen: bool,
    /// Fraction of the worker's time given to the optimizer while frames arrive (0..1).
    pub optim_share: f32,
    /// How the selected unit is projected back onto the input.
    pub back: BackSettings,
}

impl EngineConfig {
    /// Defaults for `model`, on the CPU, from `source`.
    pub fn new(model: ModelLoader, source: SourceSpec) -> EngineConfig {
        EngineConfig {
            model,
            opener: None,
            backend: BackendChoice::Auto,
            source,
            grid_layer: None,
            selected: None,
            optim: OptimSettings::default(),
            running: true,
            frozen: false,
            optim_share: 0.5,
            back: BackSettings::default(),
        }
    }
}

/// The UI's side of a running worker.
pub struct EngineHandle {
    /// Commands to the worker.
    pub commands: Sender<Command>,
    /// Events from the worker.
    pub events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl EngineHandle {
    /// Sends a command (a worker that has ended ignores it).
    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    /// Asks the worker to stop and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How the worker body ended.
pub(crate) enum Exit {
    /// Asked to stop.
    Shutdown,
    /// It cannot run (no weights, no device): reported, not restarted.
    Fatal(String),
    /// Its network was replaced (`Command::OpenModel`): start again with the new one.
    Reload,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Starts the worker thread. `wake` is called after events are sent (the UI's
/// `request_repaint`).
pub fn spawn(config: EngineConfig, wake: Arc<dyn Fn() + Send + Sync>) -> EngineHandle {
    let (ctx, crx) = crossbeam_channel::unbounded::<Command>();
    let (etx, erx) = crossbeam_channel::unbounded::<Event>();
    let state = Arc::new(Mutex::new(config));
    let thread = std::thread::Builder::new()
        .name("deepvis-worker".into())
        .spawn(move || {
            let mut restarts = 0u32;
            loop {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    worker::run(&state, &crx, &etx, &wake)
                }));
                match run {
                    Ok(Exit::Shutdown) => break,
                    Ok(Exit::Reload) => continue,
                    Ok(Exit::Fatal(msg)) => {
                        let _ = etx.send(Event::Error(msg));
                        wake();
                        // nothing can run: wait for the end
                        while let Ok(c) = crx.recv() {
                            if c == Command::Shutdown {
                                break;
                            }
                        }
                        break;
                    }
                    Err(p) => {
                        restarts += 1;
                        let msg = panic_message(p.as_ref());
                        let _ = etx.send(Event::Restarted(format!(
                            "the worker crashed ({msg}) and was restarted with the same \
                             settings (restart {restarts})"
                        )));
                        wake();
                        if restarts > 20 {
                            let _ = etx.send(Event::Error(
                                "the worker keeps crashing; it was stopped".into(),
                            ));
                            wake();
                            break;
                        }
                    }
                }
            }
        })
        .ok();
    EngineHandle {
        commands: ctx,
        events: erx,
        thread,
    }
}
