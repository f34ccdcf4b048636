//! A concept as a JSON file: the CAV and what it belongs to (model, layer, channel count),
//! written whole or not at all, read with its size bounded and its contents checked.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::{Cav, Error, Fit, Result, first_non_finite};

/// The largest concept file read (a concept of 100,000 channels is about 1.2 MB).
pub const MAX_CONCEPT_FILE_BYTES: u64 = 16 << 20;

/// The version of the concept file this build writes and reads.
pub const CONCEPT_FILE_VERSION: u32 = 1;

/// A concept as saved: a CAV and the model and layer it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConceptFile {
    /// The file's version, [`CONCEPT_FILE_VERSION`].
    pub version: u32,
    /// The model's name.
    pub model: String,
    /// The sha256 of the model's weights file, when known.
    pub model_sha256: Option<String>,
    /// The layer whose channels the direction lives in.
    pub layer: String,
    /// The layer's channel count: the direction's length.
    pub channels: usize,
    /// How the direction was fitted.
    pub fit: Fit,
    /// The unit direction, one value per channel.
    pub direction: Vec<f32>,
    /// The bias added to the projection (0 for the mean fit).
    pub bias: f32,
    /// How many positive examples (frames) it was fitted on.
    pub positives: usize,
    /// How many negative examples it was fitted on.
    pub negatives: usize,
    /// The share of the training examples on their own side.
    pub train_accuracy: f32,
    /// The concept's name, as the user gave it.
    pub name: String,
    /// The activation vectors it was fitted on (TCAV fits it again on resamples of them);
    /// empty in a file that does not keep them.
    #[serde(default)]
    pub examples: Examples,
}

/// The activation vectors a concept was fitted on, one `channels`-vector each.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Examples {
    /// The concept's.
    pub positive: Vec<Vec<f32>>,
    /// The others'.
    pub negative: Vec<Vec<f32>>,
}

impl ConceptFile {
    /// The file of `cav`, named `name`, fitted on `layer` of `model`.
    pub fn new(
        cav: &Cav,
        name: &str,
        model: &str,
        model_sha256: Option<String>,
        layer: &str,
    ) -> ConceptFile {
        ConceptFile {
            version: CONCEPT_FILE_VERSION,
            model: model.to_string(),
            model_sha256,
            layer: layer.to_string(),
            channels: cav.direction.len(),
            fit: cav.fit,
            direction: cav.direction.clone(),
            bias: cav.bias,
            positives: cav.positives,
            negatives: cav.negatives,
            train_accuracy: cav.train_accuracy,
            name: name.to_string(),
            examples: Examples::default(),
        }
    }

    /// The same, keeping the activation vectors it was fitted on.
    pub fn with_examples(mut self, examples: Examples) -> ConceptFile {
        self.examples = examples;
        self
    }

    /// The CAV it holds.
    pub fn cav(&self) -> Cav {
        Cav {
            direction: self.direction.clone(),
            bias: self.bias,
            fit: self.fit,
            positives: self.positives,
            negatives: self.negatives,
            train_accuracy: self.train_accuracy,
        }
    }

    /// What is wrong with it as a concept, if anything.
    fn problem(&self) -> Option<String> {
        if self.version != CONCEPT_FILE_VERSION {
            return Some(format!(
                "its version is {}, not {CONCEPT_FILE_VERSION}",
                self.version
            ));
        }
        if self.channels == 0 {
            return Some("it has 0 channels".into());
        }
        if self.direction.len() != self.channels {
            return Some(format!(
                "its direction has {} values but it says channels = {}",
                self.direction.len(),
                self.channels
            ));
        }
        if let Some(i) = first_non_finite(&self.direction) {
            return Some(format!("its direction's value {i} is not finite"));
        }
        if self.direction.iter().all(|&x| x == 0.0) {
            return Some("its direction is all 0".into());
        }
        if !self.bias.is_finite() {
            return Some("its bias is not finite".into());
        }
        let kept = self.examples.positive.iter().chain(&self.examples.negative);
        for (i, v) in kept.enumerate() {
            if v.len() != self.channels {
                return Some(format!(
                    "its example {i} has {} values, not {}",
                    v.len(),
                    self.channels
                ));
            }
            if first_non_finite(v).is_some() {
                return Some(format!("its example {i} has a value that is not finite"));
            }
        }
        if !(0.0..=1.0).contains(&self.train_accuracy) {
            return Some(format!(
                "its train_accuracy {} is not between 0 and 1",
                self.train_accuracy
            ));
        }
        None
    }

