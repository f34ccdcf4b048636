//! Recording frames to a video file on a thread of its own (the caller never waits: a frame
//! that comes while the encoder is still busy is dropped and counted), or to a numbered PNG
//! sequence where FFmpeg is missing. The file appears under its name only once complete.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use image::RgbImage;

use crate::RecordError;
use crate::ffmpeg::{Codec, Encoder, Encoding, Ffmpeg};

pub use deepvis_protocol::RecordingStatus as RecordStatus;

/// A recording in progress.
pub struct Recorder {
    tx: Option<Sender<RgbImage>>,
    status: Arc<Mutex<RecordStatus>>,
    handle: Option<JoinHandle<()>>,
}

/// How many frames may wait for the encoder.
const QUEUE: usize = 8;

fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    path.with_file_name(format!(".{name}.{}.recording.tmp", std::process::id()))
}

enum Sink {
    Video { encoder: Encoder, tmp: PathBuf },
    Pngs { dir: PathBuf, size: (u32, u32) },
}

/// Changes the status shared with the caller.
fn update(status: &Mutex<RecordStatus>, f: impl FnOnce(&mut RecordStatus)) {
    if let Ok(mut s) = status.lock() {
        f(&mut s)
    }
}

/// A frame as `codec` takes it: H.264 in yuv420p wants even sides (the odd row and column
/// are cropped; `None` when nothing is left).
fn fit(codec: Codec, img: RgbImage) -> Option<RgbImage> {
    match codec {
        Codec::H264 if img.width() % 2 == 1 || img.height() % 2 == 1 => {
            let (w, h) = (img.width() & !1, img.height() & !1);
            if w == 0 || h == 0 {
                return None;
            }
            Some(image::imageops::crop_imm(&img, 0, 0, w, h).to_image())
        }
        _ => Some(img),
    }
}

/// The recorder's thread: where the frames go, the first failure, and how many were written.
struct Writer {
    ffmpeg: Ffmpeg,
    path: PathBuf,
    codec: Codec,
    status: Arc<Mutex<RecordStatus>>,
    sink: Option<Sink>,
    failed: Option<RecordError>,
    written: u64,
}

impl Writer {
    /// Writes the frames as they come (none after a failure) until the channel closes, then
    /// finishes the file.
    fn run(mut self, rx: Receiver<RgbImage>) {
        for img in rx.iter() {
            if self.failed.is_some() {
                continue;
            }
            let Some(img) = fit(self.codec, img) else {
                continue;
            };
            if self.sink.is_none() {
                match self.open(&img) {
                    Ok(sink) => self.sink = Some(sink),
                    Err(e) => {
                        self.failed = Some(e);
                        continue;
                    }
                }
            }
            match self.write(&img) {
                Ok(b) => {
                    self.written += 1;
                    let written = self.written;
                    update(&self.status, |s| {
                        s.frames = written;
                        s.bytes = if s.png_sequence { s.bytes + b } else { b };
                    })
                }
                Err(e) => self.failed = Some(e),
            }
        }
        self.finish();
    }

