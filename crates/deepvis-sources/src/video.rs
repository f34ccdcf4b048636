//! Video files as a frame source: a clip (FFmpeg for MP4/WebM/MKV/AVI/MOV, the image crate
//! for animated GIF and APNG), a [`Player`] that says which frame is due when (pause, step,
//! seek, speed, loop), and [`Video`], the two joined into a [`FrameSource`].

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deepvis_protocol::video::{SPEED_RANGE, clock};
use deepvis_protocol::{Playback, PlayerCommand};
use image::{AnimationDecoder, RgbImage};

use crate::ffmpeg::{Decoder, Ffmpeg, StreamEnd, VideoInfo};
use crate::{BadTime, FrameSource, SourceError};

/// Video file extensions (`.gif` and `.png` are videos when they hold more than one frame).
pub const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "m4v", "webm", "mkv", "avi", "mov", "gif", "apng"];

/// The most bytes the decoded frames of a GIF or APNG may take (they are held in memory).
pub const MAX_ANIMATION_BYTES: u64 = 1 << 30;

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether the name says video (a `.gif` counts; whether it moves is known once read).
pub fn is_video(p: &Path) -> bool {
    VIDEO_EXTENSIONS.contains(&ext(p).as_str())
}

/// Whether `p` is a GIF or PNG with more than one frame (an APNG), read from its header
/// (a GIF's frames are counted).
pub fn is_animation(p: &Path) -> bool {
    match ext(p).as_str() {
        "gif" => open_animation(p).is_ok_and(|c| c.info.frames > 1),
        "png" | "apng" => {
            deepvis_model::fsguard::open_regular(p, deepvis_model::preprocess::MAX_IMAGE_FILE_BYTES)
                .ok()
                .and_then(|f| image::codecs::png::PngDecoder::new(BufReader::new(f)).ok())
                .is_some_and(|d| d.is_apng().unwrap_or(false))
        }
        _ => false,
    }
}

/// A clip's frames by index.
pub trait Clip: Send {
    /// What the clip is.
    fn info(&self) -> &VideoInfo;
    /// Frame `n`; reading in order is cheap, a jump decodes from the nearest key frame. An
    /// error says where the stream ended (past the last frame, or cut short).
    fn frame(&mut self, n: u64) -> Result<RgbImage, StreamEnd>;
    /// Why decoding stopped before the file's end, when that is known on opening (a damaged
    /// GIF keeps the frames before the damage).
    fn damage(&self) -> Option<String> {
        None
    }
}

/// A clip FFmpeg decodes, one frame at a time, from a child process.
pub struct FfmpegClip {
    ffmpeg: Ffmpeg,
    path: PathBuf,
    info: VideoInfo,
    decoder: Option<Decoder>,
}

/// How far ahead a jump still reads on rather than seeking anew.
const READ_ON: u64 = 30;

