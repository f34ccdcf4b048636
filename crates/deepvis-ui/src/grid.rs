//! The layer grid pane: every channel's map as a tile, laid out to fill its pane (smoothly
//! scaled, or crisp with whole pixels per map pixel, or at a chosen zoom), sortable by
//! activity, with channels silent all session marked, a hover card per tile, Ctrl+wheel zoom
//! and drag to pan; files dropped on the window open here.

use deepvis_protocol::{Command, Event};
use egui::{Color32, Rect, Sense, Stroke, TextureHandle, TextureOptions, Vec2, pos2};

pub use crate::tiles::{DrawnGrid, GAP, GridFit, ZOOMS, fit_layout, zoom_step};

use crate::activity::{Activity, SortMode};
use crate::pane::{Pane, Place};
use crate::picture::{Picture, gray_to_color, name_image};
use crate::{Persisted, Shared};

/// The grid as last received.
#[derive(Clone, Debug)]
pub struct GridView {
    /// Its layer.
    pub layer: String,
    /// Tiles per row.
    pub cols: usize,
    /// Rows of tiles.
    pub rows: usize,
    /// Tile width in map pixels.
    pub tile_w: usize,
    /// Tile height.
    pub tile_h: usize,
    /// Each channel's maximum.
    pub maxima: Vec<f32>,
    /// Image size in pixels.
    pub size: [usize; 2],
}

impl GridView {
    /// The layout of the tiles (1-pixel separators).
    pub fn layout(&self) -> deepvis_viz::GridLayout {
        deepvis_viz::GridLayout::new(self.maxima.len(), self.tile_w, self.tile_h, 1)
    }
}

/// The grid pane's own state.
#[derive(Default)]
pub struct GridPane {
    /// The grid as last received (none while a layer's first frame is awaited).
    pub grid: Option<GridView>,
    picture: Picture,
    /// Where the tiles were drawn on the last frame.
    pub drawn: Option<DrawnGrid>,
    /// Hovered tile and its maximum.
    pub hover: Option<(usize, f32)>,
    /// The worker crashed this many times within this many seconds and waits for a restart.
    pub worker_paused: Option<(u32, u32)>,
    /// The layer's leading tokens (CLS, registers) when it holds a sequence: each one's
    /// value per channel.
    pub leading: Vec<Vec<f32>>,
}

/// What the pointer did to the tiles this frame.
#[derive(Default)]
struct Pointer {
    hover: Option<usize>,
    clicked: Option<usize>,
    zoom_by: i32,
}

/// Whether the tiles are smoothly scaled (fitting the pane, "fill"), not crisp.
fn smooth(p: &Persisted) -> bool {
    p.grid_zoom.is_none() && p.grid_fit == GridFit::Fill
}

impl Pane for GridPane {
    fn name(&self) -> &'static str {
        "grid pane"
    }

    fn place(&self) -> Place {
        Place::Center
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        match e {
            Event::Grid {
                layer,
                image,
                cols,
                rows,
                tile_w,
                tile_h,
                maxima,
            } => {
                if self.grid.as_ref().is_none_or(|g| &g.layer != layer) {
                    self.leading.clear();
                }
                self.grid = Some(GridView {
                    layer: layer.clone(),
                    cols: *cols,
                    rows: *rows,
                    tile_w: *tile_w,
                    tile_h: *tile_h,
                    maxima: maxima.clone(),
                    size: [image.width() as usize, image.height() as usize],
                });
                self.picture.set(gray_to_color(image));
            }
            Event::Leading { layer, tokens }
                if self.grid.as_ref().is_some_and(|g| &g.layer == layer) =>
            {
                self.leading = tokens.clone();
            }
            Event::WorkerPaused { crashes, seconds } => {
                self.worker_paused = Some((*crashes, *seconds))
            }
            Event::Restarted { .. } => self.worker_paused = None,
            _ => {}
        }
    }

    fn seen(&mut self, c: &Command) {
        if let Command::SelectLayer(_) = c {
            self.grid = None;
            self.leading.clear();
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, shared: &mut Shared) {
        let options = if smooth(&shared.persisted) {
            TextureOptions::LINEAR
        } else {
            TextureOptions::NEAREST
        };
        self.picture.upload(ctx, "grid", options);
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        if let Some((crashes, seconds)) = self.worker_paused {
            self.paused_ui(ui, shared, crashes, seconds);
            return;
        }
        if self.grid.is_none() {
            let text = match (&shared.preparing, &shared.model, shared.messages.last()) {
                (Some(p), _, _) => p.clone(),
                (None, None, Some(m)) if m.kind.is_some() => m.line(),
                _ => "waiting for the first frame".into(),
            };
            ui.centered_and_justified(|ui| {
                ui.label(text);
            });
        }
        self.tiles_ui(ui, shared);
        open_dropped_file(ui, shared);
    }
}

