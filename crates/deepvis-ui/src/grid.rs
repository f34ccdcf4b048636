//! The layer grid pane: every channel's map as a tile, laid out by the window to fill its pane
//! (integer zoom when the maps are magnified, so they stay crisp), sortable by activity, with
//! channels silent all session marked, a hover card per tile, Ctrl+wheel zoom and drag to pan.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2, pos2};

use crate::activity::{Activity, SortMode};
use crate::{DeepvisApp, Pic};

/// Points between tiles.
pub const GAP: f32 = 1.0;

/// Zoom steps offered besides "fit" (tile pixels per map pixel).
pub const ZOOMS: [u32; 9] = [1, 2, 3, 4, 6, 8, 12, 16, 24];

/// Where the tiles went on the last frame drawn: enough to hit-test, move by keys and test.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnGrid {
    /// The channels in display order.
    pub order: Vec<usize>,
    /// Tiles per row.
    pub cols: usize,
    /// The first tile's top-left corner.
    pub origin: Pos2,
    /// A tile's size in points.
    pub tile: Vec2,
    /// Points per map pixel.
    pub scale: f32,
}

impl DrawnGrid {
    fn pitch(&self) -> Vec2 {
        self.tile + Vec2::splat(GAP)
    }

    /// The rectangle of the tile at display slot `i`.
    pub fn slot_rect(&self, i: usize) -> Rect {
        let (r, c) = (i / self.cols.max(1), i % self.cols.max(1));
        Rect::from_min_size(
            self.origin + Vec2::new(c as f32, r as f32) * self.pitch(),
            self.tile,
        )
    }

    /// The rectangle of channel `c`'s tile.
    pub fn tile_rect(&self, c: usize) -> Option<Rect> {
        let i = self.order.iter().position(|&x| x == c)?;
        Some(self.slot_rect(i))
    }

    /// The channel whose tile is under `p` (none on a gap).
    pub fn channel_at(&self, p: Pos2) -> Option<usize> {
        let d = p - self.origin;
        if d.x < 0.0 || d.y < 0.0 {
            return None;
        }
        let pitch = self.pitch();
        let (col, row) = ((d.x / pitch.x) as usize, (d.y / pitch.y) as usize);
        if col >= self.cols || d.x - col as f32 * pitch.x >= self.tile.x {
            return None;
        }
        if d.y - row as f32 * pitch.y >= self.tile.y {
            return None;
        }
        self.order.get(row * self.cols + col).copied()
    }

    /// The channel `delta` display slots from `c` (rows are `cols` slots), clamped.
    pub fn step(&self, c: usize, delta: i64) -> Option<usize> {
        let i = self.order.iter().position(|&x| x == c).unwrap_or(0) as i64;
        let last = self.order.len().checked_sub(1)? as i64;
        self.order.get((i + delta).clamp(0, last) as usize).copied()
    }
}

/// Tiles per row and points per map pixel for `n` tiles of `tile` map pixels in `avail`
/// points: the given zoom, or (fit) the largest that shows every tile, rounded down to whole
/// physical pixels per map pixel when it magnifies.
pub fn fit_layout(
    n: usize,
    tile: [usize; 2],
    avail: Vec2,
    zoom: Option<u32>,
    pixels_per_point: f32,
) -> (usize, f32) {
    let (tw, th) = (tile[0].max(1) as f32, tile[1].max(1) as f32);
    let n = n.max(1);
    if let Some(k) = zoom {
        let s = k.max(1) as f32 / pixels_per_point.max(0.25);
        let cols = ((avail.x + GAP) / (tw * s + GAP)).floor().max(1.0) as usize;
        return (cols.min(n), s);
    }
    let mut best = (1, 0.0f32);
    for cols in 1..=n {
        let rows = n.div_ceil(cols);
        let sx = (avail.x - GAP * (cols as f32 - 1.0)) / (cols as f32 * tw);
        let sy = (avail.y - GAP * (rows as f32 - 1.0)) / (rows as f32 * th);
        let s = sx.min(sy);
        if s > best.1 {
            best = (cols, s);
        }
    }
    let (cols, s) = best;
    let px = s * pixels_per_point;
    let s = if px >= 1.0 {
        px.floor() / pixels_per_point
    } else {
        s.max(0.05)
    };
    (cols, s)
}

/// The grid pane's own state.
#[derive(Debug, Default)]
pub struct GridPane {
    /// Each channel's maximum over time.
    pub activity: Activity,
    /// Where the tiles were drawn on the last frame.
    pub drawn: Option<DrawnGrid>,
}

