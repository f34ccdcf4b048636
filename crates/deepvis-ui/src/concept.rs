//! The concept pane: teach a concept with the camera (hold "record concept" while the thing is
//! in view, "record others" while it is not; or hold `g` / shift+`g`), fit it, then watch its
//! score as a gauge with its history, its map over every frame and its preferred image; test it
//! for a class by TCAV; save and load it. The frame's parts by NMF, each with its picture.

use std::collections::VecDeque;
use std::path::PathBuf;

use deepvis_protocol::{Command, ConceptFit, ConceptSide, Event, ThumbOf};
use egui::{Key, TextureOptions};

use crate::pane::{Pane, Place};
use crate::tcav::{TcavAsk, TcavJob};
use crate::{AtlasProgram, Shared};
use crate::picture::{Picture, image_box, name_image, rgb_to_color};

/// How many scores the gauge's history keeps.
pub const HISTORY: usize = 300;

/// The concept pane's state.
pub struct ConceptPane {
    /// How the next fit is made.
    pub fit: ConceptFit,
    /// The file saved to and loaded from.
    pub path: String,
    /// Frames of the concept and of others gathered (the worker's count).
    pub counts: (usize, usize),
    /// What is being gathered, as the worker said.
    pub recording: Option<ConceptSide>,
    /// The concept ready: its name, layer, fit and the share of its examples on their side.
    pub ready: Option<(String, String, ConceptFit, f32)>,
    /// The newest scores, oldest first.
    pub scores: VecDeque<f32>,
    /// How many parts of each frame NMF finds (None: off).
    pub parts: Option<usize>,
    /// The newest frame's parts: each one's colour and share, and the error.
    pub part_shares: Vec<([u8; 3], f32)>,
    /// What this pane last asked to gather (so a held button is said once).
    asked: Option<ConceptSide>,
    /// Whether the key asked it (the buttons leave the key's recording alone).
    asked_by_key: bool,
    overlay: Picture,
    parts_overlay: Picture,
    /// The concept's preferred image (its direction, with the window's method).
    picture: Picture,
    /// Each part's preferred image, asked for once when the parts first come.
    part_pictures: Vec<Picture>,
    /// Whether the parts' pictures were asked for.
    parts_asked: bool,
    /// How `deepvis` is started: TCAV runs in a process of its own (None: it cannot).
    pub program: Option<AtlasProgram>,
    /// TCAV's class.
    pub tcav_class: usize,
    /// TCAV's pictures of the class (a folder, a video or a photo).
    pub tcav_images: String,
    /// TCAV's line, or why it failed.
    pub tcav_result: Option<Result<String, String>>,
    /// TCAV asked for: it starts once the concept is saved for it.
    tcav_pending: Option<TcavAsk>,
    tcav_job: Option<TcavJob>,
}

impl Default for ConceptPane {
    fn default() -> Self {
        ConceptPane {
            fit: ConceptFit::Mean,
            path: crate::player::output_dir()
                .join("concepts")
                .join("concept.json")
                .display()
                .to_string(),
            counts: (0, 0),
            recording: None,
            ready: None,
            scores: VecDeque::new(),
            parts: None,
            part_shares: Vec::new(),
            asked: None,
            asked_by_key: false,
            overlay: Picture::default(),
            parts_overlay: Picture::default(),
            picture: Picture::default(),
            part_pictures: Vec::new(),
            parts_asked: false,
            program: None,
            tcav_class: 967,
            tcav_images: String::new(),
            tcav_result: None,
            tcav_pending: None,
            tcav_job: None,
        }
    }
}

