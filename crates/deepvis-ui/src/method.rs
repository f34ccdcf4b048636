//! The preferred image's method: the picker (paper 2015, Fourier + transforms, MACO), the view
//! (one image, the presets or the methods side by side, diverse images, the direction at the
//! clicked place), and every knob of the chosen method.

use deepvis_protocol::{
    Canvas, MethodKind, OptimSettings, OptimView, ParamKind, PenaltyKind, TransformKind,
};

/// The method and view pickers (under the preferred image); `pos` is the place chosen on the
/// unit map. True if a setting changed.
pub(crate) fn pickers(
    ui: &mut egui::Ui,
    o: &mut OptimSettings,
    pos: Option<(usize, usize)>,
) -> bool {
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        ui.label("method")
            .on_hover_text("how the picture is made; each method's knobs are below");
        let now = o.method.kind();
        for kind in MethodKind::ALL {
            if ui
                .selectable_label(now == kind, kind.label())
                .on_hover_text(match kind {
                    MethodKind::Paper => "the paper's regularized gradient ascent on pixels",
                    MethodKind::Fourier => {
                        "lucent's recipe: a decorrelated Fourier parameterization, random \
                         jitter, scale and rotation, Adam"
                    }
                    MethodKind::Maco => {
                        "magnitude-constrained optimization: only the phase of the spectrum \
                         changes, its magnitude stays that of natural images"
                    }
                })
                .clicked()
                && now != kind
            {
                o.use_method(kind, true);
                changed = true;
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("view").on_hover_text(
            "one image; the paper's four presets or the three methods side by side (one \
             batch: one forward and backward pass per step for all); or several images of the \
             unit made to differ",
        );
        for v in OptimView::ALL {
            changed |= ui.selectable_value(&mut o.view, v, v.label()).changed();
        }
    });
    ui.horizontal_wrapped(|ui| {
        if o.view == OptimView::Diversity {
            let n = ui.label("images");
            changed |= ui
                .add(egui::DragValue::new(&mut o.diversity).range(2..=8))
                .labelled_by(n.id)
                .changed();
            let w = ui.label("weight");
            changed |= ui
                .add(
                    egui::DragValue::new(&mut o.diversity_weight)
                        .range(0.0..=10000.0)
                        .speed(1.0),
                )
                .labelled_by(w.id)
                .on_hover_text("how strongly the images are pushed apart")
                .changed();
        }
    });
    ui.horizontal_wrapped(|ui| {
        let mut here = o.direction_at.is_some();
        if ui
            .add_enabled(
                pos.is_some() || here,
                egui::Checkbox::new(&mut here, "what the network sees here"),
            )
            .on_hover_text(
                "optimize the direction of the layer's activation vector at the place clicked \
                 on the unit map (on the current frame) instead of the one unit",
            )
            .changed()
        {
            o.direction_at = if here { pos } else { None };
            changed = true;
        }
        if let Some((y, x)) = o.direction_at {
            ui.weak(format!("at ({y}, {x})"));
        }
        if o.method.param == ParamKind::Pixel && (o.norm_on || o.contrib_on) {
            changed |= ui
                .checkbox(&mut o.show_clipped, "show clipped")
                .on_hover_text("tint in red the pixels the norm or contribution clipping zeroed")
                .changed();
        }
    });
    changed
}

/// The knobs of the method: parameterization, transforms, update, penalties. True if one
/// moved.
pub(crate) fn knobs(ui: &mut egui::Ui, o: &mut OptimSettings) -> bool {
    let m = &mut o.method;
    let mut changed = false;
    if m.param == ParamKind::Fourier {
        changed |= slider(
            ui,
            egui::Slider::new(&mut m.decay_power, 0.0..=2.5).text("decay power"),
            "each frequency f is scaled by 1 / f^power: higher, smoother pictures",
        );
    }
    if m.param != ParamKind::Pixel {
        changed |= ui
            .checkbox(&mut m.decorrelate, "decorrelate colours")
            .on_hover_text("mix the channels by ImageNet's colour correlation (lucent's)")
            .changed();
    }
    if m.param != ParamKind::Pixel {
        changed |= canvas_knobs(ui, &mut m.canvas);
    }
    for kind in TransformKind::ALL {
        let spec = kind.spec();
        let mut s = egui::Slider::new(m.transforms.get_mut(kind), 0.0..=spec.slider_max)
            .text(spec.label)
            .suffix(spec.suffix);
        if spec.integer {
            s = s.integer();
        }
        changed |= slider(ui, s, spec.help);
    }
    changed |= ui
        .checkbox(&mut m.adam, "Adam")
        .on_hover_text("Adam's update instead of the paper's SGD (its learning-rate policy)")
        .changed();
    if m.adam {
        changed |= slider(
            ui,
            egui::Slider::new(&mut m.adam_lr, 0.001..=2.0)
                .logarithmic(true)
                .text("Adam lr"),
            "Adam's step size",
        );
        changed |= ui
            .checkbox(&mut m.nesterov, "Nesterov (NAdam)")
            .on_hover_text("Adam with Nesterov momentum, as MACO's authors optimize")
            .changed();
    }
    for kind in PenaltyKind::ALL {
        let spec = kind.spec();
        changed |= slider(
            ui,
            egui::Slider::new(m.penalties.get_mut(kind), 0.0..=spec.slider_max)
                .logarithmic(true)
                .text(spec.label),
            spec.help,
        );
    }
    changed
}

/// The canvas (crops of a large picture, as MACO's authors run it): on or off, its side, the
/// crops per step, their size and noise. True if one moved.
fn canvas_knobs(ui: &mut egui::Ui, c: &mut Canvas) -> bool {
    let mut on = c.on();
    let mut changed = false;
    if ui
        .checkbox(&mut on, "crops of a large canvas")
        .on_hover_text(
            "the picture is a canvas larger than the input; each step the network sees a few \
             random crops of it (MACO as its authors run it)",
        )
        .changed()
    {
        *c = if on { Canvas::CPU } else { Canvas::OFF };
        changed = true;
    }
    if !c.on() {
        return changed;
    }
    changed |= slider(
        ui,
        egui::Slider::new(&mut c.side, 64..=1280)
            .text("canvas")
            .suffix(" px"),
        "the canvas's side (the authors': 1280; slower as it grows)",
    );
    changed |= slider(
        ui,
        egui::Slider::new(&mut c.crops, 1..=8).text("crops per step"),
        "how many crops the network sees each step (one batch)",
    );
    let (mut lo, mut hi) = (c.crop_min, c.crop_max);
    changed |= slider(
        ui,
        egui::Slider::new(&mut lo, 0.05..=1.0).text("smallest crop"),
        "the smallest crop's side, a share of the canvas's (the authors': 0.20)",
    );
    changed |= slider(
        ui,
        egui::Slider::new(&mut hi, 0.05..=1.0).text("largest crop"),
        "the largest crop's side, a share of the canvas's (the authors': 0.25)",
    );
    // the two ends stay in order whichever moved
    (c.crop_min, c.crop_max) = (lo.min(hi), hi.max(lo));
    changed |= slider(
        ui,
        egui::Slider::new(&mut c.noise, 0.0..=0.2).text("crop noise"),
        "Gaussian noise added to each crop (0..1 pixel units)",
    );
    changed
}

/// A slider with its tip; true if it moved.
fn slider(ui: &mut egui::Ui, s: egui::Slider<'_>, tip: &str) -> bool {
    ui.add(s).on_hover_text(tip).changed()
}