impl GridPane {
    /// Draws the grid of `app` (the pane's state is `app.grid_pane`).
    pub fn ui(app: &mut DeepvisApp, ui: &mut egui::Ui) {
        let Some(grid) = app.grid.clone() else {
            app.grid_pane.drawn = None;
            return;
        };
        let n = grid.maxima.len();
        let recent = app.persisted.recent_secs.clamp(1.0, 30.0) as f64;
        let hovered_channel = app.hover.map(|h| h.0);
        ui.horizontal_wrapped(|ui| {
            ui.heading(format!("{}: {n} channels", grid.layer));
            let silent = app.grid_pane.activity.silent_count();
            if silent > 0 {
                ui.label(
                    egui::RichText::new(format!("{silent} silent"))
                        .color(Color32::from_rgb(220, 80, 70)),
                )
                .on_hover_text(
                    "channels whose maximum has been 0 on every frame since this layer was \
                     shown (crossed out)",
                );
            }
        });
        ui.horizontal_wrapped(|ui| {
            let sort = &mut app.persisted.grid_sort;
            egui::ComboBox::new("grid order", "order")
                .selected_text(sort.label())
                .show_ui(ui, |ui| {
                    for m in SortMode::ALL {
                        ui.selectable_value(sort, m, m.label());
                    }
                })
                .response
                .on_hover_text(
                    "the order of the tiles: by channel number, by the current frame's \
                     activation, or by its mean over the last seconds (most active first)",
                );
            if *sort == SortMode::Recent {
                ui.add(
                    egui::DragValue::new(&mut app.persisted.recent_secs)
                        .range(1.0..=30.0)
                        .suffix(" s"),
                )
                .on_hover_text("the seconds the mean is taken over");
            }
            let zoom = &mut app.persisted.grid_zoom;
            let text = match zoom {
                None => "fit".to_string(),
                Some(k) => format!("{k}x"),
            };
            egui::ComboBox::new("tile size", "tile size")
                .selected_text(text)
                .show_ui(ui, |ui| {
                    ui.selectable_value(zoom, None, "fit");
                    for k in ZOOMS {
                        ui.selectable_value(zoom, Some(k), format!("{k}x"));
                    }
                })
                .response
                .on_hover_text(
                    "fit: every tile in the pane, as large as it goes; Nx: N screen pixels per \
                     map pixel (drag or scroll to pan). Ctrl+wheel over the grid zooms",
                );
        });
        // one line that never wraps, so that the tiles below never move as numbers change
        let (text, color) = match hovered_channel {
            Some(c) => {
                let now = grid.maxima.get(c).copied().unwrap_or(0.0);
                (
                    format!("channel {c}, max {now:.3}"),
                    ui.visuals().text_color(),
                )
            }
            // the first-run hint
            None if app.persisted.selected.is_none() => (
                "click a tile to pick a unit".to_string(),
                Color32::from_rgb(90, 160, 255),
            ),
            None => (
                "hover a tile for its values".to_string(),
                ui.visuals().weak_text_color(),
            ),
        };
        ui.add(egui::Label::new(egui::RichText::new(text).color(color)).truncate());
        let ppp = ui.ctx().pixels_per_point();
        // the pane's own width (a header wider than the pane must not widen the grid)
        let avail = ui
            .available_size()
            .min(ui.clip_rect().size())
            .max(Vec2::splat(1.0));
        let tile_px = [grid.tile_w, grid.tile_h];
        let (cols, scale) = fit_layout(n, tile_px, avail, app.persisted.grid_zoom, ppp);
        let tile = Vec2::new(grid.tile_w as f32, grid.tile_h as f32) * scale;
        let rows = n.div_ceil(cols.max(1));
        let content = Vec2::new(
            cols as f32 * (tile.x + GAP) - GAP,
            rows as f32 * (tile.y + GAP) - GAP,
        );
        let order = app
            .grid_pane
            .activity
            .order(app.persisted.grid_sort, recent, n);
        let layout = grid.layout();
        let size = [grid.size[0].max(1) as f32, grid.size[1].max(1) as f32];
        let tex = app.pics.get(Pic::Grid).cloned();
        let selected = app.persisted.selected.filter(|&c| c < n);
        let mut clicked = None;
        let mut hover = None;
        let mut zoom_by = 0i32;
        egui::ScrollArea::both()
            .id_salt("grid scroll")
            .auto_shrink([false, false])
            // drag to pan when the tiles do not fit (a click without a drag still selects)
            .scroll_source(egui::scroll_area::ScrollSource::ALL)
            .show(ui, |ui| {
                let (rect, resp) = ui.allocate_exact_size(content, Sense::click());
                resp.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Image, true, "layer grid")
                });
                let drawn = DrawnGrid {
                    order: order.clone(),
                    cols,
                    origin: rect.min,
                    tile,
                    scale,
                };
                let clip = ui.clip_rect();
                let painter = ui.painter();
                for (i, &c) in order.iter().enumerate() {
                    let r = drawn.slot_rect(i);
                    if !r.intersects(clip) {
                        continue;
                    }
                    if let Some(t) = &tex {
                        let (ox, oy) = layout.origin(c);
                        let uv = Rect::from_min_max(
                            pos2(ox as f32 / size[0], oy as f32 / size[1]),
                            pos2(
                                (ox + grid.tile_w) as f32 / size[0],
                                (oy + grid.tile_h) as f32 / size[1],
                            ),
                        );
                        painter.image(t.id(), r, uv, Color32::WHITE);
                    }
                    if app.grid_pane.activity.silent(c) {
                        let red = Stroke::new(1.0, Color32::from_rgb(200, 60, 50));
                        painter.rect_filled(r, 0.0, Color32::from_rgba_unmultiplied(120, 0, 0, 60));
                        painter.line_segment([r.left_top(), r.right_bottom()], red);
                        painter.line_segment([r.right_top(), r.left_bottom()], red);
                    }
                }
                hover = resp.hover_pos().and_then(|p| drawn.channel_at(p));
                if resp.clicked() {
                    clicked = resp
                        .interact_pointer_pos()
                        .and_then(|p| drawn.channel_at(p));
                }
                let outline = |c: usize, color: Color32| {
                    if let Some(r) = drawn.tile_rect(c) {
                        painter.rect_stroke(
                            r.expand(1.0),
                            0.0,
                            Stroke::new(2.0, color),
                            egui::StrokeKind::Outside,
                        );
                    }
                };
                if let Some(c) = hover {
                    outline(c, Color32::from_rgb(90, 160, 255));
                }
                if let Some(c) = selected {
                    outline(c, Color32::from_rgb(60, 220, 60));
                }
                if let Some(c) = hover {
                    let now = grid.maxima.get(c).copied().unwrap_or(0.0);
                    let m = app.grid_pane.activity.mean_of(c, recent);
                    let silent = app.grid_pane.activity.silent(c);
                    resp.on_hover_ui_at_pointer(|ui| {
                        ui.strong(format!("channel {c}"));
                        ui.label(format!("max now {now:.3}"));
                        ui.label(format!("mean max over {recent:.0} s {m:.3}"));
                        if silent {
                            ui.colored_label(
                                Color32::from_rgb(220, 80, 70),
                                "silent on every frame so far",
                            );
                        }
                        ui.weak("click to select");
                    });
                }
                if ui.rect_contains_pointer(clip) {
                    let z = ui.input(|i| i.zoom_delta());
                    if z > 1.0 {
                        zoom_by = 1;
                    } else if z < 1.0 {
                        zoom_by = -1;
                    }
                }
                app.grid_pane.drawn = Some(drawn);
            });
        app.hover = hover.map(|c| (c, grid.maxima.get(c).copied().unwrap_or(0.0)));
        if zoom_by != 0 {
            let k = (scale * ppp).round().max(1.0) as u32;
            app.persisted.grid_zoom = zoom_step(k, zoom_by);
        }
        if let Some(c) = clicked {
            app.select_unit(c);
        }
    }
}

