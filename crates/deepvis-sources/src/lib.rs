//! Frame sources behind one trait (webcam, image file, video file, folder, synthetic
//! pattern, any kind of device in the device table), run on their own thread, delivering only
//! the newest frame.

mod camera;
mod devices;
mod error;
pub mod ffmpeg;
pub mod record;
mod slot;
pub mod video;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use deepvis_protocol::{Playback, PlayerCommand, SourceSpec};
use image::RgbImage;

pub use camera::{Camera, list_cameras};
pub use devices::{devices, open_device};
pub use error::{BadTime, ProbeError, RecordError, SourceError};
pub use ffmpeg::Ffmpeg;
pub use record::{RecordStatus, Recorder};
pub use slot::FrameSlot;
pub use video::{Video, is_video};

/// A frame and where it came from.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The pixels.
    pub image: RgbImage,
    /// A counter, increasing per source.
    pub seq: u64,
    /// What it is (file name, `camera 0`, ...).
    pub label: String,
}

/// Something that produces frames.
pub trait FrameSource {
    /// What it is, for the input pane.
    fn label(&self) -> String;
    /// The next frame; `Ok(None)` when a still source has nothing new.
    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError>;
    /// Moves a folder source by `delta` files (others ignore it).
    fn step(&mut self, _delta: i32) {}
    /// Whether it keeps producing frames (a camera, a playing clip) or only on change (a
    /// photo, a paused clip).
    fn is_live(&self) -> bool;
    /// A player command (sources that are no video ignore it).
    fn control(&mut self, _c: PlayerCommand) {}
    /// Pauses or plays a video (others ignore it: the worker holds their frames).
    fn pause(&mut self, _paused: bool) {}
    /// Where a video stands.
    fn playback(&self) -> Option<Playback> {
        None
    }
    /// Whether each frame waits until the last was taken (a clip played frame by frame).
    fn every_frame(&self) -> bool {
        false
    }
    /// A sentence worth telling that is no failure (a clip that ended early), once.
    fn take_notice(&mut self) -> Option<String> {
        None
    }
}

/// Image file extensions a folder source shows.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// An image or video file, or the images and videos of a folder in name order: a photo stays
/// until stepped; a clip plays (a lone clip loops; in a folder the next file follows its end).
pub struct Files {
    ffmpeg: Ffmpeg,
    /// The clip of the current file, when it is a video.
    video: Option<Video>,
    /// Pause the clips (the worker's freeze).
    paused: bool,
    /// Player commands for a clip not open yet.
    pending: Vec<PlayerCommand>,
    files: Vec<PathBuf>,
    index: usize,
    dirty: bool,
    label: String,
    /// The way the last step went (+1 or -1): an unreadable file is passed that way.
    direction: i64,
    /// Files of the folder that could not be read, in the order they were met.
    skipped: Vec<PathBuf>,
}

impl Files {
    /// A file or a folder; an empty folder is an error.
    pub fn open(path: &Path) -> Result<Files, SourceError> {
        let files = if path.is_dir() {
            let rd = std::fs::read_dir(path)
                .map_err(|e| SourceError::File(format!("cannot list {}: {e}", path.display())))?;
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && (is_image(p) || is_video(p)))
                .collect();
            v.sort();
            v
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else if path.exists() {
            // a named pipe, a device or a socket: reading it could block forever
            return Err(SourceError::File(format!(
                "{} is not a regular file or a folder (a named pipe, a device or a socket)",
                path.display()
            )));
        } else {
            return Err(SourceError::File(format!(
                "{} does not exist",
                path.display()
            )));
        };
        if files.is_empty() {
            return Err(SourceError::File(format!(
                "{} holds no images ({}) or videos ({})",
                path.display(),
                IMAGE_EXTENSIONS.join(", "),
                video::VIDEO_EXTENSIONS.join(", ")
            )));
        }
        Ok(Files {
            ffmpeg: Ffmpeg::from_env(),
            video: None,
            paused: false,
            pending: Vec::new(),
            files,
            index: 0,
            dirty: true,
            label: path.display().to_string(),
            direction: 1,
            skipped: Vec::new(),
        })
    }

