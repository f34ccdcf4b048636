//! The images that excite each unit most: a per-channel top-k accumulator, the resumable state
//! of a folder scan and the index it leaves behind (read by the app), and the atomic write
//! every file deepvis makes goes through. No model, no window.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

mod fsname;
mod stats;

pub use fsname::{MAX_NAME_BYTES, contained, is_plain_relative, safe_file_name};
pub use stats::{BINS, ChannelStats, bin_edges, bin_of};

/// What can go wrong reading or writing scan files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written (it is left as it was).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path} is not a deepvis top-k file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Scans that do not make one whole when merged.
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A part of a folder written otherwise than `I/N` with 0 <= I < N (see [`Shard::parse`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// No `/`.
    #[error("--shard {0}: write it I/N, e.g. 0/4")]
    Form(String),
    /// `I` or `N` is no number.
    #[error("--shard {text}: {source}")]
    Number {
        /// The text.
        text: String,
        /// Why it is no number.
        source: std::num::ParseIntError,
    },
    /// `I` is not below `N`.
    #[error("--shard {0}: need 0 <= I < N")]
    Range(String),
}

/// One image's response in one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The image, relative to the scanned folder.
    pub file: String,
    /// The channel's maximum over its map on this image.
    pub score: f32,
    /// Row of the maximum in the map.
    pub y: usize,
    /// Column of the maximum in the map.
    pub x: usize,
}

/// For every channel, the `k` best hits so far, best first; an image appears at most once per
/// channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    k: usize,
    channels: Vec<Vec<Hit>>,
}

impl TopK {
    /// An empty accumulator for `channels` channels keeping `k` hits each.
    pub fn new(channels: usize, k: usize) -> TopK {
        TopK {
            k,
            channels: vec![Vec::new(); channels],
        }
    }

    /// Hits kept per channel.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels.len()
    }

    /// The hits of channel `c`, best first (empty for an unknown channel).
    pub fn hits(&self, c: usize) -> &[Hit] {
        self.channels.get(c).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Offers a hit to channel `c`; returns whether it was kept. Non-finite scores are
    /// refused; an image already present keeps its better hit. Ties keep file-name order.
    pub fn offer(&mut self, c: usize, hit: Hit) -> bool {
        let k = self.k;
        let Some(list) = self.channels.get_mut(c) else {
            return false;
        };
        if !hit.score.is_finite() || k == 0 {
            return false;
        }
        if let Some(i) = list.iter().position(|h| h.file == hit.file) {
            if list[i].score >= hit.score {
                return false;
            }
            list.remove(i);
        }
        let better =
            |a: &Hit, b: &Hit| a.score > b.score || (a.score == b.score && a.file < b.file);
        let at = list
            .iter()
            .position(|h| better(&hit, h))
            .unwrap_or(list.len());
        if at >= k {
            return false;
        }
        list.insert(at, hit);
        list.truncate(k);
        true
    }
}

/// Where a scan stands: what was seen, what was skipped and the hits so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanState {
    /// Model name.
    pub model: String,
    /// Layer.
    pub layer: String,
    /// The folder scanned.
    pub folder: PathBuf,
    /// Files done (relative paths), including skipped ones.
    pub done: BTreeSet<String>,
    /// Files that could not be read, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The hits.
    pub top: TopK,
    /// The share of the folder this scan covers (None: all of it).
    #[serde(default)]
    pub shard: Option<Shard>,
    /// Each channel's statistics over the images read (empty in scans of earlier versions).
    #[serde(default)]
    pub stats: Vec<ChannelStats>,
}

impl ScanState {
    /// Counts one image's maximum and mean in channel `c`'s statistics.
    pub fn count(&mut self, c: usize, max: f32, mean: f32) {
        if self.stats.len() < self.top.channels() {
            self.stats
                .resize(self.top.channels(), ChannelStats::default());
        }
        if let Some(s) = self.stats.get_mut(c) {
            s.add(max, mean);
        }
    }
}

