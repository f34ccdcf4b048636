//! The frame stage: owns the newest frame, the grid layer and the selected unit, and turns each
//! frame into the grid, the unit's map, the top-5 classes and the session's top-9 frames.

use burn::prelude::*;
use deepvis_model::{Labels, Request, to_vec, top_k};
use deepvis_protocol::{
    AttentionAsk, ClassProb, Command, Doing, Event, OutputKind, OutputReading, UnitMap,
};
use image::RgbImage;

use crate::attr::Subject;
use crate::device::Model;
use crate::error::{EngineError, Result};
use crate::runs::Scene;
use crate::stage::{Cx, Ripple, Took};

/// Frames kept in the session top-k, and the side of their crops.
const SESSION_K: usize = 9;
const SESSION_TILE: u32 = 64;
/// The gray of the grid's separators.
const GRID_SEPARATOR: u8 = 40;

/// The frames that excited the selected unit most since it was selected.
struct SessionTop {
    layer: String,
    channel: usize,
    /// (score, frame, crop), best first.
    items: Vec<(f32, u64, RgbImage)>,
}

impl SessionTop {
    fn new(layer: &str, channel: usize) -> SessionTop {
        SessionTop {
            layer: layer.to_string(),
            channel,
            items: Vec::new(),
        }
    }

    /// Offers frame number `frame` (the worker's count of frames taken); true if it was kept.
    /// A frame already kept (a still photo processed again) is not kept twice; different
    /// frames with equal scores are all kept, the earlier first.
    fn offer(&mut self, frame: u64, score: f32, crop: impl FnOnce() -> RgbImage) -> bool {
        if !score.is_finite() || self.items.iter().any(|(_, f, _)| *f == frame) {
            return false;
        }
        let at = self
            .items
            .iter()
            .position(|(s, _, _)| score > *s)
            .unwrap_or(self.items.len());
        if at >= SESSION_K {
            return false;
        }
        self.items.insert(at, (score, frame, crop()));
        self.items.truncate(SESSION_K);
        true
    }

    /// The window's picture of it: always 3 x 3, empty places dark, so the pane keeps its size
    /// as frames gather.
    fn event(&self) -> Event {
        let mut tiles: Vec<RgbImage> = self.items.iter().map(|(_, _, t)| t.clone()).collect();
        tiles.resize(
            SESSION_K,
            RgbImage::from_pixel(SESSION_TILE, SESSION_TILE, image::Rgb([40, 40, 40])),
        );
        Event::SessionTop {
            layer: self.layer.clone(),
            channel: self.channel,
            montage: deepvis_viz::montage(&tiles, 3, 2, [0, 0, 0]),
            scores: self.items.iter().map(|(s, _, _)| *s).collect(),
        }
    }
}

/// Where the attribution pane looks in the unit's map (its settings that the frame's unit map
/// and the lanes' subject need).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Look {
    /// The position projected (`None`: where the map peaks).
    pub pos: Option<(usize, usize)>,
    /// The whole channel rather than one unit.
    pub whole_map: bool,
}

/// One forward pass of a frame: the grid layer's maps and the class probabilities.
struct Forward {
    /// The frame as the network's input.
    x: Tensor<4>,
    /// The grid layer's maps, CHW.
    data: Vec<f32>,
    channels: usize,
    height: usize,
    width: usize,
    /// The class probabilities (empty when the output is not class scores).
    probs: Vec<f32>,
    /// What the output shows when it is not class scores.
    reading: Option<OutputReading>,
    /// The grid layer's leading tokens, each one's value per channel (none but for a
    /// sequence of tokens).
    leading: Vec<Vec<f32>>,
    /// The other layers asked for, in order.
    extra: Vec<Tensor<4>>,
}

impl Forward {
    fn plane(&self, channel: usize) -> &[f32] {
        let plane = self.height * self.width;
        &self.data[channel * plane..(channel + 1) * plane]
    }
}

/// What a frame gave: the window's events, and the unit the attribution lanes explain on it.
pub(crate) struct Processed {
    /// Grid (and its leading tokens), unit map, session top-9, predictions, in that order.
    pub events: Vec<Event>,
    /// The selected unit on this frame (`None`: no unit selected).
    pub subject: Option<Subject>,
    /// Why the attention view could not be drawn (it stops; the rest of the frame stands).
    pub attention_failed: Option<EngineError>,
    /// The grid layer's maps on the frame, for the stages that read them (the concept).
    pub maps: Option<GridMaps>,
}

