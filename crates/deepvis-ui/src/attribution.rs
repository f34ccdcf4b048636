//! The attribution pane (the selected unit's map under the chosen method, its settings and a
//! progress mark for the methods of many passes), the compare view (every method side by side
//! on the current frame) and the sanity check's plot.

use deepvis_protocol::{BackFilter, BackInfo, BackMode, Baseline, ColorMap, Command, SanityReport};
use egui::{Color32, ColorImage, TextureHandle, TextureOptions};

use crate::panes::{blend_over, image_box};
use crate::{DeepvisApp, Pic};

const METHODS: usize = BackMode::METHODS.len();

fn slot(m: BackMode) -> Option<usize> {
    BackMode::METHODS.iter().position(|x| *x == m)
}

/// Draws `tex` into a square of `side` (the input under it at `alpha` when given), or a dark
/// square with `label`.
fn tile(
    ui: &mut egui::Ui,
    tex: Option<&TextureHandle>,
    under: Option<&TextureHandle>,
    side: f32,
    label: &str,
) -> egui::Response {
    match (tex, under) {
        (Some(t), Some(u)) => {
            let resp = image_box(ui, Some(u), side, label);
            blend_over(ui, resp.rect, t);
            resp
        }
        _ => image_box(ui, tex, side, label),
    }
}

/// Every method's map of the selected unit side by side, each refreshed when its turn in the
/// worker's round comes.
#[derive(Default)]
pub struct CompareView {
    /// Whether it shows (and the worker computes it).
    pub on: bool,
    infos: [Option<BackInfo>; METHODS],
    progress: [Option<(usize, usize)>; METHODS],
    tex: [Option<TextureHandle>; METHODS],
    pending: [Option<ColorImage>; METHODS],
}

impl CompareView {
    /// A method's finished map.
    pub fn set(&mut self, info: BackInfo, image: &image::RgbImage) {
        if let Some(i) = slot(info.method) {
            self.pending[i] = Some(ColorImage::from_rgb(
                [image.width() as usize, image.height() as usize],
                image.as_raw(),
            ));
            self.progress[i] = None;
            self.infos[i] = Some(info);
        }
    }

    /// A method of many passes moved on.
    pub fn set_progress(&mut self, m: BackMode, done: usize, total: usize) {
        if let Some(i) = slot(m) {
            self.progress[i] = Some((done, total));
        }
    }

    /// What a method's tile shows: its map (when one came) and its progress.
    pub fn state(&self, m: BackMode) -> (Option<&BackInfo>, Option<(usize, usize)>) {
        slot(m).map_or((None, None), |i| (self.infos[i].as_ref(), self.progress[i]))
    }

    /// Forgets every map (another unit).
    pub fn clear(&mut self) {
        let on = self.on;
        *self = CompareView {
            on,
            ..CompareView::default()
        };
    }

    pub(crate) fn upload(&mut self, ctx: &egui::Context) {
        for i in 0..METHODS {
            if let Some(img) = self.pending[i].take() {
                match &mut self.tex[i] {
                    Some(t) => t.set(img, TextureOptions::NEAREST),
                    None => {
                        self.tex[i] = Some(ctx.load_texture(
                            format!("compare {i}"),
                            img,
                            TextureOptions::NEAREST,
                        ))
                    }
                }
            }
        }
    }

    /// The tiles, four to a row; `under` is the input, drawn beneath when blending.
    pub fn ui(&mut self, ui: &mut egui::Ui, under: Option<&TextureHandle>) {
        let cols = 4;
        let gap = ui.spacing().item_spacing.x;
        let side = ((ui.available_width() - gap * (cols as f32 - 1.0)) / cols as f32).max(40.0);
        egui::Grid::new("compare grid")
            .spacing([gap, 2.0])
            .show(ui, |ui| {
                for (i, &m) in BackMode::METHODS.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.set_width(side);
                        ui.add(egui::Label::new(egui::RichText::new(m.title()).small()).truncate());
                        let label = if self.progress[i].is_some() {
                            "computing"
                        } else {
                            "waiting its turn"
                        };
                        let r = tile(ui, self.tex[i].as_ref(), under, side, label);
                        r.widget_info(|| {
                            egui::WidgetInfo::labeled(
                                egui::Role::Image,
                                true,
                                format!("compare {}", m.as_str()),
                            )
                        });
                        if let Some((done, total)) = self.progress[i] {
                            ui.add(
                                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                                    .desired_width(side)
                                    .text(format!("{done}/{total}")),
                            );
                        } else if let Some(info) = &self.infos[i] {
                            let zero = match info.all_zero {
                                true => ", all zero",
                                false => "",
                            };
                            ui.weak(
                                egui::RichText::new(format!("{:.0} ms{zero}", info.ms)).small(),
                            )
                            .on_hover_text(crate::words::back_info(info));
                        }
                    });
                    if (i + 1) % cols == 0 {
                        ui.end_row();
                    }
                }
            });
    }
}

/// The sanity check's comparisons as a plot: similarity to the trained network's map as the
/// layers are randomized from the top.
#[derive(Default)]
pub struct SanityView {
    /// The latest report.
    pub report: Option<SanityReport>,
    /// Whether a check is running.
    pub running: bool,
}

impl SanityView {
    /// A report came.
    pub fn set(&mut self, r: SanityReport) {
        self.running = r.error.is_none() && r.done < r.total;
        self.report = Some(r);
    }

