//! The preferred-image pane: the picture, its run and controls, its plots and its settings.

use deepvis_protocol::{Command, Event, OptimSettings, PreReluMode, StopReason};
use egui::{Color32, TextureOptions};

use crate::pane::{Pane, Place};
use crate::picture::{Picture, image_box, name_image, rgb_to_color};
use crate::telemetry::TelemetryView;
use crate::{Shared, method, settings, words};

/// The preferred image's latest state.
#[derive(Clone, Debug, Default)]
pub struct PreferredView {
    /// Layer.
    pub layer: String,
    /// Channel.
    pub channel: usize,
    /// Iterations.
    pub iteration: usize,
    /// Objective.
    pub objective: f32,
    /// Activation.
    pub activation: f32,
    /// Mode in words.
    pub mode: String,
    /// What each tile is (several images side by side).
    pub captions: Vec<String>,
}

/// The preferred image, its run, its plots.
#[derive(Default)]
pub struct PreferredPane {
    /// The preferred image's latest state.
    pub view: Option<PreferredView>,
    picture: Picture,
    /// The picture seen through its transparency map (Fourier and MACO).
    seen: Picture,
    /// Whether the transparency map is hidden (it is shown beside the picture otherwise).
    hide_seen: bool,
    /// The judge's latest verdicts on the preferred image(s), with the layer and unit judged.
    pub judged: Option<(String, usize, Vec<deepvis_protocol::Verdict>)>,
    /// Why the preferred image stopped.
    pub stopped: Option<(StopReason, String)>,
    /// The last exported picture and its sidecar.
    pub exported: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The optimization's plot data.
    pub telemetry: TelemetryView,
}

impl Pane for PreferredPane {
    fn name(&self) -> &'static str {
        "preferred image pane"
    }

    fn place(&self) -> Place {
        Place::Right
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        match e {
            Event::Preferred {
                layer,
                channel,
                image,
                transparency,
                captions,
                iteration,
                objective,
                activation,
                mode,
            } => {
                if *iteration > 0
                    && self
                        .stopped
                        .as_ref()
                        .is_some_and(|s| s.0 != StopReason::ZeroGrad)
                {
                    self.stopped = None;
                }
                self.picture.set(rgb_to_color(image));
                match transparency {
                    Some(t) => self.seen.set(rgb_to_color(t)),
                    None => self.seen.clear(),
                }
                self.view = Some(PreferredView {
                    layer: layer.clone(),
                    channel: *channel,
                    iteration: *iteration,
                    objective: *objective,
                    activation: *activation,
                    mode: words::run_mode(*mode),
                    captions: captions.clone(),
                });
            }
            Event::Judged {
                layer,
                channel,
                verdicts,
            } => self.judged = Some((layer.clone(), *channel, verdicts.clone())),
            Event::Stopped { reason, iterations } => {
                self.stopped = Some((*reason, words::stop_message(*reason, *iterations)))
            }
            Event::Telemetry { run, points } => self.telemetry.push(*run, points),
            Event::Exported { png, json } => self.exported = Some((png.clone(), json.clone())),
            _ => {}
        }
    }

    fn seen(&mut self, c: &Command) {
        match c {
            Command::SelectUnit(_) => {
                self.stopped = None;
                self.view = None;
            }
            Command::ResetOptim => self.stopped = None,
            _ => {}
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, _shared: &mut Shared) {
        self.picture
            .upload(ctx, "preferred", TextureOptions::NEAREST);
        self.seen
            .upload(ctx, "preferred transparency", TextureOptions::LINEAR);
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        // the essentials first (they fit 1280x800 unscrolled), the rest folds
        self.image_ui(ui, shared);
        self.stop_ui(ui, shared);
        self.run_controls(ui, shared);
        let mut o = shared.persisted.optim;
        if method::pickers(ui, &mut o, shared.persisted.back.pos) {
            self.stopped = None;
            shared.set_optim(o);
        }
        self.export_ui(ui, shared);
        ui.separator();
        self.telemetry.ui(ui);
        self.folds(ui, shared);
    }
}

impl PreferredPane {
    /// The settings, each under a fold, and the learning rate's plot (folded).
    fn folds(&self, ui: &mut egui::Ui, shared: &mut Shared) {
        type Edit = fn(&mut egui::Ui, &mut OptimSettings) -> bool;
        let edits: [(&str, Edit); 3] = [
            ("regularizers and learning rate", settings::regularizers),
            ("parameterization, transforms, update", method::knobs),
            ("start, seed and objective", settings::start),
        ];
        for (title, edit) in edits {
            egui::CollapsingHeader::new(title)
                .default_open(true)
                .show(ui, |ui| {
                    let mut o = shared.persisted.optim;
                    if edit(ui, &mut o) {
                        shared.set_optim(o);
                    }
                });
        }
        egui::CollapsingHeader::new("learning rate and gradient norm")
            .show(ui, |ui| self.telemetry.gradient_ui(ui));
    }

