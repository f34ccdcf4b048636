//! The top-9 pane: the unit's best images of a loaded `deepvis topk` index and of this session.

use std::path::{Path, PathBuf};

use deepvis_protocol::{Command, ErrorKind, Event};
use egui::{TextureHandle, TextureOptions};

use crate::Shared;
use crate::pane::{Pane, Place};
use crate::picture::{Picture, image_box, name_image, rgb_to_color};

/// The largest montage the window reads (a 3 x 3 montage of 1024-pixel crops fits).
pub const MAX_MONTAGE_SIDE: u32 = 8192;

/// Reads a montage of a top-k index folder, refusing what no montage can be (a size or a
/// decoder allocation beyond [`MAX_MONTAGE_SIDE`]) before decoding it.
pub fn read_montage(path: &Path) -> Result<image::RgbImage, String> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_MONTAGE_SIDE);
    limits.max_image_height = Some(MAX_MONTAGE_SIDE);
    limits.max_alloc = Some(4 * MAX_MONTAGE_SIDE as u64 * MAX_MONTAGE_SIDE as u64);
    // a named pipe or a device named like a montage would block the open forever
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file (a named pipe, a device or a socket)".into());
    }
    let mut reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| e.to_string())?;
    reader.limits(limits);
    reader
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| e.to_string())
}

/// A loaded `deepvis topk` index.
#[derive(Clone, Debug)]
pub struct TopkView {
    /// Its folder.
    pub dir: PathBuf,
    /// The index.
    pub index: deepvis_topk::Index,
    /// The (layer, channel) whose montage is in the texture.
    pub shown: Option<(String, usize)>,
}

/// The top-9 pane's state.
#[derive(Default)]
pub struct TopkPane {
    /// The loaded top-k index.
    pub topk: Option<TopkView>,
    /// The index folder typed in the pane.
    pub input: String,
    /// The session top-9: (layer, channel, scores).
    pub session: Option<(String, usize, Vec<f32>)>,
    montage: Picture,
    back_montage: Picture,
    session_montage: Picture,
}

