//! FFmpeg's two programs, run as child processes: `ffprobe` says what a clip is, `ffmpeg`
//! decodes it to raw RGB frames on a pipe, or encodes raw RGB frames from a pipe.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use image::RgbImage;

use crate::{ProbeError, SourceError};

/// The message for a machine without FFmpeg.
pub const MISSING: &str = "videos need FFmpeg's programs (ffmpeg, ffprobe), which are not \
     installed: install the Debian package `ffmpeg` (apt install ffmpeg; scripts/setup.sh does); \
     photos and cameras work without it";

/// Where the `ffmpeg` and `ffprobe` programs are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ffmpeg {
    /// The decoder/encoder.
    pub ffmpeg: PathBuf,
    /// The prober.
    pub ffprobe: PathBuf,
}

impl Default for Ffmpeg {
    fn default() -> Self {
        Self::from_env()
    }
}

impl Ffmpeg {
    /// `DEEPVIS_FFMPEG` (the `ffmpeg` program; `ffprobe` beside it) when set, else both from
    /// the `PATH`.
    pub fn from_env() -> Ffmpeg {
        match std::env::var_os("DEEPVIS_FFMPEG") {
            Some(p) => Self::at(Path::new(&p)),
            None => Ffmpeg {
                ffmpeg: "ffmpeg".into(),
                ffprobe: "ffprobe".into(),
            },
        }
    }