    /// The plot and a line of explanation.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        use egui_plot::{HLine, Legend, Line, Plot, PlotPoints};
        let Some(r) = &self.report else {
            return;
        };
        ui.strong(format!(
            "sanity check: {} of {}:{}",
            r.method.title(),
            r.layer,
            r.channel
        ));
        let series = |f: fn(&deepvis_protocol::SanityStep) -> f32| -> PlotPoints {
            std::iter::once([0.0, 1.0])
                .chain(r.steps.iter().map(|s| [s.randomized as f64, f(s) as f64]))
                .collect()
        };
        let resp = Plot::new("sanity plot")
            .height(110.0)
            .legend(Legend::default())
            .include_y(-0.2)
            .include_y(1.0)
            .include_x(0.0)
            .include_x((r.total.max(2) - 1) as f64)
            .allow_scroll(false)
            .show(ui, |p| {
                p.line(
                    Line::new("rank correlation", series(|s| s.spearman))
                        .color(Color32::from_rgb(240, 150, 40)),
                );
                p.line(
                    Line::new("SSIM", series(|s| s.ssim)).color(Color32::from_rgb(80, 150, 240)),
                );
                p.hline(HLine::new("", 0.0).color(Color32::GRAY));
            })
            .response;
        resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "sanity plot"));
        let last = r.steps.last();
        let text = match (&r.error, last) {
            (Some(e), _) => format!("stopped: {e}"),
            (None, None) => format!(
                "computing the trained network's map ({}/{})",
                r.done, r.total
            ),
            (None, Some(s)) => format!(
                "{} of {} maps; top {} layers randomized (down to {}): rank correlation {:.2}, SSIM {:.2}",
                r.done, r.total, s.randomized, s.node, s.spearman, s.ssim
            ),
        };
        ui.weak(text);
        ui.weak(
            "x: parametric layers re-initialised from the top. A map that stays similar \
             (high lines) shows the image, not what the network learned.",
        );
    }
}

/// The selected unit's attribution: method, filter, colour map, the method's settings, its
/// map (with a progress mark while a method of many passes runs), the compare switch and the
/// sanity check.
pub fn attribution_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    ui.heading("attribution");
    let mut b = app.persisted.back.clone();
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
    settings_ui(ui, &mut b, &app.layers);
    let off = b.mode == BackMode::Off;
    if b != app.persisted.back {
        app.persisted.back = b;
        app.back_changed();
    }
    ui.horizontal_wrapped(|ui| {
        let mut on = app.compare.on;
        if ui
            .checkbox(&mut on, "compare all (c)")
            .on_hover_text("every method side by side on the current frame")
            .changed()
        {
            app.set_compare(on);
        }
        if app.sanity.running {
            if ui
                .button("cancel sanity check")
                .on_hover_text("stop randomizing layers")
                .clicked()
            {
                app.sanity.running = false;
                app.send(Command::Sanity(false));
            }
        } else if ui
            .add_enabled(
                app.persisted.selected.is_some(),
                egui::Button::new("sanity check"),
            )
            .on_hover_text(
                "recompute this map with the network's layers randomized from the top, and \
                 plot how similar each stays (Adebayo et al. 2018)",
            )
            .clicked()
        {
            app.sanity.running = true;
            app.sanity.report = None;
            app.send(Command::Sanity(true));
        }
    });
    if off {
        ui.weak("off: pick a method to see what in the frame drives the unit");
        return;
    }
    let side = ui.available_width().min(300.0);
    let label = if app.persisted.selected.is_some() {
        "computing..."
    } else {
        "click a tile of the grid"
    };
    let resp = image_box(ui, app.pics.get(Pic::Back), side, label);
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "back-projection"));
    if let Some((m, done, total)) = app.back_progress
        && m == app.persisted.back.mode
    {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .desired_width(side)
                .text(format!("{} {done}/{total} passes", m.title())),
        );
    }
    if let Some(v) = &app.back {
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
            ui.add(egui::Slider::new(&mut o.occlusion.patch, 4..=112).text("occlusion patch px"))
                .on_hover_text("the side of the gray square slid over the frame");
            ui.add(egui::Slider::new(&mut o.occlusion.stride, 2..=112).text("occlusion stride px"))
                .on_hover_text("how far the square moves between two tries");
            ui.add(
                egui::Slider::new(&mut o.smoothgrad.samples, 1..=100).text("SmoothGrad samples"),
            )
            .on_hover_text("how many noisy copies of the frame are averaged");
            ui.add(
                egui::Slider::new(&mut o.smoothgrad.noise, 0.0..=0.5)
                    .text("SmoothGrad noise (of range)"),
            )
            .on_hover_text("the noise's standard deviation, as a share of the input's range");
            ui.checkbox(&mut o.smoothgrad.guided, "SmoothGrad over guided backprop")
                .on_hover_text("average guided backprop instead of the plain gradient");
            ui.add(egui::Slider::new(&mut o.ig.steps, 1..=256).text("IG steps"))
                .on_hover_text("integrated gradients: points on the path from the baseline");
            ui.horizontal(|ui| {
                ui.label("IG baseline");
                for bl in Baseline::ALL {
                    ui.selectable_value(&mut o.ig.baseline, bl, bl.as_str())
                        .on_hover_text("the image the path to the frame starts from");
                }
            });
            ui.add(egui::Slider::new(&mut o.batch, 1..=64).text("images per pass"))
                .on_hover_text("how many images one forward pass takes (memory against speed)");
        });
}