/// One of `count` parts of a folder: the files whose name hashes to `index` ([`shard_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which part (0-based).
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// Reads `I/N` (0 <= I < N).
    pub fn parse(s: &str) -> std::result::Result<Shard, ShardError> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ShardError::Form(s.to_string()))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|source| ShardError::Number {
                    text: s.to_string(),
                    source,
                })
        };
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index >= count {
            return Err(ShardError::Range(s.to_string()));
        }
        Ok(Shard { index, count })
    }

    /// Whether the file (its path relative to the folder) is in this part.
    pub fn holds(&self, rel: &str) -> bool {
        shard_of(rel, self.count) == self.index
    }
}

/// Which of `count` parts a file belongs to: FNV-1a of its path relative to the folder, so
/// that every machine, whatever it lists first or finds added later, puts a file in the same
/// part (a video's frames all go with their file).
pub fn shard_of(rel: &str, count: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rel.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % count.max(1) as u64) as usize
}

impl ScanState {
    /// Merges the scans of every part of one folder into the scan one run over the whole
    /// folder gives: the same hits (a top-k of the union is the top-k of the parts' top-ks,
    /// ties in file-name order), files done and files skipped. The parts must be of one
    /// model, layer, folder and k, and be parts `0..N` of one `N`, each once.
    pub fn merge(parts: Vec<ScanState>) -> Result<ScanState> {
        let bad = |m: String| Error::Merge(m);
        let first = parts
            .first()
            .ok_or_else(|| bad("no scan to merge".into()))?;
        let count = first
            .shard
            .map(|s| s.count)
            .ok_or_else(|| bad("the first scan is of a whole folder, not a part".into()))?;
        let mut seen = vec![false; count];
        for p in &parts {
            let same = p.model == first.model
                && p.layer == first.layer
                && p.folder == first.folder
                && p.top.k() == first.top.k()
                && p.top.channels() == first.top.channels();
            if !same {
                return Err(bad(format!(
                    "a scan of {} {} over {} (k = {}) beside one of {} {} over {} (k = {})",
                    p.model,
                    p.layer,
                    p.folder.display(),
                    p.top.k(),
                    first.model,
                    first.layer,
                    first.folder.display(),
                    first.top.k()
                )));
            }
            match p.shard {
                Some(s) if s.count == count && !seen[s.index] => seen[s.index] = true,
                Some(s) if s.count == count => {
                    return Err(bad(format!("part {}/{count} is given twice", s.index)));
                }
                Some(s) => {
                    return Err(bad(format!(
                        "part {}/{} beside parts of {count}",
                        s.index, s.count
                    )));
                }
                None => return Err(bad("a scan of a whole folder among parts".into())),
            }
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Err(bad(format!(
                "part {missing}/{count} is missing ({} of {count} given)",
                parts.len()
            )));
        }
        let mut out = ScanState {
            model: first.model.clone(),
            layer: first.layer.clone(),
            folder: first.folder.clone(),
            done: BTreeSet::new(),
            skipped: Vec::new(),
            top: TopK::new(first.top.channels(), first.top.k()),
            shard: None,
            stats: Vec::new(),
        };
        for p in parts {
            if out.stats.len() < p.stats.len() {
                out.stats.resize(p.stats.len(), ChannelStats::default());
            }
            for (o, s) in out.stats.iter_mut().zip(&p.stats) {
                o.merge(s);
            }
            out.done.extend(p.done);
            out.skipped.extend(p.skipped);
            for c in 0..p.top.channels() {
                for h in p.top.hits(c) {
                    out.top.offer(c, h.clone());
                }
            }
        }
        out.skipped.sort();
        Ok(out)
    }
}

/// Writes `bytes` to `path` atomically: see [`write_atomic_with`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Writes a file through a temporary file in the same folder (filled by `write`, flushed to
/// the disk) and a rename, the one way every file deepvis makes is written: the file is
/// whole or as it was before, never half written, and when anything fails (the folder gone or
/// unwritable, the disk full) the temporary file is removed and the error names the file.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let fail = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        fail(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
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
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        // the temporary file may not exist (it could not be made): nothing else to undo
        let _ = fs::remove_file(&tmp);
        fail(e)
    })
}

