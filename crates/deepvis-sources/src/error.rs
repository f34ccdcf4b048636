//! Errors of the frame sources.

use std::path::PathBuf;

/// What can go wrong with a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No camera, or it could not be opened or read.
    #[error("camera: {0}")]
    Camera(String),
    /// A file or folder problem.
    #[error("{0}")]
    File(String),
    /// A time that is no place in a clip.
    #[error(transparent)]
    Time(#[from] BadTime),
    /// A device of a kind the device table does not list.
    #[error("no kind of device is called `{kind}` (known kinds: {known})")]
    UnknownDevice {
        /// The kind asked for.
        kind: String,
        /// The table's kinds, comma-separated.
        known: String,
    },
}

/// A time that is no place in a clip (negative, infinite or not a number), in seconds.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("{0} is no time in a clip")]
pub struct BadTime(pub f64);

/// Why `ffprobe`'s answer describes no video deepvis can play.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The answer is no JSON.
    #[error("ffprobe's answer: {0}")]
    Json(#[from] serde_json::Error),
    /// It lists no video stream.
    #[error("the file holds no video stream")]
    NoStream,
    /// The stream has no width.
    #[error("the video stream has no width")]
    NoWidth,
    /// The stream has no height.
    #[error("the video stream has no height")]
    NoHeight,
    /// Frames of no pixels, or of more than [`crate::ffmpeg::MAX_FRAME_PIXELS`].
    #[error("a frame of {width}x{height} pixels")]
    FrameSize {
        /// Width.
        width: u64,
        /// Height.
        height: u64,
    },
    /// The stream has no frame rate.
    #[error("the video stream has no frame rate")]
    NoFrameRate,
    /// The stream has no frames.
    #[error("the video stream has no frames")]
    NoFrames,
}

/// Why a recording stopped writing.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// FFmpeg could not start, take a frame or close the file.
    #[error(transparent)]
    Encoder(#[from] SourceError),
    /// The folder of a PNG sequence could not be made.
    #[error("{}: {source}", dir.display())]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A frame whose size differs from the first one's (a PNG sequence keeps one size).
    #[error("a frame of {}x{} in a recording of {}x{}", got.0, got.1, size.0, size.1)]
    FrameSize {
        /// The frame's `(width, height)`.
        got: (u32, u32),
        /// The recording's.
        size: (u32, u32),
    },
    /// A frame could not be encoded as a PNG.
    #[error(transparent)]
    Png(#[from] image::ImageError),
    /// A PNG could not be written.
    #[error(transparent)]
    Write(#[from] deepvis_topk::Error),
    /// A frame came with nowhere to go.
    #[error("no sink")]
    NoSink,
    /// The finished file could not take its name.
    #[error("cannot name the recording {}: {source}", path.display())]
    Rename {
        /// The name.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
