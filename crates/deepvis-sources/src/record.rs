//! Recording frames to a video file on a thread of its own (the caller never waits: a frame
//! that comes while the encoder is still busy is dropped and counted), or to a numbered PNG
//! sequence where FFmpeg is missing. The file appears under its name only once complete.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use image::RgbImage;

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
        let st = status.clone();
        let ffmpeg = ffmpeg.clone();
        let path = path.to_path_buf();
        let set = move |f: &dyn Fn(&mut RecordStatus)| {
            if let Ok(mut s) = st.lock() {
                f(&mut s)
            }
        };
        let handle = std::thread::Builder::new()
            .name("deepvis-recorder".into())
            .spawn(move || {
                let mut sink: Option<Sink> = None;
                let mut failed: Option<String> = None;
                let mut written = 0u64;
                for img in rx.iter() {
                    if failed.is_some() {
                        continue;
                    }
                    let img = match codec {
                        // H.264 in yuv420p wants even sides
                        Codec::H264 if img.width() % 2 == 1 || img.height() % 2 == 1 => {
                            let (w, h) = (img.width() & !1, img.height() & !1);
                            if w == 0 || h == 0 {
                                continue;
                            }
                            image::imageops::crop_imm(&img, 0, 0, w, h).to_image()
                        }
                        _ => img,
                    };
                    if sink.is_none() {
                        let tmp = temporary(&path);
                        sink = Some(
                            match ffmpeg.encode(
                                &tmp,
                                img.width(),
                                img.height(),
                                30.0,
                                Encoding {
                                    codec,
                                    wallclock: true,
                                },
                            ) {
                                Ok(encoder) => Sink::Video { encoder, tmp },
                                Err(_) if !ffmpeg.available() => {
                                    let dir = png_folder(&path);
                                    set(&|s| {
                                        s.png_sequence = true;
                                        s.path = dir.clone();
                                    });
                                    if let Err(e) = std::fs::create_dir_all(&dir) {
                                        failed = Some(format!("{}: {e}", dir.display()));
                                        continue;
                                    }
                                    Sink::Pngs {
                                        dir,
                                        size: img.dimensions(),
                                    }
                                }
                                Err(e) => {
                                    failed = Some(e.to_string());
                                    continue;
                                }
                            },
                        );
                    }
                    let result = match sink.as_mut() {
                        Some(Sink::Video { encoder, tmp }) => encoder
                            .write(&img)
                            .map(|_| std::fs::metadata(&*tmp).map_or(0, |m| m.len()))
                            .map_err(|e| e.to_string()),
                        Some(Sink::Pngs { dir, size }) => {
                            let n = written + 1;
                            if img.dimensions() != *size {
                                Err(format!(
                                    "a frame of {}x{} in a recording of {}x{}",
                                    img.width(),
                                    img.height(),
                                    size.0,
                                    size.1
                                ))
                            } else {
                                let file = dir.join(format!("{n:06}.png"));
                                let mut bytes = std::io::Cursor::new(Vec::new());
                                img.write_to(&mut bytes, image::ImageFormat::Png)
                                    .map_err(|e| e.to_string())
                                    .and_then(|_| {
                                        deepvis_topk::write_atomic(&file, bytes.get_ref())
                                            .map_err(|e| e.to_string())
                                    })
                                    .map(|_| bytes.get_ref().len() as u64)
                            }
                        }
                        None => Err("no sink".into()),
                    };
                    match result {
                        Ok(b) => {
                            written += 1;
                            set(&|s| {
                                s.frames = written;
                                s.bytes = if s.png_sequence { s.bytes + b } else { b };
                            })
                        }
                        Err(e) => failed = Some(e),
                    }
                }
                // the channel closed: finish the file
                let end = match sink {
                    Some(Sink::Video { encoder, tmp }) => {
                        let r = encoder.finish().map_err(|e| e.to_string()).and_then(|_| {
                            std::fs::rename(&tmp, &path).map_err(|e| {
                                format!("cannot name the recording {}: {e}", path.display())
                            })
                        });
                        if r.is_err() || failed.is_some() {
                            let _ = std::fs::remove_file(&tmp);
                        }
                        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
                        set(&|s| s.bytes = bytes);
                        r.err()
                    }
                    _ => None,
                };
                let error = failed.or(end);
                set(&|s| {
                    s.done = true;
                    s.error = error.clone();
                });
            })
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
