//! The frame pane: the input beside its attribution, every method side by side, the sanity plot,
//! a vision transformer's attention.

use deepvis_protocol::{Command, Event};

use crate::Shared;
use crate::attention::AttentionView;
use crate::attribution::AttributionView;
use crate::input::InputView;
use crate::pane::{Pane, Place};

/// The frame the network sees and what in it drives the selected unit.
#[derive(Default)]
pub struct FramePane {
    /// The input, its player and recordings.
    pub input: InputView,
    /// The attribution map, the compare view and the sanity check.
    pub attribution: AttributionView,
    /// A vision transformer's attention from the CLS token or a clicked patch.
    pub attention: AttentionView,
}

impl Pane for FramePane {
    fn name(&self) -> &'static str {
        "input and attribution"
    }

    fn place(&self) -> Place {
        Place::Left
    }

    fn apply(&mut self, e: &Event, shared: &mut Shared) {
        self.input.apply(e);
        self.attribution.apply(e, shared);
        self.attention.apply(e);
    }

    fn seen(&mut self, c: &Command) {
        self.attribution.seen(c);
    }

    fn prepare(&mut self, ctx: &egui::Context, _shared: &mut Shared) {
        self.input.prepare(ctx);
        self.attribution.prepare(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let FramePane {
            input,
            attribution,
            attention,
        } = self;
        // the input and its attribution side by side
        ui.columns(2, |cols| {
            if let [a, b] = cols {
                input.ui(a, shared, attribution.texture());
                attribution.ui(b, shared);
            }
        });
        if attribution.compare.on {
            ui.separator();
            let under = shared.persisted.overlay.then(|| input.texture()).flatten();
            attribution.compare.ui(ui, under);
        }
        if attribution.sanity.report.is_some() {
            ui.separator();
            attribution.sanity.ui(ui);
        }
        attention.ui(ui, shared);
    }
}