impl Pane for ConceptPane {
    fn name(&self) -> &'static str {
        "concept pane"
    }

    fn place(&self) -> Place {
        Place::Left
    }

    fn apply(&mut self, e: &Event, shared: &mut Shared) {
        match e {
            Event::ConceptExamples {
                positives,
                negatives,
                recording,
                ..
            } => {
                self.counts = (*positives, *negatives);
                self.recording = *recording;
            }
            Event::ConceptReady {
                name,
                layer,
                fit,
                train_accuracy,
            } => {
                self.ready = Some((name.clone(), layer.clone(), *fit, *train_accuracy));
                self.scores.clear();
                // a new concept: its picture starts over
                self.picture.clear();
                shared.send(Command::Thumbnail(ThumbOf::Concept));
            }
            Event::ConceptScore { score, overlay } => {
                self.scores.push_back(*score);
                while self.scores.len() > HISTORY {
                    self.scores.pop_front();
                }
                self.overlay.set(rgb_to_color(overlay));
            }
            Event::ConceptParts {
                overlay,
                colors,
                shares,
                ..
            } => {
                self.parts_overlay.set(rgb_to_color(overlay));
                self.part_shares = colors.iter().copied().zip(shares.iter().copied()).collect();
                if !self.parts_asked {
                    self.parts_asked = true;
                    self.part_pictures = (0..shares.len()).map(|_| Picture::default()).collect();
                    for j in 0..shares.len() {
                        shared.send(Command::Thumbnail(ThumbOf::Part(j)));
                    }
                }
            }
            Event::Thumbnail { of, image, .. } => match of {
                ThumbOf::Concept => self.picture.set(rgb_to_color(image)),
                ThumbOf::Part(j) => {
                    if let Some(p) = self.part_pictures.get_mut(*j) {
                        p.set(rgb_to_color(image));
                    }
                }
                ThumbOf::Unit { .. } => {}
            },
            Event::ConceptSaved(path) if *path == self.tcav_file() => {
                if let (Some(ask), Some(program)) = (self.tcav_pending.take(), &self.program) {
                    match TcavJob::start(program, path, &ask) {
                        Ok(job) => self.tcav_job = Some(job),
                        Err(e) => self.tcav_result = Some(Err(e)),
                    }
                }
            }
            Event::ConceptCleared => {
                self.ready = None;
                self.scores.clear();
                self.overlay.clear();
                self.picture.clear();
            }
            _ => {}
        }
    }

    fn seen(&mut self, c: &Command) {
        // the window opened another network: TCAV runs on that one
        if let (Command::OpenModel(path), Some(p)) = (c, self.program.as_mut()) {
            p.opened(path);
        }
    }

    fn prepare(&mut self, ctx: &egui::Context, shared: &mut Shared) {
        // `g` held gathers the concept, shift+`g` others (when no text field has the keys)
        let typing = ctx.memory(|m| m.focused().is_some());
        let (g, shift) = ctx.input(|i| (i.key_down(Key::G), i.modifiers.shift));
        // the side is the one chosen when `g` went down (shift let go meanwhile keeps it)
        let by_key = (g && !typing).then(|| {
            self.asked.filter(|_| self.asked_by_key).unwrap_or(if shift {
                ConceptSide::Others
            } else {
                ConceptSide::Concept
            })
        });
        if by_key.is_some() || self.asked_by_key {
            self.ask(by_key, shared);
            self.asked_by_key = by_key.is_some();
        }
        self.overlay
            .upload(ctx, "concept map", TextureOptions::LINEAR);
        self.parts_overlay
            .upload(ctx, "concept parts", TextureOptions::LINEAR);
        self.picture
            .upload(ctx, "concept picture", TextureOptions::LINEAR);
        if let Some(job) = self.tcav_job.as_mut() {
            match job.poll() {
                Some(r) => {
                    self.tcav_result = Some(r);
                    self.tcav_job = None;
                }
                None => ctx.request_repaint_after(std::time::Duration::from_millis(200)),
            }
        }
        for (j, p) in self.part_pictures.iter_mut().enumerate() {
            p.upload(ctx, &format!("part picture {j}"), TextureOptions::LINEAR);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        egui::CollapsingHeader::new("concept (teach one with the camera)")
            .default_open(false)
            .show(ui, |ui| self.body(ui, shared));
    }
}

impl ConceptPane {
    /// The file the concept is saved in for TCAV: beside the concept's own file.
    fn tcav_file(&self) -> PathBuf {
        PathBuf::from(&self.path).with_file_name("tcav-concept.json")
    }

