//! The circuit stage: while the window shows it, the selected unit's strongest inputs in the
//! layer below, by weight (once a selection) and on the newest frame (activation times
//! gradient, at most every [`CIRCUIT_EVERY`]), each with its map on the frame.

use std::time::{Duration, Instant};

use deepvis_model::circuit::{Input, by_weight, layer_below, on_picture, ranked};
use deepvis_protocol::{CircuitInput, CircuitSide, CircuitView, Command, Event};
use image::RgbImage;

use crate::device::Model;
use crate::error::{EngineError, Result};
use crate::runs::Scene;
use crate::stage::{Cx, Ripple, Took};

/// How often the circuit follows a moving source.
pub(crate) const CIRCUIT_EVERY: Duration = Duration::from_millis(300);
/// The most inputs of each sign shown.
pub(crate) const MAX_INPUTS: usize = 16;

/// The inputs by weight of one unit, as computed for its selection.
struct Weighted {
    /// `(layer, unit)`.
    of: (String, usize),
    below: String,
    /// The ranked inputs, or why there are none.
    ranked: Result<(Vec<Input>, Vec<Input>), String>,
}

/// The circuit stage.
#[derive(Default)]
pub(crate) struct CircuitStage {
    /// How many inputs of each sign (None: the circuit is not shown).
    top: Option<usize>,
    /// The frame (the worker's count) and when its circuit was last sent.
    last: Option<(u64, Instant)>,
    weighted: Option<Weighted>,
    /// The selection whose circuit failed (said once, not every frame).
    failed: Option<(String, usize)>,
}

impl CircuitStage {
    /// Carries out [`Command::Circuit`].
    pub fn command(&mut self, c: Command, _cx: &mut Cx) -> Took {
        match c {
            Command::Circuit(top) => {
                self.top = top.map(|t| t.clamp(1, MAX_INPUTS));
                self.last = None;
                self.failed = None;
                Took::Done(Ripple::NONE)
            }
            other => Took::Passed(other),
        }
    }

    /// Whether the circuit of frame `seq` is due: shown, a unit selected, a frame newer than
    /// the last one drawn, and not sooner than [`CIRCUIT_EVERY`] after it.
    pub fn due(&self, scene: &Scene, seq: u64) -> bool {
        let Some(unit) = scene.unit else {
            return false;
        };
        if self.top.is_none() || scene.frame.is_none() {
            return false;
        }
        if self
            .failed
            .as_ref()
            .is_some_and(|(l, u)| l == scene.layer && *u == unit)
        {
            return false;
        }
        match self.last {
            None => true,
            Some((s, t)) => s != seq && t.elapsed() >= CIRCUIT_EVERY,
        }
    }

    /// The circuit of the selected unit on the newest frame (frame `seq`); an error is said
    /// once for a selection.
    pub fn compute(&mut self, scene: &Scene, seq: u64) -> Result<Event> {
        self.last = Some((seq, Instant::now()));
        let r = self.view(scene);
        if r.is_err() {
            self.failed = scene.unit.map(|u| (scene.layer.to_string(), u));
        }
        r.map(Event::Circuit)
    }

    fn view(&mut self, scene: &Scene) -> Result<CircuitView> {
        let (Some(unit), Some(frame), Some(top)) = (scene.unit, scene.frame, self.top) else {
            return Err(EngineError::NoSubject);
        };
        let model: &Model = scene.model;
        let layer = model.optimizable(scene.layer).to_string();
        let weighted = self.weighted(model, &layer, unit)?;
        let below = weighted.below.clone();
        let x = model.input(frame.to_vec())?;
        let p = on_picture(&model.net, x, &below, &layer, unit)?;
        let (excite, inhibit) = ranked(&p.inputs, top);
        // computed for the most, shown for as many as asked
        let by_weight = weighted.ranked.clone().map(|(mut pos, mut neg)| {
            pos.truncate(top);
            neg.truncate(top);
            (pos, neg)
        });
        // the maps of every input shown, on one scale
        let shown: Vec<usize> = excite
            .iter()
            .chain(&inhibit)
            .map(|i| i.channel)
            .chain(
                by_weight
                    .iter()
                    .flat_map(|(a, b)| a.iter().chain(b))
                    .map(|i| i.channel),
            )
            .collect();
        let [_, h, w] = p.dims;
        let plane = h * w;
        let hi = shown
            .iter()
            .flat_map(|&c| p.maps.get(c * plane..(c + 1) * plane).unwrap_or(&[]))
            .fold(0.0f32, |m, v| if v.is_finite() { m.max(*v) } else { m });
        let map = |c: usize| -> RgbImage {
            let values = p.maps.get(c * plane..(c + 1) * plane).unwrap_or(&[]);
            RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let v = values
                    .get(y as usize * w + x as usize)
                    .copied()
                    .unwrap_or(0.0);
                let g = if hi > 0.0 && v.is_finite() {
                    (v.max(0.0) / hi * 255.0).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                };
                image::Rgb([g, g, g])
            })
        };
        let side = |inputs: &[Input]| -> Vec<CircuitInput> {
            inputs
                .iter()
                .map(|i| CircuitInput {
                    channel: i.channel,
                    value: i.value,
                    map: map(i.channel),
                })
                .collect()
        };
        Ok(CircuitView {
            layer,
            unit,
            below,
            by_weight: by_weight.map(|(pos, neg)| CircuitSide {
                excite: side(&pos),
                inhibit: side(&neg),
            }),
            on_frame: CircuitSide {
                excite: side(&excite),
                inhibit: side(&inhibit),
            },
        })
    }

    /// The unit's inputs by weight (computed once for a selection).
    fn weighted(&mut self, model: &Model, layer: &str, unit: usize) -> Result<&Weighted> {
        let of = (layer.to_string(), unit);
        if self.weighted.as_ref().is_none_or(|w| w.of != of) {
            let below = layer_below(&model.info, layer)?;
            let ranked = by_weight(&model.net, &below, layer, unit)
                .map(|w| ranked(&w, MAX_INPUTS))
                .map_err(|e| e.to_string());
            self.weighted = Some(Weighted { of, below, ranked });
        }
        self.weighted.as_ref().ok_or(EngineError::NoSubject)
    }
}
