//! The preferred image's settings: the paper's regularizers (from their table), lr and start.

use deepvis_protocol::{
    Knob, LrPolicy, OptimSettings, Params, PreReluMode, RegularizerKind, StartFrom,
};

/// The regularizers and the learning rate; true if a value changed.
pub(crate) fn regularizers(ui: &mut egui::Ui, o: &mut OptimSettings) -> bool {
    let mut changed = false;
    if o.method.param != deepvis_protocol::ParamKind::Pixel {
        ui.weak(
            "blur and the clippings act on pixels only; decay shrinks a Fourier spectrum; \
             with Adam the learning rate is Adam's",
        );
    }
    egui::Grid::new("sliders").num_columns(2).show(ui, |ui| {
        for kind in RegularizerKind::ALL {
            changed |= regularizer_rows(ui, kind, o);
        }
        ui.label("");
        changed |= lr_rows(ui, &mut o.params);
    });
    changed
}

/// A regularizer's rows: its switch beside its first knob, its other knobs under it.
fn regularizer_rows(ui: &mut egui::Ui, kind: RegularizerKind, o: &mut OptimSettings) -> bool {
    let spec = kind.spec();
    let mut changed = false;
    for (i, knob) in spec.knobs.iter().enumerate() {
        let tip = knob.help.unwrap_or(spec.help);
        if i == 0 {
            changed |= ui
                .checkbox(kind.on_mut(o), spec.switch)
                .on_hover_text(tip)
                .changed();
        } else {
            ui.label("");
        }
        changed |= ui
            .add(knob_slider(knob, &mut o.params))
            .on_hover_text(tip)
            .changed();
        ui.end_row();
    }
    changed
}

/// The slider of a knob of the table.
fn knob_slider<'a>(knob: &'a Knob, p: &'a mut Params) -> egui::Slider<'a> {
    let s = egui::Slider::from_get_set(knob.min..=knob.max, move |v: Option<f64>| {
        if let Some(v) = v {
            (knob.set)(p, v);
        }
        (knob.get)(p)
    })
    .logarithmic(knob.logarithmic)
    .text(knob.label);
    if knob.integer { s.integer() } else { s }
}

/// The learning-rate policy and its values (the first column is the grid's).
fn lr_rows(ui: &mut egui::Ui, p: &mut Params) -> bool {
    let mut changed = radio_row(
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
    changed
}

/// Where the image starts and what it optimizes; true if a value changed.
pub(crate) fn start(ui: &mut egui::Ui, o: &mut OptimSettings) -> bool {
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
    changed
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