    /// Whether the concept's picture has come, and how many of the parts' pictures have.
    pub fn pictures(&self) -> (bool, usize) {
        (
            self.picture.get().is_some(),
            self.part_pictures.iter().filter(|p| p.get().is_some()).count(),
        )
    }

    /// Asks the worker to gather `side` (None: stop), when that is new.
    pub fn ask(&mut self, side: Option<ConceptSide>, shared: &mut Shared) {
        if side != self.asked {
            shared.send(Command::ConceptRecord(side));
            self.asked = side;
        }
    }

    fn body(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let mut held = None;
        ui.horizontal(|ui| {
            for (side, text) in [
                (ConceptSide::Concept, "record concept"),
                (ConceptSide::Others, "record others"),
            ] {
                let on = self.recording == Some(side);
                let b = egui::Button::new(text)
                    .selected(on)
                    .sense(egui::Sense::click_and_drag());
                let r = ui.add(b).on_hover_text("hold while the frames show it (or hold g / G)");
                if r.is_pointer_button_down_on() {
                    held = Some(side);
                }
            }
        });
        if !self.asked_by_key {
            self.ask(held, shared);
        }
        let (p, n) = self.counts;
        match n {
            0 => ui.label(format!(
                "{p} frame(s) of the concept, none of others: the session's other frames \
                 stand in"
            )),
            n => ui.label(format!("{p} frame(s) of the concept, {n} of others")),
        };
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("concept fit")
                .selected_text(self.fit.label())
                .show_ui(ui, |ui| {
                    for f in ConceptFit::ALL {
                        ui.selectable_value(&mut self.fit, f, f.label());
                    }
                });
            if ui
                .add_enabled(p > 0, egui::Button::new("fit"))
                .clicked()
            {
                shared.send(Command::ConceptFit(self.fit));
            }
            if ui.button("clear").clicked() {
                shared.send(Command::ConceptClear);
            }
        });
        self.gauge(ui);
        self.tcav_ui(ui, shared);
        self.parts_ui(ui, shared);
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut self.path).desired_width(180.0));
            if ui
                .add_enabled(self.ready.is_some(), egui::Button::new("save concept"))
                .clicked()
            {
                if let Some(d) = PathBuf::from(&self.path).parent() {
                    let _ = std::fs::create_dir_all(d);
                }
                shared.send(Command::ConceptSave(PathBuf::from(&self.path)));
            }
            if ui.button("load concept").clicked() {
                shared.send(Command::ConceptLoad(PathBuf::from(&self.path)));
            }
        });
    }

    /// TCAV of the concept for a class over pictures of it, in a process of its own.
    fn tcav_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        if self.ready.is_none() {
            return;
        }
        ui.horizontal(|ui| {
            ui.label("TCAV for class");
            ui.add(egui::DragValue::new(&mut self.tcav_class).range(0..=1_000_000));
        });
        let busy = self.tcav_job.is_some() || self.tcav_pending.is_some();
        let can = self.program.is_some() && !self.tcav_images.trim().is_empty() && !busy;
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.tcav_images)
                    .hint_text("pictures of the class (folder, video)")
                    .desired_width(180.0),
            );
            if ui
                .add_enabled(can, egui::Button::new("TCAV"))
                .on_hover_text(
                    "the share of the class's pictures whose score rises along the concept, \
                     against random concepts (t-test)",
                )
                .clicked()
            {
                let file = self.tcav_file();
                if let Some(d) = file.parent() {
                    let _ = std::fs::create_dir_all(d);
                }
                self.tcav_result = None;
                self.tcav_pending = Some(TcavAsk {
                    class: self.tcav_class,
                    images: PathBuf::from(self.tcav_images.trim()),
                });
                shared.send(Command::ConceptSave(file));
            }
        });
        if busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.weak("TCAV running");
            });
        }
        match &self.tcav_result {
            Some(Ok(line)) => {
                ui.label(line);
            }
            Some(Err(why)) => {
                ui.colored_label(ui.visuals().error_fg_color, why);
            }
            None if self.program.is_none() => {
                ui.weak("TCAV runs `deepvis concept tcav`: this window cannot start it");
            }
            None => {}
        }
    }

    /// The frame's parts found by NMF: on / off and how many, each place coloured by its
    /// part over the frame, each part's share, and a button that makes it the concept.
    fn parts_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let mut on = self.parts.is_some();
        let mut k = self.parts.unwrap_or(3);
        let changed = ui
            .horizontal(|ui| {
                let a = ui.checkbox(&mut on, "parts of the frame (NMF)").changed();
                let b = ui
                    .add_enabled(on, egui::DragValue::new(&mut k).range(1..=8).suffix(" parts"))
                    .changed();
                a || b
            })
            .inner;
        if changed {
            self.parts = on.then_some(k);
            self.part_shares.clear();
            self.parts_overlay.clear();
            self.part_pictures.clear();
            self.parts_asked = false;
            shared.send(Command::ConceptParts(self.parts));
        }
        if self.parts.is_none() || self.part_shares.is_empty() {
            return;
        }
        let width = ui.available_width().min(240.0);
        let resp = image_box(ui, self.parts_overlay.get(), width, "");
        name_image(&resp, "concept parts");
        let mut make = None;
        ui.horizontal_wrapped(|ui| {
            for (j, ([r, g, b], share)) in self.part_shares.iter().enumerate() {
                let color = egui::Color32::from_rgb(*r, *g, *b);
                let text = egui::RichText::new(format!("part {j} {:.0}%", share * 100.0)).color(color);
                ui.vertical(|ui| {
                    let pic = self.part_pictures.get(j).and_then(Picture::get);
                    let resp = image_box(ui, pic, 64.0, "…");
                    name_image(&resp, &format!("NMF picture {j}"));
                    if ui
                        .button(text)
                        .on_hover_text("make this part the concept")
                        .clicked()
                    {
                        make = Some(j);
                    }
                });
            }
        });
        if let Some(j) = make {
            shared.send(Command::ConceptFromPart(j));
        }
    }

    /// The concept's score now as a gauge, its history, and its map over the frame.
    fn gauge(&mut self, ui: &mut egui::Ui) {
        let Some((name, layer, fit, acc)) = &self.ready else {
            ui.weak("fit the concept to see it on every frame");
            return;
        };
        ui.label(format!(
            "{name:?} on {layer} ({}; {:.0}% of its examples on their side)",
            fit.label(),
            acc * 100.0
        ));
        // the gauge spans the scores seen: the lowest empty, the highest full (the same place
        // before the first score, so the pane does not move when it comes)
        let (lo, hi) = self
            .scores
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &s| (a.min(s), b.max(s)));
        match self.scores.back() {
            Some(&now) => {
                let share = if hi > lo { (now - lo) / (hi - lo) } else { 0.5 };
                ui.add(egui::ProgressBar::new(share).text(format!("score {now:.3}")))
            }
            None => ui.add(egui::ProgressBar::new(0.0).text("no frame scored yet")),
        };
        let width = ui.available_width().min(240.0);
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, 36.0), egui::Sense::hover());
        name_image(&resp, "concept score history");
        let painter = ui.painter();
        painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        let range = (hi - lo).max(1e-6);
        let k = self.scores.len().max(2) - 1;
        let line: Vec<egui::Pos2> = self
            .scores
            .iter()
            .enumerate()
            .map(|(i, s)| {
                egui::pos2(
                    rect.left() + rect.width() * i as f32 / k as f32,
                    rect.bottom() - rect.height() * (s - lo) / range,
                )
            })
            .collect();
        painter.add(egui::Shape::line(
            line,
            egui::Stroke::new(1.5, ui.visuals().selection.bg_fill),
        ));
        ui.horizontal(|ui| {
            let side = (width / 2.0 - 4.0).max(32.0);
            let resp = image_box(ui, self.overlay.get(), side, "");
            name_image(&resp, "concept map");
            let resp = image_box(ui, self.picture.get(), side, "its picture forms…");
            name_image(&resp, "concept picture");
        });
    }
}