/// Whether `name` is a temporary file of [`write_atomic_with`] (one left by a killed process
/// can be removed).
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Largest `index.json` or `state.json` read.
pub const MAX_JSON_BYTES: u64 = 256 << 20;

/// Reads a regular file of at most [`MAX_JSON_BYTES`] (a pipe or a device in its place is
/// refused, not waited on or read forever).
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file; deepvis reads only regular files",
        ));
    }
    if meta.len() > MAX_JSON_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it has {} bytes, more than the limit of {MAX_JSON_BYTES}",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(MAX_JSON_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = read_bounded(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn to_json<T: Serialize>(v: &T, path: &Path) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl ScanState {
    /// The state file inside an index folder.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Reads the state of an earlier scan, if there is one.
    pub fn load(dir: &Path) -> Result<Option<ScanState>> {
        let p = ScanState::path(dir);
        if !p.exists() {
            return Ok(None);
        }
        read_json(&p).map(Some)
    }

    /// Saves the state (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let p = ScanState::path(dir);
        write_atomic(&p, &to_json(self, &p)?)
    }
}

/// One hit as the index lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexHit {
    /// The image, relative to the scanned folder.
    pub file: String,
    /// The channel's maximum on it.
    pub score: f32,
    /// Row of the maximum in the map.
    pub y: usize,
    /// Column of the maximum in the map.
    pub x: usize,
    /// The input pixels the unit sees there, `[y0, x0, y1, x1]` (half-open), in the
    /// network's input crop.
    pub field: [i64; 4],
}

/// One channel's entry in the index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexChannel {
    /// Channel.
    pub channel: usize,
    /// Its montage of receptive-field crops, relative to the index folder.
    pub montage: String,
    /// The montage of the hits' back-projections (same crops), when the scan made them.
    #[serde(default)]
    pub back_montage: Option<String>,
    /// Best first.
    pub hits: Vec<IndexHit>,
}

/// What `deepvis topk` leaves in its output folder as `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Model name.
    pub model: String,
    /// Layer.
    pub layer: String,
    /// Hits per channel.
    pub k: usize,
    /// The folder scanned.
    pub folder: PathBuf,
    /// Images read.
    pub images: usize,
    /// Files skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The part of the folder it covers (None: all of it; `topk merge` makes the whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// How the hits were projected back (`deconv, raw`), when they were.
    #[serde(default)]
    pub back: Option<String>,
    /// Every channel.
    pub channels: Vec<IndexChannel>,
}

impl Index {
    /// The index file inside an index folder.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("index.json")
    }

    /// Reads the index of a folder written by `deepvis topk`.
    pub fn load(dir: &Path) -> Result<Index> {
        let idx: Index = read_json(&Index::path(dir))?;
        if idx.channels.iter().enumerate().any(|(i, c)| c.channel != i) {
            return Err(Error::Format {
                path: Index::path(dir),
                reason: "channels are not listed in order".into(),
            });
        }
        Ok(idx)
    }

    /// Writes the index (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let p = Index::path(dir);
        write_atomic(&p, &to_json(self, &p)?)
    }

    /// The montage file of channel `c`, if the index has it.
    pub fn montage(&self, dir: &Path, c: usize) -> Option<PathBuf> {
        // an index names its montages inside its folder; any other path is not read
        self.channels
            .get(c)
            .filter(|e| is_plain_relative(Path::new(&e.montage)))
            .map(|e| dir.join(&e.montage))
    }

    /// The back-projection montage of channel `c`, if the scan made one.
    pub fn back_montage(&self, dir: &Path, c: usize) -> Option<PathBuf> {
        self.channels
            .get(c)
            .and_then(|e| e.back_montage.as_ref())
            .filter(|m| is_plain_relative(Path::new(m)))
            .map(|m| dir.join(m))
    }
}