impl FfmpegClip {
    /// Probes `path` (an error if FFmpeg cannot read it, or is missing).
    pub fn open(ffmpeg: &Ffmpeg, path: &Path) -> Result<FfmpegClip, SourceError> {
        if !path.is_file() {
            return Err(SourceError::File(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let info = ffmpeg.probe(path)?;
        Ok(FfmpegClip {
            ffmpeg: ffmpeg.clone(),
            path: path.to_path_buf(),
            info,
            decoder: None,
        })
    }
}

impl Clip for FfmpegClip {
    fn info(&self) -> &VideoInfo {
        &self.info
    }

    fn frame(&mut self, n: u64) -> Result<RgbImage, StreamEnd> {
        let pos = self.decoder.as_ref().map(|d| d.position());
        if !pos.is_some_and(|p| p <= n && n - p <= READ_ON) {
            self.decoder = None;
            self.decoder =
                Some(
                    self.ffmpeg
                        .decode(&self.path, &self.info, n)
                        .map_err(|e| StreamEnd {
                            at: n,
                            error: Some(e.to_string()),
                        })?,
                );
        }
        let Some(d) = self.decoder.as_mut() else {
            return Err(StreamEnd { at: n, error: None });
        };
        loop {
            match d.next_frame() {
                Ok(img) if d.position() == n + 1 => return Ok(img),
                Ok(_) => {}
                Err(end) => {
                    self.decoder = None;
                    return Err(end);
                }
            }
        }
    }
}

/// A GIF or APNG decoded whole by the image crate.
pub struct FramesClip {
    info: VideoInfo,
    frames: Vec<RgbImage>,
    /// Why decoding stopped before the end, if it did.
    pub cut_short: Option<String>,
}

impl Clip for FramesClip {
    fn info(&self) -> &VideoInfo {
        &self.info
    }

    fn frame(&mut self, n: u64) -> Result<RgbImage, StreamEnd> {
        self.frames
            .get(n as usize)
            .cloned()
            .ok_or(StreamEnd { at: n, error: None })
    }

    fn damage(&self) -> Option<String> {
        self.cut_short.clone()
    }
}

/// Decodes every frame of a GIF or an APNG (a damaged one keeps the frames before the
/// damage; none at all is an error).
pub fn open_animation(path: &Path) -> Result<FramesClip, SourceError> {
    let fail = |why: String| SourceError::File(format!("{}: {why}", path.display()));
    let len = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if len > deepvis_model::preprocess::MAX_IMAGE_FILE_BYTES {
        return Err(fail(format!(
            "the file has {len} bytes, too many for an animation"
        )));
    }
    // only a regular file, opened without blocking (a pipe named a.gif is refused)
    let file =
        deepvis_model::fsguard::open_regular(path, deepvis_model::preprocess::MAX_IMAGE_FILE_BYTES)
            .map_err(|e| fail(e.to_string()))?;
    let reader = BufReader::new(file);
    let (frames, codec): (image::Frames<'_>, &str) = match ext(path).as_str() {
        "gif" => (
            image::codecs::gif::GifDecoder::new(reader)
                .map_err(|e| fail(e.to_string()))?
                .into_frames(),
            "gif",
        ),
        _ => (
            image::codecs::png::PngDecoder::new(reader)
                .map_err(|e| fail(e.to_string()))?
                .apng()
                .map_err(|e| fail(e.to_string()))?
                .into_frames(),
            "apng",
        ),
    };
    let mut out: Vec<RgbImage> = Vec::new();
    let mut seconds = 0.0f64;
    let mut bytes = 0u64;
    let mut cut_short = None;
    for f in frames {
        match f {
            Ok(f) => {
                let (num, den) = f.delay().numer_denom_ms();
                let ms = if den == 0 {
                    0.0
                } else {
                    num as f64 / den as f64
                };
                // browsers show a GIF's 0-10 ms delays as 100 ms
                seconds += if ms <= 10.0 { 0.1 } else { ms / 1000.0 };
                let img = image::DynamicImage::ImageRgba8(f.into_buffer()).to_rgb8();
                bytes += img.as_raw().len() as u64;
                if bytes > MAX_ANIMATION_BYTES {
                    return Err(fail(format!(
                        "more than {} MiB of frames; convert it to a video (ffmpeg -i IN OUT.mp4)",
                        MAX_ANIMATION_BYTES >> 20
                    )));
                }
                out.push(img);
            }
            Err(e) => {
                cut_short = Some(e.to_string());
                break;
            }
        }
    }
    let Some(first) = out.first() else {
        return Err(fail(format!(
            "no frame could be decoded ({})",
            cut_short.unwrap_or_else(|| "the file holds none".into())
        )));
    };
    let (width, height) = first.dimensions();
    let n = out.len() as u64;
    Ok(FramesClip {
        info: VideoInfo {
            codec: codec.into(),
            width,
            height,
            fps: if seconds > 0.0 {
                n as f64 / seconds
            } else {
                10.0
            },
            frames: n,
            duration: None,
        },
        frames: out,
        cut_short,
    })
}

/// Opens a clip: GIF and APNG by the image crate, anything else by FFmpeg.
pub fn open_clip(ffmpeg: &Ffmpeg, path: &Path) -> Result<Box<dyn Clip>, SourceError> {
    match ext(path).as_str() {
        "gif" | "png" | "apng" => Ok(Box::new(open_animation(path)?)),
        _ => Ok(Box::new(FfmpegClip::open(ffmpeg, path)?)),
    }
}

/// Which frame of a clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FrameAt {
    /// The frame shown at this time (seconds from the start).
    Seconds(f64),
    /// This frame (0 = the first).
    Index(u64),
}

impl FrameAt {
    /// The frame index in a clip of `fps` frames per second.
    pub fn index(self, fps: f64) -> Result<u64, BadTime> {
        match self {
            FrameAt::Index(n) => Ok(n),
            FrameAt::Seconds(s) if s.is_finite() && s >= 0.0 => {
                // a hair over, so that 2.3 s at 10 fps is frame 23 despite 2.3 * 10 = 22.99..
                Ok((s * fps + 1e-6).floor() as u64)
            }
            FrameAt::Seconds(s) => Err(BadTime(s)),
        }
    }
}

pub use deepvis_protocol::video::{frame_name, split_at_time};

/// One frame of a clip (the CLI's `VIDEO@SECONDS` and `--frame N`).
pub fn read_frame(ffmpeg: &Ffmpeg, path: &Path, at: FrameAt) -> Result<RgbImage, SourceError> {
    let mut clip = open_clip(ffmpeg, path)?;
    let info = clip.info().clone();
    let n = at.index(info.fps)?;
    if n >= info.frames {
        return Err(SourceError::File(format!(
            "{}: frame {n} is past the end (the clip has {} frames, {:.2} s)",
            path.display(),
            info.frames,
            info.frames as f64 / info.fps
        )));
    }
    clip.frame(n).map_err(|end| {
        SourceError::File(format!(
            "{}: the clip ended at frame {} before frame {n}{}",
            path.display(),
            end.at,
            end.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))
    })
}

/// What is due next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Due {
    /// Show this frame now.
    Show(u64),
    /// The next frame is due in this long.
    Wait(Duration),
    /// Paused: nothing until a command.
    Idle,
    /// Past the last frame.
    End,
}

/// The playback policy of a clip: which frame when, pause, step, seek, speed, loop. Plain
/// data with the time passed in, so it is tested without threads or clocks.
#[derive(Clone, Debug)]
pub struct Player {
    frames: u64,
    fps: f64,
    shown: Option<u64>,
    shown_at: Option<Instant>,
    target: Option<u64>,
    paused: bool,
    ended: bool,
    speed: f32,
    looping: bool,
    every_frame: bool,
    /// Frame `.1` was due at `.0`: later frames are due at their distance from it.
    anchor: Option<(Instant, u64)>,
}

/// How late a frame may be before the clock is set anew instead of catching up.
const LATE: Duration = Duration::from_millis(250);

impl Player {
    /// A player for `frames` frames at `fps`, at the start, playing.
    pub fn new(frames: u64, fps: f64, looping: bool) -> Player {
        Player {
            frames: frames.max(1),
            fps: if fps.is_finite() && fps > 0.0 {
                fps
            } else {
                10.0
            },
            shown: None,
            shown_at: None,
            target: None,
            paused: false,
            ended: false,
            speed: 1.0,
            looping,
            every_frame: false,
            anchor: None,
        }
    }

