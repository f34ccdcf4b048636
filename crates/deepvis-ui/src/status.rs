//! The status bar: model, backend, source, speeds and the latest message.

use deepvis_protocol::{BackMode, Event};
use egui::Color32;

use crate::{Shared, words};
use crate::pane::{Pane, Place};

/// The speeds the status bar shows.
#[derive(Default)]
pub struct StatusBar {
    /// Frames per second of the grid pipeline.
    pub grid_fps: f32,
    /// Optimizer iterations per second.
    pub optim_ips: f32,
    /// Back-projections per second.
    pub back_fps: f32,
    /// The window's own frame time (the last frame's).
    pub ui_frame_ms: f32,
}

impl Pane for StatusBar {
    fn name(&self) -> &'static str {
        "status bar"
    }

    fn place(&self) -> Place {
        Place::Bottom
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        if let Event::Stats {
            grid_fps,
            optim_ips,
            back_fps,
        } = e
        {
            self.grid_fps = *grid_fps;
            self.optim_ips = *optim_ips;
            self.back_fps = *back_fps;
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let StatusBar {
            grid_fps,
            optim_ips,
            back_fps,
            ui_frame_ms,
        } = self;
        ui.horizontal_wrapped(|ui| {
            match (&shared.preparing, &shared.model) {
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
            ui.label(format!("backend {}", words::backend(&shared.backend)));
            ui.separator();
            let s = &shared.source;
            let color = if s.ok {
                ui.visuals().text_color()
            } else {
                Color32::from_rgb(220, 120, 40)
            };
            ui.colored_label(color, format!("source {}", s.label));
            if let Some(p) = &shared.playback {
                ui.label(crate::player::status_line(p));
            }
            ui.separator();
            ui.label(format!("grid {grid_fps:.1} fps"));
            ui.label(format!("optimizer {optim_ips:.1} it/s"));
            if shared.persisted.back.mode != BackMode::Off {
                ui.label(format!("back {back_fps:.1} /s"));
            }
            ui.label(format!("ui {ui_frame_ms:.1} ms"));
            if let Some(m) = shared.messages.last() {
                ui.separator();
                ui.colored_label(m.color(ui.visuals()), m.line());
            }
        });
    }
}
