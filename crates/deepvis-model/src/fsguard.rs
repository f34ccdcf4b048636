//! Reading files a user (or a downloaded model) names, as hostile input: only regular files,
//! opened without blocking (a named pipe is refused at once, never waited on), their size
//! checked against a limit before anything is read, and reads bounded by that limit; folder
//! walks that meet every directory once (by device and inode), however links loop.
//!
//! The errors are `std::io::Error`s whose messages are sentences ("is a named pipe (FIFO),
//! not a regular file"), so every error type that wraps an I/O error with its path words them.

use std::collections::HashSet;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Largest model file deepvis reads (protobuf's own limit is 2 GiB).
pub const MAX_MODEL_FILE_BYTES: u64 = 2 << 30;

/// Largest external-data file of an ONNX model.
pub const MAX_EXTERNAL_DATA_BYTES: u64 = 64 << 30;

/// Largest weights file (safetensors, `.pth`, `.net`).
pub const MAX_WEIGHTS_FILE_BYTES: u64 = 8 << 30;

/// Largest text file deepvis reads beside a model or an output (sidecars, indexes, settings).
pub const MAX_TEXT_FILE_BYTES: u64 = 64 << 20;

/// `O_NONBLOCK`: opening a FIFO for reading does not wait for a writer (Linux's value on every
/// architecture Rust supports but alpha, sparc and parisc, which deepvis does not build for).
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;
/// `O_NONBLOCK` on the BSDs and macOS.
#[cfg(all(unix, not(target_os = "linux")))]
const O_NONBLOCK: i32 = 0x0004;

/// What kind of file `meta` describes, in words ("a named pipe (FIFO)"), when it is not a
/// regular file.
pub fn irregular_kind(meta: &Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

fn not_regular(kind: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {kind}, not a regular file; deepvis reads only regular files"),
    )
}

fn too_big(len: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it has {len} bytes, more than the limit of {limit} bytes ({})",
            human_bytes(limit)
        ),
    )
}

/// Checks (following links) that `path` is a regular file of at most `limit` bytes; its
/// metadata.
pub fn check_regular(path: &Path, limit: u64) -> io::Result<Metadata> {
    let meta = std::fs::metadata(path)?;
    if let Some(kind) = irregular_kind(&meta) {
        return Err(not_regular(kind));
    }
    if meta.len() > limit {
        return Err(too_big(meta.len(), limit));
    }
    Ok(meta)
}

/// Opens `path` for reading when it is a regular file of at most `limit` bytes: the type is
/// checked before opening and again on the opened file (a file swapped for a pipe in between
/// is opened without blocking and refused).
pub fn open_regular(path: &Path, limit: u64) -> io::Result<File> {
    check_regular(path, limit)?;
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(O_NONBLOCK);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if let Some(kind) = irregular_kind(&meta) {
        return Err(not_regular(kind));
    }
    if meta.len() > limit {
        return Err(too_big(meta.len(), limit));
    }
    // (a regular file ignores O_NONBLOCK: reads of it block as usual)
    Ok(file)
}

/// Reads all of `path` when it is a regular file of at most `limit` bytes; the read stops at
/// the limit even if the file grows meanwhile.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, limit)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(len.min(limit) as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64, limit));
    }
    Ok(bytes)
}

/// As [`read_regular`], as UTF-8 text.
pub fn read_regular_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// The directories a walk has entered, by (device, inode): a link back up the tree (`self ->
/// .`) or two links to one folder lead into it once.
#[derive(Debug, Default)]
pub struct Visited(HashSet<(u64, u64)>);

impl Visited {
    /// Whether the directory `meta` describes (links followed) is met for the first time;
    /// records it. Off Unix every directory counts as new.
    pub fn first_visit(&mut self, meta: &Metadata) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            self.0.insert((meta.dev(), meta.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            true
        }
    }
}

/// Whether `target` (which must exist) lies inside `dir`, links followed on both.
pub fn resolves_inside(dir: &Path, target: &Path) -> io::Result<bool> {
    let dir = dir.canonicalize()?;
    let target = target.canonicalize()?;
    Ok(target.starts_with(&dir))
}

/// A byte count in words: `13.2 GB`, `512 MB`, `900 bytes` (decimal units).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 4] = [("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)];
    for (unit, size) in UNITS {
        if n as f64 >= size {
            return format!("{:.1} {unit}", n as f64 / size);
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_reads_and_a_folder_or_an_oversized_file_does_not() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("deepvis-fsguard-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let f = dir.join("a.txt");
        std::fs::write(&f, b"hello")?;
        assert_eq!(read_regular(&f, 5)?, b"hello");
        let e = read_regular(&f, 4).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("limit of 4")),
            "{e:?}"
        );
        let e = read_regular(&dir, 100).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("a folder")),
            "{e:?}"
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn byte_counts_are_worded() {
        assert_eq!(human_bytes(900), "900 bytes");
        assert_eq!(human_bytes(13_150_000_000), "13.2 GB");
    }
}
