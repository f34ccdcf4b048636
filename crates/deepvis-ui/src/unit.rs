//! The selected unit's pane: its map, the value under the pointer, its activity, the top-5.

use deepvis_protocol::{ClassProb, Event, OutputReading, UnitMap};
use egui::{Color32, Rect, Sense, Stroke, TextureOptions, Vec2};

use crate::Shared;
use crate::pane::{Pane, Place};
use crate::picture::{Picture, image_box, map_to_color, name_image};

/// The selected unit's map and the network's top-5 classes.
#[derive(Default)]
pub struct UnitPane {
    /// The unit map.
    pub unit: Option<UnitMap>,
    picture: Picture,
    /// Top-5 classes.
    pub predictions: Vec<ClassProb>,
    /// The output, when it is not class scores.
    pub output: Option<OutputReading>,
}

impl Pane for UnitPane {
    fn name(&self) -> &'static str {
        "selected unit"
    }

    fn place(&self) -> Place {
        Place::Left
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        match e {
            Event::UnitMap(m) => {
                self.picture.set(map_to_color(&m.values, m.width, m.height));
                self.unit = Some(m.clone());
            }
            Event::Predictions(p) => {
                self.predictions = p.clone();
                if !p.is_empty() {
                    self.output = None;
                }
            }
            Event::Output(r) => self.output = Some(r.clone()),
            Event::Ready { .. } => self.output = None,
            _ => {}
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, _shared: &mut Shared) {
        self.picture.upload(ctx, "unit", TextureOptions::NEAREST);
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.separator();
        let layer = shared.persisted.layer.clone().unwrap_or_default();
        match shared.persisted.selected {
            Some(c) => ui.heading(format!("unit {layer}:{c}")),
            None => ui.heading("unit"),
        };
        // the map large on the left; its values, activity and the classes beside it
        ui.columns(2, |cols| {
            if let [a, b] = cols {
                let hover = self.map_ui(a, shared);
                self.info_ui(b, shared, hover);
            }
        });
    }
}

impl UnitPane {
    /// The map: a click projects that place, a right click its maximum. Returns the pointer
    /// and the map's rectangle while hovered.
    fn map_ui(&self, ui: &mut egui::Ui, shared: &mut Shared) -> Option<(egui::Pos2, Rect)> {
        let side = ui.available_width().min(320.0);
        let resp = image_box(ui, self.picture.get(), side, "click a tile of the grid");
        let resp = resp.on_hover_text(
            "the unit's map on the frame: click a place to project it, right click for its \
             maximum",
        );
        let resp = resp.interact(Sense::click());
        name_image(&resp, "unit map");
        if let Some(u) = &self.unit {
            let r = resp.rect;
            let (cw, ch) = (
                r.width() / u.width.max(1) as f32,
                r.height() / u.height.max(1) as f32,
            );
            let (py, px) = shared.persisted.back.pos.unwrap_or(u.argmax);
            if u.width * u.height > 1 {
                ui.painter().rect_stroke(
                    Rect::from_min_size(
                        r.min + Vec2::new(px as f32 * cw, py as f32 * ch),
                        Vec2::new(cw, ch),
                    ),
                    0.0,
                    Stroke::new(1.5, Color32::from_rgb(255, 210, 40)),
                    egui::StrokeKind::Inside,
                );
            }
            let cell = |p: egui::Pos2| {
                let x = ((p.x - r.min.x) / cw).floor();
                let y = ((p.y - r.min.y) / ch).floor();
                (x >= 0.0 && y >= 0.0 && (x as usize) < u.width && (y as usize) < u.height)
                    .then_some((y as usize, x as usize))
            };
            let mut new_pos = None;
            if resp.clicked()
                && let Some(c) = resp.interact_pointer_pos().and_then(cell)
            {
                new_pos = Some(Some(c));
            }
            if resp.secondary_clicked() {
                new_pos = Some(None);
            }
            if let Some(p) = new_pos
                && p != shared.persisted.back.pos
            {
                shared.persisted.back.pos = p;
                shared.back_changed();
            }
        }
        resp.hover_pos().map(|p| (p, resp.rect))
    }

