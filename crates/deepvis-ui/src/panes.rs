//! The panes, each drawn from the app's state.

use deepvis_protocol::{
    BackFilter, BackMode, ColorMap, Command, LrPolicy, Params, PreReluMode, StartFrom, StopReason,
};
use egui::{Color32, Key, Rect, Sense, Stroke, Vec2, pos2};

use crate::{DeepvisApp, Pic};

/// Every key binding, as the help overlay lists them.
pub const BINDINGS: [(&str, &str); 22] = [
    ("arrows / i j k l", "move the selection (shift: by 3)"),
    ("u / o", "previous / next layer"),
    ("f", "freeze / unfreeze the input (a video: pause / play)"),
    (", / .", "a video: one frame back / on"),
    (
        "R (shift+r)",
        "record the window as an MP4 in ~/deepvis; again to stop",
    ),
    ("space", "run / pause the preferred image"),
    ("r", "reset the preferred image"),
    ("1 2 3 4", "the paper's regularization presets"),
    ("p", "pre-ReLU objective: off / on / auto"),
    ("e / w", "next / previous file of a folder"),
    (
        "b",
        "attribution: off / grad / deconv / guided / Grad-CAM / Grad-CAM++ / occlusion / \
         SmoothGrad / integrated gradients",
    ),
    ("n", "attribution filter: raw / gray / norm / normblur"),
    ("m", "attribution colours: gray / diverging / sequential"),
    ("c", "compare every attribution method side by side"),
    ("v", "blend the attribution maps over the input"),
    ("h", "show / hide this help"),
    ("click a tile", "select that unit"),
    (
        "click the unit map",
        "project that position (right click: its maximum)",
    ),
    ("hover a tile", "its channel and maximum"),
    (
        "drop files",
        "show a photo, a video or a folder; an .onnx file opens that model; an exported \
         picture's .json restores its settings",
    ),
    ("drag the pane borders", "resize the panes"),
    ("esc", "close this help"),
];

/// Handles one key press.
pub fn on_key(app: &mut DeepvisApp, key: Key, shift: bool) {
    let step = if shift { 3 } else { 1 };
    // moves through the tiles as they are shown (sorted or not); `rows` counts whole rows
    let mv = |app: &mut DeepvisApp, slots: i64, rows: i64| {
        let next = match (&app.grid_pane.drawn, &app.grid) {
            (Some(d), _) => d.order.first().and_then(|&first| {
                let cur = app.persisted.selected.unwrap_or(first);
                d.step(cur, slots + rows * d.cols as i64)
            }),
            (None, Some(g)) if !g.maxima.is_empty() => {
                let cur = app.persisted.selected.unwrap_or(0) as i64;
                let d = slots + rows * g.cols as i64;
                Some((cur + d).clamp(0, g.maxima.len() as i64 - 1) as usize)
            }
            _ => None,
        };
        if let Some(c) = next {
            app.select_unit(c);
        }
    };
    match key {
        Key::ArrowLeft | Key::J => mv(app, -step, 0),
        Key::ArrowRight | Key::L => mv(app, step, 0),
        Key::ArrowUp | Key::I => mv(app, 0, -step),
        Key::ArrowDown | Key::K => mv(app, 0, step),
        Key::U | Key::O => {
            let len = app.layers.len();
            if len > 0 {
                let cur = app.layer_index().unwrap_or(0);
                let next = if key == Key::U {
                    (cur + len - 1) % len
                } else {
                    (cur + 1) % len
                };
                app.select_layer(next);
            }
        }
        Key::F => {
            app.frozen = !app.frozen;
            let f = app.frozen;
            app.send(Command::Freeze(f));
        }
        Key::Space => {
            app.persisted.running = !app.persisted.running;
            let r = app.persisted.running;
            app.send(Command::SetRunning(r));
        }
        Key::R if shift => {
            crate::player::PlayerPane::toggle_recording(app, deepvis_protocol::RecordTarget::Window)
        }
        Key::R => {
            app.stopped = None;
            app.send(Command::ResetOptim);
        }
        Key::Comma | Key::Period if app.player.playback.is_some() => {
            let d = if key == Key::Comma { -1 } else { 1 };
            app.send(Command::Player(deepvis_protocol::PlayerCommand::Step(d)));
        }
        Key::Num1 | Key::Num2 | Key::Num3 | Key::Num4 => {
            let p = match key {
                Key::Num1 => 1,
                Key::Num2 => 2,
                Key::Num3 => 3,
                _ => 4,
            };
            apply_preset(app, p);
        }
        Key::P => {
            app.persisted.optim.pre_relu = match app.persisted.optim.pre_relu {
                PreReluMode::Off => PreReluMode::On,
                PreReluMode::On => PreReluMode::Auto,
                PreReluMode::Auto => PreReluMode::Off,
            };
            app.optim_changed();
        }
        Key::E => app.send(Command::StepFile(1)),
        Key::W => app.send(Command::StepFile(-1)),
        Key::B => {
            let b = &mut app.persisted.back;
            b.mode = next_of(&BackMode::ALL, b.mode);
            app.back_changed();
        }
        Key::N => {
            let b = &mut app.persisted.back;
            b.filter = next_of(&BackFilter::ALL, b.filter);
            app.back_changed();
        }
        Key::M => {
            let b = &mut app.persisted.back;
            b.cmap = next_of(&ColorMap::ALL, b.cmap);
            app.back_changed();
        }
        Key::C => {
            let on = !app.compare.on;
            app.set_compare(on);
        }
        Key::V => app.persisted.overlay = !app.persisted.overlay,
        Key::H => app.show_help = !app.show_help,
        Key::Escape => app.show_help = false,
        _ => {}
    }
}

