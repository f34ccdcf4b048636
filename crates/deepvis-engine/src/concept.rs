//! The concept taught in the window: the grid layer's activations (averaged over the map) of
//! the frames shown while the user records, the concept fitted on them or loaded from a file,
//! and its score and map on each frame after.

use deepvis_concepts::{Cav, ConceptFile, Examples, Fit};
use deepvis_protocol::{Command, ConceptFit, ConceptSide, Event};
use image::RgbImage;

use crate::device::Model;
use crate::error::{EngineError, Result};
use crate::frame::GridMaps;
use crate::stage::{Cx, Ripple, Took};

/// The concept stage.
#[derive(Default)]
pub(crate) struct ConceptStage {
    /// What the frames shown are gathered as.
    recording: Option<ConceptSide>,
    /// The layer the examples are of (None before the first).
    layer: Option<String>,
    examples: Examples,
    /// The concept fitted or loaded.
    concept: Option<ConceptFile>,
    /// The layer a loaded concept asks the grid to show.
    wants_layer: Option<String>,
}

/// The mean over the map's places of each channel.
fn pooled(data: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
    let plane = (h * w).max(1);
    (0..c)
        .map(|ch| data[ch * plane..(ch + 1) * plane].iter().sum::<f32>() / plane as f32)
        .collect()
}

impl ConceptStage {
    /// Carries out the concept's commands; `grid` is the layer the grid shows.
    pub fn command(&mut self, c: Command, grid: &str, cx: &mut Cx) -> Took {
        let done = match c {
            // the frame shown counts at once (a photo is not shown again)
            Command::ConceptRecord(side) => self.record(side, grid).map(|e| (e, side.is_some())),
            Command::ConceptFit(fit) => self.fit(fit, cx.model).map(|e| (e, true)),
            Command::ConceptClear => {
                *self = ConceptStage::default();
                Ok((vec![Event::ConceptCleared, self.counts(grid)], true))
            }
            Command::ConceptSave(path) => match &self.concept {
                Some(c) => c
                    .save(&path)
                    .map(|()| (vec![Event::ConceptSaved(path)], false))
                    .map_err(EngineError::from),
                None => Err(EngineError::ConceptLayer(
                    "there is no concept to save: record and fit one first".into(),
                )),
            },
            Command::ConceptLoad(path) => self.load(&path, cx.model).map(|e| (e, true)),
            other => return Took::Passed(other),
        };
        match done {
            Ok((events, reprocess)) => {
                cx.out.send_all(events);
                Took::Done(Ripple {
                    reprocess,
                    ..Ripple::NONE
                })
            }
            Err(e) => {
                cx.out.fail(deepvis_protocol::Doing::Concept, &e);
                Took::Done(Ripple::NONE)
            }
        }
    }

    /// The examples' counts as the window shows them.
    fn counts(&self, grid: &str) -> Event {
        Event::ConceptExamples {
            layer: self.layer.clone().unwrap_or_else(|| grid.to_string()),
            positives: self.examples.positive.len(),
            negatives: self.examples.negative.len(),
            recording: self.recording,
        }
    }

    /// Starts or stops gathering; examples of another layer than the grid's are refused.
    fn record(&mut self, side: Option<ConceptSide>, grid: &str) -> Result<Vec<Event>> {
        if let (Some(_), Some(l)) = (side, &self.layer)
            && l != grid
        {
            return Err(EngineError::ConceptLayer(format!(
                "the examples gathered are of layer {l}; show it again or clear them to record \
                 on {grid}"
            )));
        }
        self.recording = side;
        Ok(vec![self.counts(grid)])
    }

    /// Fits the concept on the examples.
    fn fit(&mut self, fit: ConceptFit, model: &Model) -> Result<Vec<Event>> {
        let Some(layer) = self.layer.clone() else {
            return Err(EngineError::ConceptLayer(
                "no examples yet: hold \"record concept\" on the thing, then \"record others\""
                    .into(),
            ));
        };
        let how = match fit {
            ConceptFit::Mean => Fit::Mean,
            ConceptFit::Logistic => Fit::Logistic,
        };
        let cav = Cav::fit(how, &self.examples.positive, &self.examples.negative)?;
        let name = self
            .concept
            .as_ref()
            .map_or_else(|| "concept".to_string(), |c| c.name.clone());
        let file = ConceptFile::new(&cav, &name, model.info.name(), None, &layer)
            .with_examples(self.examples.clone());
        self.recording = None;
        let ready = ready(&file);
        self.concept = Some(file);
        Ok(vec![ready])
    }