    /// Where the frames go, sized by the first one: FFmpeg encoding into a temporary file,
    /// or a PNG sequence where FFmpeg is missing.
    fn open(&self, img: &RgbImage) -> Result<Sink, RecordError> {
        let tmp = temporary(&self.path);
        let encoding = Encoding {
            codec: self.codec,
            wallclock: true,
        };
        match self
            .ffmpeg
            .encode(&tmp, img.width(), img.height(), 30.0, encoding)
        {
            Ok(encoder) => Ok(Sink::Video { encoder, tmp }),
            Err(_) if !self.ffmpeg.available() => {
                let dir = png_folder(&self.path);
                update(&self.status, |s| {
                    s.png_sequence = true;
                    s.path = dir.clone();
                });
                if let Err(source) = std::fs::create_dir_all(&dir) {
                    return Err(RecordError::Folder { dir, source });
                }
                Ok(Sink::Pngs {
                    dir,
                    size: img.dimensions(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes one frame; returns the file's size (a video) or the frame's (a PNG).
    fn write(&mut self, img: &RgbImage) -> Result<u64, RecordError> {
        match self.sink.as_mut() {
            Some(Sink::Video { encoder, tmp }) => {
                encoder.write(img)?;
                Ok(std::fs::metadata(&*tmp).map_or(0, |m| m.len()))
            }
            Some(Sink::Pngs { dir, size }) => {
                let n = self.written + 1;
                if img.dimensions() != *size {
                    return Err(RecordError::FrameSize {
                        got: img.dimensions(),
                        size: *size,
                    });
                }
                let file = dir.join(format!("{n:06}.png"));
                let mut bytes = std::io::Cursor::new(Vec::new());
                img.write_to(&mut bytes, image::ImageFormat::Png)?;
                deepvis_topk::write_atomic(&file, bytes.get_ref())?;
                Ok(bytes.get_ref().len() as u64)
            }
            None => Err(RecordError::NoSink),
        }
    }

    /// The channel closed: closes the video and gives it its name (or removes it after a
    /// failure), and says how it went.
    fn finish(self) {
        let Writer {
            path,
            status,
            sink,
            failed,
            ..
        } = self;
        let end = match sink {
            Some(Sink::Video { encoder, tmp }) => {
                let r = encoder.finish().map_err(RecordError::from).and_then(|_| {
                    std::fs::rename(&tmp, &path).map_err(|source| RecordError::Rename {
                        path: path.clone(),
                        source,
                    })
                });
                if r.is_err() || failed.is_some() {
                    let _ = std::fs::remove_file(&tmp);
                }
                let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                update(&status, |s| s.bytes = bytes);
                r.err()
            }
            _ => None,
        };
        let error = failed.or(end).map(|e| e.to_string());
        update(&status, |s| {
            s.done = true;
            s.error = error;
        });
    }
}

impl Recorder {
    /// Starts recording into `path` (`.mkv` lossless FFV1 for [`Codec::Lossless`], `.mp4`
    /// H.264 else). The frame size is the first frame's; frames are timed as they come. Where
    /// FFmpeg is missing, the frames go to `<path without extension>_frames/000001.png, ...`.
    pub fn start(ffmpeg: &Ffmpeg, path: &Path, codec: Codec) -> Recorder {
        let (tx, rx) = crossbeam_channel::bounded::<RgbImage>(QUEUE);
        let status = Arc::new(Mutex::new(RecordStatus {
            path: path.to_path_buf(),
            ..RecordStatus::default()
        }));
        let writer = Writer {
            ffmpeg: ffmpeg.clone(),
            path: path.to_path_buf(),
            codec,
            status: status.clone(),
            sink: None,
            failed: None,
            written: 0,
        };
        let handle = std::thread::Builder::new()
            .name("deepvis-recorder".into())
            .spawn(move || writer.run(rx))
            .ok();
        if handle.is_none()
            && let Ok(mut s) = status.lock()
        {
            s.done = true;
            s.error = Some("the recorder's thread could not start".into());
        }
        Recorder {
            tx: Some(tx),
            status,
            handle,
        }
    }

    /// Hands a frame to the encoder; false when it was dropped (encoder busy or closed).
    pub fn push(&self, img: RgbImage) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            return false;
        };
        match tx.try_send(img) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                if let Ok(mut s) = self.status.lock() {
                    s.dropped += 1;
                }
                false
            }
        }
    }

    /// Where it stands now.
    pub fn status(&self) -> RecordStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops: writes the frames still waiting, closes the file and says how it went.
    pub fn finish(mut self) -> RecordStatus {
        self.close();
        self.status()
    }

    fn close(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The folder of a PNG sequence that stands in for `path`.
pub fn png_folder(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    path.with_file_name(format!("{stem}_frames"))
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}