    /// The `ffmpeg` program at `path`, `ffprobe` in the same folder.
    pub fn at(path: &Path) -> Ffmpeg {
        let ffprobe = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.join("ffprobe"),
            _ => PathBuf::from("ffprobe"),
        };
        Ffmpeg {
            ffmpeg: path.to_path_buf(),
            ffprobe,
        }
    }

    /// Whether both programs run.
    pub fn available(&self) -> bool {
        let runs = |p: &Path| {
            Command::new(p)
                .arg("-version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        runs(&self.ffmpeg) && runs(&self.ffprobe)
    }

    fn spawn(
        &self,
        program: &Path,
        args: &[&std::ffi::OsStr],
        stdin: bool,
    ) -> Result<Child, SourceError> {
        Command::new(program)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    SourceError::File(MISSING.into())
                } else {
                    SourceError::File(format!("cannot run {}: {e}", program.display()))
                }
            })
    }

    /// What the first video stream of `path` is: codec, size, frame rate, frame count.
    pub fn probe(&self, path: &Path) -> Result<VideoInfo, SourceError> {
        // FFmpeg would wait on a named pipe and read a device forever: regular files only (a
        // missing file is left to ffprobe, which words it)
        if let Ok(meta) = std::fs::metadata(path)
            && let Some(kind) = deepvis_model::fsguard::irregular_kind(&meta)
        {
            return Err(SourceError::File(format!(
                "{} is {kind}, not a regular file; deepvis reads only regular files",
                path.display()
            )));
        }
        let args: Vec<&std::ffi::OsStr> = [
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_read_packets:format=duration",
            "-of",
            "json",
        ]
        .iter()
        .map(|s| std::ffi::OsStr::new(*s))
        .chain([path.as_os_str()])
        .collect();
        let out = self
            .spawn(&self.ffprobe, &args, false)?
            .wait_with_output()
            .map_err(|e| SourceError::File(format!("ffprobe on {}: {e}", path.display())))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let hint = if stderr.contains("moov atom not found") {
                " (an MP4 without its index, the moov box, which FFmpeg writes last: a file cut \
                 short before its end, whose frames cannot be found, or no MP4 at all)"
            } else {
                ""
            };
            return Err(SourceError::File(format!(
                "{} is no video FFmpeg can read: {}{hint}",
                path.display(),
                explain(&stderr)
            )));
        }
        VideoInfo::from_ffprobe_json(&out.stdout)
            .map_err(|why| SourceError::File(format!("{}: {why}", path.display())))
    }

    /// Decodes `path` from frame `start` on (`info` from [`Ffmpeg::probe`]).
    pub fn decode(
        &self,
        path: &Path,
        info: &VideoInfo,
        start: u64,
    ) -> Result<Decoder, SourceError> {
        // half a frame before the frame's time: FFmpeg's exact seek keeps the first frame at
        // or after it, which is frame `start` even where times are rounded
        let at = if start == 0 || info.fps <= 0.0 {
            0.0
        } else {
            (start as f64 - 0.5) / info.fps
        };
        let at = format!("{at:.6}");
        let args: Vec<&std::ffi::OsStr> = [
            "-v",
            "error",
            "-nostdin",
            "-noautorotate",
            "-ss",
            at.as_str(),
            "-i",
        ]
        .iter()
        .map(|s| std::ffi::OsStr::new(*s))
        .chain([path.as_os_str()])
        .chain(
            [
                "-map", "0:v:0", "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
            ]
            .iter()
            .map(|s| std::ffi::OsStr::new(*s)),
        )
        .collect();
        let mut child = self.spawn(&self.ffmpeg, &args, false)?;
        let stdout = child.stdout.take();
        let stderr = drain(child.stderr.take());
        Ok(Decoder {
            child,
            stdout,
            stderr,
            width: info.width,
            height: info.height,
            next: start,
        })
    }

    /// Starts encoding frames of `width x height` at `fps` into `path`, as `how` says.
    pub fn encode(
        &self,
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        how: Encoding,
    ) -> Result<Encoder, SourceError> {
        let size = format!("{width}x{height}");
        let rate = format!("{:.3}", fps.clamp(0.1, 1000.0));
        let mut args: Vec<String> = ["-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if how.wallclock {
            args.extend(["-use_wallclock_as_timestamps".into(), "1".into()]);
        }
        args.extend([
            "-s".into(),
            size,
            "-r".into(),
            rate,
            "-i".into(),
            "-".into(),
        ]);
        match how.codec {
            Codec::Lossless => args.extend(
                [
                    "-c:v", "ffv1", "-level", "3", "-pix_fmt", "bgr0", "-f", "matroska",
                ]
                .iter()
                .map(|s| s.to_string()),
            ),
            Codec::H264 => args.extend(
                [
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                    "-f", "mp4",
                ]
                .iter()
                .map(|s| s.to_string()),
            ),
        }
        if how.wallclock {
            args.extend(["-vsync".into(), "vfr".into()]);
        }
        let os: Vec<&std::ffi::OsStr> = args
            .iter()
            .map(std::ffi::OsStr::new)
            .chain([path.as_os_str()])
            .collect();
        let mut child = self.spawn(&self.ffmpeg, &os, true)?;
        let stdin = child.stdin.take();
        let stderr = drain(child.stderr.take());
        let _ = child.stdout.take();
        Ok(Encoder {
            child,
            stdin,
            stderr,
            width,
            height,
            frames: 0,
        })
    }
}

/// The last lines FFmpeg wrote, without its `[demuxer @ 0x...]` prefixes.
fn explain(stderr: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .map(|l| match (l.starts_with('['), l.find("] ")) {
            (true, Some(i)) => l[i + 2..].trim().to_string(),
            _ => l.trim().to_string(),
        })
        .filter(|l| !l.is_empty())
        .collect();
    let mut tail: Vec<String> = Vec::new();
    for l in lines.iter().rev() {
        if !tail.contains(l) {
            tail.push(l.clone());
        }
        if tail.len() == 2 {
            break;
        }
    }
    tail.reverse();
    if tail.is_empty() {
        "FFmpeg gave no reason".into()
    } else {
        tail.join("; ")
    }
}

type Drained = (Arc<Mutex<Vec<u8>>>, Option<JoinHandle<()>>);

/// Reads a child's stderr on a thread (so that a chatty child never blocks on a full pipe),
/// keeping its last 16 KiB.
fn drain(stderr: Option<std::process::ChildStderr>) -> Drained {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let handle = stderr.and_then(|mut s| {
        let b = buf.clone();
        std::thread::Builder::new()
            .name("deepvis-ffmpeg-log".into())
            .spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut v) = b.lock() {
                        v.extend_from_slice(&chunk[..n]);
                        let len = v.len();
                        if len > 16384 {
                            v.drain(..len - 16384);
                        }
                    }
                }
            })
            .ok()
    });
    (buf, handle)
}