impl GridPane {
    /// The worker is paused after crashing: say so, and offer a restart.
    fn paused_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared, crashes: u32, seconds: u32) {
        ui.vertical_centered(|ui| {
            ui.add_space(40.0);
            ui.colored_label(
                Color32::from_rgb(230, 110, 60),
                format!(
                    "the worker crashed {crashes} times within {seconds} s; it is paused so \
                     that the window stays usable"
                ),
            );
            if ui
                .button("restart the worker")
                .on_hover_text("start the worker again with the current settings")
                .clicked()
            {
                self.worker_paused = None;
                shared.preparing = Some(crate::words::preparing(
                    &deepvis_protocol::Preparing::Restarting,
                ));
                shared.send(Command::RestartWorker);
            }
        });
    }

    /// The header lines and the tiles of the grid (nothing while none has come).
    fn tiles_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let GridPane {
            grid,
            picture,
            drawn,
            hover,
            worker_paused: _,
            leading,
        } = self;
        let Some(grid) = grid.as_ref() else {
            *drawn = None;
            return;
        };
        let n = grid.maxima.len();
        let recent = shared.persisted.recent_secs.clamp(1.0, 30.0) as f64;
        heading(ui, grid, &shared.activity);
        controls(ui, &mut shared.persisted);
        hover_line(ui, grid, hover.map(|h| h.0), shared.persisted.selected);
        if !leading.is_empty() {
            let unit = hover.map(|h| h.0).or(shared.persisted.selected);
            leading_ui(ui, leading, unit);
        }
        let ppp = ui.ctx().pixels_per_point();
        // the pane's own width (a header wider than the pane must not widen the grid)
        let room = ui
            .available_size()
            .min(ui.clip_rect().size())
            .max(Vec2::splat(1.0));
        let p = &shared.persisted;
        let tile_px = [grid.tile_w, grid.tile_h];
        let (cols, scale) = fit_layout(n, tile_px, room, p.grid_zoom, p.grid_fit, ppp);
        let placed = DrawnGrid {
            order: shared.activity.order(p.grid_sort, recent, n),
            cols,
            origin: egui::Pos2::ZERO,
            tile: Vec2::new(grid.tile_w as f32, grid.tile_h as f32) * scale,
            scale,
            room,
        };
        let tiles = Tiles {
            grid,
            tex: picture.get(),
            activity: &shared.activity,
            selected: p.selected.filter(|&c| c < n),
            recent,
            // linear filtering would blend in the separator beyond a tile's edge
            inset: if smooth(p) { 0.5 } else { 0.0 },
        };
        let mut pointer = Pointer::default();
        egui::ScrollArea::both()
            .id_salt("grid scroll")
            .auto_shrink([false, false])
            // drag to pan when the tiles do not fit (a click without a drag still selects)
            .scroll_source(egui::scroll_area::ScrollSource::ALL)
            .show(ui, |ui| *drawn = Some(tiles.ui(ui, placed, &mut pointer)));
        *hover = pointer
            .hover
            .map(|c| (c, grid.maxima.get(c).copied().unwrap_or(0.0)));
        if pointer.zoom_by != 0 {
            let k = (scale * ppp).round().max(1.0) as u32;
            shared.persisted.grid_zoom = zoom_step(k, pointer.zoom_by);
        }
        if let Some(c) = pointer.clicked {
            shared.select_unit(c);
        }
    }
}

/// The layer, its channel count and how many stayed silent.
fn heading(ui: &mut egui::Ui, grid: &GridView, activity: &Activity) {
    ui.horizontal_wrapped(|ui| {
        ui.heading(format!("{}: {} channels", grid.layer, grid.maxima.len()));
        let silent = activity.silent_count();
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
}

/// The tiles' order and size.
fn controls(ui: &mut egui::Ui, p: &mut Persisted) {
    ui.horizontal_wrapped(|ui| {
        let sort = &mut p.grid_sort;
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
                egui::DragValue::new(&mut p.recent_secs)
                    .range(1.0..=30.0)
                    .suffix(" s"),
            )
            .on_hover_text("the seconds the mean is taken over");
        }
        tile_size_picker(ui, p);
    });
}

