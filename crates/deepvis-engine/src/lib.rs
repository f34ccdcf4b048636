//! The worker: one thread owns the device, the network and the optimizer; it takes the newest
//! frame, computes the grid, the selected unit and the predictions, and steps the preferred
//! image, speaking [`Command`] and [`Event`] with the UI. A panic in it is reported and the
//! worker restarts with the same settings.

mod attr;
pub mod export;
pub mod judge;
pub mod policy;
pub mod schedule;
pub mod tape;
mod worker;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::prelude::Device;
use crossbeam_channel::Sender;
use deepvis_model::{Arch, BackendChoice, Net};
use deepvis_protocol::Inbox;
pub use deepvis_protocol::{
    BackSettings, Command, Doing, ErrorKind, Event, Failure, OptimSettings, SourceSpec,
};

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
        let mut loader = ModelLoader::new(arch.name(), move |device| {
            Net::load(arch, &weights, device).map_err(|e| format!("{}: {e}", weights.display()))
        });
        loader.file = file;
        loader
    }

    /// Any loader.
    pub fn new(
        name: &str,
        load: impl Fn(&Device) -> Result<Net, String> + Send + Sync + 'static,
    ) -> ModelLoader {
        ModelLoader {
            name: name.to_string(),
            file: None,
            load: Arc::new(load),
        }
    }

    /// Says which file the model comes from.
    pub fn with_file(mut self, path: PathBuf, sha256: String) -> ModelLoader {
        self.file = Some(deepvis_optim::recipe::ModelFile { path, sha256 });
        self
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

/// The hex sha256 of a file.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
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

/// Crashes within [`CRASH_WINDOW`] after which the worker pauses instead of restarting.
pub const CRASH_LIMIT: usize = 5;
/// The window crashes are counted in.
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);

/// Whether a crashed worker restarts: yes, unless it crashed more than `limit` times within
/// `window` (then restarting is not helping, and it waits to be asked).
#[derive(Debug)]
pub struct CrashPolicy {
    limit: usize,
    window: Duration,
    recent: VecDeque<Instant>,
    total: u32,
}

impl CrashPolicy {
    /// A policy allowing `limit` crashes within `window`.
    pub fn new(limit: usize, window: Duration) -> CrashPolicy {
        CrashPolicy {
            limit,
            window,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// Records a crash at `now`; whether the worker should restart.
    pub fn crashed(&mut self, now: Instant) -> bool {
        self.total += 1;
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.recent.pop_front();
        }
        self.recent.len() <= self.limit
    }

    /// Crashes within the window.
    pub fn recent(&self) -> usize {
        self.recent.len()
    }

    /// Crashes in all.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// The user asked for a restart: the window starts empty.
    pub fn forgive(&mut self) {
        self.recent.clear();
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
    let spawned = builder.spawn(move || {
        let mut crashes = CrashPolicy::new(CRASH_LIMIT, CRASH_WINDOW);
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
                    let msg = panic_message(p.as_ref());
                    if crashes.crashed(Instant::now()) {
                        let _ = etx.send(Event::Restarted {
                            panic: Some(msg),
                            crashes: crashes.total(),
                        });
                        wake();
                        continue;
                    }
                    let _ = etx.send(Event::WorkerPaused {
                        crashes: crashes.recent() as u32,
                        seconds: CRASH_WINDOW.as_secs() as u32,
                    });
                    wake();
                    // wait to be asked; the window stays
                    let go = loop {
                        match crx.recv() {
                            Ok(Command::RestartWorker) => break true,
                            Ok(Command::Shutdown) | Err(_) => break false,
                            Ok(_) => {}
                        }
                    };
                    if !go {
                        break;
                    }
                    crashes.forgive();
                    let _ = etx.send(Event::Restarted {
                        panic: None,
                        crashes: crashes.total(),
                    });
                    wake();
                }
            }
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_restart_the_worker_until_too_many_come_within_the_window() {
        let mut p = CrashPolicy::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // spread out, any number of crashes restart (the old counter stopped at 21)
        for k in 0..30 {
            assert!(p.crashed(at(k * 61)), "crash {k}");
        }
        assert_eq!((p.total(), p.recent()), (30, 1));
        // four within a minute pause it
        let mut q = CrashPolicy::new(3, Duration::from_secs(60));
        assert!(q.crashed(at(0)) && q.crashed(at(10)) && q.crashed(at(20)));
        assert!(!q.crashed(at(30)));
        assert_eq!(q.recent(), 4);
        // asked to restart: a fresh window
        q.forgive();
        assert!(q.crashed(at(31)));
        // old crashes leave the window: at 100 s the crash at 31 s is gone
        assert!(q.crashed(at(100)) && q.crashed(at(101)));
        assert_eq!(q.recent(), 2);
    }
}
