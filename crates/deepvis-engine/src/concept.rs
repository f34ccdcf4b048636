//! The concept taught in the window: the grid layer's activations (averaged over the map) of
//! the frames shown while the user records (with no others recorded, a sample of the session's
//! other frames stands in), the concept fitted on them or loaded from a file, and its score and
//! map on each frame after.

use deepvis_concepts::{Cav, ConceptFile, Examples, Fit, Nmf, NmfOptions, Reservoir};
use deepvis_protocol::{Command, ConceptFit, ConceptSide, Event, ThumbOf};
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
    /// How many NMF parts each frame is factorised into (None: none).
    parts: Option<usize>,
    /// The newest frame's factorisation and its layer (the next frame starts from it).
    last_parts: Option<(String, Nmf)>,
    /// A uniform sample of the session's frames not recorded as the concept (their grid
    /// layer's channel means) and its layer: the others when none were recorded.
    session: Option<(String, Reservoir<Vec<f32>>)>,
}

/// How many of the session's frames are kept to stand in for others.
const SESSION_OTHERS: usize = 64;

/// The parts' colours, in order.
const PART_COLORS: [[u8; 3]; 8] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [255, 225, 25],
    [145, 30, 180],
    [70, 240, 240],
    [245, 130, 48],
    [240, 50, 230],
];

/// How a frame is factorised into `k` parts (few iterations: the next frame starts from it).
pub fn parts_options(k: usize) -> NmfOptions {
    NmfOptions {
        k,
        max_iterations: 100,
        tolerance: 1e-4,
        ..NmfOptions::default()
    }
}

