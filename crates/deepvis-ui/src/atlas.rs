//! The atlas pane: "atlas of this layer" runs `deepvis atlas` on the grid's layer in a process
//! of its own (the window and its worker go on; a crash there is a message here), shows its
//! progress and the time left, then opens the site in the system's browser.

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};

use crossbeam_channel::Receiver;
use deepvis_protocol::{Command, ErrorKind, SourceSpec};

use crate::Shared;
use crate::pane::{Pane, Place};

/// How the window starts `deepvis atlas`: the program, and the arguments that name the model
/// it shows (`--model`, `--weights`, the preprocessing, `--backend`).
#[derive(Clone, Debug, PartialEq)]
pub struct AtlasProgram {
    /// The deepvis program.
    pub exe: PathBuf,
    /// The global arguments naming the model and backend, before `atlas`.
    pub model_args: Vec<OsString>,
    /// The backend argument (kept when the window opens another model).
    pub backend: String,
}

impl AtlasProgram {
    /// The window opened the network in `path`: the commands started from now on are of it.
    pub fn opened(&mut self, path: &Path) {
        self.model_args = vec![
            "--model".into(),
            path.as_os_str().to_owned(),
            "--backend".into(),
            self.backend.clone().into(),
        ];
    }
}

/// One line of the atlas's progress (`progress DONE TOTAL SECONDS_LEFT`, `-` for seconds not
/// known yet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Units made.
    pub done: usize,
    /// Units to make in this run.
    pub total: usize,
    /// Seconds left, estimated (None before the first unit).
    pub left: Option<f64>,
}

impl Progress {
    /// Reads a progress line; None for any other line.
    pub fn parse(line: &str) -> Option<Progress> {
        let mut w = line.split_whitespace();
        if w.next()? != "progress" {
            return None;
        }
        Some(Progress {
            done: w.next()?.parse().ok()?,
            total: w.next()?.parse().ok()?,
            left: match w.next()? {
                "-" => None,
                s => Some(s.parse().ok()?),
            },
        })
    }
}

/// An atlas being made.
struct Job {
    child: Child,
    progress: Receiver<Progress>,
    /// The last lines it wrote on stderr.
    said: Receiver<String>,
    last: Option<Progress>,
    site: PathBuf,
    layer: String,
    errors: Vec<String>,
}

/// How the last atlas ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// Made: its site.
    Made(PathBuf),
    /// Failed: why.
    Failed(String),
}

/// The atlas pane's state.
pub struct AtlasPane {
    /// How to start the atlas (None: the window cannot, and says so).
    pub program: Option<AtlasProgram>,
    /// The units, as `deepvis atlas --units` reads them (`all`: every unit).
    pub units: String,
    /// Iterations per picture (empty: each method's own).
    pub iters: String,
    /// How the last atlas ended.
    pub ended: Option<Ended>,
    /// The folder atlases go in (None: `~/deepvis/atlas`).
    pub root: Option<PathBuf>,
    /// The source's folder, when the source is one: the atlas's top images come from it.
    pub folder: Option<PathBuf>,
    job: Option<Job>,
}

