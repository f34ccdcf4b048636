//! Downloading weights (atomically, hashing while streaming) and verifying them.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{ExpectedSha256, KnownFile, ModelSpec, WeightsError, locate_in_dir};

/// The environment variable that, when set and non-empty, replaces the
/// registry's download URL in [`fetch`] (for mirrors; the file must still have
/// the registry's size and sha256).
pub const ENV_WEIGHTS_URL: &str = "DEEPVIS_WEIGHTS_URL";

const CHUNK: usize = 64 * 1024;

/// Where [`fetch`] puts `model`'s file under `cache_dir`:
/// `cache_dir/<model name>/<file name>`, the layout that resolution looks for.
pub fn fetch_destination(model: &'static ModelSpec, cache_dir: &Path) -> PathBuf {
    let spec = model;
    cache_dir.join(spec.name).join(spec.download.file_name)
}

/// Downloads `model`'s file from the registry URL (or from `$DEEPVIS_WEIGHTS_URL`
/// when set) into [`fetch_destination`] and returns that path.
///
/// See [`fetch_from_url`] for the guarantees.
pub fn fetch(
    model: &'static ModelSpec,
    cache_dir: &Path,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, WeightsError> {
    let url = env::var(ENV_WEIGHTS_URL)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| model.url.to_owned());
    fetch_from_url(model, &url, cache_dir, progress)
}

