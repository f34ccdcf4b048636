//! The input view: the frame, the map over it, the unit's field, the source, player and recording.

use deepvis_protocol::{Detection, Event, OutputReading};
use egui::{Color32, Rect, Stroke, TextureHandle, TextureOptions, Vec2};

use crate::Shared;
use crate::picture::{Picture, blend_over, image_box, name_image, rgb_to_color};
use crate::player::PlayerPane;

/// The input frame, the unit's receptive field on it, and the player.
#[derive(Default)]
pub struct InputView {
    picture: Picture,
    /// The network's output when it is a map over the frame.
    output_map: Picture,
    /// The network's output when it is boxes (input pixels).
    pub boxes: Vec<Detection>,
    /// The attention view's map over the patches, and the patch grid `(h, w)`.
    attention: Picture,
    /// The patch grid of the attention view's map.
    pub attention_grid: Option<(usize, usize)>,
    /// The selected unit's place on its map (where it peaks) and the map's size.
    pub unit_cell: Option<((usize, usize), (usize, usize))>,
    /// The selected unit's receptive field at its projected position: [y0, x0, y1, x1].
    pub field: Option<[i64; 4]>,
    /// The video player and the recordings.
    pub player: PlayerPane,
}

impl InputView {
    /// Takes the frames, the unit's field and the recordings' reports.
    pub(crate) fn apply(&mut self, e: &Event) {
        match e {
            Event::Input(img) => self.picture.set(rgb_to_color(img)),
            Event::Output(OutputReading::Map { image, .. }) => {
                self.output_map.set(heat_to_color(image));
                self.boxes.clear();
            }
            Event::Output(OutputReading::Boxes(b)) => {
                self.boxes = b.clone();
                self.output_map.clear();
            }
            // another model's output, or class scores
            Event::Output(OutputReading::Embedding { .. }) | Event::Ready { .. } => {
                self.boxes.clear();
                self.output_map.clear();
                self.attention.clear();
                self.attention_grid = None;
            }
            Event::Attention { map, h, w, .. } => {
                let px = deepvis_viz::gray_levels(map);
                if let Some(img) = image::GrayImage::from_raw(*w as u32, *h as u32, px) {
                    self.attention.set(heat_to_color(&img));
                    self.attention_grid = Some((*h, *w));
                }
            }
            Event::UnitMap(m) => {
                self.field = Some(m.field);
                self.unit_cell = Some((m.argmax, (m.height, m.width)));
            }
            Event::Recording { what, status } => self.player.set_recording(*what, status.clone()),
            // its recordings were closed with it (the files are whole)
            Event::Restarted { .. } => self.player.worker_restarted(),
            _ => {}
        }
    }

    /// Uploads the frame.
    pub(crate) fn prepare(&mut self, ctx: &egui::Context) {
        self.picture.upload(ctx, "input", TextureOptions::NEAREST);
        self.output_map
            .upload(ctx, "output map", TextureOptions::LINEAR);
        self.attention
            .upload(ctx, "attention map", TextureOptions::NEAREST);
    }

    /// The frame, once one came.
    pub(crate) fn texture(&self) -> Option<&TextureHandle> {
        self.picture.get()
    }