    fn period(&self) -> f64 {
        1.0 / (self.fps * self.speed as f64)
    }

    /// What to do at `now`.
    pub fn due(&self, now: Instant) -> Due {
        if let Some(t) = self.target {
            return Due::Show(t);
        }
        if self.paused || self.ended {
            return Due::Idle;
        }
        let next = self.shown.map_or(0, |s| s + 1);
        if next >= self.frames {
            return Due::End;
        }
        match self.anchor {
            _ if self.every_frame => Due::Show(next),
            None => Due::Show(next),
            Some((t0, f0)) => {
                let at = t0 + Duration::from_secs_f64((next - f0.min(next)) as f64 * self.period());
                if at > now {
                    Due::Wait(at - now)
                } else {
                    Due::Show(next)
                }
            }
        }
    }

    /// Frame `n` was shown at `now`.
    pub fn shown(&mut self, n: u64, now: Instant) {
        let jumped = self.target.take().is_some() || self.shown.is_none_or(|s| s + 1 != n);
        let late = self.anchor.is_some_and(|(t0, f0)| {
            let at = t0 + Duration::from_secs_f64(n.saturating_sub(f0) as f64 * self.period());
            now.saturating_duration_since(at) > LATE
        });
        if jumped || late || self.anchor.is_none() {
            self.anchor = Some((now, n));
        }
        self.shown = Some(n);
        self.shown_at = Some(now);
    }