/// Downloads `model`'s file from `url` (http or https, redirects followed) into
/// [`fetch_destination`] and returns that path.
///
/// If the destination already exists and has the expected size and sha256,
/// nothing is downloaded. If it exists but does not verify, it is deleted and
/// downloaded again.
///
/// The body is streamed into a temporary file in the destination folder while
/// being hashed; `progress(downloaded, total)` is called after each chunk
/// (`total` from `Content-Length`, else the registry size). Only when the size
/// and sha256 (or sha256 prefix) match is the file synced and renamed to its
/// final name. On any failure the temporary file is removed, and the model's
/// subfolder too when this call created it and it is empty, so no partial
/// or unverified file is left behind.
pub fn fetch_from_url(
    model: &'static ModelSpec,
    url: &str,
    cache_dir: &Path,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, WeightsError> {
    let spec = model;
    download_verified(&spec.download, url, &cache_dir.join(spec.name), progress)
}

/// [`fetch_from_url`] for any file description, into `dir/<file name>`: a valid file already
/// there is kept, an invalid one replaced; nothing is left behind when the download fails.
pub fn download_verified(
    file: &KnownFile,
    url: &str,
    dir: &Path,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, WeightsError> {
    let final_path = dir.join(file.file_name);
    if final_path.is_file() {
        match check_file(&final_path, file) {
            Ok(_) => return Ok(final_path),
            Err(WeightsError::SizeMismatch { .. } | WeightsError::HashMismatch { .. }) => {
                fs::remove_file(&final_path)
                    .map_err(|e| WeightsError::io("remove unverified file", &final_path, e))?;
            }
            Err(e) => return Err(e),
        }
    }

    let created_dir = !dir.exists();
    fs::create_dir_all(dir).map_err(|e| WeightsError::io("create folder", dir, e))?;
    let result = download_into(file, url, dir, &final_path, progress);
    if result.is_err() && created_dir {
        // Only removes the folder when it is empty; nothing to do otherwise.
        let _ = fs::remove_dir(dir);
    }
    result.map(|()| final_path)
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(true)
        .max_redirects(10)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .user_agent(concat!("deepvis-weights/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

fn download_into(
    file: &KnownFile,
    url: &str,
    dir: &Path,
    final_path: &Path,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<(), WeightsError> {
    let what = || format!("download of {url}");
    let response = agent().get(url).call().map_err(|e| WeightsError::Http {
        url: url.to_owned(),
        source: Box::new(e),
    })?;
    let content_length = response.body().content_length();
    if let (Some(expected), Some(announced)) = (file.size, content_length)
        && expected != announced
    {
        return Err(WeightsError::SizeMismatch {
            what: what(),
            expected,
            found: announced,
        });
    }
    let total = content_length.or(file.size);
    let mut body = response.into_body().into_reader();

    let mut tmp = TempFile::create(dir, file.file_name)?;
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(WeightsError::Download {
                    url: url.to_owned(),
                    received,
                    source,
                });
            }
        };
        let chunk = &buf[..n];
        received += n as u64;
        if let Some(expected) = file.size
            && received > expected
        {
            return Err(WeightsError::SizeMismatch {
                what: what(),
                expected,
                found: received,
            });
        }
        hasher.update(chunk);
        tmp.write_all(chunk)?;
        progress(received, total);
    }

    for expected in [content_length, file.size].into_iter().flatten() {
        if received != expected {
            return Err(WeightsError::SizeMismatch {
                what: what(),
                expected,
                found: received,
            });
        }
    }
    let found = hex(&hasher.finalize());
    if let Some(expected) = file.sha256
        && !expected.matches(&found)
    {
        return Err(WeightsError::HashMismatch {
            what: what(),
            expected,
            found,
        });
    }
    tmp.persist(final_path)?;
    sync_dir(dir);
    Ok(())
}

/// A temporary file that is deleted on drop unless persisted.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn create(dir: &Path, final_name: &str) -> Result<TempFile, WeightsError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut attempt = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{final_name}.{}.{n}.part", process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file: Some(file),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(WeightsError::io("create temporary file", path, e)),
            }
        }
    }

    fn write_all(&mut self, data: &[u8]) -> Result<(), WeightsError> {
        let result = match self.file.as_mut() {
            Some(file) => file.write_all(data),
            None => Err(io::Error::other("temporary file already closed")),
        };
        result.map_err(|e| WeightsError::io("write", &self.path, e))
    }

    /// Syncs the file to disk and renames it to `dest`.
    fn persist(mut self, dest: &Path) -> Result<(), WeightsError> {
        if let Some(file) = self.file.take() {
            file.sync_all()
                .map_err(|e| WeightsError::io("sync", &self.path, e))?;
        }
        fs::rename(&self.path, dest).map_err(|e| WeightsError::io("rename into place", dest, e))?;
        // Renamed: nothing left to clean up.
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Makes a rename in `dir` durable where the platform allows it (best effort).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The size and sha256 of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileDigest {
    /// Size in bytes.
    pub size: u64,
    /// sha256, 64 lowercase hex digits.
    pub sha256: String,
}

/// Reads `path` through and returns its size and sha256.
pub fn sha256_file(path: &Path) -> Result<FileDigest, WeightsError> {
    // a named pipe or a device would block the open, or never end
    let meta = fs::metadata(path).map_err(|e| WeightsError::io("open", path, e))?;
    if !meta.is_file() {
        let why = std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a named pipe, a device or a socket)",
        );
        return Err(WeightsError::io("open", path, why));
    }
    let mut file = File::open(path).map_err(|e| WeightsError::io("open", path, e))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WeightsError::io("read", path, e)),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileDigest {
        size,
        sha256: hex(&hasher.finalize()),
    })
}

/// How [`verify`] checked a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The full sha256 matched the registry.
    Full,
    /// Only a sha256 prefix is known, and it matched.
    Prefix,
    /// The file is a known file of the model but the registry has no checksum
    /// for it (e.g. `alexnet.safetensors`, a local conversion); it was hashed
    /// but not checked.
    NoReference,
}

/// The result of a successful [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The file checked.
    pub path: PathBuf,
    /// Which known file it is.
    pub known_file: &'static KnownFile,
    /// Its size and sha256.
    pub digest: FileDigest,
    /// How far it could be checked.
    pub check: Check,
}