/// The value after `cur` in `all`, wrapping.
fn next_of<T: Copy + PartialEq>(all: &[T], cur: T) -> T {
    let i = all.iter().position(|x| *x == cur).unwrap_or(0);
    all[(i + 1) % all.len()]
}

fn apply_preset(app: &mut DeepvisApp, n: u8) {
    if let Ok(p) = Params::preset(n) {
        let keep = app.persisted.optim;
        let mut o = deepvis_protocol::OptimSettings::from_preset(p);
        o.seed = keep.seed;
        o.start = keep.start;
        o.pre_relu = keep.pre_relu;
        o.suppress = keep.suppress;
        o.endless = keep.endless;
        app.persisted.optim = o;
        app.optim_changed();
    }
}

/// The bar on top: model, layer picker, freeze, help.
pub fn top_bar(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    egui::Panel::top("top").show(ui, |ui| {
        // wraps on a narrow window rather than hiding its last controls
        ui.horizontal_wrapped(|ui| {
            ui.strong("deepvis");
            model_picker(app, ui);
            ui.separator();
            let current = app.persisted.layer.clone().unwrap_or_default();
            let mut chosen = None;
            egui::ComboBox::new("layer picker", "layer")
                .selected_text(current.clone())
                .show_ui(ui, |ui| {
                    for (i, l) in app.layers.iter().enumerate() {
                        let text = format!("{} ({}x{}x{})", l.name, l.channels, l.height, l.width);
                        if ui.selectable_label(l.name == current, text).clicked() {
                            chosen = Some(i);
                        }
                    }
                })
                .response
                .on_hover_text("the layer the grid shows (channels x height x width)");
            if let Some(i) = chosen {
                app.select_layer(i);
            }
            if ui.button("< u").on_hover_text("previous layer").clicked() {
                on_key(app, Key::U, false);
            }
            if ui.button("o >").on_hover_text("next layer").clicked() {
                on_key(app, Key::O, false);
            }
            ui.separator();
            source_picker(app, ui);
            let mut frozen = app.frozen;
            if ui
                .toggle_value(&mut frozen, "freeze (f)")
                .on_hover_text("keep the current frame while you explore it")
                .changed()
            {
                app.frozen = frozen;
                app.send(Command::Freeze(frozen));
            }
            if ui
                .button("< file")
                .on_hover_text("the previous file of a folder source (w)")
                .clicked()
            {
                app.send(Command::StepFile(-1));
            }
            if ui
                .button("file >")
                .on_hover_text("the next file of a folder source (e)")
                .clicked()
            {
                app.send(Command::StepFile(1));
            }
            ui.separator();
            if ui
                .button("help (h)")
                .on_hover_text("every key and mouse binding")
                .clicked()
            {
                app.show_help = !app.show_help;
            }
            theme_picker(ui);
        });
    });
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

/// The network: its name, and a field to open an ONNX file (or drop one on the window).
fn model_picker(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    let name = app.model.clone().unwrap_or_else(|| "loading".into());
    let mut open = false;
    egui::ComboBox::new("model picker", "model")
        .selected_text(short(&name))
        .show_ui(ui, |ui| {
            ui.label("open an ONNX model (path):");
            let edit = ui.text_edit_singleline(&mut app.model_input);
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
    let path = app.model_input.trim().to_string();
    if open && !path.is_empty() {
        app.send(Command::OpenModel(path.into()));
    }
}

/// Cameras (with a resolution), the synthetic pattern, or the current file source.
fn source_picker(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    use deepvis_protocol::SourceSpec;
    let (w, h) = app.resolution;
    let mut chosen: Option<SourceSpec> = None;
    egui::ComboBox::new("source picker", "source")
        .selected_text(short(&app.source.0))
        .show_ui(ui, |ui| {
            if app.cameras.is_empty() {
                ui.label("no camera found");
            }
            for (i, name) in &app.cameras {
                if ui
                    .selectable_label(false, format!("camera {i}: {name}"))
                    .clicked()
                {
                    chosen = Some(SourceSpec::Camera {
                        index: *i,
                        width: w,
                        height: h,
                    });
                }
            }
            if ui.selectable_label(false, "synthetic pattern").clicked() {
                chosen = Some(SourceSpec::Synthetic {
                    width: w,
                    height: h,
                    fps: 30,
                });
            }
            ui.label("or drop a photo, a video or a folder on the window");
        })
        .response
        .on_hover_text("where the frames come from: a camera, the synthetic pattern, files");
    egui::ComboBox::new("resolution picker", "size")
        .selected_text(format!("{w}x{h}"))
        .show_ui(ui, |ui| {
            for r in [(320, 240), (640, 480), (1280, 720), (1920, 1080)] {
                ui.selectable_value(&mut app.resolution, r, format!("{}x{}", r.0, r.1));
            }
        })
        .response
        .on_hover_text("the size asked of a camera chosen next");
    if let Some(spec) = chosen {
        app.set_source(spec);
    }
}

fn short(s: &str) -> String {
    let n = s.chars().count();
    if n > 28 {
        format!("...{}", s.chars().skip(n - 25).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The status bar: model, backend, source, speeds, the latest message.
pub fn status_bar(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            match (&app.preparing, &app.model) {
                (Some(p), _) => {
                    ui.spinner();
                    ui.label(format!("preparing: {p}"));
                }
                (None, Some(m)) => {
                    ui.label(format!("model {m}"));
                }
                _ => {}
            }
            ui.separator();
            ui.label(format!("backend {}", app.backend));
            ui.separator();
            let (label, ok, _) = &app.source;
            let color = if *ok {
                ui.visuals().text_color()
            } else {
                Color32::from_rgb(220, 120, 40)
            };
            ui.colored_label(color, format!("source {label}"));
            if let Some(line) = app.player.status_line() {
                ui.label(line);
            }
            ui.separator();
            ui.label(format!("grid {:.1} fps", app.grid_fps));
            ui.label(format!("optimizer {:.1} it/s", app.optim_ips));
            if app.persisted.back.mode != BackMode::Off {
                ui.label(format!("back {:.1} /s", app.back_fps));
            }
            ui.label(format!("ui {:.1} ms", app.ui_frame_ms));
            if let Some(m) = app.messages.last() {
                ui.separator();
                ui.colored_label(m.color(ui.visuals()), m.line());
            }
        });
    });
}

fn fit(avail: Vec2, size: [usize; 2]) -> Vec2 {
    let (w, h) = (size[0].max(1) as f32, size[1].max(1) as f32);
    let s = (avail.x / w).min(avail.y / h).max(0.01);
    Vec2::new(w * s, h * s)
}

/// Draws `tex` over `rect` at the opacity of the maps blended over the input.
pub(crate) fn blend_over(ui: &egui::Ui, rect: Rect, tex: &egui::TextureHandle) {
    ui.painter().image(
        tex.id(),
        rect,
        Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
        Color32::from_white_alpha(170),
    );
}

pub(crate) fn image_box(
    ui: &mut egui::Ui,
    tex: Option<&egui::TextureHandle>,
    side: f32,
    label: &str,
) -> egui::Response {
    let size = match tex {
        Some(t) => fit(Vec2::splat(side), t.size()),
        None => Vec2::splat(side),
    };
    let (rect, resp) = ui.allocate_exact_size(size, Sense::hover());
    match tex {
        Some(t) => {
            ui.painter().image(
                t.id(),
                rect,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        None => {
            ui.painter()
                .rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                label,
                egui::FontId::proportional(13.0),
                ui.visuals().weak_text_color(),
            );
        }
    }
    resp
}

/// The input as the network sees it.
pub fn input_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    ui.heading("input");
    let (_, ok, message) = app.source.clone();
    if !message.is_empty() {
        let color = if ok {
            ui.visuals().weak_text_color()
        } else {
            Color32::from_rgb(220, 120, 40)
        };
        ui.add(egui::Label::new(egui::RichText::new(message).color(color)).truncate());
    }
    let side = ui.available_width().min(300.0);
    let resp = image_box(ui, app.pics.get(Pic::Input), side, "waiting for a frame");
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "input frame"));
    let rect = resp.rect;
    let input_side = app.pics.get(Pic::Input).map(|t| t.size()[0].max(1) as f32);
    if app.persisted.overlay
        && let (Some(t), Some(_)) = (app.pics.get(Pic::Back), input_side)
    {
        blend_over(ui, rect, t);
    }
    if app.persisted.show_field
        && app.persisted.selected.is_some()
        && let (Some(u), Some(n)) = (&app.unit, input_side)
    {
        let [y0, x0, y1, x1] = u.field.map(|v| v as f32);
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
    }
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut app.persisted.show_field, "receptive field")
            .on_hover_text("the pixels the selected unit sees at its projected position");
        ui.checkbox(&mut app.persisted.overlay, "blend maps (v)")
            .on_hover_text("draw the attribution map over the input");
    });
    if app.persisted.show_field
        && let Some(u) = &app.unit
        && app.persisted.selected.is_some()
    {
        let [y0, x0, y1, x1] = u.field;
        ui.weak(format!(
            "field rows {y0}..{y1}, columns {x0}..{x1} ({}x{} px)",
            y1 - y0,
            x1 - x0
        ));
    }
    crate::player::PlayerPane::ui(app, ui);
    if app.frozen && app.player.playback.is_none() {
        ui.label("frozen (f)");
    }
    crate::player::PlayerPane::record_ui(app, ui);
}