fn drained_text(d: &mut Drained) -> String {
    if let Some(h) = d.1.take() {
        let _ = h.join();
    }
    d.0.lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

/// What a clip is.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// The codec's short name.
    pub codec: String,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Frames in the file.
    pub frames: u64,
    /// The length the container's header gives, in seconds (a cut-short file holds fewer
    /// frames than it promises).
    pub duration: Option<f64>,
}

/// The most pixels a frame may have (a 16K frame).
pub const MAX_FRAME_PIXELS: u64 = 15360 * 8640;

impl VideoInfo {
    /// Reads `ffprobe -of json`'s answer.
    pub fn from_ffprobe_json(bytes: &[u8]) -> Result<VideoInfo, ProbeError> {
        let v: serde_json::Value = serde_json::from_slice(bytes)?;
        let s = v
            .get("streams")
            .and_then(|s| s.get(0))
            .ok_or(ProbeError::NoStream)?;
        let num = |k: &str| -> Option<u64> {
            match s.get(k)? {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(t) => t.parse().ok(),
                _ => None,
            }
        };
        let rate = |k: &str| -> Option<f64> {
            let t = s.get(k)?.as_str()?;
            let (a, b) = t.split_once('/').unwrap_or((t, "1"));
            let (a, b): (f64, f64) = (a.parse().ok()?, b.parse().ok()?);
            (b > 0.0 && a > 0.0 && (a / b).is_finite()).then_some(a / b)
        };
        let width = num("width").ok_or(ProbeError::NoWidth)?;
        let height = num("height").ok_or(ProbeError::NoHeight)?;
        if width == 0 || height == 0 || width * height > MAX_FRAME_PIXELS {
            return Err(ProbeError::FrameSize { width, height });
        }
        let fps = rate("avg_frame_rate")
            .or_else(|| rate("r_frame_rate"))
            .ok_or(ProbeError::NoFrameRate)?;
        let frames = num("nb_read_packets").unwrap_or(0);
        if frames == 0 {
            return Err(ProbeError::NoFrames);
        }
        Ok(VideoInfo {
            codec: s
                .get("codec_name")
                .and_then(|c| c.as_str())
                .unwrap_or("unknown")
                .to_string(),
            width: width as u32,
            height: height as u32,
            fps,
            frames,
            duration: v
                .get("format")
                .and_then(|f| f.get("duration"))
                .and_then(|d| d.as_str())
                .and_then(|d| d.parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d > 0.0),
        })
    }
}

/// An `ffmpeg` process decoding a clip into RGB frames, in order.
pub struct Decoder {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Drained,
    width: u32,
    height: u32,
    next: u64,
}

/// How a decoder's stream ended.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEnd {
    /// The first frame it could not give.
    pub at: u64,
    /// FFmpeg's complaint, when it had one (a cut-short or damaged file).
    pub error: Option<String>,
}

impl Decoder {
    /// The index of the frame [`Decoder::next_frame`] gives next.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next frame, or how the stream ended.
    pub fn next_frame(&mut self) -> Result<RgbImage, StreamEnd> {
        let len = self.width as usize * self.height as usize * 3;
        let mut buf = vec![0u8; len];
        let read = match self.stdout.as_mut() {
            Some(out) => read_full(out, &mut buf),
            None => 0,
        };
        if read == len
            && let Some(img) = RgbImage::from_raw(self.width, self.height, buf)
        {
            self.next += 1;
            return Ok(img);
        }
        self.stdout = None;
        let status = self.child.wait();
        let text = drained_text(&mut self.stderr);
        let failed = !status.is_ok_and(|s| s.success()) || !text.trim().is_empty();
        Err(StreamEnd {
            at: self.next,
            error: failed.then(|| explain(&text)),
        })
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    got
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.stdout = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(h) = self.stderr.1.take() {
            let _ = h.join();
        }
    }
}

/// Which codec an [`Encoder`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// FFV1 in Matroska: lossless, so that decoding gives back the very frames.
    Lossless,
    /// H.264 (yuv420p) in MP4: small, plays everywhere; both sides must be even.
    H264,
}