    /// Writes it as JSON to `path` through a temporary file in the same folder and a rename:
    /// the file is whole or as it was. Errors: a concept that is not valid (checked as
    /// [`ConceptFile::load`] checks it), the folder missing or unwritable.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(reason) = self.problem() {
            return Err(Error::Unsavable {
                path: path.to_path_buf(),
                reason,
            });
        }
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Unsavable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        write_atomic(path, &json).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a concept file: a regular file of at most [`MAX_CONCEPT_FILE_BYTES`] (checked
    /// before reading), valid JSON of version [`CONCEPT_FILE_VERSION`], its direction
    /// `channels` finite values, not all 0.
    pub fn load(path: &Path) -> Result<ConceptFile> {
        let bytes = read_bounded(path, MAX_CONCEPT_FILE_BYTES).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format = |reason: String| Error::Format {
            path: path.to_path_buf(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))?;
        let version = value
            .get("version")
            .ok_or_else(|| format("it has no version".into()))?;
        let version = version
            .as_u64()
            .ok_or_else(|| format(format!("its version {version} is not a whole number")))?;
        if version != u64::from(CONCEPT_FILE_VERSION) {
            return Err(Error::Version {
                path: path.to_path_buf(),
                found: version,
                expected: CONCEPT_FILE_VERSION,
            });
        }
        let file: ConceptFile = serde_json::from_value(value).map_err(|e| format(e.to_string()))?;
        match file.problem() {
            Some(reason) => Err(format(reason)),
            None => Ok(file),
        }
    }

    /// Whether it may be used on `layer` of `model`, with `channels` channels: an error naming
    /// both sides when the model, the layer or the channel count differs.
    pub fn check(&self, model: &str, layer: &str, channels: usize) -> Result<()> {
        let mismatch = |what, concept: String, here: String| Error::Mismatch {
            name: self.name.clone(),
            what,
            concept,
            here,
        };
        if self.model != model {
            return Err(mismatch("model", self.model.clone(), model.to_string()));
        }
        if self.layer != layer {
            return Err(mismatch("layer", self.layer.clone(), layer.to_string()));
        }
        if self.channels != channels {
            return Err(mismatch(
                "channel count",
                self.channels.to_string(),
                channels.to_string(),
            ));
        }
        Ok(())
    }
}

/// `O_NONBLOCK`: opening a FIFO for reading does not wait for a writer (Linux's value on every
/// architecture deepvis builds for).
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;
/// `O_NONBLOCK` on the BSDs and macOS.
#[cfg(all(unix, not(target_os = "linux")))]
const O_NONBLOCK: i32 = 0x0004;

/// Refuses what is not a regular file of at most `limit` bytes.
fn check_meta(meta: &fs::Metadata, limit: u64) -> io::Result<()> {
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a folder, not a regular file",
        ));
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a pipe, a device or a socket); deepvis reads only regular files",
        ));
    }
    if meta.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it has {} bytes, more than the limit of {limit} bytes",
                meta.len()
            ),
        ));
    }
    Ok(())
}

/// Reads `path` when it is a regular file of at most `limit` bytes, checked before opening and
/// again on the opened file (opened without blocking, so a pipe swapped in is refused, not
/// waited on); the read stops past the limit.
fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    check_meta(&fs::metadata(path)?, limit)?;
    let mut opts = fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(O_NONBLOCK);
    }
    let file = opts.open(path)?;
    check_meta(&file.metadata()?, limit)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it grew past the limit of {limit} bytes while being read"),
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` to a new temporary file beside `path`, flushes it to the disk and renames it
/// over `path`; on any failure the temporary file is removed and `path` is as it was.
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp: PathBuf = dir.join(tmp_name);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // the temporary file may not exist (it could not be made): nothing else to undo
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests;