/// The selected unit's map, the value under the cursor, and the top-5 classes.
pub fn unit_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    let layer = app.persisted.layer.clone().unwrap_or_default();
    match app.persisted.selected {
        Some(c) => ui.heading(format!("unit {layer}:{c}")),
        None => ui.heading("unit"),
    };
    // the map large on the left; its values, activity and the classes beside it
    ui.columns(2, |cols| {
        if let [a, b] = cols {
            let hover = unit_map(app, a);
            unit_info(app, b, hover);
        }
    });
}

/// The selected unit's map: a click projects that place, a right click its maximum. Returns
/// the pointer and the map's rectangle while hovered.
fn unit_map(app: &mut DeepvisApp, ui: &mut egui::Ui) -> Option<(egui::Pos2, Rect)> {
    let side = ui.available_width().min(320.0);
    let resp = image_box(
        ui,
        app.pics.get(Pic::Unit),
        side,
        "click a tile of the grid",
    );
    let resp = resp.on_hover_text(
        "the unit's map on the frame: click a place to project it, right click for its maximum",
    );
    let resp = resp.interact(Sense::click());
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "unit map"));
    if let Some(u) = &app.unit {
        let r = resp.rect;
        let (cw, ch) = (
            r.width() / u.width.max(1) as f32,
            r.height() / u.height.max(1) as f32,
        );
        let (py, px) = app.persisted.back.pos.unwrap_or(u.argmax);
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
            && p != app.persisted.back.pos
        {
            app.persisted.back.pos = p;
            app.back_changed();
        }
    }
    resp.hover_pos().map(|p| (p, resp.rect))
}