impl Default for AtlasPane {
    fn default() -> Self {
        AtlasPane {
            program: None,
            units: "0-31".into(),
            iters: String::new(),
            ended: None,
            root: None,
            folder: None,
            job: None,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // the window closing (or "stop") ends an atlas still being made; the same command
        // goes on with it later
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the window writes the atlas of `layer` of `model`: `ROOT/MODEL-LAYER`, the root
/// `~/deepvis/atlas` unless given.
pub fn site_for(root: Option<&Path>, model: &str, layer: &str) -> PathBuf {
    let root = root.map_or_else(|| crate::player::output_dir().join("atlas"), Path::to_path_buf);
    root.join(format!(
        "{}-{}",
        deepvis_topk::safe_file_name(model),
        deepvis_topk::safe_file_name(layer)
    ))
}

/// Opens a file in the system's browser.
pub fn open_in_browser(path: &Path) -> Result<(), String> {
    let mut p = if cfg!(target_os = "macos") {
        Process::new("open")
    } else if cfg!(target_os = "windows") {
        let mut p = Process::new("cmd");
        p.args(["/C", "start", ""]);
        p
    } else {
        Process::new("xdg-open")
    };
    p.arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot open {} in a browser: {e}", path.display()))
}

impl Pane for AtlasPane {
    fn name(&self) -> &'static str {
        "atlas pane"
    }

    fn place(&self) -> Place {
        Place::Right
    }

    fn seen(&mut self, c: &Command) {
        if let Command::SetSource(spec) = c {
            self.folder = match spec {
                SourceSpec::Path(p) if p.is_dir() => Some(p.clone()),
                _ => None,
            };
        }
        // the window opened another network: the atlas is of that one
        if let (Command::OpenModel(path), Some(p)) = (c, self.program.as_mut()) {
            p.opened(path);
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, shared: &mut Shared) {
        if self.job.is_some() {
            self.poll(shared);
            ctx.request_repaint_after(std::time::Duration::from_millis(250));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        egui::CollapsingHeader::new("atlas of this layer")
            .default_open(false)
            .show(ui, |ui| self.body(ui, shared));
    }
}

impl AtlasPane {
    /// The pane's inside.
    fn body(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(layer) = shared.persisted.layer.clone() else {
            ui.label("no layer yet");
            return;
        };
        if let Some(j) = &self.job {
            let (done, total, left) = j
                .last
                .map_or((0, 0, None), |p| (p.done, p.total, p.left));
            let share = if total == 0 {
                0.0
            } else {
                done as f32 / total as f32
            };
            let text = match (j.last, left) {
                (_, Some(s)) => format!("{done} of {total} units, about {} left", duration(s)),
                (Some(_), None) => format!("{done} of {total} units, making the first"),
                (None, None) => "scanning the folder".into(),
            };
            ui.label(format!("making the atlas of {}", j.layer));
            ui.add(egui::ProgressBar::new(share).text(text));
            if ui.button("stop").clicked() {
                self.stop(shared);
            }
            return;
        }
        ui.horizontal(|ui| {
            ui.label("units");
            ui.add(egui::TextEdit::singleline(&mut self.units).desired_width(70.0))
                .on_hover_text("0-31, 5, 0-7,12 or all");
            ui.label("iterations");
            ui.add(egui::TextEdit::singleline(&mut self.iters).desired_width(50.0))
                .on_hover_text("empty: each method's own");
        });
        let folder = self.folder.clone();
        ui.label(match &folder {
            Some(f) => format!("top images from {}", f.display()),
            None => "no folder as the source: pictures only (open a folder for top images)".into(),
        });
        let ready = self.program.is_some() && shared.model.is_some();
        if ui
            .add_enabled(ready, egui::Button::new(format!("atlas of {layer}")))
            .clicked()
        {
            self.start(shared, &layer, folder.as_deref());
        }
        match &self.ended {
            Some(Ended::Made(site)) => {
                ui.horizontal(|ui| {
                    if ui.button("open").clicked() {
                        let index = site.join("index.html");
                        if let Err(e) = open_in_browser(&index) {
                            shared.error(ErrorKind::File, e);
                        }
                    }
                    ui.label(site.display().to_string());
                });
            }
            Some(Ended::Failed(why)) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
            }
            None => {}
        }
    }

    /// The arguments of `deepvis atlas` for `layer`.
    pub fn args(&self, layer: &str, folder: Option<&Path>, site: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(p) = &self.program {
            a.extend(p.model_args.iter().cloned());
        }
        a.extend(["--quiet", "atlas", "--layer", layer].map(OsString::from));
        let units = self.units.trim();
        if !units.is_empty() && units != "all" {
            a.extend(["--units".into(), units.into()]);
        }
        let iters = self.iters.trim();
        if !iters.is_empty() {
            a.extend(["--iters".into(), iters.into()]);
        }
        if let Some(f) = folder {
            a.extend(["--folder".into(), f.as_os_str().to_owned()]);
        }
        a.extend(["--progress-lines".into(), "-o".into()]);
        a.push(site.as_os_str().to_owned());
        a
    }

    /// Starts the atlas of `layer`.
    pub fn start(&mut self, shared: &mut Shared, layer: &str, folder: Option<&Path>) {
        let (Some(p), Some(model)) = (&self.program, &shared.model) else {
            return;
        };
        let site = site_for(self.root.as_deref(), model, layer);
        let spawned = Process::new(&p.exe)
            .args(self.args(layer, folder, &site))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let m = format!("cannot start {}: {e}", p.exe.display());
                self.ended = Some(Ended::Failed(m.clone()));
                shared.error(ErrorKind::Internal, m);
                return;
            }
        };
        let (ptx, progress) = crossbeam_channel::unbounded();
        let (stx, said) = crossbeam_channel::unbounded();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(p) = Progress::parse(&line)
                        && ptx.send(p).is_err()
                    {
                        return;
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                // at most 64 KiB of what it says
                let mut text = String::new();
                let _ = err.take(64 << 10).read_to_string(&mut text);
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = stx.send(line.to_string());
                }
            });
        }
        shared.note(format!("making the atlas of {layer} in {}", site.display()));
        self.ended = None;
        self.job = Some(Job {
            child,
            progress,
            said,
            last: None,
            site,
            layer: layer.to_string(),
            errors: Vec::new(),
        });
    }

    /// Takes the job's progress; when it has ended, how.
    fn poll(&mut self, shared: &mut Shared) {
        let Some(j) = self.job.as_mut() else {
            return;
        };
        while let Ok(p) = j.progress.try_recv() {
            j.last = Some(p);
        }
        while let Ok(l) = j.said.try_recv() {
            j.errors.push(l);
        }
        let status = match j.child.try_wait() {
            Ok(None) => return,
            Ok(Some(s)) => Some(s),
            Err(_) => None,
        };
        // what it said after it ended
        std::thread::sleep(std::time::Duration::from_millis(20));
        while let Ok(l) = j.said.try_recv() {
            j.errors.push(l);
        }
        let Some(j) = self.job.take() else {
            return;
        };
        if status.is_some_and(|s| s.success()) {
            shared.note(format!(
                "the atlas of {} is in {} (open it in the atlas pane)",
                j.layer,
                j.site.display()
            ));
            self.ended = Some(Ended::Made(j.site.clone()));
        } else {
            let why = j
                .errors
                .iter()
                .rev()
                .find(|l| l.contains("error"))
                .or(j.errors.last())
                .cloned()
                .unwrap_or_else(|| format!("the atlas stopped ({status:?})"));
            let m = format!("the atlas of {} failed: {why}", j.layer);
            shared.error(ErrorKind::Input, m.clone());
            self.ended = Some(Ended::Failed(m));
        }
    }

    /// Stops the atlas being made (the same button goes on with it later).
    fn stop(&mut self, shared: &mut Shared) {
        if let Some(j) = self.job.take() {
            let layer = j.layer.clone();
            // (dropping the job ends its process)
            drop(j);
            shared.note(format!(
                "stopped the atlas of {layer}: starting it again goes on where it stopped"
            ));
        }
    }

    /// Whether an atlas is being made.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }
}