/// Checks a local weights file against the registry entry of `model`.
///
/// `path` may be a file or a folder (searched like in resolution). A file is
/// identified by its name among the model's known files, and then must have
/// the registered size and sha256 (or sha256 prefix). A file with another name
/// is accepted when its sha256 matches one of the model's known files in full.
pub fn verify(path: &Path, model: &'static ModelSpec) -> Result<Verified, WeightsError> {
    let spec = model;
    let path = if path.is_dir() {
        match locate_in_dir(model, path) {
            Some((found, _)) => found,
            None => {
                return Err(WeightsError::NoWeightsInDir {
                    model: model.name,
                    dir: path.to_path_buf(),
                    origin: crate::WeightsSource::Explicit,
                    looked_for: spec
                        .local_files
                        .iter()
                        .map(|f| f.file_name)
                        .collect::<Vec<_>>()
                        .join(" or "),
                });
            }
        }
    } else {
        path.to_path_buf()
    };

    let by_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| spec.file_named(n));
    if let Some(known) = by_name {
        let (digest, check) = check_file(&path, known)?;
        return Ok(Verified {
            path,
            known_file: known,
            digest,
            check,
        });
    }

    let digest = sha256_file(&path)?;
    let by_hash = spec.local_files.iter().find(|f| {
        matches!(f.sha256, Some(ExpectedSha256::Full(_)))
            && f.sha256.is_some_and(|s| s.matches(&digest.sha256))
    });
    match by_hash {
        Some(known) => Ok(Verified {
            path,
            known_file: known,
            digest,
            check: Check::Full,
        }),
        None => Err(WeightsError::Unrecognized {
            path,
            model: model.name,
            sha256: digest.sha256,
            known: spec
                .local_files
                .iter()
                .map(|f| f.file_name)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Hashes `path` and checks it against `known`'s size and sha256.
fn check_file(path: &Path, known: &KnownFile) -> Result<(FileDigest, Check), WeightsError> {
    let digest = sha256_file(path)?;
    let what = || path.display().to_string();
    if let Some(expected) = known.size
        && digest.size != expected
    {
        return Err(WeightsError::SizeMismatch {
            what: what(),
            expected,
            found: digest.size,
        });
    }
    let check = match known.sha256 {
        None => Check::NoReference,
        Some(expected) if !expected.matches(&digest.sha256) => {
            return Err(WeightsError::HashMismatch {
                what: what(),
                expected,
                found: digest.sha256,
            });
        }
        Some(expected) if expected.is_prefix() => Check::Prefix,
        Some(_) => Check::Full,
    };
    Ok((digest, check))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WeightFormat;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn hex_encoding() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_named_pipe_is_refused_not_hashed() -> TestResult {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("weights.net");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        assert!(made.success(), "mkfifo failed");
        let e = match sha256_file(&fifo) {
            Ok(_) => return Err("a named pipe was hashed".into()),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("weights.net") && e.contains("not a regular file"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn temp_file_removed_unless_persisted() -> TestResult {
        let dir = tempfile::tempdir()?;
        {
            let mut t = TempFile::create(dir.path(), "x.bin")?;
            t.write_all(b"partial")?;
            assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        }
        assert_eq!(fs::read_dir(dir.path())?.count(), 0);
        let mut t = TempFile::create(dir.path(), "x.bin")?;
        t.write_all(b"whole")?;
        t.persist(&dir.path().join("x.bin"))?;
        let names = fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<Vec<_>, _>>()?;
        assert_eq!(names, vec![std::ffi::OsString::from("x.bin")]);
        assert_eq!(fs::read(dir.path().join("x.bin"))?, b"whole");
        Ok(())
    }

    #[test]
    fn check_prefix_and_no_reference() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f.pth");
        fs::write(&path, b"abc")?;
        let prefix = KnownFile {
            file_name: "f.pth",
            format: WeightFormat::PyTorch,
            size: None,
            sha256: Some(ExpectedSha256::Prefix("ba7816bf")),
        };
        assert_eq!(check_file(&path, &prefix)?.1, Check::Prefix);
        let wrong = KnownFile {
            sha256: Some(ExpectedSha256::Prefix("7be5be79")),
            ..prefix
        };
        let r = check_file(&path, &wrong);
        assert!(matches!(r, Err(WeightsError::HashMismatch { .. })), "{r:?}");
        let none = KnownFile {
            sha256: None,
            ..prefix
        };
        assert_eq!(check_file(&path, &none)?.1, Check::NoReference);
        let sized = KnownFile {
            size: Some(4),
            ..prefix
        };
        let r = check_file(&path, &sized);
        assert!(matches!(r, Err(WeightsError::SizeMismatch { .. })), "{r:?}");
        Ok(())
    }
}
