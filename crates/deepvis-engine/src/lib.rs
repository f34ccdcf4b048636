//! The worker: one thread owns the device, the network and the optimizer; it takes the newest
//! frame, computes the grid, the selected unit and the predictions, and steps the preferred
//! image, speaking [`Command`] and [`Event`] with the UI. A panic in it is reported and the
//! worker restarts with the same settings.
//!
//! The worker is a thin loop (`worker`) over stages that own their state: the device set-up and
//! the GPU hand-over (`device`), the frames (`frame`), the preferred images (`preferred`, made
//! of `runs`), the attribution lanes (`attribution`, `attr`) and the source (`source`). Its
//! decisions are plain functions and structs tested without a thread: [`policy`], [`fit`],
//! [`schedule`].

mod attr;
mod attribution;
mod circuit;
mod concept;
mod device;
pub mod error;
pub mod export;
pub mod fit;
mod frame;
pub mod judge;
mod outlet;
pub mod policy;
mod preferred;
mod runs;
pub mod schedule;
mod source;
mod stage;
pub mod tape;
mod thumbs;
mod worker;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use burn::prelude::Device;
pub use concept::parts_options;
use crossbeam_channel::{Receiver, Sender};
use deepvis_model::{Arch, BackendChoice, Net};
pub use deepvis_protocol::{
    BackSettings, Command, Doing, ErrorKind, Event, Failure, OptimSettings, SourceSpec,
};
use deepvis_protocol::{Inbox, Outbox};
pub use error::EngineError;
pub use policy::{CRASH_LIMIT, CRASH_WINDOW, CrashPolicy};

/// What the worker calls after sending events (the window's `request_repaint`).
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

/// Builds a network on a device.
type LoadFn = dyn Fn(&Device) -> Result<Net, EngineError> + Send + Sync;
/// Reads and checks a model file.
type OpenFn = dyn Fn(&std::path::Path) -> Result<ModelLoader, String> + Send + Sync;

/// How the worker gets its network on a device: a name for messages and a loader (a built-in
/// architecture with a weights file, or any closure: an ONNX file, a test's graph).
#[derive(Clone)]
pub struct ModelLoader {
    /// The model's name (`squeezenet1_0`, a file name).
    pub name: String,
    /// The file it comes from and its sha256 (for exported pictures' sidecars), when known.
    pub file: Option<deepvis_optim::recipe::ModelFile>,
    load: Arc<LoadFn>,
}

impl ModelLoader {
    /// A built-in architecture with its weights file.
    pub fn builtin(arch: Arch, weights: PathBuf) -> ModelLoader {
        let file = sha256_file(&weights)
            .ok()
            .map(|sha256| deepvis_optim::recipe::ModelFile {
                path: weights.clone(),
                sha256,
            });
        let mut loader =
            ModelLoader::typed(arch.name(), move |device| Net::load(arch, &weights, device));
        loader.file = file;
        loader
    }

    /// Any loader whose errors are messages (an ONNX file's reader, a test's graph).
    pub fn new(
        name: &str,
        load: impl Fn(&Device) -> Result<Net, String> + Send + Sync + 'static,
    ) -> ModelLoader {
        ModelLoader {
            name: name.to_string(),
            file: None,
            load: Arc::new(move |device| load(device).map_err(EngineError::Load)),
        }
    }

    /// Any loader whose errors are the model crate's.
    pub fn typed(
        name: &str,
        load: impl Fn(&Device) -> Result<Net, deepvis_model::Error> + Send + Sync + 'static,
    ) -> ModelLoader {
        ModelLoader {
            name: name.to_string(),
            file: None,
            load: Arc::new(move |device| Ok(load(device)?)),
        }
    }

    /// Says which file the model comes from.
    pub fn with_file(mut self, path: PathBuf, sha256: String) -> ModelLoader {
        self.file = Some(deepvis_optim::recipe::ModelFile { path, sha256 });
        self
    }

