//! The bar on top: model, layer, source, freeze, file steps, help and theme.

use deepvis_protocol::{Command, DeviceOffer, DeviceRef, Event, SourceSpec};
use egui::Key;

use crate::Shared;
use crate::pane::{Pane, Place};

/// The top bar's own state: what is typed and offered in its pickers.
pub struct TopBar {
    /// The model file typed in the model picker.
    pub model_input: String,
    /// The devices the worker found (cameras, the synthetic pattern, ...).
    pub devices: Vec<DeviceOffer>,
    /// What it could not find or look at (`no camera found`).
    pub device_notes: Vec<String>,
    /// The size asked of a device chosen next.
    pub resolution: (u32, u32),
}

impl Default for TopBar {
    fn default() -> TopBar {
        TopBar {
            model_input: String::new(),
            devices: Vec::new(),
            device_notes: Vec::new(),
            resolution: (640, 480),
        }
    }
}

impl Pane for TopBar {
    fn name(&self) -> &'static str {
        "top bar"
    }

    fn place(&self) -> Place {
        Place::Top
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        if let Event::Devices { offers, notes } = e {
            self.devices = offers.clone();
            self.device_notes = notes.clone();
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        // wraps on a narrow window rather than hiding its last controls
        ui.horizontal_wrapped(|ui| {
            ui.strong("deepvis");
            self.model_picker(ui, shared);
            ui.separator();
            layer_picker(ui, shared);
            ui.separator();
            self.source_picker(ui, shared);
            frame_controls(ui, shared);
            ui.separator();
            if ui
                .button("help (h)")
                .on_hover_text("every key and mouse binding")
                .clicked()
            {
                shared.show_help = !shared.show_help;
            }
            theme_picker(ui);
        });
    }
}

impl TopBar {
    /// The network: its name, and a field to open an ONNX file (or drop one on the window).
    fn model_picker(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let name = shared.model.clone().unwrap_or_else(|| "loading".into());
        let mut open = false;
        egui::ComboBox::new("model picker", "model")
            .selected_text(short(&name))
            .show_ui(ui, |ui| {
                ui.label("open an ONNX model (path):");
                let edit = ui.text_edit_singleline(&mut self.model_input);
                let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                open = ui
                    .button("open")
                    .on_hover_text("load this ONNX file (the current model stays if it fails)")
                    .clicked()
                    || enter;
                ui.label("or drop an .onnx file on the window");
            })
            .response
            .on_hover_text("the network; open any ONNX CNN here");
        let path = self.model_input.trim().to_string();
        if open && !path.is_empty() {
            shared.send(Command::OpenModel(path.into()));
        }
    }

    /// The devices the worker offers (cameras, the synthetic pattern, ...) at a resolution, or
    /// the current file source.
    fn source_picker(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let (w, h) = self.resolution;
        let mut chosen: Option<SourceSpec> = None;
        egui::ComboBox::new("source picker", "source")
            .selected_text(short(&shared.source.label))
            .show_ui(ui, |ui| {
                for note in &self.device_notes {
                    ui.label(note);
                }
                for offer in &self.devices {
                    if ui.selectable_label(false, &offer.label).clicked() {
                        chosen = Some(SourceSpec::Device(DeviceRef {
                            width: w,
                            height: h,
                            ..offer.device.clone()
                        }));
                    }
                }
                ui.label("or drop a photo, a video or a folder on the window");
            })
            .response
            .on_hover_text("where the frames come from: a camera, the synthetic pattern, files");
        egui::ComboBox::new("resolution picker", "size")
            .selected_text(format!("{w}x{h}"))
            .show_ui(ui, |ui| {
                for r in [(320, 240), (640, 480), (1280, 720), (1920, 1080)] {
                    ui.selectable_value(&mut self.resolution, r, format!("{}x{}", r.0, r.1));
                }
            })
            .response
            .on_hover_text("the size asked of a camera chosen next");
        if let Some(spec) = chosen {
            shared.set_source(spec);
        }
    }
}

/// The grid's layer (channels x height x width each), and the buttons to the previous and
/// next one.
fn layer_picker(ui: &mut egui::Ui, shared: &mut Shared) {
    let current = shared.persisted.layer.clone().unwrap_or_default();
    let mut chosen = None;
    egui::ComboBox::new("layer picker", "layer")
        .selected_text(current.clone())
        .show_ui(ui, |ui| {
            for (i, l) in shared.layers.iter().enumerate() {
                let mark = if l.gelu { "  * GELU" } else { "" };
                let text = format!(
                    "{} ({}x{}x{}){mark}",
                    l.name, l.channels, l.height, l.width
                );
                if ui.selectable_label(l.name == current, text).clicked() {
                    chosen = Some(i);
                }
            }
        })
        .response
        .on_hover_text(
            "the layer the grid shows (channels x height x width); * GELU: a transformer MLP's \
             hidden units, the ones worth visualizing",
        );
    if let Some(i) = chosen {
        shared.select_layer(i);
    }
    if ui.button("< u").on_hover_text("previous layer").clicked() {
        shared.step_layer(false);
    }
    if ui.button("o >").on_hover_text("next layer").clicked() {
        shared.step_layer(true);
    }
}

/// Freeze, and the previous and next file of a folder.
fn frame_controls(ui: &mut egui::Ui, shared: &mut Shared) {
    let mut frozen = shared.frozen;
    if ui
        .toggle_value(&mut frozen, "freeze (f)")
        .on_hover_text("keep the current frame while you explore it")
        .changed()
    {
        shared.freeze(frozen);
    }
    if ui
        .button("< file")
        .on_hover_text("the previous file of a folder source (w)")
        .clicked()
    {
        shared.send(Command::StepFile(-1));
    }
    if ui
        .button("file >")
        .on_hover_text("the next file of a folder source (e)")
        .clicked()
    {
        shared.send(Command::StepFile(1));
    }
}

/// Dark, light, or the system's theme (egui keeps the choice with the window's settings).
fn theme_picker(ui: &mut egui::Ui) {
    use egui::ThemePreference;
    let mut pref = ui.ctx().options(|o| o.theme_preference);
    let name = |p: ThemePreference| match p {
        ThemePreference::Dark => "dark",
        ThemePreference::Light => "light",
        ThemePreference::System => "system",
    };
    let before = pref;
    egui::ComboBox::new("theme picker", "theme")
        .selected_text(name(pref))
        .show_ui(ui, |ui| {
            for p in [
                ThemePreference::System,
                ThemePreference::Dark,
                ThemePreference::Light,
            ] {
                ui.selectable_value(&mut pref, p, name(p));
            }
        })
        .response
        .on_hover_text("dark or light colours, or the system's");
    if pref != before {
        ui.ctx().set_theme(pref);
    }
}

/// `s`, its start cut to `...` past 28 characters.
pub(crate) fn short(s: &str) -> String {
    let n = s.chars().count();
    if n > 28 {
        format!("...{}", s.chars().skip(n - 25).collect::<String>())
    } else {
        s.to_string()
    }
}