/// How an [`Encoder`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// The codec.
    pub codec: Codec,
    /// Time each frame by when it arrives (frames come at an uneven rate) rather than by the
    /// nominal rate.
    pub wallclock: bool,
}

/// An `ffmpeg` process encoding RGB frames into a file.
pub struct Encoder {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Drained,
    width: u32,
    height: u32,
    frames: u64,
}

impl Encoder {
    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The frame size it takes.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Writes one frame (of the encoder's size).
    pub fn write(&mut self, img: &RgbImage) -> Result<(), SourceError> {
        if img.dimensions() != (self.width, self.height) {
            return Err(SourceError::File(format!(
                "a frame of {}x{} in a recording of {}x{}",
                img.width(),
                img.height(),
                self.width,
                self.height
            )));
        }
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(SourceError::File("the recording is closed".into()));
        };
        if let Err(e) = stdin.write_all(img.as_raw()) {
            self.stdin = None;
            let _ = self.child.wait();
            let text = drained_text(&mut self.stderr);
            return Err(SourceError::File(format!(
                "the encoder stopped ({e}): {}",
                explain(&text)
            )));
        }
        self.frames += 1;
        Ok(())
    }

    /// Closes the stream and waits for the file to be complete.
    pub fn finish(mut self) -> Result<u64, SourceError> {
        self.stdin = None;
        let status = self.child.wait();
        let text = drained_text(&mut self.stderr);
        match status {
            Ok(s) if s.success() => Ok(self.frames),
            Ok(_) | Err(_) => Err(SourceError::File(format!(
                "the encoder failed: {}",
                explain(&text)
            ))),
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        if self.stdin.take().is_some() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(h) = self.stderr.1.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffprobe_answers_are_read_and_bad_ones_refused() {
        let ok = br#"{"streams":[{"codec_name":"vp9","width":320,"height":240,
            "r_frame_rate":"10/1","avg_frame_rate":"10/1","nb_read_packets":"48"}],
            "format":{"duration":"4.8"}}"#;
        let i = VideoInfo::from_ffprobe_json(ok).unwrap();
        assert_eq!(
            i,
            VideoInfo {
                codec: "vp9".into(),
                width: 320,
                height: 240,
                fps: 10.0,
                frames: 48,
                duration: Some(4.8)
            }
        );
        let ntsc = br#"{"streams":[{"width":2,"height":2,"avg_frame_rate":"30000/1001",
            "nb_read_packets":"3"}]}"#;
        assert!((VideoInfo::from_ffprobe_json(ntsc).unwrap().fps - 29.97).abs() < 0.01);
        for bad in [
            &b"{}"[..],
            br#"{"streams":[]}"#,
            br#"{"streams":[{"width":0,"height":240,"avg_frame_rate":"10/1","nb_read_packets":"4"}]}"#,
            br#"{"streams":[{"width":9,"height":9,"avg_frame_rate":"0/0","nb_read_packets":"4"}]}"#,
            br#"{"streams":[{"width":9,"height":9,"avg_frame_rate":"10/1","nb_read_packets":"0"}]}"#,
            br#"{"streams":[{"width":99999,"height":99999,"avg_frame_rate":"1/1","nb_read_packets":"1"}]}"#,
            b"not json",
        ] {
            assert!(VideoInfo::from_ffprobe_json(bad).is_err());
        }
    }

    #[test]
    fn ffmpeg_complaints_lose_their_prefixes() {
        let e = "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] moov atom not found\nx.mp4: Invalid data found when processing input\n";
        assert_eq!(
            explain(e),
            "moov atom not found; x.mp4: Invalid data found when processing input"
        );
        assert_eq!(explain(""), "FFmpeg gave no reason");
    }

    #[test]
    fn a_missing_ffmpeg_names_the_package() {
        let f = Ffmpeg::at(Path::new("/no/such/dir/ffmpeg"));
        assert!(!f.available());
        let e = f.probe(Path::new("clip.mp4")).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("`ffmpeg`")));
    }
}
