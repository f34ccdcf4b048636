//! Every attribution method side by side on the current frame, and the sanity check's plot.

use deepvis_protocol::{BackInfo, BackMode, SanityReport};
use egui::{Color32, TextureHandle, TextureOptions};

use crate::picture::{Picture, blend_over, image_box, rgb_to_color};

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
    pictures: [Picture; METHODS],
}

impl CompareView {
    /// A method's finished map.
    pub fn set(&mut self, info: BackInfo, image: &image::RgbImage) {
        if let Some(i) = slot(info.method) {
            self.pictures[i].set(rgb_to_color(image));
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
        for p in &mut self.pictures {
            p.upload(ctx, "compare", TextureOptions::NEAREST);
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
                        let r = tile(ui, self.pictures[i].get(), under, side, label);
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
