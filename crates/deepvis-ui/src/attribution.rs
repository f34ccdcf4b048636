//! The attribution view: the selected unit's map under the chosen method (with a progress mark
//! for the methods of many passes), its pickers and settings, the switches of the compare view
//! and of the sanity check, which it owns.

use deepvis_protocol::{
    AttrOptions, BackFilter, BackInfo, BackMode, BackSettings, ColorMap, Command, Event,
};
use egui::{TextureHandle, TextureOptions};

pub use crate::compare::{CompareView, SanityView};

use crate::Shared;
use crate::picture::{Picture, image_box, name_image, rgb_to_color};

/// The selected unit's attribution, every method side by side, and the sanity check.
#[derive(Default)]
pub struct AttributionView {
    /// The latest map's facts.
    pub back: Option<BackInfo>,
    /// The method of many passes under way: (method, done, total).
    pub progress: Option<(BackMode, usize, usize)>,
    picture: Picture,
    /// Every method side by side.
    pub compare: CompareView,
    /// The sanity check.
    pub sanity: SanityView,
}

impl AttributionView {
    /// Takes the maps, their progress and the sanity reports.
    pub(crate) fn apply(&mut self, e: &Event, shared: &mut Shared) {
        match e {
            Event::Back { info, image } => {
                self.picture.set(rgb_to_color(image));
                self.progress = None;
                self.back = Some(info.clone());
            }
            Event::BackProgress {
                compare: false,
                method,
                done,
                total,
            } => self.progress = Some((*method, *done, *total)),
            Event::BackProgress {
                compare: true,
                method,
                done,
                total,
            } => self.compare.set_progress(*method, *done, *total),
            Event::Compare { info, image } => self.compare.set(info.clone(), image),
            Event::Sanity(r) => self.sanity.set(r.clone()),
            Event::Restarted { .. } => {
                // what the worker does not keep in its settings
                self.progress = None;
                self.sanity.running = false;
                if self.compare.on {
                    shared.send(Command::SetCompare(true));
                }
            }
            _ => {}
        }
    }

    /// Another unit or layer: its maps go; new settings: what was under way starts over.
    pub(crate) fn seen(&mut self, c: &Command) {
        match c {
            Command::SelectUnit(_) | Command::SelectLayer(_) => {
                self.back = None;
                self.progress = None;
                self.compare.clear();
                self.sanity = SanityView::default();
                self.picture.clear();
            }
            Command::SetBack(_) => self.progress = None,
            _ => {}
        }
    }

    /// Uploads the maps.
    pub(crate) fn prepare(&mut self, ctx: &egui::Context) {
        self.picture
            .upload(ctx, "attribution", TextureOptions::NEAREST);
        self.compare.upload(ctx);
    }

    /// The map, once one came.
    pub(crate) fn texture(&self) -> Option<&TextureHandle> {
        self.picture.get()
    }

    /// Shows every method side by side (true) or stops (false).
    pub fn set_compare(&mut self, on: bool, shared: &mut Shared) {
        self.compare.on = on;
        if !on {
            self.compare.clear();
        }
        shared.send(Command::SetCompare(on));
    }

    /// Method, filter, colour map, the method's settings, the compare and sanity switches and
    /// the map.
    pub(crate) fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.heading("attribution");
        let mut b = shared.persisted.back.clone();
        pickers(ui, &mut b);
        settings_ui(ui, &mut b, &shared.layers);
        let off = b.mode == BackMode::Off;
        if b != shared.persisted.back {
            shared.persisted.back = b;
            self.progress = None;
            shared.back_changed();
        }
        self.switches(ui, shared);
        if off {
            ui.weak("off: pick a method to see what in the frame drives the unit");
            return;
        }
        self.map_ui(ui, shared);
    }

    /// Compare every method, and the sanity check (or its cancel button while it runs).
    fn switches(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.horizontal_wrapped(|ui| {
            let mut on = self.compare.on;
            if ui
                .checkbox(&mut on, "compare all (c)")
                .on_hover_text("every method side by side on the current frame")
                .changed()
            {
                self.set_compare(on, shared);
            }
            if self.sanity.running {
                if ui
                    .button("cancel sanity check")
                    .on_hover_text("stop randomizing layers")
                    .clicked()
                {
                    self.sanity.running = false;
                    shared.send(Command::Sanity(false));
                }
            } else if ui
                .add_enabled(
                    shared.persisted.selected.is_some(),
                    egui::Button::new("sanity check"),
                )
                .on_hover_text(
                    "recompute this map with the network's layers randomized from the top, and \
                     plot how similar each stays (Adebayo et al. 2018)",
                )
                .clicked()
            {
                self.sanity.running = true;
                self.sanity.report = None;
                shared.send(Command::Sanity(true));
            }
        });
    }

    /// The map, its progress while a method of many passes runs, and what it shows.
    fn map_ui(&self, ui: &mut egui::Ui, shared: &Shared) {
        let side = ui.available_width().min(300.0);
        let label = if shared.persisted.selected.is_some() {
            "computing..."
        } else {
            "click a tile of the grid"
        };
        let resp = image_box(ui, self.picture.get(), side, label);
        name_image(&resp, "back-projection");
        if let Some((m, done, total)) = self.progress
            && m == shared.persisted.back.mode
        {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(side)
                    .text(format!("{} {done}/{total} passes", m.title())),
            );
        }
        if let Some(v) = &self.back {
            let at = v
                .pos
                .map(|(y, x)| format!(" at (y {y}, x {x})"))
                .unwrap_or_default();
            ui.label(format!(
                "{}:{}{at}  value {:.3}  {:.0} ms, {} pass{}",
                v.layer,
                v.channel,
                v.value,
                v.ms,
                v.passes,
                if v.passes == 1 { "" } else { "es" }
            ));
            ui.weak(crate::words::back_info(v));
        }
    }
}