    /// As [`Files::open`], with FFmpeg's programs found there.
    pub fn open_with(path: &Path, ffmpeg: Ffmpeg) -> Result<Files, SourceError> {
        let mut f = Self::open(path)?;
        f.ffmpeg = ffmpeg;
        Ok(f)
    }

    /// The index of the current file.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many files it cycles through.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// The files of the folder that could not be read so far.
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    /// Whether it has no files (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl FrameSource for Files {
    fn label(&self) -> String {
        let shown = match self.files.get(self.index) {
            Some(f) if self.files.len() > 1 => {
                format!("{} ({}/{})", f.display(), self.index + 1, self.files.len())
            }
            Some(f) => f.display().to_string(),
            None => self.label.clone(),
        };
        match self.skipped.as_slice() {
            [] => shown,
            s => {
                let names: Vec<String> = s
                    .iter()
                    .take(3)
                    .map(|p| {
                        p.file_name()
                            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
                    })
                    .collect();
                let more = if s.len() > 3 { ", ..." } else { "" };
                format!(
                    "{shown}; skipped {} unreadable: {}{more}",
                    s.len(),
                    names.join(", ")
                )
            }
        }
    }

    /// The current file (a clip's due frame); an unreadable file of a folder is skipped (in
    /// the direction of the last step) and remembered, so the first readable one shows.
    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        if let Some(v) = self.video.as_mut() {
            match v.next_frame() {
                Ok(Some(img)) => return Ok(Some(img)),
                Ok(None) if v.finished() && self.files.len() > 1 => {
                    // a folder goes on with its next file
                    self.step(1);
                }
                Ok(None) => return Ok(None),
                Err(e) => {
                    self.video = None;
                    if self.files.len() == 1 {
                        return Err(e);
                    }
                    let path = self.files[self.index.min(self.files.len() - 1)].clone();
                    if !self.skipped.contains(&path) {
                        self.skipped.push(path);
                    }
                    self.step(self.direction as i32);
                }
            }
        }
        if !self.dirty {
            return Ok(None);
        }
        self.dirty = false;
        let n = self.files.len();
        let mut last = String::new();
        for _ in 0..n {
            let path = self.files[self.index.min(n - 1)].clone();
            let moving = match (is_video(&path), is_image(&path)) {
                (true, false) => true,
                (_, true) => video::is_animation(&path),
                _ => false,
            };
            let result = if moving {
                Video::open(&self.ffmpeg, &path, n == 1).and_then(|mut v| {
                    v.pause(self.paused);
                    // a paused clip still shows its first frame
                    v.control(PlayerCommand::Seek(0));
                    for p in self.pending.drain(..) {
                        v.control(p);
                    }
                    let first = v.next_frame();
                    self.video = Some(v);
                    first.and_then(|f| {
                        f.ok_or_else(|| SourceError::File(format!("{}: no frame", path.display())))
                    })
                })
            } else {
                deepvis_model::preprocess::load_image(&path)
                    .map(|img| img.to_rgb8())
                    .map_err(|e| SourceError::File(e.to_string()))
            };
            match result {
                Ok(img) => return Ok(Some(img)),
                Err(e) if n == 1 => {
                    self.video = None;
                    return Err(e);
                }
                Err(e) => {
                    self.video = None;
                    if !self.skipped.contains(&path) {
                        self.skipped.push(path);
                    }
                    last = e.to_string();
                    self.index = (self.index as i64 + self.direction).rem_euclid(n as i64) as usize;
                }
            }
        }
        Err(SourceError::File(format!(
            "none of the {n} files of {} could be read (the last: {last})",
            self.label
        )))
    }

    fn step(&mut self, delta: i32) {
        let n = self.files.len() as i64;
        self.index = (self.index as i64 + delta as i64).rem_euclid(n) as usize;
        if delta != 0 {
            self.direction = delta.signum() as i64;
        }
        self.video = None;
        self.dirty = true;
    }

    fn is_live(&self) -> bool {
        self.video.as_ref().is_some_and(|v| v.is_live())
    }

    fn control(&mut self, c: PlayerCommand) {
        match self.video.as_mut() {
            Some(v) => v.control(c),
            None if self.dirty => self.pending.push(c),
            None => {}
        }
    }

    fn pause(&mut self, paused: bool) {
        self.paused = paused;
        if let Some(v) = self.video.as_mut() {
            v.pause(paused)
        }
    }

    fn playback(&self) -> Option<Playback> {
        self.video.as_ref().and_then(|v| v.playback())
    }

    fn every_frame(&self) -> bool {
        self.video.as_ref().is_some_and(|v| v.every_frame())
    }

    fn take_notice(&mut self) -> Option<String> {
        self.video.as_mut().and_then(|v| v.take_notice())
    }
}