    /// Where the projection is, the value under the pointer, the unit's recent activity and
    /// the top-5 classes.
    fn info_ui(&self, ui: &mut egui::Ui, shared: &Shared, hover: Option<(egui::Pos2, Rect)>) {
        if let Some(u) = &self.unit {
            let text = match shared.persisted.back.pos {
                Some((y, x)) => format!("projecting (y {y}, x {x}); right click: the maximum"),
                None => format!(
                    "projecting the maximum (y {}, x {}); click the map for another place",
                    u.argmax.0, u.argmax.1
                ),
            };
            ui.weak(text);
        }
        if let (Some(u), Some((p, r))) = (&self.unit, hover) {
            let x = ((p.x - r.min.x) / r.width() * u.width as f32) as usize;
            let y = ((p.y - r.min.y) / r.height() * u.height as f32) as usize;
            if x < u.width && y < u.height {
                ui.label(format!(
                    "value at (y {y}, x {x}): {:.3}",
                    u.values[y * u.width + x]
                ));
            }
        } else if let Some(u) = &self.unit {
            let max = u.values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            ui.label(format!("max {:.3} (hover the map for values)", max));
        }
        if let Some(c) = shared.persisted.selected {
            // whole points, so that rounding never widens the pane
            let w = ui.available_width().floor() - 1.0;
            sparkline(ui, &shared.activity, c, w);
        }
        ui.separator();
        match &self.output {
            Some(r) => output_ui(ui, r),
            None => {
                ui.strong("top-5 classes");
                for p in &self.predictions {
                    ui.horizontal(|ui| {
                        ui.label(format!("{:>5.1}%", p.prob * 100.0));
                        ui.label(format!("{} ({})", p.label, p.index));
                    });
                }
            }
        }
    }
}

/// What the network's output is, when it is not class scores: its map's range, its strongest
/// boxes, its vector's norm.
fn output_ui(ui: &mut egui::Ui, r: &OutputReading) {
    match r {
        OutputReading::Map { image, min, max } => {
            ui.strong("output: a map over the frame");
            ui.label(format!(
                "{}x{}, values {min:.3} to {max:.3} (drawn over the input)",
                image.width(),
                image.height()
            ));
        }
        OutputReading::Boxes(b) => {
            ui.strong(format!("output: boxes ({} strongest)", b.len()));
            for d in b.iter().take(5) {
                ui.label(format!(
                    "class {} {:.2} at ({:.0}, {:.0})-({:.0}, {:.0})",
                    d.class, d.score, d.x0, d.y0, d.x1, d.y1
                ));
            }
        }
        OutputReading::Embedding { dim, norm } => {
            ui.strong("output: an embedding");
            ui.label(format!("{dim} values, norm {norm:.3}"));
        }
    }
}

/// Channel `c`'s maximum over the last [`crate::activity::HISTORY_SECS`] seconds, one point
/// per grid frame, as a line under its map.
fn sparkline(ui: &mut egui::Ui, activity: &crate::Activity, c: usize, width: f32) {
    let pts = activity.series(c);
    let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, 36.0), Sense::hover());
    name_image(&resp, "activity sparkline");
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let span = crate::activity::HISTORY_SECS;
    let finite = pts.iter().map(|p| p[1]).filter(|v| v.is_finite());
    let hi = finite.clone().fold(0.0f64, f64::max);
    let lo = finite.fold(0.0f64, f64::min);
    let range = (hi - lo).max(1e-9);
    let line: Vec<egui::Pos2> = pts
        .iter()
        .filter(|p| p[1].is_finite())
        .map(|p| {
            let x = rect.left() + ((p[0] + span) / span) as f32 * rect.width();
            let y = rect.bottom() - 2.0 - ((p[1] - lo) / range) as f32 * (rect.height() - 4.0);
            egui::pos2(x, y)
        })
        .collect();
    let green = Color32::from_rgb(90, 200, 120);
    match line.as_slice() {
        [] => {}
        [p] => {
            painter.circle_filled(*p, 2.0, green);
        }
        _ => {
            painter.add(egui::Shape::line(line, Stroke::new(1.5, green)));
        }
    }
    let now = pts.last().map(|p| p[1]).unwrap_or(0.0);
    resp.on_hover_text(format!(
        "the unit's maximum on each frame of the last {span:.0} s: now {now:.3}, highest {hi:.3}"
    ));
    ui.weak(format!(
        "max over the last {span:.0} s: now {now:.3}, highest {hi:.3}"
    ));
}