/// Where the projection is, the value under the pointer, the unit's recent activity and the
/// top-5 classes.
fn unit_info(app: &mut DeepvisApp, ui: &mut egui::Ui, hover: Option<(egui::Pos2, Rect)>) {
    if let Some(u) = &app.unit {
        let text = match app.persisted.back.pos {
            Some((y, x)) => format!("projecting (y {y}, x {x}); right click: the maximum"),
            None => format!(
                "projecting the maximum (y {}, x {}); click the map for another place",
                u.argmax.0, u.argmax.1
            ),
        };
        ui.weak(text);
    }
    if let (Some(u), Some((p, r))) = (&app.unit, hover) {
        let x = ((p.x - r.min.x) / r.width() * u.width as f32) as usize;
        let y = ((p.y - r.min.y) / r.height() * u.height as f32) as usize;
        if x < u.width && y < u.height {
            ui.label(format!(
                "value at (y {y}, x {x}): {:.3}",
                u.values[y * u.width + x]
            ));
        }
    } else if let Some(u) = &app.unit {
        let max = u.values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        ui.label(format!("max {:.3} (hover the map for values)", max));
    }
    if let Some(c) = app.persisted.selected {
        // whole points, so that rounding never widens the pane
        let w = ui.available_width().floor() - 1.0;
        sparkline(app, ui, c, w);
    }
    ui.separator();
    ui.strong("top-5 classes");
    for p in &app.predictions {
        ui.horizontal(|ui| {
            ui.label(format!("{:>5.1}%", p.prob * 100.0));
            ui.label(format!("{} ({})", p.label, p.index));
        });
    }
}

