//! A video source's playback as the window shows it, and the player's commands.

use serde::{Deserialize, Serialize};

/// The slowest and fastest playback speeds.
pub const SPEED_RANGE: (f32, f32) = (0.25, 4.0);

/// Where a playing clip stands (sent with every frame it shows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Playback {
    /// The file.
    pub file: String,
    /// The codec's short name (`h264`, `vp9`, `gif`).
    pub codec: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second of the clip.
    pub fps: f64,
    /// The frame shown (0 = the first).
    pub frame: u64,
    /// How many frames the clip has (the frames it really has, once a cut-short clip ended).
    pub frames: u64,
    /// Paused (the `f` freeze, or the end of a clip that does not loop).
    pub paused: bool,
    /// Playback speed, 1 = the clip's own frame rate.
    pub speed: f32,
    /// Whether the end goes back to the start.
    pub looping: bool,
    /// Every frame goes to the network, each as soon as it took the last (no frame dropped,
    /// whatever the clip's rate), instead of playing at the clip's rate.
    pub every_frame: bool,
}

impl Playback {
    /// The shown frame's time in seconds.
    pub fn seconds(&self) -> f64 {
        if self.fps > 0.0 {
            self.frame as f64 / self.fps
        } else {
            0.0
        }
    }

    /// The clip's length in seconds.
    pub fn duration(&self) -> f64 {
        if self.fps > 0.0 {
            self.frames as f64 / self.fps
        } else {
            0.0
        }
    }
}

/// What the player controls ask of a video source (pausing is [`crate::Command::Freeze`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PlayerCommand {
    /// Show the frame this many frames ahead (negative: back), pausing there.
    Step(i64),
    /// Go to this frame (clamped to the clip) and go on from there.
    Seek(u64),
    /// Go to the frame shown at this time (seconds).
    SeekTime(f64),
    /// Play at this speed (clamped to [`SPEED_RANGE`]; not a number means 1).
    Speed(f32),
    /// Go back to the start at the end (true) or stop there (false).
    Loop(bool),
    /// Hand the network every frame, each as soon as it took the last (true), or play at the
    /// clip's rate, the network taking the newest frame (false).
    EveryFrame(bool),
}

/// What a recording records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordTarget {
    /// What the window shows: the input, the grid, the unit's map and its preferred image,
    /// side by side, one frame per grid frame (H.264 MP4; a PNG sequence without FFmpeg).
    Window,
    /// The source's own frames at their own size, losslessly (FFV1 in Matroska), so that
    /// `--source FILE` replays the very frames.
    Source,
}

/// Where a recording stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordingStatus {
    /// What it writes: the video file, or the folder of a PNG sequence.
    pub path: std::path::PathBuf,
    /// Frames written.
    pub frames: u64,
    /// Frames dropped because the encoder was busy.
    pub dropped: u64,
    /// Bytes written so far.
    pub bytes: u64,
    /// A PNG sequence (no FFmpeg).
    pub png_sequence: bool,
    /// Closed: finished or failed.
    pub done: bool,
    /// What went wrong.
    pub error: Option<String>,
}

/// Splits `clip.mp4@1.5` into the file and the time, when the whole is not itself a file and
/// the part before the last `@` is (how a frame of a video is named on the command line and
/// in a top-k index).
pub fn split_at_time(spec: &std::path::Path) -> Option<(std::path::PathBuf, f64)> {
    if spec.exists() {
        return None;
    }
    let s = spec.to_str()?;
    let (file, t) = s.rsplit_once('@')?;
    let t: f64 = t.parse().ok()?;
    let file = std::path::PathBuf::from(file);
    (file.is_file() && t.is_finite() && t >= 0.0).then_some((file, t))
}

/// The name of frame `n` of a clip at `fps`: `clip.mp4@SECONDS`, the time rounded up to the
/// millisecond so that it reads back as the same frame.
pub fn frame_name(file: &str, n: u64, fps: f64) -> String {
    let ms = (n as f64 * 1000.0 / fps).ceil();
    format!("{file}@{}", ms / 1000.0)
}

/// `m:ss.s` for a time in seconds.
pub fn clock(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    let m = (s / 60.0).floor();
    format!("{}:{:04.1}", m as u64, s - m * 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_minutes_and_seconds() {
        assert_eq!(clock(0.0), "0:00.0");
        assert_eq!(clock(4.8), "0:04.8");
        assert_eq!(clock(61.25), "1:01.2");
        assert_eq!(clock(f64::NAN), "0:00.0");
    }

    #[test]
    fn frame_names_read_back_as_their_frame() {
        assert_eq!(frame_name("a.mp4", 16, 10.0), "a.mp4@1.6");
        assert_eq!(frame_name("a.mp4", 0, 10.0), "a.mp4@0");
        for fps in [10.0, 25.0, 29.97, 59.94, 5.0] {
            for n in 0..2000u64 {
                let name = frame_name("x", n, fps);
                let t: f64 = name["x@".len()..].parse().unwrap();
                assert_eq!((t * fps + 1e-6).floor() as u64, n, "{name} at {fps}");
            }
        }
    }
}