/// Seconds as the pane says them.
fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s < 90 {
        format!("{s} s")
    } else if s < 5400 {
        format!("{} min", s.div_ceil(60))
    } else {
        format!("{:.1} h", s as f64 / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_and_durations() {
        assert_eq!(
            Progress::parse("progress 3 32 120"),
            Some(Progress {
                done: 3,
                total: 32,
                left: Some(120.0)
            })
        );
        assert_eq!(
            Progress::parse("progress 0 32 -").map(|p| p.left),
            Some(None)
        );
        assert_eq!(Progress::parse("deepvis: wrote"), None);
        assert_eq!(Progress::parse("progress x 3 1"), None);
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(600.0), "10 min");
        assert_eq!(duration(7200.0), "2.0 h");
    }

    #[test]
    fn the_command_names_the_model_layer_units_and_site() {
        let pane = AtlasPane {
            program: Some(AtlasProgram {
                exe: "deepvis".into(),
                model_args: vec!["--model".into(), "m.onnx".into()],
                backend: "cpu".into(),
            }),
            units: "0-3".into(),
            iters: "20".into(),
            ..AtlasPane::default()
        };
        let a = pane.args("fire9", Some(Path::new("/photos")), Path::new("/s"));
        let a: Vec<&str> = a.iter().map(|s| s.to_str().unwrap()).collect();
        assert_eq!(
            a,
            [
                "--model",
                "m.onnx",
                "--quiet",
                "atlas",
                "--layer",
                "fire9",
                "--units",
                "0-3",
                "--iters",
                "20",
                "--folder",
                "/photos",
                "--progress-lines",
                "-o",
                "/s"
            ]
        );
        let all = AtlasPane {
            units: "all".into(),
            ..AtlasPane::default()
        };
        let a = all.args("fire9", None, Path::new("/s"));
        assert!(!a.iter().any(|s| s == "--units" || s == "--folder"));
    }
}