    /// The picture, the run's numbers and mode, the judge's verdict and the tiles' captions.
    fn image_ui(&mut self, ui: &mut egui::Ui, shared: &Shared) {
        ui.heading("preferred image");
        let side = ui.available_width().min(320.0);
        let label = if shared.persisted.selected.is_some() {
            "forming..."
        } else {
            "click a tile to see what the unit prefers"
        };
        match self.seen.get().filter(|_| !self.hide_seen) {
            Some(seen) => {
                let seen = seen.clone();
                ui.horizontal(|ui| {
                    let half = (side - ui.spacing().item_spacing.x) / 2.0;
                    let resp = image_box(ui, self.picture.get(), half, label);
                    name_image(&resp, "preferred image view");
                    let resp = image_box(ui, Some(&seen), half, "");
                    name_image(&resp, "transparency map view");
                    resp.on_hover_text(
                        "the picture seen through its transparency map: the gradient on each \
                         pixel, accumulated since the start (where the network looked)",
                    );
                });
            }
            None => {
                let resp = image_box(ui, self.picture.get(), side, label);
                name_image(&resp, "preferred image view");
            }
        }
        if self.seen.get().is_some() {
            let mut show = !self.hide_seen;
            if ui
                .checkbox(&mut show, "where the network looked")
                .on_hover_text("the transparency map beside the picture (MACO's)")
                .changed()
            {
                self.hide_seen = !show;
            }
        }
        let Some(p) = &self.view else {
            return;
        };
        ui.add(
            egui::Label::new(format!(
                "{}:{}  iteration {}  objective {:.3}  activation {:.3}",
                p.layer, p.channel, p.iteration, p.objective, p.activation
            ))
            .truncate(),
        );
        ui.add(egui::Label::new(egui::RichText::new(p.mode.clone()).weak()).truncate());
        if let Some((layer, channel, v)) = &self.judged
            && *layer == p.layer
            && *channel == p.channel
        {
            let line = words::verdicts(v, &p.captions);
            ui.add(egui::Label::new(line).truncate())
                .on_hover_text("a second network classifies the picture as it forms (--judge)");
        }
        if !p.captions.is_empty() {
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!("tiles: {}", p.captions.join(" | "))).weak(),
                )
                .truncate(),
            );
        }
    }

    /// Why the run stopped, and the way past a zero gradient where there is one.
    fn stop_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some((reason, msg)) = &self.stopped else {
            return;
        };
        let reason = *reason;
        ui.colored_label(Color32::from_rgb(230, 140, 40), msg.clone());
        // a pooling's units have no ReLU of their own: no pre-ReLU value to turn to
        let relu = shared
            .layer_index()
            .and_then(|i| shared.layers.get(i))
            .is_none_or(|l| l.relu);
        if reason == StopReason::ZeroGrad && !relu {
            ui.label(words::NO_RELU_HERE);
        }
        if reason == StopReason::ZeroGrad
            && relu
            && ui
                .button("use the pre-ReLU objective")
                .on_hover_text("optimize the unit's value before its ReLU, which has a gradient")
                .clicked()
        {
            shared.persisted.optim.pre_relu = PreReluMode::On;
            self.stopped = None;
            shared.optim_changed();
        }
    }

    /// Run or pause, reset, and the paper's presets.
    fn run_controls(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.horizontal_wrapped(|ui| {
            let running = shared.persisted.running;
            if ui
                .button(if running { "pause" } else { "run" })
                .on_hover_text("stop or resume the gradient ascent (space)")
                .clicked()
            {
                shared.set_running(!running);
            }
            if ui
                .button("reset")
                .on_hover_text("start the image over from its start image (r)")
                .clicked()
            {
                self.stopped = None;
                shared.send(Command::ResetOptim);
            }
            ui.separator();
            ui.label("preset");
            for n in 1..=4u8 {
                if ui
                    .button(n.to_string())
                    .on_hover_text(format!(
                        "the paper's regularization setting {n} (Yosinski et al. 2015, table 1)"
                    ))
                    .clicked()
                {
                    shared.apply_preset(n);
                }
            }
        });
    }

    /// The export button and the last picture saved.
    fn export_ui(&self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.horizontal_wrapped(|ui| {
            let has_run = self.view.is_some();
            if ui
                .add_enabled(has_run, egui::Button::new("export"))
                .on_hover_text(
                    "save the image as a PNG in ~/deepvis with a JSON of everything that made \
                     it (deepvis optimize --from that JSON makes it again; drop the JSON on the \
                     window to restore these settings)",
                )
                .clicked()
                && let Some(p) = &self.view
            {
                let name = format!(
                    "preferred-{}-{}-{}.png",
                    p.layer.replace(['/', '\\'], "_"),
                    p.channel,
                    crate::player::stamp()
                );
                let dir = crate::player::output_dir();
                // a folder that cannot be made is the worker's export error, which names it
                let _ = std::fs::create_dir_all(&dir);
                shared.send(Command::Export(dir.join(name)));
            }
            if let Some((png, _)) = &self.exported {
                ui.weak(format!(
                    "saved {}",
                    png.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ))
                .on_hover_text(png.display().to_string());
            }
        });
    }
}