impl Pane for TopkPane {
    fn name(&self) -> &'static str {
        "top 9 pane"
    }

    fn place(&self) -> Place {
        Place::Right
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        if let Event::SessionTop {
            layer,
            channel,
            montage,
            scores,
        } = e
        {
            self.session_montage.set(rgb_to_color(montage));
            self.session = Some((layer.clone(), *channel, scores.clone()));
        }
    }

    fn seen(&mut self, c: &Command) {
        if let Command::SelectUnit(_) | Command::SelectLayer(_) = c {
            self.session = None;
            self.session_montage.clear();
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, shared: &mut Shared) {
        self.refresh(shared);
        for (p, name) in [
            (&mut self.montage, "top-k"),
            (&mut self.back_montage, "top-k back"),
            (&mut self.session_montage, "session top-k"),
        ] {
            p.upload(ctx, name, TextureOptions::NEAREST);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        egui::CollapsingHeader::new("top 9")
            .default_open(true)
            .show(ui, |ui| {
                let side = ui.available_width().min(240.0);
                let open = self.index_ui(ui, shared, side);
                self.load_row(ui, shared);
                ui.separator();
                self.session_ui(ui, shared, side);
                if let Some(path) = open {
                    shared.open_picture(&path);
                }
            });
    }
}

impl TopkPane {
    /// Loads the index a `deepvis topk` run left in `dir`; a bad folder is a message.
    pub fn load(&mut self, dir: &Path, shared: &mut Shared) {
        match deepvis_topk::Index::load(dir) {
            Ok(index) => {
                shared.persisted.topk_dir = Some(dir.to_path_buf());
                self.input = dir.display().to_string();
                self.topk = Some(TopkView {
                    dir: dir.to_path_buf(),
                    index,
                    shown: None,
                });
            }
            Err(e) => shared.error(ErrorKind::File, format!("cannot load the top-k index: {e}")),
        }
    }

    /// The index entry of the selected unit, when the loaded index is of the grid layer.
    pub fn entry(&self, shared: &Shared) -> Option<&deepvis_topk::IndexChannel> {
        let t = self.topk.as_ref()?;
        let layer = shared.persisted.layer.as_deref()?;
        let c = shared.persisted.selected?;
        let model_ok = shared.model.as_deref().is_none_or(|m| m == t.index.model);
        (t.index.layer == layer && model_ok)
            .then(|| t.index.channels.get(c))
            .flatten()
    }

    /// Reads the selected unit's montages when the selection or the index changed.
    fn refresh(&mut self, shared: &mut Shared) {
        let key = shared
            .persisted
            .layer
            .clone()
            .zip(shared.persisted.selected);
        let Some(t) = self.topk.as_ref() else { return };
        if t.shown == key {
            return;
        }
        let c = self.entry(shared).and(key.as_ref()).map(|k| k.1);
        let paths = [
            c.and_then(|c| t.index.montage(&t.dir, c)),
            c.and_then(|c| t.index.back_montage(&t.dir, c)),
        ];
        for (pic, path) in [&mut self.montage, &mut self.back_montage]
            .into_iter()
            .zip(paths)
        {
            let img = match path {
                Some(p) => match read_montage(&p) {
                    Ok(i) => Some(rgb_to_color(&i)),
                    Err(e) => {
                        shared.error(ErrorKind::File, format!("cannot read {}: {e}", p.display()));
                        None
                    }
                },
                None => None,
            };
            match img {
                Some(i) => pic.set(i),
                None => pic.clear(),
            }
        }
        if let Some(t) = self.topk.as_mut() {
            t.shown = key;
        }
    }

    /// The loaded index's montages of the selected unit (or why there are none); returns the
    /// picture chosen to be shown as the source.
    fn index_ui(&self, ui: &mut egui::Ui, shared: &Shared, side: f32) -> Option<PathBuf> {
        let Some(t) = &self.topk else {
            ui.weak("load an index made by `deepvis topk --folder DIR --layer L -o INDEX`");
            return None;
        };
        let Some(e) = self.entry(shared) else {
            if shared.persisted.layer.as_deref() == Some(t.index.layer.as_str()) {
                ui.weak(format!(
                    "select a unit to see its top {} of {} images",
                    t.index.k, t.index.images
                ));
            } else {
                ui.weak(format!(
                    "the loaded index is of {} {}: show that layer and select a unit",
                    t.index.model, t.index.layer
                ));
            }
            return None;
        };
        ui.label(format!(
            "from {} images in {}{}",
            t.index.images,
            t.index.folder.display(),
            t.index
                .shard
                .map(|p| format!(
                    " (part {} of {}: topk merge joins them)",
                    p.index + 1,
                    p.count
                ))
                .unwrap_or_default()
        ));
        montage(ui, self.montage.get(), side, "index top 9");
        if let Some(h) = e.hits.first() {
            ui.weak(format!("best: {} ({:.3})", h.file, h.score));
        }
        let open = hit_buttons(ui, t, e);
        if let (Some(how), Some(_)) = (&t.index.back, &e.back_montage) {
            ui.weak(format!("their back-projections ({how})"));
            montage(ui, self.back_montage.get(), side, "index top 9 back");
        }
        open
    }

    /// The field and the button that load an index.
    fn load_row(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.horizontal(|ui| {
            let l = ui.label("index");
            ui.add(egui::TextEdit::singleline(&mut self.input).desired_width(160.0))
                .labelled_by(l.id)
                .on_hover_text("the folder `deepvis topk ... -o FOLDER` wrote");
            if ui
                .button("load")
                .on_hover_text("show the top 9 images of that index for the selected unit")
                .clicked()
            {
                let d = PathBuf::from(self.input.trim());
                self.load(&d, shared);
            }
        });
    }

    /// The frames of this session that excited the selected unit most.
    fn session_ui(&self, ui: &mut egui::Ui, shared: &Shared, side: f32) {
        ui.strong("this session's frames");
        match &self.session {
            Some((layer, c, scores)) if Some(*c) == shared.persisted.selected => {
                let resp = image_box(ui, self.session_montage.get(), side, "");
                name_image(&resp, "session top 9");
                let best = scores.first().copied().unwrap_or(0.0);
                ui.weak(format!(
                    "{} frame(s) that excited {layer}:{c} most since it was selected (best \
                     {best:.3})",
                    scores.len()
                ));
            }
            _ => {
                ui.weak("the frames that excite the selected unit most gather here");
            }
        }
    }
}

/// A button per hit that shows its picture as the source; returns the one clicked.
fn hit_buttons(ui: &mut egui::Ui, t: &TopkView, e: &deepvis_topk::IndexChannel) -> Option<PathBuf> {
    let mut open = None;
    ui.horizontal_wrapped(|ui| {
        ui.weak("show");
        for (i, h) in e.hits.iter().enumerate() {
            let paused = if h.file.contains('@') {
                ", paused on that frame"
            } else {
                ""
            };
            if ui
                .small_button((i + 1).to_string())
                .on_hover_text(format!(
                    "show {} ({:.3}) as the source{paused}",
                    h.file, h.score
                ))
                .clicked()
            {
                open = Some(t.index.folder.join(&h.file));
            }
        }
    });
    open
}

/// A montage read from an index folder, or why there is none.
fn montage(ui: &mut egui::Ui, tex: Option<&TextureHandle>, side: f32, name: &str) {
    match tex {
        Some(t) => {
            let resp = image_box(ui, Some(t), side, "");
            name_image(&resp, name);
        }
        None => {
            ui.weak("the montage file is missing or unreadable (see the status bar)");
        }
    }
}