/// A moving test pattern: a bright disc circling over stripes.
pub struct Synthetic {
    width: u32,
    height: u32,
    period: Duration,
    next_at: Instant,
    t: u64,
}

impl Synthetic {
    /// A pattern of the given size, produced at `fps` frames per second (0 = as fast as asked).
    pub fn new(width: u32, height: u32, fps: u32) -> Synthetic {
        Synthetic {
            width: width.max(8),
            height: height.max(8),
            period: if fps == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(1.0 / fps as f64)
            },
            next_at: Instant::now(),
            t: 0,
        }
    }

    /// The frame at step `t`.
    pub fn render(&self, t: u64) -> RgbImage {
        let (w, h) = (self.width as f32, self.height as f32);
        let a = t as f32 * 0.05;
        let (cx, cy) = (w * (0.5 + 0.3 * a.cos()), h * (0.5 + 0.3 * a.sin()));
        let r = h.min(w) * 0.15;
        RgbImage::from_fn(self.width, self.height, |x, y| {
            let (xf, yf) = (x as f32, y as f32);
            let stripe = (((xf + t as f32 * 2.0) / 16.0) as i32 % 2) as u8 * 90;
            let d = ((xf - cx).powi(2) + (yf - cy).powi(2)).sqrt();
            if d < r {
                image::Rgb([230, 180 - (d / r * 100.0) as u8, 40])
            } else {
                image::Rgb([40 + stripe, 60 + (yf / h * 120.0) as u8, 120 + stripe / 2])
            }
        })
    }
}

impl FrameSource for Synthetic {
    fn label(&self) -> String {
        format!("synthetic {}x{}", self.width, self.height)
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        let now = Instant::now();
        if now < self.next_at {
            std::thread::sleep(self.next_at - now);
        }
        self.next_at = Instant::now() + self.period;
        self.t += 1;
        Ok(Some(self.render(self.t)))
    }

    fn is_live(&self) -> bool {
        true
    }
}

/// Opens the source a spec names.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn FrameSource>, SourceError> {
    match spec {
        SourceSpec::Camera {
            index,
            width,
            height,
        } => Ok(Box::new(Camera::open(*index, *width, *height)?)),
        SourceSpec::Path(p) => Ok(Box::new(Files::open(p)?)),
        SourceSpec::Synthetic { width, height, fps } => {
            Ok(Box::new(Synthetic::new(*width, *height, *fps)))
        }
        SourceSpec::Device(d) => open_device(d),
    }
}

/// What the source thread reports.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceStatus {
    /// Frames are arriving.
    Running {
        /// The source.
        label: String,
    },
    /// The source failed; it is retried every few seconds and the last frame is kept.
    Failed {
        /// The source.
        label: String,
        /// What went wrong.
        error: String,
    },
    /// Something worth telling that is no failure (a clip that ended early).
    Notice {
        /// The source.
        label: String,
        /// What happened.
        message: String,
    },
    /// Where a video stands (after each of its frames); `None` once the source is no video.
    Playback(Option<Playback>),
    /// Where the recording of the source's frames stands.
    Recording(RecordStatus),
}

/// Commands to a source thread.
#[derive(Clone, Debug)]
pub enum SourceCommand {
    /// Move a folder source.
    Step(i32),
    /// Control a video.
    Player(PlayerCommand),
    /// Pause (true) or play a video.
    Pause(bool),
    /// Record the frames losslessly into this file (`.mkv`), or stop (None).
    Record(Option<PathBuf>),
    /// End the thread.
    Stop,
}