    /// The input pane; `map` is the attribution map, blended over the frame on demand.
    pub(crate) fn ui(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        map: Option<&TextureHandle>,
    ) {
        ui.heading("input");
        let s = &shared.source;
        if !s.message.is_empty() {
            let color = if s.ok {
                ui.visuals().weak_text_color()
            } else {
                Color32::from_rgb(220, 120, 40)
            };
            let text = egui::RichText::new(s.message.clone()).color(color);
            ui.add(egui::Label::new(text).truncate());
        }
        self.frame_ui(ui, shared, map);
        let p = &mut shared.persisted;
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(&mut p.show_field, "receptive field")
                .on_hover_text("the pixels the selected unit sees at its projected position");
            ui.checkbox(&mut p.overlay, "blend maps (v)")
                .on_hover_text("draw the attribution map over the input");
            if self.output_map.get().is_some() || !self.boxes.is_empty() {
                ui.checkbox(&mut p.show_output, "output").on_hover_text(
                    "draw the network's output (its map or its boxes) over the input",
                );
            }
        });
        if p.show_field
            && let Some([y0, x0, y1, x1]) = self.field
            && p.selected.is_some()
        {
            ui.weak(format!(
                "field rows {y0}..{y1}, columns {x0}..{x1} ({}x{} px)",
                y1 - y0,
                x1 - x0
            ));
        }
        self.player.ui(ui, shared);
        if shared.frozen && shared.playback.is_none() {
            ui.label("frozen (f)");
        }
        self.player.record_ui(ui, shared);
    }

    /// The frame, the map over it and the receptive field's outline.
    fn frame_ui(&self, ui: &mut egui::Ui, shared: &mut Shared, map: Option<&TextureHandle>) {
        let p = &shared.persisted;
        let side = ui.available_width().min(300.0);
        let tex = self.picture.get();
        let resp = image_box(ui, tex, side, "waiting for a frame");
        name_image(&resp, "input frame");
        let resp = resp.interact(egui::Sense::click());
        let rect = resp.rect;
        let input_side = tex.map(|t| t.size()[0].max(1) as f32);
        if p.overlay
            && let (Some(t), Some(_)) = (map, input_side)
        {
            blend_over(ui, rect, t);
        }
        if p.show_output
            && let Some(n) = input_side
        {
            self.output_ui(ui, rect, n);
        }
        if let (Some(ask), Some(t)) = (shared.attention, self.attention.get()) {
            blend_over(ui, rect, t);
            self.mark_patch(ui, rect, ask.from);
        }
        if p.show_field
            && p.selected.is_some()
            && let (Some(field), Some(n)) = (self.field, input_side)
        {
            let [y0, x0, y1, x1] = field.map(|v| v as f32);
            let s = rect.width() / n;
            let r = Rect::from_min_max(
                rect.min + Vec2::new(x0 * s, y0 * s),
                rect.min + Vec2::new(x1 * s, y1 * s),
            );
            ui.painter().rect_stroke(
                r,
                0.0,
                Stroke::new(2.0, Color32::from_rgb(255, 210, 40)),
                egui::StrokeKind::Inside,
            );
            // a field of the whole input (after a global attention or pooling): the unit's own
            // place on its map is marked too
            let whole =
                field[0] <= 0 && field[1] <= 0 && field[2] as f32 >= n && field[3] as f32 >= n;
            if let (true, Some((argmax, hw))) = (whole, self.unit_cell) {
                let at = p.back.pos.unwrap_or(argmax);
                self.mark_cell(ui, rect, at, hw, Color32::from_rgb(255, 210, 40));
            }
        }
        // a click on the frame: the attention view follows that patch
        if resp.clicked()
            && let (Some(pos), Some((gh, gw)), Some(mut ask)) = (
                resp.interact_pointer_pos(),
                self.attention_grid,
                shared.attention,
            )
        {
            let y = ((pos.y - rect.top()) / rect.height() * gh as f32) as usize;
            let x = ((pos.x - rect.left()) / rect.width() * gw as f32) as usize;
            ask.from = Some((y.min(gh.saturating_sub(1)), x.min(gw.saturating_sub(1))));
            shared.attention = Some(ask);
            shared.send(deepvis_protocol::Command::SetAttention(Some(ask)));
        }
    }

    /// Outlines the attention view's patch (`None`: the CLS token, no patch).
    fn mark_patch(&self, ui: &egui::Ui, rect: Rect, from: Option<(usize, usize)>) {
        if let (Some(at), Some(hw)) = (from, self.attention_grid) {
            self.mark_cell(ui, rect, at, hw, Color32::from_rgb(80, 200, 255));
        }
    }

    /// Outlines cell `(y, x)` of an `(h, w)` grid laid over the frame in `rect`.
    fn mark_cell(
        &self,
        ui: &egui::Ui,
        rect: Rect,
        (y, x): (usize, usize),
        (gh, gw): (usize, usize),
        color: Color32,
    ) {
        if gh * gw <= 1 || y >= gh || x >= gw {
            return;
        }
        let (ch, cw) = (rect.height() / gh as f32, rect.width() / gw as f32);
        let r = Rect::from_min_size(
            rect.min + Vec2::new(x as f32 * cw, y as f32 * ch),
            Vec2::new(cw, ch),
        );
        ui.painter()
            .rect_stroke(r, 0.0, Stroke::new(2.0, color), egui::StrokeKind::Outside);
    }

    /// The network's output over the frame in `rect` (`n` input pixels a side): its map, or its
    /// boxes with their class and score.
    fn output_ui(&self, ui: &egui::Ui, rect: Rect, n: f32) {
        if let Some(t) = self.output_map.get() {
            blend_over(ui, rect, t);
        }
        let s = rect.width() / n;
        let color = Color32::from_rgb(60, 220, 120);
        for d in &self.boxes {
            let r = Rect::from_min_max(
                rect.min + Vec2::new(d.x0 * s, d.y0 * s),
                rect.min + Vec2::new(d.x1 * s, d.y1 * s),
            )
            .intersect(rect);
            if r.width() <= 0.0 || r.height() <= 0.0 {
                continue;
            }
            ui.painter()
                .rect_stroke(r, 0.0, Stroke::new(2.0, color), egui::StrokeKind::Inside);
            ui.painter().text(
                r.left_top(),
                egui::Align2::LEFT_TOP,
                format!("{} {:.2}", d.class, d.score),
                egui::FontId::proportional(11.0),
                color,
            );
        }
    }
}

/// A map over the frame as a heat overlay: high values opaque red-yellow, low ones clear.
fn heat_to_color(img: &image::GrayImage) -> egui::ColorImage {
    let px: Vec<Color32> = img
        .as_raw()
        .iter()
        .map(|&v| {
            let g = f32::from(v) / 255.0;
            Color32::from_rgba_unmultiplied(255, (g * 220.0) as u8, 40, (g * 200.0) as u8)
        })
        .collect();
    egui::ColorImage::new([img.width() as usize, img.height() as usize], px)
}
