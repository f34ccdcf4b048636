//! The live toolbox window: eframe around the UI crate's panes and the engine's worker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use deepvis_engine::{EngineConfig, EngineHandle};
use deepvis_model::BackendChoice;
use deepvis_protocol::SourceSpec;
use deepvis_ui::{DeepvisApp, Persisted};

use crate::Global;
use crate::common::{log, project_root};

/// Where the app takes its frames from.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AppArgs {
    /// A photo, a video (MP4, WebM, MKV, AVI, MOV, animated GIF/APNG) or a folder of them
    /// instead of the camera.
    #[arg(long, value_name = "PATH")]
    pub source: Option<PathBuf>,
    /// The camera to use (0 = the first).
    #[arg(long, value_name = "N")]
    pub camera: Option<u32>,
    /// A moving synthetic pattern (no camera, no files).
    #[arg(long)]
    pub synthetic: bool,
    /// Camera resolution, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480")]
    pub resolution: String,
    /// A top-k index folder written by `deepvis topk`, shown for the selected unit.
    #[arg(long, value_name = "DIR")]
    pub topk: Option<PathBuf>,
    /// A second network (an ONNX file such as EfficientNet-Lite0) that classifies the
    /// preferred image as it forms: a line under it gives the target class's rank.
    #[arg(long, value_name = "MODEL")]
    pub judge: Option<String>,
}

const STORAGE_KEY: &str = "deepvis";

fn choose_source(g: &Global, a: &AppArgs) -> Result<SourceSpec> {
    let (w, h) = a
        .resolution
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| anyhow!("--resolution must look like 640x480"))?;
    if let Some(p) = &a.source {
        return Ok(SourceSpec::Path(p.clone()));
    }
    if let Some(i) = a.camera {
        return Ok(SourceSpec::Camera {
            index: i,
            width: w,
            height: h,
        });
    }
    if a.synthetic {
        return Ok(SourceSpec::Synthetic {
            width: w,
            height: h,
            fps: 30,
        });
    }
    match deepvis_sources::list_cameras() {
        Ok(cams) if !cams.is_empty() => {
            log(g, format!("camera: {} ({} found)", cams[0].1, cams.len()));
            return Ok(SourceSpec::Camera {
                index: cams[0].0,
                width: w,
                height: h,
            });
        }
        Ok(_) => log(g, "no camera found: showing the sample photos"),
        Err(e) => log(g, format!("no camera ({e}): showing the sample photos")),
    }
    let samples = project_root().join("../shared/images");
    if samples.is_dir() {
        Ok(SourceSpec::Path(samples))
    } else {
        log(g, "no sample photos either: showing a synthetic pattern");
        Ok(SourceSpec::Synthetic {
            width: w,
            height: h,
            fps: 30,
        })
    }
}

struct Shell {
    app: DeepvisApp,
    engine: Option<EngineHandle>,
}

impl eframe::App for Shell {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.app.ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.app.persisted);
    }

    fn on_exit(&mut self) {
        if let Some(e) = self.engine.take() {
            e.shutdown();
        }
    }
}

/// The file eframe keeps the window's settings in (its default place, named here so that a
/// damaged file can be told apart from none).
fn settings_file() -> Option<PathBuf> {
    eframe::storage_dir("deepvis").map(|d| d.join("app.ron"))
}

/// Why the settings file cannot be read as eframe's storage, when it exists and cannot: eframe
/// then silently starts from nothing, and the user should hear of it.
fn damaged(file: &Path) -> Option<String> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(e.to_string()),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some("the file is empty".into());
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => return Some(format!("not text: {e}")),
    };
    ron::from_str::<HashMap<String, String>>(text)
        .err()
        .map(|e| e.to_string())
}

/// The settings saved by the last run, and a sentence when there were some that could not be
/// read (a damaged or truncated file, or a value no version of deepvis wrote): the window then
/// starts with the defaults and says so once (the next save replaces the damaged file). Fields
/// an older version did not save take their defaults. `file` is where eframe reads `storage`
/// from.
fn restore(
    storage: Option<&dyn eframe::Storage>,
    file: Option<&Path>,
) -> (Persisted, Option<String>) {
    let Some(s) = storage else {
        return (Persisted::default(), None);
    };
    match eframe::get_value::<Persisted>(s, STORAGE_KEY) {
        Some(p) => (p, None),
        None if s.get_string(STORAGE_KEY).is_some() => (
            Persisted::default(),
            Some("the saved settings could not be read: starting with the defaults".into()),
        ),
        None => match file.and_then(|f| damaged(f).map(|why| (f, why))) {
            Some((f, why)) => (
                Persisted::default(),
                Some(format!(
                    "the settings file {} could not be read ({why}): starting with the defaults",
                    f.display()
                )),
            ),
            None => (Persisted::default(), None),
        },
    }
}