/// The grid layer's maps on a frame.
pub(crate) struct GridMaps {
    /// The layer.
    pub layer: String,
    /// Its maps, `[C, H, W]`.
    pub data: Vec<f32>,
    /// `[C, H, W]`.
    pub dims: [usize; 3],
    /// The frame's crop as the network sees it.
    pub crop: Option<RgbImage>,
}

/// The frame stage.
pub(crate) struct FrameStage {
    layer: String,
    selected: Option<usize>,
    /// The newest frame, preprocessed (CHW).
    frame: Option<Vec<f32>>,
    /// The newest frame's crop as the network sees it.
    crop: Option<RgbImage>,
    /// How many frames were taken from the source (the newest frame's number).
    frame_id: u64,
    session: Option<SessionTop>,
    labels: Labels,
    /// The outputs must be recomputed for the current frame.
    dirty: bool,
    /// What the attention view asks for (a transformer's), if it is open.
    attention: Option<AttentionAsk>,
}

impl FrameStage {
    /// A stage showing `layer` with `selected` (both fitted to the model).
    pub fn new(layer: String, selected: Option<usize>) -> FrameStage {
        FrameStage {
            layer,
            selected,
            frame: None,
            crop: None,
            frame_id: 0,
            session: None,
            labels: Labels::imagenet(),
            dirty: false,
            attention: None,
        }
    }

    /// The grid layer.
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// The selected channel.
    pub fn selected(&self) -> Option<usize> {
        self.selected
    }

    /// The unit the preferred image is of, and the frame it may start from.
    pub fn scene<'a>(&'a self, model: &'a Model) -> Scene<'a> {
        Scene {
            model,
            layer: &self.layer,
            unit: self.selected,
            frame: self.frame.as_deref(),
        }
    }

    /// Something the outputs show changed: the current frame is processed again.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// Whether the current frame waits to be processed.
    pub fn due(&self) -> bool {
        self.dirty && self.frame.is_some()
    }

    /// Takes a new frame from the source; the window's picture of it as the network sees it.
    pub fn take(&mut self, model: &Model, image: RgbImage) -> Event {
        let p = model
            .info
            .input
            .apply(&image::DynamicImage::ImageRgb8(image));
        self.frame = Some(p.chw);
        self.frame_id += 1;
        self.crop = Some(p.crop.clone());
        self.dirty = true;
        Event::Input(p.crop)
    }

    /// Carries out a command for the frames (the grid layer, the selected unit, the attention
    /// view; any other is passed on): a new selection ripples through every stage that shows
    /// the unit.
    pub fn command(&mut self, c: Command, cx: &mut Cx) -> Took {
        let done = match c {
            Command::SelectLayer(name) => self.select_layer(cx.model, &name),
            Command::SelectUnit(ch) => self.select_unit(cx.model, ch),
            Command::SetAttention(ask) => {
                match ask.filter(|_| cx.model.info.attention_layers().is_empty()) {
                    Some(_) => cx.out.fail(Doing::Select, &no_attention(cx.model)),
                    None => {
                        self.attention = ask;
                        self.dirty = true;
                    }
                }
                return Took::Done(Ripple::NONE);
            }
            other => return Took::Passed(other),
        };
        Took::Done(match done {
            Ok(()) => Ripple {
                selection: true,
                ..Ripple::NONE
            },
            Err(e) => {
                cx.out.fail(Doing::Select, &e);
                Ripple::NONE
            }
        })
    }

    /// Shows layer `name`; the selected unit stays when the layer has it.
    pub fn select_layer(&mut self, model: &Model, name: &str) -> Result<()> {
        let info = model.info.layer(name)?;
        self.layer = info.name.to_string();
        self.selected = self.selected.filter(|&c| c < info.channels);
        self.dirty = true;
        Ok(())
    }

    /// Selects channel `channel` of the grid layer.
    pub fn select_unit(&mut self, model: &Model, channel: usize) -> Result<()> {
        model.info.layer(&self.layer)?.check_unit(channel, None)?;
        self.selected = Some(channel);
        self.dirty = true;
        Ok(())
    }

