//! The optimization's telemetry and its two plots (objective; learning rate and gradient).

use deepvis_protocol::Telemetry;
use egui::Color32;

use crate::picture::name_image;

/// Points kept for the plot before it is thinned.
pub const TELEMETRY_CAP: usize = 4000;

/// The optimization's telemetry, for the plot.
#[derive(Clone, Debug, Default)]
pub struct TelemetryView {
    /// The run the points belong to.
    pub run: u64,
    /// Every iteration (thinned to every other one past [`TELEMETRY_CAP`]).
    pub points: Vec<Telemetry>,
    /// The first iteration where the unit was its layer's argmax.
    pub first_argmax: Option<usize>,
}

impl TelemetryView {
    /// Takes the points of run `run` (another run starts over).
    pub fn push(&mut self, run: u64, points: &[Telemetry]) {
        if self.run != run {
            *self = TelemetryView {
                run,
                ..TelemetryView::default()
            };
        }
        if self.first_argmax.is_none() {
            self.first_argmax = points.iter().find(|p| p.is_argmax).map(|p| p.iter);
        }
        self.points.extend_from_slice(points);
        if self.points.len() > TELEMETRY_CAP {
            // keep every other point: the plot's shape, bounded memory
            let mut i = 0;
            self.points.retain(|_| {
                i += 1;
                i % 2 == 1
            });
        }
    }

    /// The objective's plot, with the iteration where the unit first became its layer's
    /// argmax.
    pub(crate) fn ui(&self, ui: &mut egui::Ui) {
        use egui_plot::{Legend, Line, Plot, PlotPoints, VLine};
        ui.heading("optimization");
        if self.points.is_empty() {
            ui.weak(
                "the objective, learning rate and gradient norm appear here as the image forms",
            );
            return;
        }
        let obj: PlotPoints = self
            .points
            .iter()
            .map(|p| [p.iter as f64, p.obj as f64])
            .collect();
        let first = self.first_argmax;
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
        name_image(&r.response, "objective plot");
        match first {
            Some(i) => ui.label(format!(
                "the unit first became its layer's argmax at iteration {i}"
            )),
            None => ui.weak("the unit has not been its layer's argmax yet"),
        };
    }

    /// The learning rate and the gradient's norm on a log scale.
    pub(crate) fn gradient_ui(&self, ui: &mut egui::Ui) {
        use egui_plot::{Legend, Line, Plot, PlotPoints};
        if self.points.is_empty() {
            ui.weak("nothing yet");
            return;
        }
        let log = |v: f64| if v > 0.0 { v.log10() } else { f64::NAN };
        let lr: PlotPoints = self
            .points
            .iter()
            .filter_map(|p| p.lr.map(|lr| [p.iter as f64, log(lr)]))
            .collect();
        let g: PlotPoints = self
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
}
