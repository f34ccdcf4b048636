//! TCAV from the window: the concept pane saves its concept, then runs `deepvis concept tcav`
//! on it in a process of its own (the window and its worker go on) and shows its line: the
//! share of the class's pictures whose score rises along the concept, against random concepts,
//! with the t-test's p.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};

use crossbeam_channel::Receiver;

use crate::AtlasProgram;

/// A TCAV run in its own process.
pub(crate) struct TcavJob {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
}

impl Drop for TcavJob {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the window asks of TCAV.
#[derive(Clone, Debug, PartialEq)]
pub struct TcavAsk {
    /// The class.
    pub class: usize,
    /// Pictures of the class: a folder, a video or a photo.
    pub images: PathBuf,
}

/// The arguments of `deepvis concept tcav` on the concept file `concept`.
pub(crate) fn args(program: &AtlasProgram, concept: &Path, ask: &TcavAsk) -> Vec<OsString> {
    let mut a: Vec<OsString> = program.model_args.clone();
    a.extend(["--quiet", "concept", "tcav"].map(OsString::from));
    a.push(concept.as_os_str().to_owned());
    a.extend(["--class".into(), ask.class.to_string().into()]);
    a.extend(["--images".into(), ask.images.as_os_str().to_owned()]);
    a
}

/// Reads all of `r` (at most 64 KiB) on a thread of its own.
fn read_all(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = r.take(64 << 10).read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

impl TcavJob {
    /// Starts TCAV of the concept in `concept`.
    pub fn start(program: &AtlasProgram, concept: &Path, ask: &TcavAsk) -> Result<TcavJob, String> {
        let mut child = Process::new(&program.exe)
            .args(args(program, concept, ask))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.exe.display()))?;
        let out = child.stdout.take().map(read_all);
        let err = child.stderr.take().map(read_all);
        let (Some(out), Some(err)) = (out, err) else {
            return Err("TCAV's output could not be read".into());
        };
        Ok(TcavJob { child, out, err })
    }

    /// None while it runs; then its line, or why it failed.
    pub fn poll(&mut self) -> Option<Result<String, String>> {
        let status = match self.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(s)) => Ok(s),
            Err(e) => Err(e.to_string()),
        };
        let wait = std::time::Duration::from_secs(2);
        let out = self.out.recv_timeout(wait).unwrap_or_default();
        let err = self.err.recv_timeout(wait).unwrap_or_default();
        Some(match status {
            Ok(s) if s.success() => Ok(out.trim().to_string()),
            Ok(s) => Err(err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map_or_else(|| format!("TCAV stopped ({s})"), str::to_string)),
            Err(e) => Err(e),
        })
    }
}