    /// Processes the current frame: the grid, the selected unit's map and session top-9, the
    /// top-5 classes.
    pub fn process(&mut self, model: &Model, look: Look) -> Result<Processed> {
        self.dirty = false;
        let Some(chw) = self.frame.clone() else {
            return Ok(Processed {
                events: Vec::new(),
                subject: None,
                attention_failed: None,
                maps: None,
            });
        };
        // the attention view's block, computed in the same pass
        let ask = self.attention.map(|ask| (ask, attention_layer(model, ask)));
        let extra: Vec<&str> = ask.iter().filter_map(|(_, l)| l.as_deref()).collect();
        let mut fwd = self.forward(model, chw, &extra)?;
        let (attention, attention_failed) =
            match ask.map(|(ask, _)| attention_view(model, fwd.extra.pop(), ask)) {
                Some(Ok(view)) => (Some(view), None),
                Some(Err(e)) => {
                    self.attention = None;
                    (None, Some(e))
                }
                None => (None, None),
            };
        let mut events: Vec<Event> = self.grid(&fwd).into_iter().collect();
        if !fwd.leading.is_empty() {
            events.push(Event::Leading {
                layer: self.layer.clone(),
                tokens: fwd.leading.clone(),
            });
        }
        let subject = self.unit(model, &fwd, look, &mut events);
        let top = top_k(&fwd.probs, 5, &self.labels)
            .into_iter()
            .map(|p| ClassProb {
                index: p.index,
                label: p.label,
                prob: p.prob,
            })
            .collect();
        events.push(Event::Predictions(top));
        if let Some(r) = fwd.reading.clone() {
            events.push(Event::Output(r));
        }
        events.extend(attention);
        let maps = GridMaps {
            layer: self.layer.clone(),
            dims: [fwd.channels, fwd.height, fwd.width],
            data: fwd.data,
            crop: self.crop.clone(),
        };
        Ok(Processed {
            events,
            subject,
            attention_failed,
            maps: Some(maps),
        })
    }

    /// The forward pass to the grid layer and the output: the class scores, or what the
    /// output shows when it is something else.
    fn forward(&self, model: &Model, chw: Vec<f32>, extra: &[&str]) -> Result<Forward> {
        let kind = model.info.output_kind();
        let out_layer = match kind {
            OutputKind::Classes { .. } => model.info.logits_layer(),
            _ => model.info.output_layer(),
        };
        let x = model.input(chw)?;
        let mut asked = vec![self.layer.as_str(), out_layer];
        asked.extend(extra);
        let mut taps = model.net.forward(x.clone(), &Request::layers(&asked))?;
        let extra = extra.iter().filter_map(|l| taps.get(l).cloned()).collect();
        // the grid layer may be the output layer itself
        let out = taps
            .get(out_layer)
            .cloned()
            .ok_or(EngineError::NotComputed("the output"))?;
        let leading = match taps.leading(&self.layer) {
            Some(l) => {
                let [_, k, d] = l.dims();
                let v = to_vec(l.clone().narrow(0, 0, 1))?;
                (0..k).map(|i| v[i * d..(i + 1) * d].to_vec()).collect()
            }
            None => Vec::new(),
        };
        let t = taps
            .take(&self.layer)
            .ok_or(EngineError::NotComputed("the grid layer"))?;
        let [_, channels, height, width] = t.dims();
        let data = to_vec(t)?;
        let (probs, reading) = match kind {
            OutputKind::Classes { .. } => (class_probabilities(out)?, None),
            _ => (Vec::new(), kind.read(&to_vec(out)?)?),
        };
        Ok(Forward {
            x,
            data,
            channels,
            height,
            width,
            probs,
            reading,
            leading,
            extra,
        })
    }