/// Fill or crisp to fit the pane, or a fixed number of screen pixels per map pixel.
fn tile_size_picker(ui: &mut egui::Ui, p: &mut Persisted) {
    let text = match p.grid_zoom {
        None => p.grid_fit.label().to_string(),
        Some(k) => format!("{k}x"),
    };
    egui::ComboBox::new("tile size", "tile size")
        .selected_text(text)
        .show_ui(ui, |ui| {
            for fit in GridFit::ALL {
                let on = p.grid_zoom.is_none() && p.grid_fit == fit;
                if ui.selectable_label(on, fit.label()).clicked() {
                    p.grid_zoom = None;
                    p.grid_fit = fit;
                }
            }
            for k in ZOOMS {
                ui.selectable_value(&mut p.grid_zoom, Some(k), format!("{k}x"));
            }
        })
        .response
        .on_hover_text(
            "fill: every tile in the pane, as large as it goes, smoothly scaled; crisp: every \
             tile in the pane at whole screen pixels per map pixel; Nx: N screen pixels per \
             map pixel (drag or scroll to pan). Ctrl+wheel over the grid zooms",
        );
}

/// One line that never wraps, so that the tiles below never move as numbers change: the
/// hovered channel, or a hint.
fn hover_line(ui: &mut egui::Ui, grid: &GridView, hovered: Option<usize>, sel: Option<usize>) {
    let (text, color) = match hovered {
        Some(c) => {
            let now = grid.maxima.get(c).copied().unwrap_or(0.0);
            (
                format!("channel {c}, max {now:.3}"),
                ui.visuals().text_color(),
            )
        }
        // the first-run hint
        None if sel.is_none() => (
            "click a tile to pick a unit".to_string(),
            Color32::from_rgb(90, 160, 255),
        ),
        None => (
            "hover a tile for its values".to_string(),
            ui.visuals().weak_text_color(),
        ),
    };
    ui.add(egui::Label::new(egui::RichText::new(text).color(color)).truncate());
}

/// What the tiles are drawn from.
struct Tiles<'a> {
    grid: &'a GridView,
    tex: Option<&'a TextureHandle>,
    activity: &'a Activity,
    selected: Option<usize>,
    recent: f64,
    /// Texels trimmed off each tile's edge when sampling.
    inset: f32,
}

impl Tiles<'_> {
    /// Draws the tiles as `placed` says (its origin set here), with the pointer's hover, click
    /// and zoom; returns where they went.
    fn ui(&self, ui: &mut egui::Ui, placed: DrawnGrid, pointer: &mut Pointer) -> DrawnGrid {
        let (rect, resp) = ui.allocate_exact_size(placed.content(), Sense::click());
        name_image(&resp, "layer grid");
        let drawn = DrawnGrid {
            origin: rect.min,
            ..placed
        };
        self.paint(ui, &drawn);
        pointer.hover = resp.hover_pos().and_then(|p| drawn.channel_at(p));
        if resp.clicked() {
            pointer.clicked = resp
                .interact_pointer_pos()
                .and_then(|p| drawn.channel_at(p));
        }
        let outline = |c: usize, color: Color32| {
            if let Some(r) = drawn.tile_rect(c) {
                ui.painter().rect_stroke(
                    r.expand(1.0),
                    0.0,
                    Stroke::new(2.0, color),
                    egui::StrokeKind::Outside,
                );
            }
        };
        if let Some(c) = pointer.hover {
            outline(c, Color32::from_rgb(90, 160, 255));
        }
        if let Some(c) = self.selected {
            outline(c, Color32::from_rgb(60, 220, 60));
        }
        if let Some(c) = pointer.hover {
            self.hover_card(resp, c);
        }
        if ui.rect_contains_pointer(ui.clip_rect()) {
            let z = ui.input(|i| i.zoom_delta());
            if z > 1.0 {
                pointer.zoom_by = 1;
            } else if z < 1.0 {
                pointer.zoom_by = -1;
            }
        }
        drawn
    }

    /// Each visible tile's map, and the silent ones crossed out.
    fn paint(&self, ui: &egui::Ui, drawn: &DrawnGrid) {
        let grid = self.grid;
        let layout = grid.layout();
        let size = [grid.size[0].max(1) as f32, grid.size[1].max(1) as f32];
        let clip = ui.clip_rect();
        let painter = ui.painter();
        let inset = self.inset;
        for (i, &c) in drawn.order.iter().enumerate() {
            let r = drawn.slot_rect(i);
            if !r.intersects(clip) {
                continue;
            }
            if let Some(t) = self.tex {
                let (ox, oy) = layout.origin(c);
                let uv = Rect::from_min_max(
                    pos2((ox as f32 + inset) / size[0], (oy as f32 + inset) / size[1]),
                    pos2(
                        ((ox + grid.tile_w) as f32 - inset) / size[0],
                        ((oy + grid.tile_h) as f32 - inset) / size[1],
                    ),
                );
                painter.image(t.id(), r, uv, Color32::WHITE);
            }
            if self.activity.silent(c) {
                let red = Stroke::new(1.0, Color32::from_rgb(200, 60, 50));
                painter.rect_filled(r, 0.0, Color32::from_rgba_unmultiplied(120, 0, 0, 60));
                painter.line_segment([r.left_top(), r.right_bottom()], red);
                painter.line_segment([r.right_top(), r.left_bottom()], red);
            }
        }
    }

    /// The hovered channel's card: its maximum now and of late, whether it stayed silent.
    fn hover_card(&self, resp: egui::Response, c: usize) {
        let now = self.grid.maxima.get(c).copied().unwrap_or(0.0);
        let recent = self.recent;
        let m = self.activity.mean_of(c, recent);
        let silent = self.activity.silent(c);
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
}