/// Channel `c`'s maximum over the last [`crate::activity::HISTORY_SECS`] seconds, one point
/// per grid frame, as a line under its map.
fn sparkline(app: &DeepvisApp, ui: &mut egui::Ui, c: usize, width: f32) {
    let pts = app.grid_pane.activity.series(c);
    let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, 36.0), Sense::hover());
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "activity sparkline"));
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

/// Every channel of the layer; hover shows a channel, click selects it.
pub fn grid_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    if let Some((crashes, seconds)) = app.worker_paused {
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
                app.worker_paused = None;
                app.preparing = Some(crate::words::preparing(
                    &deepvis_protocol::Preparing::Restarting,
                ));
                app.send(Command::RestartWorker);
            }
        });
        return;
    }
    if app.grid.is_none() {
        let text = match (&app.preparing, &app.model, app.messages.last()) {
            (Some(p), _, _) => p.clone(),
            (None, None, Some(m)) if m.kind.is_some() => m.line(),
            _ => "waiting for the first frame".into(),
        };
        ui.centered_and_justified(|ui| {
            ui.label(text);
        });
    }
    crate::grid::GridPane::ui(app, ui);
    if let Some(files) = ui
        .ctx()
        .input(|i| (!i.raw.dropped_files.is_empty()).then(|| i.raw.dropped_files.clone()))
        && let Some(path) = files.iter().find_map(|f| {
            let p = f.path();
            (!p.as_os_str().is_empty()).then(|| p.to_path_buf())
        })
    {
        let is_model = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        let is_sidecar = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_model {
            app.send(Command::OpenModel(path));
        } else if is_sidecar {
            app.restore_settings(&path);
        } else {
            app.set_source(deepvis_protocol::SourceSpec::Path(path));
        }
    }
}