    /// Every channel of the grid layer, tiled, with each one's maximum.
    fn grid(&self, fwd: &Forward) -> Option<Event> {
        let maxima: Vec<f32> = (0..fwd.channels)
            .map(|i| {
                fwd.plane(i)
                    .iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect();
        let (image, layout) = deepvis_viz::channel_grid(
            &fwd.data,
            fwd.channels,
            fwd.height,
            fwd.width,
            GRID_SEPARATOR,
        )?;
        Some(Event::Grid {
            layer: self.layer.clone(),
            image,
            cols: layout.cols,
            rows: layout.rows,
            tile_w: fwd.width,
            tile_h: fwd.height,
            maxima,
        })
    }

    /// The selected unit's map (with the input it sees at the projected place) and its session
    /// top-9; the unit the attribution lanes explain.
    fn unit(
        &mut self,
        model: &Model,
        fwd: &Forward,
        look: Look,
        events: &mut Vec<Event>,
    ) -> Option<Subject> {
        let ch = self.selected.filter(|&ch| ch < fwd.channels)?;
        let (h, w) = (fwd.height, fwd.width);
        let map = fwd.plane(ch);
        let (best, best_v) =
            map.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            );
        let argmax = (best / w, best % w);
        let pos = look.pos.filter(|&(y, x)| y < h && x < w);
        let size = model.info.input_size();
        events.push(Event::UnitMap(UnitMap {
            channel: ch,
            values: map.to_vec(),
            width: w,
            height: h,
            argmax,
            field: model
                .info
                .field_bounds(&self.layer, pos.unwrap_or(argmax), size, true),
        }));
        // the same frame offered twice (same score) is kept once
        events.extend(self.offer_session(model, ch, best_v, argmax));
        Some(Subject {
            x: fwd.x.clone(),
            through: model.optimizable(&self.layer).to_string(),
            layer: self.layer.clone(),
            channel: ch,
            pos,
            whole_map: look.whole_map,
        })
    }

    /// Offers the newest frame to the session top-k of the selected unit; the new top-9 when
    /// it was kept.
    fn offer_session(
        &mut self,
        model: &Model,
        channel: usize,
        score: f32,
        pos: (usize, usize),
    ) -> Option<Event> {
        let same = self
            .session
            .as_ref()
            .is_some_and(|t| t.layer == self.layer && t.channel == channel);
        if !same {
            self.session = Some(SessionTop::new(&self.layer, channel));
        }
        let region = model
            .info
            .field_bounds(&self.layer, pos, model.info.input_size(), false);
        let (crop, top) = (self.crop.as_ref()?, self.session.as_mut()?);
        let kept = top.offer(self.frame_id, score, || {
            deepvis_viz::field_crop(crop, region, SESSION_TILE)
        });
        kept.then(|| top.event())
    }
}

/// The attention view asked of a network without attention layers.
fn no_attention(model: &Model) -> EngineError {
    EngineError::NoAttentionView(model.info.name().to_string())
}

/// The node of the block the attention view asks for (`None`: the network has no attention).
fn attention_layer(model: &Model, ask: AttentionAsk) -> Option<String> {
    let blocks = model.info.attention_layers();
    blocks
        .get(ask.block.min(blocks.len().checked_sub(1)?))
        .cloned()
}

/// The attention view's map: block `ask.block`'s attention `t` (of one head or their mean)
/// from the CLS token or a patch, over the patches.
fn attention_view(model: &Model, t: Option<Tensor<4>>, ask: AttentionAsk) -> Result<Event> {
    use deepvis_attribution::rollout::{Attention, attention_row};
    let info = &model.info;
    let (Some(t), Some(g)) = (t, info.token_grid()) else {
        return Err(no_attention(model));
    };
    let blocks = info.attention_layers().len();
    let [_, heads, tokens, _] = t.dims();
    let a = Attention {
        values: to_vec(t.narrow(0, 0, 1))?,
        heads,
        tokens,
    };
    let from = ask.from.filter(|&(y, x)| y < g.h && x < g.w);
    let head = ask.head.filter(|&h| h < heads);
    let query = from.map_or(0, |(y, x)| g.lead + y * g.w + x);
    let row = attention_row(&a, head, query)?;
    Ok(Event::Attention {
        ask: AttentionAsk {
            block: ask.block.min(blocks.saturating_sub(1)),
            head,
            from,
        },
        blocks,
        heads,
        map: row[g.lead..].to_vec(),
        h: g.h,
        w: g.w,
        to_leading: row[..g.lead].iter().sum(),
    })
}

/// The class probabilities of a vector of scores; a network whose class layer is a map (a
/// test's graph) has none.
fn class_probabilities(logits: Tensor<4>) -> Result<Vec<f32>> {
    let [_, k, oh, ow] = logits.dims();
    match oh * ow {
        1 => Ok(to_vec(burn::tensor::activation::softmax(
            logits.reshape([1, k]),
            1,
        ))?),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile() -> RgbImage {
        RgbImage::new(2, 2)
    }

    #[test]
    fn the_session_top_keeps_different_frames_with_equal_scores_and_a_frame_once() {
        let mut t = SessionTop::new("fire9", 3);
        // a silent unit: every frame scores 0, and each is a different frame
        for frame in 1..=4 {
            assert!(t.offer(frame, 0.0, tile), "frame {frame}");
        }
        // the same frame processed again (a still photo, a new selection) is not kept twice
        assert!(!t.offer(4, 0.0, tile));
        assert!(!t.offer(2, 5.0, tile));
        assert!(t.offer(5, 2.0, tile));
        assert!(!t.offer(6, f32::NAN, tile));
        let frames: Vec<u64> = t.items.iter().map(|(_, f, _)| *f).collect();
        assert_eq!(frames, [5, 1, 2, 3, 4]);
        // only the best nine stay
        for frame in 10..20 {
            t.offer(frame, frame as f32, tile);
        }
        assert_eq!(t.items.len(), SESSION_K);
        assert_eq!(t.items[0].1, 19);
        assert!(!t.offer(30, -1.0, tile));
    }
}