/// A file dropped on the window: an ONNX model opens, an exported picture's sidecar restores
/// its settings, anything else becomes the source.
fn open_dropped_file(ui: &egui::Ui, shared: &mut Shared) {
    let Some(files) = ui
        .ctx()
        .input(|i| (!i.raw.dropped_files.is_empty()).then(|| i.raw.dropped_files.clone()))
    else {
        return;
    };
    let Some(path) = files.iter().find_map(|f| {
        let p = f.path();
        (!p.as_os_str().is_empty()).then(|| p.to_path_buf())
    }) else {
        return;
    };
    let ext = |want: &str| {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case(want))
    };
    if ext("onnx") {
        shared.send(Command::OpenModel(path));
    } else if ext("json") {
        shared.restore_settings(&path);
    } else {
        shared.set_source(deepvis_protocol::SourceSpec::Path(path));
    }
}

/// The leading tokens (CLS, registers) apart from the grid of patches: one strip per token,
/// its value per channel from dark (the smallest of all) to bright, the channel `unit` marked
/// and its values said.
fn leading_ui(ui: &mut egui::Ui, tokens: &[Vec<f32>], unit: Option<usize>) {
    let finite = tokens.iter().flatten().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f32::INFINITY, f32::min);
    let hi = finite.fold(f32::NEG_INFINITY, f32::max);
    let span = (hi - lo).max(1e-12);
    let name = |i: usize| match i {
        0 => "CLS".to_string(),
        i => format!("token {i}"),
    };
    let said: Vec<String> = match unit {
        Some(c) => tokens
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some(format!("{} {:.3}", name(i), t.get(c)?)))
            .collect(),
        None => Vec::new(),
    };
    let title = match (unit, said.is_empty()) {
        (Some(c), false) => format!("leading tokens, channel {c}: {}", said.join(", ")),
        _ => "leading tokens (CLS, registers): each one's value per channel".to_string(),
    };
    ui.weak(title);
    let width = ui.available_width().max(1.0);
    for t in tokens {
        let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, 8.0), Sense::hover());
        name_image(&resp, "leading token strip");
        let cell = width / t.len().max(1) as f32;
        let painter = ui.painter();
        for (c, v) in t.iter().enumerate() {
            let g = match v.is_finite() {
                true => ((v - lo) / span * 255.0) as u8,
                false => 0,
            };
            let x = rect.left() + c as f32 * cell;
            let r = Rect::from_min_max(pos2(x, rect.top()), pos2(x + cell.max(1.0), rect.bottom()));
            painter.rect_filled(r, 0.0, Color32::from_gray(g));
        }
        if let Some(c) = unit.filter(|&c| c < t.len()) {
            let x = rect.left() + (c as f32 + 0.5) * cell;
            painter.line_segment(
                [pos2(x, rect.top() - 2.0), pos2(x, rect.bottom() + 2.0)],
                Stroke::new(1.5, Color32::from_rgb(255, 210, 40)),
            );
        }
    }
}