/// The selected unit's preferred image, where it stands, and the run's main controls.
pub fn preferred_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    ui.heading("preferred image");
    let side = ui.available_width().min(320.0);
    let label = if app.persisted.selected.is_some() {
        "forming..."
    } else {
        "click a tile to see what the unit prefers"
    };
    let resp = image_box(ui, app.pics.get(Pic::Preferred), side, label);
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "preferred image view"));
    if let Some(p) = &app.preferred {
        ui.add(
            egui::Label::new(format!(
                "{}:{}  iteration {}  objective {:.3}  activation {:.3}",
                p.layer, p.channel, p.iteration, p.objective, p.activation
            ))
            .truncate(),
        );
        ui.add(egui::Label::new(egui::RichText::new(p.mode.clone()).weak()).truncate());
        if let Some((layer, channel, v)) = &app.judged
            && *layer == p.layer
            && *channel == p.channel
        {
            let line = crate::words::verdicts(v, &p.captions);
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
    if let Some((reason, msg)) = app.stopped.clone() {
        ui.colored_label(Color32::from_rgb(230, 140, 40), msg);
        // a pooling's units have no ReLU of their own: no pre-ReLU value to turn to
        let relu = app
            .layer_index()
            .and_then(|i| app.layers.get(i))
            .is_none_or(|l| l.relu);
        if reason == StopReason::ZeroGrad && !relu {
            ui.label(crate::words::NO_RELU_HERE);
        }
        if reason == StopReason::ZeroGrad
            && relu
            && ui
                .button("use the pre-ReLU objective")
                .on_hover_text("optimize the unit's value before its ReLU, which has a gradient")
                .clicked()
        {
            app.persisted.optim.pre_relu = PreReluMode::On;
            app.stopped = None;
            app.optim_changed();
        }
    }
    ui.horizontal_wrapped(|ui| {
        let running = app.persisted.running;
        if ui
            .button(if running { "pause" } else { "run" })
            .on_hover_text("stop or resume the gradient ascent (space)")
            .clicked()
        {
            app.persisted.running = !running;
            app.send(Command::SetRunning(!running));
        }
        if ui
            .button("reset")
            .on_hover_text("start the image over from its start image (r)")
            .clicked()
        {
            app.stopped = None;
            app.send(Command::ResetOptim);
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
                apply_preset(app, n);
            }
        }
    });
    crate::method::pickers(app, ui);
    ui.horizontal_wrapped(|ui| {
        let has_run = app.preferred.is_some();
        if ui
            .add_enabled(has_run, egui::Button::new("export"))
            .on_hover_text(
                "save the image as a PNG in ~/deepvis with a JSON of everything that made it \
                 (deepvis optimize --from that JSON makes it again; drop the JSON on the \
                 window to restore these settings)",
            )
            .clicked()
            && let Some(p) = &app.preferred
        {
            let name = format!(
                "preferred-{}-{}-{}.png",
                p.layer.replace(['/', '\\'], "_"),
                p.channel,
                crate::player::stamp()
            );
            let dir = crate::player::output_dir();
            let _ = std::fs::create_dir_all(&dir);
            app.send(Command::Export(dir.join(name)));
        }
        if let Some((png, _)) = &app.exported {
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

/// The optimizer's regularizers and learning rate: a switch and a slider each.
pub fn optim_settings(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    let mut o = app.persisted.optim;
    let mut changed = false;
    if o.method.param != deepvis_protocol::ParamKind::Pixel {
        ui.weak(
            "blur and the clippings act on pixels only; decay shrinks a Fourier spectrum; \
             with Adam the learning rate is Adam's",
        );
    }
    let p: &mut Params = &mut o.params;
    egui::Grid::new("sliders").num_columns(2).show(ui, |ui| {
        let decay = egui::Slider::new(&mut p.decay, 0.0..=0.5)
            .logarithmic(true)
            .text("decay");
        changed |= switched_row(
            ui,
            Some((&mut o.decay_on, "decay on")),
            decay,
            "L2 decay (the paper's theta_decay): every step shrinks the image by this fraction, \
             which keeps a few extreme pixels from dominating",
        );
        let blur = egui::Slider::new(&mut p.blur_radius, 0.0..=3.0).text("blur radius");
        changed |= switched_row(
            ui,
            Some((&mut o.blur_on, "blur on")),
            blur,
            "Gaussian blur width (theta_b_width): smooths away high-frequency noise",
        );
        let every = egui::Slider::new(&mut p.blur_every, 1..=10).text("blur every");
        changed |= switched_row(
            ui,
            None,
            every,
            "blur every this many steps (theta_b_every)",
        );
        let norm = egui::Slider::new(&mut p.norm_pct, 0.0..=99.0).text("norm pct");
        changed |= switched_row(
            ui,
            Some((&mut o.norm_on, "norm clip on")),
            norm,
            "clipping by norm (theta_n_pct): pixels whose colour norm is below this percentile \
             are set to zero",
        );
        let contrib = egui::Slider::new(&mut p.contrib_pct, 0.0..=99.0).text("contrib pct");
        changed |= switched_row(
            ui,
            Some((&mut o.contrib_on, "contrib clip on")),
            contrib,
            "clipping by contribution (theta_c_pct): pixels that add least to the unit's value \
             (below this percentile) are set to zero",
        );
        ui.label("");
        changed |= radio_row(
            ui,
            None,
            &mut p.lr_policy,
            &[
                (LrPolicy::Constant, "constant lr"),
                (LrPolicy::Progress, "progress lr"),
            ],
            "constant: a fixed step size; progress: the step that would raise the objective by \
             the desired progress, up to a maximum (the paper's second policy)",
        );
        ui.end_row();
        ui.label("");
        match p.lr_policy {
            LrPolicy::Constant => {
                changed |= ui
                    .add(
                        egui::Slider::new(&mut p.lr, 0.1..=1000.0)
                            .logarithmic(true)
                            .text("lr"),
                    )
                    .on_hover_text("the learning rate: the size of each gradient step")
                    .changed();
            }
            LrPolicy::Progress => {
                ui.vertical(|ui| {
                    changed |= ui
                        .add(
                            egui::Slider::new(&mut p.max_lr, 1.0..=1e8)
                                .logarithmic(true)
                                .text("max lr"),
                        )
                        .on_hover_text("the largest step the progress policy may take")
                        .changed();
                    changed |= ui
                        .add(
                            egui::Slider::new(&mut p.desired_prog, 0.01..=20.0)
                                .logarithmic(true)
                                .text("desired progress"),
                        )
                        .on_hover_text("how much each step should raise the objective")
                        .changed();
                });
            }
        }
        ui.end_row();
    });
    if changed {
        app.persisted.optim = o;
        app.optim_changed();
    }
}

/// Where the image starts and what it optimizes.
pub fn start_settings(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    let mut o = app.persisted.optim;
    let mut changed = radio_row(
        ui,
        Some("start"),
        &mut o.start,
        &[
            (StartFrom::Noise, "noise"),
            (StartFrom::Frame, "current frame"),
        ],
        "the image the ascent starts from: seeded noise, or the frame the network sees now",
    );
    ui.horizontal(|ui| {
        let seed = ui.label("seed");
        changed |= ui
            .add(egui::DragValue::new(&mut o.seed))
            .labelled_by(seed.id)
            .on_hover_text("the noise's seed: the same seed gives the same picture")
            .changed();
        changed |= ui
            .checkbox(&mut o.suppress, "suppress")
            .on_hover_text("descend instead: the image that silences the unit")
            .changed();
    });
    changed |= radio_row(
        ui,
        Some("pre-ReLU (p)"),
        &mut o.pre_relu,
        &[
            (PreReluMode::Auto, "auto"),
            (PreReluMode::On, "on"),
            (PreReluMode::Off, "off"),
        ],
        "optimize the unit's value before its ReLU (on), after it (off), or before it only \
         while the unit is silent (auto)",
    );
    if changed {
        app.persisted.optim = o;
        app.optim_changed();
    }
}

/// A row of radio buttons over `choices`, after an optional label; true if the value changed.
fn radio_row<T: PartialEq + Copy>(
    ui: &mut egui::Ui,
    label: Option<&str>,
    value: &mut T,
    choices: &[(T, &str)],
    tip: &str,
) -> bool {
    ui.horizontal(|ui| {
        if let Some(l) = label {
            ui.label(l).on_hover_text(tip);
        }
        let mut changed = false;
        for (v, text) in choices {
            changed |= ui
                .radio_value(value, *v, *text)
                .on_hover_text(tip)
                .changed();
        }
        changed
    })
    .inner
}

/// One row of the slider grid: an optional on/off switch, then the slider. True if either moved.
fn switched_row(
    ui: &mut egui::Ui,
    switch: Option<(&mut bool, &str)>,
    slider: egui::Slider<'_>,
    tip: &str,
) -> bool {
    let switched = match switch {
        Some((on, label)) => ui.checkbox(on, label).on_hover_text(tip).changed(),
        None => {
            ui.label("");
            false
        }
    };
    let moved = ui.add(slider).on_hover_text(tip).changed();
    ui.end_row();
    switched || moved
}

/// The running optimization's objective, with the iteration where the unit first became its
/// layer's argmax.
pub fn telemetry_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};
    ui.heading("optimization");
    let t = &app.telemetry;
    if t.points.is_empty() {
        ui.weak("the objective, learning rate and gradient norm appear here as the image forms");
        return;
    }
    let obj: PlotPoints = t
        .points
        .iter()
        .map(|p| [p.iter as f64, p.obj as f64])
        .collect();
    let first = t.first_argmax;
    let r = Plot::new("objective plot")
        .height(120.0)
        .legend(Legend::default())
        .link_axis(ui.scope_id().with("telemetry x"), [true, false])
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new("objective", obj));
            if let Some(i) = first {
                p.vline(
                    VLine::new(format!("argmax at {i}"), i as f64)
                        .color(Color32::from_rgb(60, 220, 60)),
                );
            }
        });
    r.response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "objective plot"));
    match first {
        Some(i) => ui.label(format!(
            "the unit first became its layer's argmax at iteration {i}"
        )),
        None => ui.weak("the unit has not been its layer's argmax yet"),
    };
}