    /// The clip ended: back to the start when looping, else paused on the last frame. Says
    /// whether it loops.
    pub fn at_end(&mut self) -> bool {
        if self.looping {
            self.target = Some(0);
            true
        } else {
            self.ended = true;
            false
        }
    }

    /// The clip turned out to hold only `frames` frames (it was cut short).
    pub fn truncate(&mut self, frames: u64) {
        self.frames = frames.max(1);
        self.target = self.target.map(|t| t.min(self.frames - 1));
    }

    /// Pauses or plays; playing a clip that ended starts it over.
    pub fn pause(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            self.anchor = None;
            if self.ended {
                self.ended = false;
                self.target = Some(0);
            } else if let Some(s) = self.shown {
                // the next frame is due one period after now
                self.anchor = self.shown_at.map(|_| (Instant::now(), s));
            }
        }
    }

    /// A player command (stepping pauses).
    pub fn command(&mut self, c: PlayerCommand) {
        match c {
            PlayerCommand::Step(d) => {
                self.paused = true;
                let cur = self.target.or(self.shown).unwrap_or(0) as i64;
                self.target = Some(cur.saturating_add(d).clamp(0, self.frames as i64 - 1) as u64);
                self.ended = false;
            }
            PlayerCommand::Seek(n) => {
                self.target = Some(n.min(self.frames - 1));
                self.ended = false;
            }
            PlayerCommand::SeekTime(t) => {
                if let Ok(n) = FrameAt::Seconds(t).index(self.fps) {
                    self.command(PlayerCommand::Seek(n));
                }
            }
            PlayerCommand::Speed(s) => {
                self.speed = if s.is_finite() {
                    s.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
                } else {
                    1.0
                };
                self.anchor = match (self.shown_at, self.shown) {
                    (Some(t), Some(s)) => Some((t, s)),
                    _ => None,
                };
            }
            PlayerCommand::Loop(l) => self.looping = l,
            PlayerCommand::EveryFrame(e) => {
                self.every_frame = e;
                self.anchor = None;
            }
        }
    }

    /// Whether every frame goes to the network, none dropped.
    pub fn every_frame(&self) -> bool {
        self.every_frame
    }

    /// The frame shown last.
    pub fn position(&self) -> u64 {
        self.shown.unwrap_or(0)
    }

    /// Whether it is paused (by the user, or at the end).
    pub fn paused(&self) -> bool {
        self.paused || self.ended
    }

    /// Whether it stopped at the end of a clip that does not loop.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The playback speed.
    pub fn speed(&self) -> f32 {
        self.speed
    }

    /// Whether it loops.
    pub fn looping(&self) -> bool {
        self.looping
    }

    /// How many frames it plays.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

/// A clip being played.
pub struct Video {
    path: PathBuf,
    clip: Box<dyn Clip>,
    player: Player,
    notice: Option<String>,
    /// The early end was told already.
    told: bool,
}

/// The longest a video source sleeps in one call before it looks at its commands again.
const NAP: Duration = Duration::from_millis(30);

impl Video {
    /// Opens `path` (FFmpeg, or the image crate for GIF/APNG), at its start, playing.
    pub fn open(ffmpeg: &Ffmpeg, path: &Path, looping: bool) -> Result<Video, SourceError> {
        let clip = open_clip(ffmpeg, path)?;
        let info = clip.info().clone();
        let notice = clip.damage().map(|why| {
            format!(
                "{} is damaged after frame {} ({why}); playing the {} frames before it",
                path.display(),
                info.frames,
                info.frames
            )
        });
        Ok(Video {
            path: path.to_path_buf(),
            clip,
            player: Player::new(info.frames, info.fps, looping),
            told: notice.is_some(),
            notice,
        })
    }

    /// What the clip is.
    pub fn info(&self) -> &VideoInfo {
        self.clip.info()
    }

    /// The player.
    pub fn player(&self) -> &Player {
        &self.player
    }

