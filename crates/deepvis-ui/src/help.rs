//! The help overlay: the key table as the user reads it, and a hook that crashes the worker.

use deepvis_protocol::Command;

use crate::Shared;
use crate::keys::BINDINGS;
use crate::pane::{Pane, Place};

/// The list of key and mouse bindings, over the other panes while [`Shared::show_help`].
#[derive(Default)]
pub struct HelpOverlay;

impl Pane for HelpOverlay {
    fn name(&self) -> &'static str {
        "help overlay"
    }

    fn place(&self) -> Place {
        Place::Overlay
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        if !shared.show_help {
            return;
        }
        let mut open = true;
        egui::Window::new("help")
            .open(&mut open)
            .collapsible(false)
            .show(ui.ctx(), |ui| {
                egui::Grid::new("bindings").striped(true).show(ui, |ui| {
                    for b in &BINDINGS {
                        ui.monospace(b.keys);
                        ui.label(b.what);
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
                    shared.send(Command::InjectPanic);
                }
            });
        if !open {
            shared.show_help = false;
        }
    }
}