/// The most parts a frame is factorised into.
pub(crate) const MAX_PARTS: usize = PART_COLORS.len();

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
            Command::ConceptParts(k) => match k {
                Some(k) if !(1..=MAX_PARTS).contains(&k) => Err(EngineError::ConceptLayer(
                    format!("{k} parts: between 1 and {MAX_PARTS}"),
                )),
                _ => {
                    self.parts = k;
                    self.last_parts = None;
                    Ok((Vec::new(), true))
                }
            },
            Command::ConceptFromPart(j) => {
                self.make_part_the_concept(j, cx.model).map(|e| (e, true))
            }
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
        let examples = Examples {
            positive: self.examples.positive.clone(),
            negative: self.others(&layer)?,
        };
        let cav = Cav::fit(how, &examples.positive, &examples.negative)?;
        let name = self
            .concept
            .as_ref()
            .map_or_else(|| "concept".to_string(), |c| c.name.clone());
        let file =
            ConceptFile::new(&cav, &name, model.info.name(), None, &layer).with_examples(examples);
        self.recording = None;
        let ready = ready(&file);
        self.concept = Some(file);
        Ok(vec![ready])
    }

    /// The others a fit takes: those recorded, else the session's frames of `layer` that are
    /// not the concept's (the frame shown when recording began is both).
    fn others(&self, layer: &str) -> Result<Vec<Vec<f32>>> {
        if !self.examples.negative.is_empty() {
            return Ok(self.examples.negative.clone());
        }
        let session: Vec<Vec<f32>> = match &self.session {
            Some((l, r)) if l == layer => r
                .items()
                .iter()
                .filter(|v| !self.examples.positive.contains(v))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        if session.is_empty() {
            return Err(EngineError::ConceptLayer(
                "no others yet: hold \"record others\" (shift+g) on other things, or let other \
                 frames pass before fitting (they stand in for others)"
                    .into(),
            ));
        }
        Ok(session)
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

    /// Makes part `j` of the newest frame's factorisation the concept: its channels, as a
    /// direction.
    fn make_part_the_concept(&mut self, j: usize, model: &Model) -> Result<Vec<Event>> {
        let Some((layer, nmf)) = &self.last_parts else {
            return Err(EngineError::ConceptLayer(
                "no parts yet: turn the parts on and let a frame come".into(),
            ));
        };
        if j >= nmf.k {
            return Err(EngineError::ConceptLayer(format!(
                "part {j}: the frame has parts 0 to {}",
                nmf.k - 1
            )));
        }
        let h = &nmf.h[j * nmf.c..(j + 1) * nmf.c];
        let norm = h.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm <= 0.0 {
            return Err(EngineError::ConceptLayer(format!("part {j} is empty")));
        }
        let cav = Cav {
            direction: h.iter().map(|v| v / norm).collect(),
            bias: 0.0,
            fit: Fit::Mean,
            positives: 0,
            negatives: 0,
            train_accuracy: 1.0,
        };
        let file = ConceptFile::new(&cav, &format!("part {j}"), model.info.name(), None, layer);
        let ready = ready(&file);
        self.concept = Some(file);
        Ok(vec![ready])
    }

    /// The frame's parts: NMF of its places by channels, warm-started from the last frame's.
    fn parts_of(&mut self, maps: &GridMaps, k: usize) -> Result<Option<Event>> {
        let [c, h, w] = maps.dims;
        let n = h * w;
        if k > n.min(c) {
            return Ok(None);
        }
        let v: Vec<f32> = (0..n)
            .flat_map(|p| (0..c).map(move |ch| (p, ch)))
            .map(|(p, ch)| maps.data[ch * n + p])
            .collect();
        let options = parts_options(k);
        let nmf = match &self.last_parts {
            Some((l, last)) if *l == maps.layer && last.k == k && last.c == c => {
                Nmf::fit_warm(&v, n, c, &last.h, &options)?
            }
            _ => Nmf::fit(&v, n, c, &options)?,
        };
        let event = maps
            .crop
            .as_ref()
            .and_then(|crop| parts_overlay(&nmf, h, w, crop))
            .map(|overlay| {
                let total: f32 = nmf.w.iter().sum::<f32>().max(1e-12);
                Event::ConceptParts {
                    overlay,
                    colors: PART_COLORS[..k].to_vec(),
                    shares: (0..k)
                        .map(|j| (0..n).map(|p| nmf.w[p * k + j]).sum::<f32>() / total)
                        .collect(),
                    error: nmf.relative_error,
                }
            });
        self.last_parts = Some((maps.layer.clone(), nmf));
        Ok(event)
    }

    /// The direction a thumbnail of the concept or of a part of the newest frame maximizes:
    /// its layer and its vector (None: there is none now).
    pub fn direction(&self, of: &ThumbOf) -> Option<(String, Vec<f32>)> {
        match of {
            ThumbOf::Concept => self
                .concept
                .as_ref()
                .map(|c| (c.layer.clone(), c.direction.clone())),
            ThumbOf::Part(j) => {
                let (layer, nmf) = self.last_parts.as_ref()?;
                let h = nmf.h.get(j * nmf.c..(j + 1) * nmf.c)?;
                (*j < nmf.k && h.iter().any(|v| *v > 0.0)).then(|| (layer.clone(), h.to_vec()))
            }
            ThumbOf::Unit { .. } => None,
        }
    }

    /// The layer a loaded concept asks the grid to show (once).
    pub fn take_wanted_layer(&mut self) -> Option<String> {
        self.wants_layer.take()
    }

    /// A frame's maps: gathered while recording, scored by the concept when it is of their
    /// layer.
    pub fn frame(&mut self, maps: &GridMaps) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let means = deepvis_concepts::channel_means(&maps.data, maps.dims)?;
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
            match side {
                ConceptSide::Concept => self.examples.positive.push(means.clone()),
                ConceptSide::Others => self.examples.negative.push(means.clone()),
            }
            events.push(self.counts(&maps.layer));
        }
        if self.recording != Some(ConceptSide::Concept) {
            match &mut self.session {
                Some((l, r)) if *l == maps.layer => r.offer(means.clone()),
                _ => {
                    let mut r = Reservoir::new(SESSION_OTHERS, 0);
                    r.offer(means.clone());
                    self.session = Some((maps.layer.clone(), r));
                }
            }
        }
        if let Some(k) = self.parts {
            events.extend(self.parts_of(maps, k)?);
        }
        if let Some(c) = self.concept.as_ref().filter(|c| c.layer == maps.layer) {
            let cav = c.cav();
            let score = cav.score(&means)?;
            let [ch, h, w] = maps.dims;
            let map = cav.map(&maps.data, ch, h, w)?;
            if let Some(overlay) = maps
                .crop
                .as_ref()
                .and_then(|crop| deepvis_viz::diverging_overlay(&map, h, w, crop, 0.6))
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

/// Each place of the frame coloured by its strongest part (brighter where the part is
/// stronger), upsampled to the crop and blended over it.
fn parts_overlay(nmf: &Nmf, h: usize, w: usize, crop: &RgbImage) -> Option<RgbImage> {
    let k = nmf.k;
    let strength: Vec<f32> = (0..h * w)
        .map(|p| (0..k).map(|j| nmf.w[p * k + j]).fold(0.0, f32::max))
        .collect();
    let top = strength.iter().copied().fold(0.0f32, f32::max).max(1e-12);
    let (cw, ch) = crop.dimensions();
    let mut layer = RgbImage::new(cw, ch);
    for (x, y, px) in layer.enumerate_pixels_mut() {
        let (py, pxl) = (
            (y as usize * h / ch as usize).min(h - 1),
            (x as usize * w / cw as usize).min(w - 1),
        );
        let p = py * w + pxl;
        let j = (0..k)
            .max_by(|&a, &b| nmf.w[p * k + a].total_cmp(&nmf.w[p * k + b]))
            .unwrap_or(0);
        let t = strength[p] / top;
        let c = PART_COLORS[j % PART_COLORS.len()];
        *px = image::Rgb(c.map(|v| (v as f32 * t) as u8));
    }
    deepvis_viz::blend(crop, &layer, 0.55)
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
        // the parts: two of a 2 x 2 map, an overlay, shares summing to 1; part 0 as concept
        s.parts = Some(2);
        let e = s.frame(&maps("l", [3.0, 1.0])).unwrap();
        let Some(Event::ConceptParts {
            overlay,
            shares,
            colors,
            ..
        }) = e.iter().find(|e| matches!(e, Event::ConceptParts { .. }))
        else {
            panic!("no parts: {e:?}");
        };
        assert_eq!((overlay.dimensions(), colors.len()), ((4, 4), 2));
        assert!((shares.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(s.last_parts.is_some());
        s.parts = None;
        // a frame of another layer is not scored; recording there is refused
        assert!(s.frame(&maps("other", [1.0, 1.0])).unwrap().is_empty());
        assert!(s.record(Some(ConceptSide::Concept), "other").is_err());
    }
}