    /// Whether a clip that does not loop has played to its end.
    pub fn finished(&self) -> bool {
        self.player.ended()
    }

    fn ended_early(&mut self, end: StreamEnd) {
        if !self.told {
            self.told = true;
            let info = self.clip.info();
            let promised = info
                .duration
                .map(|d| format!(" of the {} its header promises", clock(d)))
                .unwrap_or_default();
            self.notice = Some(format!(
                "{} ends early, at frame {} ({}){promised}{}; playing the {} frames it has",
                self.path.display(),
                end.at,
                clock(end.at as f64 / info.fps),
                end.error.map(|e| format!(": {e}")).unwrap_or_default(),
                end.at
            ));
        }
        self.player.truncate(end.at);
    }
}

impl FrameSource for Video {
    fn label(&self) -> String {
        self.path.display().to_string()
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        for _ in 0..4 {
            let now = Instant::now();
            match self.player.due(now) {
                Due::Show(n) => match self.clip.frame(n) {
                    Ok(img) => {
                        self.player.shown(n, Instant::now());
                        return Ok(Some(img));
                    }
                    Err(end) if end.at == 0 => {
                        return Err(SourceError::File(format!(
                            "{}: no frame could be decoded{}",
                            self.path.display(),
                            end.error.map(|e| format!(" ({e})")).unwrap_or_default()
                        )));
                    }
                    Err(end) => {
                        // fewer frames than counted, or FFmpeg complained (a cut-short file)
                        if end.at < self.player.frames() || end.error.is_some() {
                            self.ended_early(end);
                        }
                        if self.player.target.is_some() {
                            // a seek past the real end: the last frame there is
                            self.player.target = Some(self.player.frames() - 1);
                        } else {
                            self.player.at_end();
                        }
                    }
                },
                Due::Wait(d) if d <= NAP => std::thread::sleep(d),
                Due::Wait(_) => {
                    std::thread::sleep(NAP);
                    return Ok(None);
                }
                Due::Idle => return Ok(None),
                Due::End => {
                    // fewer frames than the header's length holds: a cut-short file
                    let info = self.clip.info();
                    let at = self.player.frames();
                    if info
                        .duration
                        .is_some_and(|d| (at as f64) < d * info.fps - 1.5)
                    {
                        self.ended_early(StreamEnd { at, error: None });
                    }
                    if !self.player.at_end() {
                        return Ok(None);
                    }
                }
            }
        }
        Ok(None)
    }

    fn is_live(&self) -> bool {
        !self.player.paused()
    }

    fn control(&mut self, c: PlayerCommand) {
        self.player.command(c);
    }

    fn pause(&mut self, paused: bool) {
        self.player.pause(paused);
    }

    fn every_frame(&self) -> bool {
        self.player.every_frame() && !self.player.paused()
    }

    fn playback(&self) -> Option<Playback> {
        let info = self.clip.info();
        Some(Playback {
            file: self.path.display().to_string(),
            codec: info.codec.clone(),
            width: info.width,
            height: info.height,
            fps: info.fps,
            frame: self.player.position(),
            frames: self.player.frames(),
            paused: self.player.paused(),
            speed: self.player.speed(),
            looping: self.player.looping(),
            every_frame: self.player.every_frame(),
        })
    }

    fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `d` is a wait of `n` ms (to the microsecond: times go through floats).
    fn waits(d: Due, n: u64) {
        match d {
            Due::Wait(w) => assert!(w.abs_diff(ms(n)) < Duration::from_micros(1), "{w:?}"),
            other => panic!("{other:?}, not a wait of {n} ms"),
        }
    }

    #[test]
    fn frames_come_at_the_clips_rate_and_the_end_loops() {
        let t0 = Instant::now();
        let mut p = Player::new(3, 10.0, true);
        assert_eq!(p.due(t0), Due::Show(0));
        p.shown(0, t0);
        waits(p.due(t0 + ms(40)), 60);
        assert_eq!(p.due(t0 + ms(100)), Due::Show(1));
        p.shown(1, t0 + ms(100));
        p.shown(2, t0 + ms(200));
        assert_eq!(p.due(t0 + ms(300)), Due::End);
        assert!(p.at_end());
        assert_eq!(p.due(t0 + ms(300)), Due::Show(0));
        p.shown(0, t0 + ms(300));
        waits(p.due(t0 + ms(350)), 50);
    }

