//! The player of a video source (play/pause, a frame back and forth, a seek slider, speed,
//! loop) and the record buttons (the window's pictures; the source's own frames).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use deepvis_protocol::video::clock;
use deepvis_protocol::{Command, Playback, PlayerCommand, RecordTarget, RecordingStatus};

use crate::Shared;

/// The speeds the picker offers.
pub const SPEEDS: [f32; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// The player's and the recordings' state (where the clip stands is [`Shared::playback`]).
#[derive(Default)]
pub struct PlayerPane {
    /// The frame the seek slider is held at.
    seek: Option<u64>,
    /// The window recording: running, and its last status.
    pub window: Option<RecordingStatus>,
    /// The source recording.
    pub source: Option<RecordingStatus>,
    /// Whether each recording runs (from the buttons; the worker's status confirms).
    pub recording: [bool; 2],
}

/// A file size in words (`840 kB`, `2.5 MB`).
pub fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{} kB", bytes.div_ceil(1000))
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// Where recordings go: `~/deepvis` (else `./deepvis-output`).
pub fn output_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h).join("deepvis"),
        _ => PathBuf::from("deepvis-output"),
    }
}

/// Seconds since 1970, for file names.
pub fn stamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn slot(what: RecordTarget) -> usize {
    match what {
        RecordTarget::Window => 0,
        RecordTarget::Source => 1,
    }
}

/// The clip's line for the status bar: codec, size, rate, position.
pub fn status_line(p: &Playback) -> String {
    format!(
        "{} {}x{} {:.3} fps, {} / {}{}",
        p.codec,
        p.width,
        p.height,
        p.fps,
        clock(p.seconds()),
        clock(p.duration()),
        if p.paused { " (paused)" } else { "" }
    )
    .replace(".000 fps", " fps")
}

impl PlayerPane {
    /// Takes a recording report.
    pub fn set_recording(&mut self, what: RecordTarget, st: RecordingStatus) {
        if st.done {
            self.recording[slot(what)] = false;
        }
        match what {
            RecordTarget::Window => self.window = Some(st),
            RecordTarget::Source => self.source = Some(st),
        }
    }

    /// The worker restarted: its recordings were closed (whole) with it.
    pub fn worker_restarted(&mut self) {
        self.recording = [false, false];
        for st in [&mut self.window, &mut self.source].into_iter().flatten() {
            st.done = true;
        }
    }

    /// Starts or stops a recording into a new file of the output folder.
    pub fn toggle_recording(&mut self, shared: &mut Shared, what: RecordTarget) {
        let i = slot(what);
        let on = !self.recording[i];
        let path = on.then(|| {
            let dir = output_dir();
            let _ = std::fs::create_dir_all(&dir);
            match what {
                RecordTarget::Window => dir.join(format!("deepvis-{}.mp4", stamp())),
                RecordTarget::Source => dir.join(format!("source-{}.mkv", stamp())),
            }
        });
        self.recording[i] = on;
        if on {
            self.set_recording(
                what,
                RecordingStatus {
                    path: path.clone().unwrap_or_default(),
                    ..RecordingStatus::default()
                },
            );
        }
        shared.send(Command::Record { what, path });
    }

    /// The record buttons and what they have written.
    pub fn record_ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        ui.horizontal_wrapped(|ui| {
            for (what, name, tip) in [
                (
                    RecordTarget::Window,
                    "record (R)",
                    "record what the window shows (input, grid, unit, preferred image) as an \
                     MP4 in ~/deepvis, one frame per grid frame; again to stop",
                ),
                (
                    RecordTarget::Source,
                    "record source",
                    "record the source's own frames losslessly (.mkv in ~/deepvis): \
                     --source that file replays the very frames",
                ),
            ] {
                let mut on = self.recording[slot(what)];
                if ui.toggle_value(&mut on, name).on_hover_text(tip).changed() {
                    self.toggle_recording(shared, what);
                }
            }
        });
        for st in [&self.window, &self.source].into_iter().flatten() {
            let name = st
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let state = match (&st.error, st.done) {
                (Some(e), _) => format!("failed: {e}"),
                (None, true) => "saved".into(),
                (None, false) => "recording".into(),
            };
            let kind = if st.png_sequence {
                " (PNG sequence: no FFmpeg)"
            } else {
                ""
            };
            ui.weak(format!(
                "{name}{kind}: {state}, {} frames, {}{}",
                st.frames,
                size(st.bytes),
                if st.dropped > 0 {
                    format!(", {} dropped", st.dropped)
                } else {
                    String::new()
                }
            ))
            .on_hover_text(st.path.display().to_string());
        }
    }

    /// The player controls, when the source is a clip.
    pub fn ui(&mut self, ui: &mut egui::Ui, shared: &mut Shared) {
        let Some(p) = shared.playback.clone() else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            let label = if p.paused { "play clip" } else { "pause clip" };
            if ui
                .button(label)
                .on_hover_text("play / pause the clip (f)")
                .clicked()
            {
                shared.freeze(!p.paused);
            }
            if ui
                .button("< frame")
                .on_hover_text("one frame back (,)")
                .clicked()
            {
                shared.send(Command::Player(PlayerCommand::Step(-1)));
            }
            if ui
                .button("frame >")
                .on_hover_text("one frame on (.)")
                .clicked()
            {
                shared.send(Command::Player(PlayerCommand::Step(1)));
            }
            let mut looping = p.looping;
            if ui
                .checkbox(&mut looping, "loop")
                .on_hover_text("at the end, start over")
                .changed()
            {
                shared.send(Command::Player(PlayerCommand::Loop(looping)));
            }
            let mut speed = p.speed;
            egui::ComboBox::new("speed picker", "speed")
                .selected_text(format!("{speed}x"))
                .show_ui(ui, |ui| {
                    for s in SPEEDS {
                        ui.selectable_value(&mut speed, s, format!("{s}x"));
                    }
                })
                .response
                .on_hover_text("playback speed; the network takes the newest frame it can");
            if speed != p.speed {
                shared.send(Command::Player(PlayerCommand::Speed(speed)));
            }
            let mut every = p.every_frame;
            if ui
                .checkbox(&mut every, "every frame")
                .on_hover_text(
                    "hand the network every frame, each as soon as it took the last (slower \
                     or faster than the clip's rate, none dropped)",
                )
                .changed()
            {
                shared.send(Command::Player(PlayerCommand::EveryFrame(every)));
            }
        });
        let last = p.frames.saturating_sub(1);
        let mut at = self.seek.unwrap_or(p.frame).min(last);
        let r = ui
            .add(
                egui::Slider::new(&mut at, 0..=last)
                    .text("frame")
                    .clamping(egui::SliderClamping::Always),
            )
            .on_hover_text("drag to seek");
        if r.changed() {
            self.seek = Some(at);
            shared.send(Command::Player(PlayerCommand::Seek(at)));
        }
        if !r.dragged() {
            self.seek = None;
        }
        ui.weak(format!(
            "frame {} of {}, {} / {}",
            p.frame + 1,
            p.frames,
            clock(p.seconds()),
            clock(p.duration())
        ));
    }
}