/// The zoom one step in (`dir` > 0) or out from `k` pixels per map pixel; out of 1x is "fit".
pub fn zoom_step(k: u32, dir: i32) -> Option<u32> {
    match dir {
        d if d > 0 => Some(ZOOMS.iter().copied().find(|&z| z > k).unwrap_or(k.max(1))),
        _ => ZOOMS.iter().rev().copied().find(|&z| z < k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_fills_the_pane_with_whole_pixels_and_zoom_steps() {
        // 16 tiles of 5x5 in 400x400: 4 x 4 at 19.x points, rounded down to 19
        let (cols, s) = fit_layout(16, [5, 5], Vec2::new(400.0, 400.0), None, 1.0);
        assert_eq!((cols, s), (4, 19.0));
        // a wide pane takes more columns
        let (cols, _) = fit_layout(16, [5, 5], Vec2::new(800.0, 100.0), None, 1.0);
        assert_eq!(cols, 8);
        // at 200%, whole physical pixels: 2 * 19.x = 39 px = 19.5 points
        let (_, s) = fit_layout(16, [5, 5], Vec2::new(400.0, 400.0), None, 2.0);
        assert_eq!(s, 19.5);
        // more tiles than fit at 1 px: shrink below 1
        let (_, s) = fit_layout(1000, [15, 15], Vec2::new(100.0, 100.0), None, 1.0);
        assert!(s < 1.0 && s > 0.0);
        // a fixed zoom keeps its size and wraps at the pane's width
        let (cols, s) = fit_layout(16, [5, 5], Vec2::new(100.0, 10.0), Some(4), 1.0);
        assert_eq!((cols, s), (4, 4.0));
        assert_eq!(zoom_step(3, 1), Some(4));
        assert_eq!(zoom_step(24, 1), Some(24));
        assert_eq!(zoom_step(4, -1), Some(3));
        assert_eq!(zoom_step(1, -1), None);
        let d = DrawnGrid {
            order: vec![3, 1, 2, 0],
            cols: 2,
            origin: pos2(10.0, 10.0),
            tile: Vec2::splat(10.0),
            scale: 2.0,
        };
        assert_eq!(d.channel_at(pos2(15.0, 15.0)), Some(3));
        assert_eq!(d.channel_at(pos2(25.0, 15.0)), Some(1));
        assert_eq!(d.channel_at(pos2(20.5, 15.0)), None);
        assert_eq!(d.channel_at(pos2(15.0, 25.0)), Some(2));
        assert_eq!(d.tile_rect(0).map(|r| r.min), Some(pos2(21.0, 21.0)));
        assert_eq!(d.step(1, 2), Some(0));
        assert_eq!(d.step(1, -5), Some(3));
    }
}
