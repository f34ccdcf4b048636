//! The circuit pane: the selected unit's strongest inputs in the layer below, positive and
//! negative, by weight and on the current frame; each a tile with its live map and its
//! preferred image (asked for once, then kept); a click on a tile walks down into that unit.

use std::collections::{HashMap, HashSet};

use deepvis_protocol::{CircuitInput, CircuitView, Command, Event, ThumbOf};
use egui::TextureOptions;

use crate::Shared;
use crate::pane::{Pane, Place};
use crate::picture::{Picture, image_box, name_image, rgb_to_color};

/// How many inputs of each sign are shown at first.
pub const DEFAULT_TOP: usize = 4;
/// A tile's picture side, in points.
const TILE: f32 = 56.0;

/// The circuit pane's state.
pub struct CircuitPane {
    /// How many inputs of each sign.
    pub top: usize,
    /// Whether the worker was told to follow the circuit.
    pub following: bool,
    /// The newest circuit.
    pub view: Option<CircuitView>,
    /// Each shown input's map on the newest frame, by `(lists index, position)`.
    maps: HashMap<(usize, usize), Picture>,
    /// The preferred images of units of the layers below, as they came.
    thumbs: HashMap<(String, usize), Picture>,
    /// Those asked for (each once).
    asked: HashSet<(String, usize)>,
    /// Those finished.
    pub done: HashSet<(String, usize)>,
}

impl Default for CircuitPane {
    fn default() -> Self {
        CircuitPane {
            top: DEFAULT_TOP,
            following: false,
            view: None,
            maps: HashMap::new(),
            thumbs: HashMap::new(),
            asked: HashSet::new(),
            done: HashSet::new(),
        }
    }
}

/// The four lists of a circuit, in the order they are drawn: `(title, inputs)`.
fn lists(v: &CircuitView) -> [(&'static str, &[CircuitInput]); 4] {
    let (we, wi): (&[CircuitInput], &[CircuitInput]) = match &v.by_weight {
        Ok(s) => (&s.excite, &s.inhibit),
        Err(_) => (&[], &[]),
    };
    [
        ("excite, by weight", we),
        ("inhibit, by weight", wi),
        ("excite on this frame", &v.on_frame.excite),
        ("inhibit on this frame", &v.on_frame.inhibit),
    ]
}

impl Pane for CircuitPane {
    fn name(&self) -> &'static str {
        "circuit pane"
    }

    fn place(&self) -> Place {
        Place::Right
    }

    fn apply(&mut self, e: &Event, _shared: &mut Shared) {
        match e {
            Event::Circuit(v) => {
                for (i, (_, inputs)) in lists(v).iter().enumerate() {
                    for (j, input) in inputs.iter().enumerate() {
                        self.maps
                            .entry((i, j))
                            .or_default()
                            .set(rgb_to_color(&input.map));
                    }
                }
                self.view = Some(v.clone());
            }
            Event::Thumbnail {
                of: ThumbOf::Unit { layer, channel },
                image,
                done,
            } => {
                let key = (layer.clone(), *channel);
                self.thumbs
                    .entry(key.clone())
                    .or_default()
                    .set(rgb_to_color(image));
                if *done {
                    self.done.insert(key);
                }
            }
            // a model of other layers: the pictures are of units it does not have
            Event::Ready { .. } => {
                self.view = None;
                self.thumbs.clear();
                self.asked.clear();
                self.done.clear();
                self.following = false;
            }
            _ => {}
        }
    }

    fn seen(&mut self, c: &Command) {
        if let Command::SelectUnit(_) | Command::SelectLayer(_) = c {
            self.view = None;
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, _shared: &mut Shared) {
        for (k, p) in &mut self.maps {
            p.upload(ctx, &format!("circuit map {k:?}"), TextureOptions::NEAREST);
        }
        for (k, p) in &mut self.thumbs {
            p.upload(ctx, &format!("circuit thumb {k:?}"), TextureOptions::LINEAR);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let r = egui::CollapsingHeader::new("circuit (the unit's inputs below)")
            .default_open(false)
            .show(ui, |ui| self.body(ui, shared));
        let open = r.body_returned.is_some();
        if open != self.following {
            self.follow(open, shared);
        }
    }
}

impl CircuitPane {
    /// Tells the worker to follow the circuit (with [`Self::top`] inputs of each sign) or not.
    pub fn follow(&mut self, on: bool, shared: &mut Shared) {
        self.following = on;
        shared.send(Command::Circuit(on.then_some(self.top)));
    }

    fn body(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let changed = ui
            .horizontal(|ui| {
                ui.label("inputs of each sign");
                ui.add(egui::DragValue::new(&mut self.top).range(1..=16))
                    .changed()
            })
            .inner;
        if changed && self.following {
            self.follow(true, shared);
        }
        let Some(v) = self.view.clone() else {
            ui.weak("select a unit to see its inputs in the layer below");
            return;
        };
        ui.label(format!("{} unit {} from {}:", v.layer, v.unit, v.below));
        if let Err(why) = &v.by_weight {
            ui.weak(format!("by weight: none ({why})"));
        }
        let mut walk = None;
        for (i, (title, inputs)) in lists(&v).iter().enumerate() {
            if inputs.is_empty() {
                continue;
            }
            ui.label(*title);
            ui.horizontal_wrapped(|ui| {
                for (j, input) in inputs.iter().enumerate() {
                    if self.tile(ui, shared, &v.below, (i, j), input) {
                        walk = Some(input.channel);
                    }
                }
            });
        }
        if let Some(ch) = walk {
            self.walk_down(&v.below, ch, shared);
        }
    }

    /// One input: its map on the frame, its preferred image (asked for the first time it is
    /// shown), its channel and pull; whether it was clicked.
    fn tile(
        &mut self,
        ui: &mut egui::Ui,
        shared: &mut Shared,
        below: &str,
        at: (usize, usize),
        input: &CircuitInput,
    ) -> bool {
        let key = (below.to_string(), input.channel);
        if self.asked.insert(key.clone()) {
            shared.send(Command::Thumbnail(ThumbOf::Unit {
                layer: key.0.clone(),
                channel: key.1,
            }));
        }
        let r = ui
            .vertical(|ui| {
                let map = image_box(ui, self.maps.get(&at).and_then(Picture::get), TILE, "");
                name_image(&map, &format!("circuit map {}", input.channel));
                let pic = image_box(
                    ui,
                    self.thumbs.get(&key).and_then(Picture::get),
                    TILE,
                    "…",
                );
                name_image(&pic, &format!("circuit picture {}", input.channel));
                ui.small(format!("{} {:+.2}", input.channel, input.value));
            })
            .response;
        let r = ui
            .interact(r.rect, ui.scope_id().with(("circuit tile", at)), egui::Sense::click())
            .on_hover_text(format!("walk down into {below} unit {}", input.channel));
        r.widget_info(|| {
            egui::WidgetInfo::labeled(
                egui::Role::Button,
                true,
                format!("walk down to {} {}", below, input.channel),
            )
        });
        r.clicked()
    }

    /// Shows the layer below and selects `channel` there.
    pub fn walk_down(&mut self, below: &str, channel: usize, shared: &mut Shared) {
        let Some(i) = shared.layers.iter().position(|l| l.name == below) else {
            shared.note(format!("{below} is not in the layer list"));
            return;
        };
        shared.select_layer(i);
        shared.select_unit(channel);
    }
}