/// A session that never set the preferred image's method (its settings the defaults) starts
/// with the method of the model it opens (`deepvis_optim::default_for`: MACO on SqueezeNet),
/// quietly: there is nothing to mend.
fn fresh_method(p: &mut Persisted, model: &str) {
    if p.optim != Persisted::default().optim {
        return;
    }
    let name = Path::new(model)
        .file_name()
        .map_or_else(|| model.to_string(), |n| n.to_string_lossy().into_owned());
    p.optim.use_method(deepvis_optim::default_for(&name), false);
}

/// How the window's atlas pane starts this program on the model it was started with.
fn atlas_program(g: &Global) -> Option<deepvis_ui::AtlasProgram> {
    let exe = std::env::current_exe().ok()?;
    let mut args: Vec<std::ffi::OsString> = vec!["--model".into(), g.model.clone().into()];
    let mut opt = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            args.push(name.into());
            args.push(v.into());
        }
    };
    opt(
        "--weights",
        g.weights.as_ref().map(|w| w.display().to_string()),
    );
    opt("--input-size", g.input_size.map(|v| v.to_string()));
    opt("--mean", g.mean.clone());
    opt("--std", g.std.clone());
    opt("--input-range", g.input_range.map(|v| v.to_string()));
    opt("--backend", Some(g.backend.clone()));
    if g.bgr {
        args.push("--bgr".into());
    }
    Some(deepvis_ui::AtlasProgram {
        exe,
        model_args: args,
        backend: g.backend.clone(),
    })
}