/// The method, filter and colour map pickers.
fn pickers(ui: &mut egui::Ui, b: &mut BackSettings) {
    ui.horizontal_wrapped(|ui| {
        egui::ComboBox::new("back mode", "method (b)")
            .selected_text(b.mode.title())
            .show_ui(ui, |ui| {
                for m in BackMode::ALL {
                    ui.selectable_value(&mut b.mode, m, m.title());
                }
            })
            .response
            .on_hover_text(
                "how the unit is explained on the frame: its gradient, deconvnet, guided \
                 backprop, Grad-CAM(++), occlusion, SmoothGrad or integrated gradients",
            );
        egui::ComboBox::new("back filter", "filter (n)")
            .selected_text(b.filter.as_str())
            .show_ui(ui, |ui| {
                for f in BackFilter::ALL {
                    ui.selectable_value(&mut b.filter, f, f.as_str());
                }
            })
            .response
            .on_hover_text(
                "raw: signed colour; gray: one channel; norm: the per-pixel length; normblur: \
                 the norm smoothed (the original toolbox's four views)",
            );
        egui::ComboBox::new("back cmap", "colours (m)")
            .selected_text(b.cmap.as_str())
            .show_ui(ui, |ui| {
                for c in ColorMap::ALL {
                    ui.selectable_value(&mut b.cmap, c, c.as_str());
                }
            })
            .response
            .on_hover_text(
                "the colours of the map: gray, blue-white-red for signs, or a heat scale",
            );
    });
}

/// The current method's own settings, under a fold.
fn settings_ui(
    ui: &mut egui::Ui,
    b: &mut deepvis_protocol::BackSettings,
    layers: &[deepvis_protocol::LayerSummary],
) {
    let whole = &mut b.whole_map;
    let o = &mut b.options;
    egui::CollapsingHeader::new("method settings")
        .id_salt("attr settings")
        .show(ui, |ui| {
            ui.checkbox(whole, "the whole channel")
                .on_hover_text("explain the mean of the unit's map, not its value at one place");
            ui.horizontal_wrapped(|ui| {
                let shown = o.target_layer.clone().unwrap_or_else(|| "auto".into());
                egui::ComboBox::new("cam layer", "Grad-CAM layer")
                    .selected_text(shown)
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut o.target_layer, None, "auto");
                        for l in layers.iter().filter(|l| l.height * l.width > 1) {
                            ui.selectable_value(&mut o.target_layer, Some(l.name.clone()), &l.name);
                        }
                    })
                    .response
                    .on_hover_text(
                        "the layer whose activations Grad-CAM weighs (auto: the last spatial \
                         layer below the unit)",
                    );
            });
            for knob in deepvis_protocol::AttrOptions::KNOBS {
                knob_ui(ui, knob, o);
            }
        });
}

/// One of the methods' settings, drawn as its row of the knob table says: a slider, a checkbox
/// or its choices.
fn knob_ui(ui: &mut egui::Ui, knob: &deepvis_protocol::AttrKnob, o: &mut AttrOptions) {
    use deepvis_protocol::AttrKnobKind;
    let value = (knob.get)(o);
    let mut changed = None;
    match knob.kind {
        AttrKnobKind::Count { min, max } => {
            let mut v = value.max(0.0).round() as usize;
            let r = ui.add(egui::Slider::new(&mut v, min..=max).text(knob.label));
            if r.on_hover_text(knob.hover).changed() {
                changed = Some(v as f64);
            }
        }
        AttrKnobKind::Number { min, max } => {
            let mut v = value;
            let r = ui.add(egui::Slider::new(&mut v, min..=max).text(knob.label));
            if r.on_hover_text(knob.hover).changed() {
                changed = Some(v);
            }
        }
        AttrKnobKind::Switch => {
            let mut on = value != 0.0;
            if ui
                .checkbox(&mut on, knob.label)
                .on_hover_text(knob.hover)
                .changed()
            {
                changed = Some(f64::from(u8::from(on)));
            }
        }
        AttrKnobKind::Choice(names) => {
            ui.horizontal(|ui| {
                ui.label(knob.label);
                for (i, name) in names.iter().enumerate() {
                    let picked = value.round() as usize == i;
                    let r = ui.selectable_label(picked, *name).on_hover_text(knob.hover);
                    if r.clicked() {
                        changed = Some(i as f64);
                    }
                }
            });
        }
    }
    if let Some(v) = changed {
        (knob.set)(o, v);
    }
}
