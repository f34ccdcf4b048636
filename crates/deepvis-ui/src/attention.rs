//! The attention view of a vision transformer: one block's attention (a head or their mean)
//! from the CLS token or from the patch clicked on the frame, as a map over the patches drawn
//! over the input, live.

use deepvis_protocol::{AttentionAsk, Command, Event};

use crate::Shared;

/// What the worker last said of the attention: the network's blocks and heads, where the
/// token's attention goes. Part of the frame pane, drawn for networks with attention only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionView {
    /// Blocks with attention (0 until the worker said).
    pub blocks: usize,
    /// Heads per block.
    pub heads: usize,
    /// What the last map shows.
    pub shown: Option<AttentionAsk>,
    /// The share of the token's attention that goes to the leading tokens.
    pub to_leading: f32,
    /// The patch the token attends to most, and how much.
    pub peak: Option<((usize, usize), f32)>,
}

impl AttentionView {
    /// Takes what the worker says of the attention.
    pub(crate) fn apply(&mut self, e: &Event) {
        match e {
            Event::Attention {
                ask,
                blocks,
                heads,
                map,
                w,
                to_leading,
                ..
            } => {
                self.blocks = *blocks;
                self.heads = *heads;
                self.shown = Some(*ask);
                self.to_leading = *to_leading;
                self.peak = map
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, v)| ((i / (*w).max(1), i % (*w).max(1)), *v));
            }
            // another model: its blocks are not known yet
            Event::Ready { .. } => *self = AttentionView::default(),
            _ => {}
        }
    }

    /// Its switch, block and head, and where the token looks.
    pub(crate) fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        // only where the network has attention
        let has = shared.layers.iter().any(|l| l.attention);
        if !has && shared.attention.is_none() {
            return;
        }
        ui.separator();
        let mut on = shared.attention.is_some();
        if ui
            .checkbox(&mut on, "attention")
            .on_hover_text(
                "a vision transformer's attention from the CLS token, or from the patch you \
                 click on the input, drawn over it",
            )
            .changed()
        {
            let ask = on.then(|| self.shown.unwrap_or_default());
            shared.attention = ask;
            shared.send(Command::SetAttention(ask));
        }
        let Some(mut ask) = shared.attention else {
            return;
        };
        let before = ask;
        ui.horizontal_wrapped(|ui| {
            if self.blocks > 1 {
                let mut b = ask.block.min(self.blocks - 1);
                ui.add(egui::Slider::new(&mut b, 0..=self.blocks - 1).text("block"));
                ask.block = b;
            }
            let head_name = |h: Option<usize>| match h {
                None => "mean of heads".to_string(),
                Some(h) => format!("head {h}"),
            };
            egui::ComboBox::from_id_salt("attention head")
                .selected_text(head_name(ask.head))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut ask.head, None, head_name(None));
                    for h in 0..self.heads {
                        ui.selectable_value(&mut ask.head, Some(h), head_name(Some(h)));
                    }
                });
            if ask.from.is_some() && ui.button("from CLS").clicked() {
                ask.from = None;
            }
        });
        if ask != before {
            shared.attention = Some(ask);
            shared.send(Command::SetAttention(Some(ask)));
        }
        let from = match self.shown.and_then(|s| s.from) {
            Some((y, x)) => format!("the patch at row {y}, column {x} (click another)"),
            None => "the CLS token (click a patch on the input)".to_string(),
        };
        ui.weak(format!("from {from}"));
        if let Some(((y, x), v)) = self.peak {
            ui.weak(format!(
                "most to the patch at row {y}, column {x} ({:.1}%); {:.1}% to the leading tokens",
                v * 100.0,
                self.to_leading * 100.0
            ));
        }
    }
}