    /// Loads a concept file of this model: its examples become the stage's, its layer the
    /// grid's.
    fn load(&mut self, path: &std::path::Path, model: &Model) -> Result<Vec<Event>> {
        let file = ConceptFile::load(path)?;
        let info = model.info.layer(&file.layer).map_err(|_| {
            EngineError::ConceptLayer(format!(
                "the concept {:?} is of layer {}, which {} does not have",
                file.name,
                file.layer,
                model.info.name()
            ))
        })?;
        file.check(model.info.name(), &info.name, info.channels)?;
        self.recording = None;
        self.layer = Some(file.layer.clone());
        self.examples = file.examples.clone();
        self.wants_layer = Some(file.layer.clone());
        let events = vec![ready(&file), self.counts(&file.layer)];
        self.concept = Some(file);
        Ok(events)
    }

    /// The layer a loaded concept asks the grid to show (once).
    pub fn take_wanted_layer(&mut self) -> Option<String> {
        self.wants_layer.take()
    }

    /// A frame's maps: gathered while recording, scored by the concept when it is of their
    /// layer.
    pub fn frame(&mut self, maps: &GridMaps) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        if let Some(side) = self.recording {
            match &self.layer {
                Some(l) if *l != maps.layer => {
                    self.recording = None;
                    return Err(EngineError::ConceptLayer(format!(
                        "the grid shows {}, the examples are of {l}: recording stopped",
                        maps.layer
                    )));
                }
                _ => self.layer = Some(maps.layer.clone()),
            }
            let v = pooled(&maps.data, maps.dims);
            match side {
                ConceptSide::Concept => self.examples.positive.push(v),
                ConceptSide::Others => self.examples.negative.push(v),
            }
            events.push(self.counts(&maps.layer));
        }
        if let Some(c) = self.concept.as_ref().filter(|c| c.layer == maps.layer) {
            let cav = c.cav();
            let score = cav.score(&pooled(&maps.data, maps.dims))?;
            let [ch, h, w] = maps.dims;
            let map = cav.map(&maps.data, ch, h, w)?;
            if let Some(overlay) = maps
                .crop
                .as_ref()
                .and_then(|crop| overlay(&map, h, w, crop))
            {
                events.push(Event::ConceptScore { score, overlay });
            }
        }
        Ok(events)
    }
}

/// The event of a concept ready to score.
fn ready(file: &ConceptFile) -> Event {
    Event::ConceptReady {
        name: file.name.clone(),
        layer: file.layer.clone(),
        fit: match file.fit {
            Fit::Mean => ConceptFit::Mean,
            Fit::Logistic => ConceptFit::Logistic,
        },
        train_accuracy: file.train_accuracy,
    }
}

/// The concept's map over the frame: diverging colours (red the concept's side) blended over
/// the crop.
fn overlay(map: &[f32], h: usize, w: usize, crop: &RgbImage) -> Option<RgbImage> {
    let (cw, ch) = crop.dimensions();
    let up = deepvis_viz::upsample_bilinear(map, h, w, ch as usize, cw as usize)?;
    let top = deepvis_viz::plane_image(
        &up,
        ch as usize,
        cw as usize,
        true,
        deepvis_viz::ColorMap::Diverging,
    )?;
    deepvis_viz::blend(crop, &top, 0.6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(layer: &str, v: [f32; 2]) -> GridMaps {
        GridMaps {
            layer: layer.into(),
            // two channels of a 2 x 2 map, each constant
            data: vec![v[0], v[0], v[0], v[0], v[1], v[1], v[1], v[1]],
            dims: [2, 2, 2],
            crop: Some(RgbImage::new(4, 4)),
        }
    }

    #[test]
    fn frames_recorded_on_each_side_fit_a_concept_that_scores_the_next_frames() {
        let mut s = ConceptStage::default();
        assert!(s.record(Some(ConceptSide::Concept), "l").is_ok());
        for k in 0..3 {
            let e = s.frame(&maps("l", [5.0 + k as f32, 0.0])).unwrap();
            assert!(matches!(e[0], Event::ConceptExamples { positives, .. } if positives == k + 1));
        }
        assert!(s.record(Some(ConceptSide::Others), "l").is_ok());
        s.frame(&maps("l", [0.0, 4.0])).unwrap();
        s.frame(&maps("l", [1.0, 5.0])).unwrap();
        assert_eq!(
            (s.examples.positive.len(), s.examples.negative.len()),
            (3, 2)
        );
        s.record(None, "l").unwrap();
        let cav = Cav::fit(Fit::Mean, &s.examples.positive, &s.examples.negative).unwrap();
        s.concept =
            Some(ConceptFile::new(&cav, "c", "m", None, "l").with_examples(s.examples.clone()));
        let score = |s: &mut ConceptStage, v| match s.frame(&maps("l", v)).unwrap().as_slice() {
            [Event::ConceptScore { score, overlay }] => {
                assert_eq!(overlay.dimensions(), (4, 4));
                *score
            }
            other => panic!("{other:?}"),
        };
        assert!(score(&mut s, [6.0, 0.0]) > score(&mut s, [0.0, 5.0]));
        // a frame of another layer is not scored; recording there is refused
        assert!(s.frame(&maps("other", [1.0, 1.0])).unwrap().is_empty());
        assert!(s.record(Some(ConceptSide::Concept), "other").is_err());
    }
}