/// A source running on its own thread.
pub struct SourceThread {
    commands: Sender<SourceCommand>,
    status: Receiver<SourceStatus>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// How long a failed source waits before it is opened again.
pub const RETRY_EVERY: Duration = Duration::from_secs(3);

impl SourceThread {
    /// Starts a thread that opens `spec` (retrying every [`RETRY_EVERY`] while it fails),
    /// puts each frame into `slot` (replacing an unprocessed one) and calls `wake` after each.
    pub fn spawn(
        spec: SourceSpec,
        slot: FrameSlot,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> SourceThread {
        Self::spawn_with(move || open(&spec), slot, wake)
    }

    /// As [`SourceThread::spawn`], with any way of opening the source (tests use failing ones).
    pub fn spawn_with(
        opener: impl FnMut() -> Result<Box<dyn FrameSource>, SourceError> + Send + 'static,
        slot: FrameSlot,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> SourceThread {
        let (ctx, crx) = crossbeam_channel::unbounded::<SourceCommand>();
        let (stx, srx) = crossbeam_channel::unbounded::<SourceStatus>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("deepvis-source".into())
            .spawn(move || Pump::new(opener, slot, wake, stx).run(&crx, &stop2))
            .ok();
        SourceThread {
            commands: ctx,
            status: srx,
            stop,
            handle,
        }
    }

    /// Sends a command to the source.
    pub fn command(&self, c: SourceCommand) {
        let _ = self.commands.send(c);
    }

    /// Status reports not yet read.
    pub fn statuses(&self) -> Vec<SourceStatus> {
        self.status.try_iter().collect()
    }

    /// Stops the thread (closing a recording) and returns the reports it had left.
    pub fn stop(mut self) -> Vec<SourceStatus> {
        self.halt();
        self.status.try_iter().collect()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.commands.send(SourceCommand::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The source thread: the source (once open, reopened after a camera fails), what it was
/// told before it opened, its recording, and what it last reported.
struct Pump<O> {
    opener: O,
    slot: FrameSlot,
    wake: Arc<dyn Fn() + Send + Sync>,
    status: Sender<SourceStatus>,
    source: Option<Box<dyn FrameSource>>,
    label: String,
    seq: u64,
    failed_at: Option<Instant>,
    paused: bool,
    /// Player commands for the source about to open (a seek sent with it).
    pending: Vec<PlayerCommand>,
    recorder: Option<Recorder>,
    last_playback: Option<Playback>,
    recorded_at: Instant,
}

impl<O: FnMut() -> Result<Box<dyn FrameSource>, SourceError>> Pump<O> {
    /// A source not open yet (it opens on the thread).
    fn new(
        opener: O,
        slot: FrameSlot,
        wake: Arc<dyn Fn() + Send + Sync>,
        status: Sender<SourceStatus>,
    ) -> Pump<O> {
        Pump {
            opener,
            slot,
            wake,
            status,
            source: None,
            label: String::from("source"),
            seq: 0,
            failed_at: None,
            paused: false,
            pending: Vec::new(),
            recorder: None,
            last_playback: None,
            recorded_at: Instant::now(),
        }
    }

    /// Runs until `stop` is set or a [`SourceCommand::Stop`] comes, then closes the
    /// recording.
    fn run(mut self, commands: &Receiver<SourceCommand>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            for c in commands.try_iter() {
                if !self.command(c) {
                    return;
                }
            }
            if self.source.is_none() {
                // the commands sent while it opened (a seek and a pause sent with the source)
                // are obeyed before its first frame
                self.open();
                continue;
            }
            self.pump();
        }
        if let Some(r) = self.recorder.take() {
            self.finish(r);
        }
    }

    fn report(&self, s: SourceStatus) {
        let _ = self.status.send(s);
    }

    /// Closes a recording and reports how it went.
    fn finish(&self, r: Recorder) {
        let st = r.finish();
        self.report(SourceStatus::Recording(st));
        (self.wake)();
    }

    /// Obeys a command; false for [`SourceCommand::Stop`] (the recording closed).
    fn command(&mut self, c: SourceCommand) -> bool {
        match c {
            SourceCommand::Step(d) => {
                if let Some(s) = self.source.as_mut() {
                    s.step(d)
                }
            }
            SourceCommand::Player(p) => match self.source.as_mut() {
                Some(s) => s.control(p),
                // for the source about to open (a seek sent with it)
                None => self.pending.push(p),
            },
            SourceCommand::Pause(p) => {
                self.paused = p;
                if let Some(s) = self.source.as_mut() {
                    s.pause(p)
                }
            }
            SourceCommand::Record(path) => {
                if let Some(r) = self.recorder.take() {
                    self.finish(r);
                }
                self.recorder =
                    path.map(|p| Recorder::start(&Ffmpeg::from_env(), &p, ffmpeg::Codec::Lossless));
            }
            SourceCommand::Stop => {
                if let Some(r) = self.recorder.take() {
                    self.finish(r);
                }
                return false;
            }
        }
        true
    }

    /// Opens the source (unless it failed less than [`RETRY_EVERY`] ago).
    fn open(&mut self) {
        if self.failed_at.is_some_and(|t| t.elapsed() < RETRY_EVERY) {
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        match (self.opener)() {
            Ok(mut s) => {
                s.pause(self.paused);
                for p in self.pending.drain(..) {
                    s.control(p);
                }
                self.label = s.label();
                self.report(SourceStatus::Running {
                    label: self.label.clone(),
                });
                (self.wake)();
                self.source = Some(s);
                self.failed_at = None;
            }
            Err(e) => {
                self.report(SourceStatus::Failed {
                    label: self.label.clone(),
                    error: e.to_string(),
                });
                (self.wake)();
                self.failed_at = Some(Instant::now());
            }
        }
    }

    /// Asks the open source for its next frame and delivers it (to the slot, the recording
    /// and the reports).
    fn pump(&mut self) {
        let Some(s) = self.source.as_mut() else {
            return;
        };
        if s.every_frame() && !self.slot.is_empty() {
            // the network has not taken the last frame yet
            std::thread::sleep(Duration::from_millis(2));
            return;
        }
        let result = s.next_frame();
        if let Some(message) = s.take_notice() {
            let _ = self.status.send(SourceStatus::Notice {
                label: s.label(),
                message,
            });
            (self.wake)();
        }
        match result {
            Ok(Some(image)) => self.deliver(image),
            Ok(None) => {
                let playback = s.playback();
                if playback != self.last_playback {
                    let _ = self.status.send(SourceStatus::Playback(playback.clone()));
                    self.last_playback = playback;
                    (self.wake)();
                }
                if !s.is_live() {
                    std::thread::sleep(Duration::from_millis(20))
                }
            }
            Err(e) => {
                let live = s.is_live();
                let _ = self.status.send(SourceStatus::Failed {
                    label: s.label(),
                    error: e.to_string(),
                });
                (self.wake)();
                if live {
                    // a camera that fails is dropped and opened again later
                    self.source = None;
                    self.failed_at = Some(Instant::now());
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// A new frame of the open source: into the recording and the slot, with where a video
    /// stands.
    fn deliver(&mut self, image: RgbImage) {
        let Some(s) = self.source.as_ref() else {
            return;
        };
        self.seq += 1;
        if let Some(r) = self.recorder.as_ref() {
            r.push(image.clone());
            if self.recorded_at.elapsed() > Duration::from_millis(250) {
                self.recorded_at = Instant::now();
                let _ = self.status.send(SourceStatus::Recording(r.status()));
            }
        }
        self.slot.put(Frame {
            image,
            seq: self.seq,
            label: s.label(),
        });
        let playback = s.playback();
        if playback.is_some() || self.last_playback.is_some() {
            let _ = self.status.send(SourceStatus::Playback(playback.clone()));
        }
        self.last_playback = playback;
        (self.wake)();
        if !s.is_live() {
            let _ = self.status.send(SourceStatus::Running { label: s.label() });
        }
    }
}

impl Drop for SourceThread {
    fn drop(&mut self) {
        self.halt();
    }
}