    #[test]
    fn speed_scales_the_period_and_lateness_resets_the_clock() {
        let t0 = Instant::now();
        let mut p = Player::new(100, 10.0, false);
        p.shown(0, t0);
        p.command(PlayerCommand::Speed(4.0));
        waits(p.due(t0 + ms(20)), 5);
        p.command(PlayerCommand::Speed(f32::NAN));
        assert_eq!(p.speed(), 1.0);
        p.command(PlayerCommand::Speed(100.0));
        assert_eq!(p.speed(), SPEED_RANGE.1);
        p.command(PlayerCommand::Speed(1.0));
        // a frame shown a second late: the next is due a period after it, not at once
        p.shown(1, t0 + ms(1100));
        waits(p.due(t0 + ms(1150)), 50);
    }

    #[test]
    fn pause_step_and_seek() {
        let t0 = Instant::now();
        let mut p = Player::new(10, 10.0, true);
        p.shown(0, t0);
        p.pause(true);
        assert_eq!(p.due(t0 + ms(500)), Due::Idle);
        p.command(PlayerCommand::Step(1));
        assert_eq!(p.due(t0 + ms(500)), Due::Show(1));
        p.shown(1, t0 + ms(500));
        p.command(PlayerCommand::Step(-5));
        assert_eq!(p.due(t0 + ms(600)), Due::Show(0));
        p.shown(0, t0 + ms(600));
        assert!(p.paused());
        p.command(PlayerCommand::Step(i64::MAX));
        assert_eq!(p.due(t0 + ms(600)), Due::Show(9));
        p.command(PlayerCommand::Step(i64::MIN));
        assert_eq!(p.due(t0 + ms(600)), Due::Show(0));
        p.command(PlayerCommand::SeekTime(f64::INFINITY));
        assert_eq!(p.due(t0 + ms(600)), Due::Show(0), "no time: no seek");
        p.command(PlayerCommand::Seek(99));
        assert_eq!(p.due(t0 + ms(600)), Due::Show(9));
        p.shown(9, t0 + ms(600));
        assert_eq!(p.due(t0 + ms(5000)), Due::Idle);
        p.pause(false);
        assert_eq!(p.due(Instant::now()), Due::End);
    }

    #[test]
    fn a_clip_that_does_not_loop_stops_on_its_last_frame_and_plays_again_from_the_start() {
        let t0 = Instant::now();
        let mut p = Player::new(2, 10.0, false);
        p.shown(0, t0);
        p.shown(1, t0 + ms(100));
        assert_eq!(p.due(t0 + ms(200)), Due::End);
        assert!(!p.at_end());
        assert!(p.paused() && p.ended());
        assert_eq!(p.due(t0 + ms(900)), Due::Idle);
        assert_eq!(p.position(), 1);
        p.pause(false);
        assert_eq!(p.due(t0 + ms(900)), Due::Show(0));
    }

    #[test]
    fn every_frame_mode_shows_the_next_frame_at_once() {
        let t0 = Instant::now();
        let mut p = Player::new(10, 1.0, true);
        p.shown(0, t0);
        waits(p.due(t0), 1000);
        p.command(PlayerCommand::EveryFrame(true));
        assert_eq!(p.due(t0), Due::Show(1));
        p.command(PlayerCommand::EveryFrame(false));
        p.shown(1, t0);
        waits(p.due(t0), 1000);
    }

    #[test]
    fn times_become_frames() {
        assert_eq!(FrameAt::Seconds(2.3).index(10.0), Ok(23));
        assert_eq!(FrameAt::Seconds(0.0).index(10.0), Ok(0));
        assert_eq!(FrameAt::Seconds(1.65).index(10.0), Ok(16));
        assert_eq!(FrameAt::Index(7).index(10.0), Ok(7));
        assert!(FrameAt::Seconds(f64::NAN).index(10.0).is_err());
        assert!(FrameAt::Seconds(-1.0).index(10.0).is_err());
    }
}