    /// Loads the network on `device`.
    pub fn load(&self, device: &Device) -> Result<Net, EngineError> {
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
    pub fn open(&self, path: &std::path::Path) -> Result<ModelLoader, EngineError> {
        (self.0)(path).map_err(EngineError::Open)
    }
}

impl std::fmt::Debug for ModelOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelOpener")
    }
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What the worker starts with, and what a worker restarted after a crash or a model change
/// starts from (the running worker writes its settings here when they change).
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
    /// The worker thread's stack size in bytes (`None`: the platform's default).
    pub worker_stack: Option<usize>,
    /// How the selected unit is projected back onto the input.
    pub back: BackSettings,
    /// A second network that judges the preferred image (`None`: no judge).
    pub judge: Option<ModelLoader>,
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
            worker_stack: None,
            back: BackSettings::default(),
            judge: None,
        }
    }
}

/// The UI's side of a running worker.
pub struct EngineHandle {
    /// Commands to the worker.
    pub commands: Sender<Command>,
    /// Events from the worker.
    pub events: Inbox,
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
    Fatal(Failure),
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
/// `request_repaint`). A thread that cannot be started is reported as an error event.
pub fn spawn(config: EngineConfig, wake: Arc<dyn Fn() + Send + Sync>) -> EngineHandle {
    let (ctx, crx) = crossbeam_channel::unbounded::<Command>();
    let (etx, erx) = deepvis_protocol::queue();
    let mut builder = std::thread::Builder::new().name("deepvis-worker".into());
    if let Some(bytes) = config.worker_stack {
        builder = builder.stack_size(bytes);
    }
    let state = Arc::new(Mutex::new(config));
    let (etx2, wake2) = (etx.clone(), wake.clone());
    let spawned = builder.spawn(move || supervise(&state, &crx, &etx, &wake));
    let thread = match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            let _ = etx2.send(Event::Error(Failure::new(
                ErrorKind::Internal,
                Doing::StartWorker,
                e,
            )));
            wake2();
            None
        }
    };
    EngineHandle {
        commands: ctx,
        events: erx,
        thread,
    }
}

/// Runs the worker until it is asked to stop: again with a new model, again after a crash
/// while the [`CrashPolicy`] allows, and when asked after a pause.
fn supervise(
    state: &Mutex<EngineConfig>,
    commands: &Receiver<Command>,
    events: &Outbox,
    wake: &Wake,
) {
    let say = |e: Event| {
        let _ = events.send(e);
        wake();
    };
    let mut crashes = CrashPolicy::new(CRASH_LIMIT, CRASH_WINDOW);
    loop {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            worker::run(state, commands, events, wake)
        }));
        match run {
            Ok(Exit::Shutdown) => break,
            Ok(Exit::Reload) => continue,
            Ok(Exit::Fatal(f)) => {
                say(Event::Error(f));
                // nothing can run: wait for the end
                while let Ok(c) = commands.recv() {
                    if c == Command::Shutdown {
                        break;
                    }
                }
                break;
            }
            Err(p) => {
                let panic = panic_message(p.as_ref());
                if crashes.crashed(Instant::now()) {
                    say(Event::Restarted {
                        panic: Some(panic),
                        crashes: crashes.total(),
                    });
                    continue;
                }
                say(Event::WorkerPaused {
                    crashes: crashes.recent() as u32,
                    seconds: CRASH_WINDOW.as_secs() as u32,
                });
                if !restart_asked(commands) {
                    break;
                }
                crashes.forgive();
                say(Event::Restarted {
                    panic: None,
                    crashes: crashes.total(),
                });
            }
        }
    }
}

/// Waits, paused, until a restart is asked for (true) or the end (false); the window stays.
fn restart_asked(commands: &Receiver<Command>) -> bool {
    loop {
        match commands.recv() {
            Ok(Command::RestartWorker) => return true,
            Ok(Command::Shutdown) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}