/// The learning rate and the gradient's norm on a log scale.
pub fn gradient_plot(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    use egui_plot::{Legend, Line, Plot, PlotPoints};
    let t = &app.telemetry;
    if t.points.is_empty() {
        ui.weak("nothing yet");
        return;
    }
    let log = |v: f64| if v > 0.0 { v.log10() } else { f64::NAN };
    let lr: PlotPoints = t
        .points
        .iter()
        .filter_map(|p| p.lr.map(|lr| [p.iter as f64, log(lr)]))
        .collect();
    let g: PlotPoints = t
        .points
        .iter()
        .map(|p| [p.iter as f64, log(p.grad_norm)])
        .collect();
    Plot::new("lr plot")
        .height(90.0)
        .legend(Legend::default())
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new("log10 lr", lr));
            p.line(Line::new("log10 |g|", g));
        });
}

/// A montage read from an index folder, or why there is none.
fn montage(ui: &mut egui::Ui, tex: Option<&egui::TextureHandle>, side: f32, name: &str) {
    match tex {
        Some(t) => {
            let resp = image_box(ui, Some(t), side, "");
            resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, name));
        }
        None => {
            ui.weak("the montage file is missing or unreadable (see the status bar)");
        }
    }
}

/// The selected unit's top-9: from a loaded `deepvis topk` index, and from this session's
/// frames.
pub fn topk_pane(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    let side = ui.available_width().min(240.0);
    let mut open = None;
    match (&app.topk, app.topk_entry().cloned()) {
        (Some(t), Some(e)) => {
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
            montage(ui, app.pics.get(Pic::Topk), side, "index top 9");
            if let Some(h) = e.hits.first() {
                ui.weak(format!("best: {} ({:.3})", h.file, h.score));
            }
            ui.horizontal_wrapped(|ui| {
                ui.weak("show");
                for (i, h) in e.hits.iter().enumerate() {
                    if ui
                        .small_button((i + 1).to_string())
                        .on_hover_text(format!(
                            "show {} ({:.3}) as the source{}",
                            h.file,
                            h.score,
                            if h.file.contains('@') {
                                ", paused on that frame"
                            } else {
                                ""
                            }
                        ))
                        .clicked()
                    {
                        open = Some(t.index.folder.join(&h.file));
                    }
                }
            });
            if let (Some(how), Some(_)) = (&t.index.back, &e.back_montage) {
                ui.weak(format!("their back-projections ({how})"));
                montage(ui, app.pics.get(Pic::TopkBack), side, "index top 9 back");
            }
        }
        (Some(t), None) if app.persisted.layer.as_deref() == Some(t.index.layer.as_str()) => {
            ui.weak(format!(
                "select a unit to see its top {} of {} images",
                t.index.k, t.index.images
            ));
        }
        (Some(t), None) => {
            ui.weak(format!(
                "the loaded index is of {} {}: show that layer and select a unit",
                t.index.model, t.index.layer
            ));
        }
        (None, _) => {
            ui.weak("load an index made by `deepvis topk --folder DIR --layer L -o INDEX`");
        }
    }
    ui.horizontal(|ui| {
        let l = ui.label("index");
        ui.add(egui::TextEdit::singleline(&mut app.topk_input).desired_width(160.0))
            .labelled_by(l.id)
            .on_hover_text("the folder `deepvis topk ... -o FOLDER` wrote");
        if ui
            .button("load")
            .on_hover_text("show the top 9 images of that index for the selected unit")
            .clicked()
        {
            let d = std::path::PathBuf::from(app.topk_input.trim());
            app.load_topk(&d);
        }
    });
    ui.separator();
    ui.strong("this session's frames");
    match &app.session {
        Some((layer, c, scores)) if Some(*c) == app.persisted.selected => {
            let resp = image_box(ui, app.pics.get(Pic::Session), side, "");
            resp.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Image, true, "session top 9")
            });
            let best = scores.first().copied().unwrap_or(0.0);
            ui.weak(format!(
                "{} frame(s) that excited {layer}:{c} most since it was selected (best {best:.3})",
                scores.len()
            ));
        }
        _ => {
            ui.weak("the frames that excite the selected unit most gather here");
        }
    }
    if let Some(path) = open {
        app.open_picture(&path);
    }
}

/// The list of key bindings.
pub fn help_overlay(app: &mut DeepvisApp, ui: &mut egui::Ui) {
    let mut open = true;
    egui::Window::new("help")
        .open(&mut open)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            egui::Grid::new("bindings").striped(true).show(ui, |ui| {
                for (k, what) in BINDINGS {
                    ui.monospace(k);
                    ui.label(what);
                    ui.end_row();
                }
            });
            ui.separator();
            // a test hook, kept out of the toolbar
            if ui
                .button("crash the worker")
                .on_hover_text("test that the window survives the worker's crash and restart")
                .clicked()
            {
                app.send(Command::InjectPanic);
            }
        });
    if !open {
        app.show_help = false;
    }
}