/// Opens the window.
pub fn run(g: &Global, a: AppArgs) -> Result<ExitCode> {
    let backend = BackendChoice::from_name(&g.backend)?;
    let model = crate::common::model_loader(g)?;
    let judge = match &a.judge {
        Some(m) => Some(crate::judge::loader(g, m)?),
        None => None,
    };
    let explicit_source = a.source.is_some() || a.camera.is_some() || a.synthetic;
    let source = choose_source(g, &a)?;
    let settings = settings_file();
    let options = eframe::NativeOptions {
        persistence_path: settings.clone(),
        viewport: egui::ViewportBuilder::default()
            .with_title("deepvis")
            .with_inner_size([1280.0, 800.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    if let Some(d) = &a.topk {
        deepvis_topk::Index::load(d)?;
    }
    let topk = a.topk.clone();
    let atlas = atlas_program(g);
    let model_name = g.model.clone();
    eframe::run_native(
        "deepvis",
        options,
        Box::new(move |cc| {
            let (mut persisted, unreadable) = restore(cc.storage, settings.as_deref());
            fresh_method(&mut persisted, &model_name);
            let mut config = EngineConfig::new(model.clone(), source.clone());
            config.opener = Some(crate::common::onnx_opener());
            config.judge = judge.clone();
            config.backend = backend;
            config.grid_layer = persisted.layer.clone();
            config.selected = persisted.selected;
            config.optim = persisted.optim;
            config.running = persisted.running;
            config.back = persisted.back.clone();
            if !explicit_source && let Some(s) = &persisted.source {
                config.source = s.clone();
            }
            let ctx = cc.egui_ctx.clone();
            let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || ctx.request_repaint());
            // the atlas's top images come from the source's folder, when it is one
            let folder = match &config.source {
                SourceSpec::Path(p) if p.is_dir() => Some(p.clone()),
                _ => None,
            };
            let engine = deepvis_engine::spawn(config, wake);
            let mut app =
                DeepvisApp::new(engine.commands.clone(), engine.events.clone(), persisted);
            if let Some(d) = &topk {
                app.load_topk(d);
            }
            if let Some(p) = &atlas {
                app.set_atlas_program(p.clone());
            }
            app.panes.atlas.folder = folder;
            if let Some(m) = unreadable {
                app.note(m);
            }
            Ok(Box::new(Shell {
                app,
                engine: Some(engine),
            }))
        }),
    )
    .map_err(|e| anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_session_starts_with_its_models_method_and_a_kept_one_stays() {
        let mut p = Persisted::default();
        fresh_method(&mut p, "squeezenet1_0");
        assert_eq!(p.optim.method.kind(), deepvis_optim::MethodKind::Maco);
        assert!(!p.optim.method_was_chosen());
        let mut p = Persisted::default();
        fresh_method(&mut p, "/models/alexnet");
        assert_eq!(p.optim.method.kind(), deepvis_optim::MethodKind::Paper);
        let mut p = Persisted::default();
        fresh_method(&mut p, "/models/vit_s_focus.onnx");
        assert_eq!(p.optim.method.kind(), deepvis_optim::MethodKind::Maco);
        // saved settings the user changed stay as they were
        let mut p = Persisted::default();
        p.optim.params.lr = 3.0;
        let kept = p.clone();
        fresh_method(&mut p, "squeezenet1_0");
        assert_eq!(p, kept);
    }

    /// A storage holding one string under the settings key.
    struct Fake(Option<String>);

    impl eframe::Storage for Fake {
        fn get_string(&self, key: &str) -> Option<String> {
            (key == STORAGE_KEY).then(|| self.0.clone()).flatten()
        }
        fn set_string(&mut self, _: &str, _: String) {}
        fn remove_string(&mut self, _: &str) {}
        fn flush(&mut self) {}
    }

    #[test]
    fn damaged_settings_start_the_defaults_and_say_so_and_good_ones_come_back() {
        let (p, m) = restore(
            Some(&Fake(Some("(layer:Some(\"fire9\"),selec".into()))),
            None,
        );
        assert_eq!(p, Persisted::default());
        assert!(m.is_some_and(|m| m.contains("could not be read")));
        let (p, m) = restore(Some(&Fake(None)), None);
        assert_eq!((p, m), (Persisted::default(), None));
        let mut good = Persisted {
            selected: Some(7),
            ..Persisted::default()
        };
        good.optim.seed = 9;
        let mut f = Fake(None);
        struct Saver<'a>(&'a mut Fake);
        impl eframe::Storage for Saver<'_> {
            fn get_string(&self, _: &str) -> Option<String> {
                None
            }
            fn set_string(&mut self, _: &str, v: String) {
                self.0.0 = Some(v);
            }
            fn remove_string(&mut self, _: &str) {}
            fn flush(&mut self) {}
        }
        eframe::set_value(&mut Saver(&mut f), STORAGE_KEY, &good);
        let (p, m) = restore(Some(&f), None);
        assert_eq!((p, m), (good, None));
        // garbage instead of a value
        let (p, m) = restore(Some(&Fake(Some("\u{1}\u{7f}}{ ]]".into()))), None);
        assert_eq!(p, Persisted::default());
        assert!(m.is_some_and(|m| m.contains("could not be read")));
    }

    /// eframe reads its whole file or nothing: a truncated or garbage `app.ron` gives a storage
    /// without deepvis's key, as on a first run. The window says so, naming the file; a first
    /// run (no file) and a file of other keys start quietly.
    #[test]
    fn a_damaged_settings_file_starts_the_defaults_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.ron");
        let value = ron::to_string(&Persisted {
            selected: Some(3),
            ..Persisted::default()
        })
        .unwrap();
        let mut kv = HashMap::new();
        kv.insert(STORAGE_KEY.to_string(), value);
        let whole = ron::to_string(&kv).unwrap();
        let empty = Fake(None);
        let cases: [(&str, &[u8]); 4] = [
            ("truncated", &whole.as_bytes()[..whole.len() / 2]),
            ("garbage", b"\x00\x01garbage{{"),
            ("not text", b"{\"deepvis\": \"\xff\xfe\"}"),
            ("empty", b""),
        ];
        for (what, bytes) in cases {
            std::fs::write(&file, bytes).unwrap();
            let (p, m) = restore(Some(&empty), Some(&file));
            assert_eq!(p, Persisted::default(), "{what}");
            let m = m.unwrap_or_else(|| panic!("{what}: no message"));
            assert!(
                m.contains("could not be read") && m.contains(&*file.to_string_lossy()),
                "{what}: {m}"
            );
        }
        // the whole file is fine: eframe read it, the value comes back, nothing is said
        std::fs::write(&file, &whole).unwrap();
        assert_eq!(damaged(&file), None);
        std::fs::write(&file, "{\"egui\": \"()\"}").unwrap();
        assert_eq!(
            restore(Some(&empty), Some(&file)),
            (Persisted::default(), None)
        );
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            restore(Some(&empty), Some(&file)),
            (Persisted::default(), None)
        );
    }
}
