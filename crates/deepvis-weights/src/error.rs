//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::{ExpectedSha256, WeightsSource};

/// Everything that can go wrong while locating, verifying or downloading weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsError {
    /// A model name that is not in the registry.
    #[error("unknown model `{name}` (known models: {known})")]
    UnknownModel {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// A path given explicitly (`--weights` or `DEEPVIS_WEIGHTS`) does not exist.
    #[error("weights path {} (given by {origin}) does not exist", path.display())]
    MissingPath {
        /// The path given.
        path: PathBuf,
        /// Who gave it.
        origin: WeightsSource,
    },

    /// A folder given explicitly holds none of the model's files.
    #[error(
        "no {model} weights in {} (given by {origin}): looked for {looked_for}",
        dir.display()
    )]
    NoWeightsInDir {
        /// The model looked for.
        model: &'static str,
        /// The folder given.
        dir: PathBuf,
        /// Who gave it.
        origin: WeightsSource,
        /// The file names looked for, in words.
        looked_for: String,
    },

    /// Nothing found anywhere.
    #[error(
        "no {model} weights found; searched:\n{}run `deepvis weights fetch {model}` to download them",
        Searched(searched)
    )]
    NotFound {
        /// The model looked for.
        model: &'static str,
        /// Every place searched, in order, and why it did not match.
        searched: Vec<SearchedPlace>,
    },

    /// Neither `XDG_CACHE_HOME` nor `HOME` is set, so there is no cache folder.
    #[error("no user cache folder: neither XDG_CACHE_HOME nor HOME is set")]
    NoCacheDir,

    /// A local file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `read` or `create folder`.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The HTTP request failed (connection, TLS, HTTP status, too many redirects...).
    #[error("request for {url} failed: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<ureq::Error>,
    },

    /// Reading the response body failed part-way (connection reset, body shorter
    /// than its `Content-Length`, timeout...).
    #[error("download of {url} failed after {received} bytes: {source}")]
    Download {
        /// The URL requested.
        url: String,
        /// How many bytes had arrived.
        received: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A file or download does not have the expected size.
    #[error("{what} has the wrong size: expected {expected} bytes, found {found}")]
    SizeMismatch {
        /// The file or download (`download of URL`).
        what: String,
        /// The expected size in bytes.
        expected: u64,
        /// The size found (for a download that overran: the bytes received so far).
        found: u64,
    },

    /// A file or download does not have the expected sha256.
    #[error("{what} has the wrong sha256: expected {expected}, found {found}")]
    HashMismatch {
        /// The file or download (`download of URL`).
        what: String,
        /// The expected digest (or prefix).
        expected: ExpectedSha256,
        /// The digest found.
        found: String,
    },

    /// A local file that is none of the model's known files, by name or by hash.
    #[error(
        "{} is not a known {model} weights file (sha256 {sha256}; known files: {known})",
        path.display()
    )]
    Unrecognized {
        /// The file.
        path: PathBuf,
        /// The model it was checked against.
        model: &'static str,
        /// Its sha256.
        sha256: String,
        /// The model's known file names, comma-separated.
        known: String,
    },
}

impl WeightsError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WeightsError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// One place searched during resolution, for [`WeightsError::NotFound`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchedPlace {
    /// Which rule the place belongs to.
    pub origin: WeightsSource,
    /// The folder searched; `None` when the rule had no folder (e.g. no `HOME`).
    pub path: Option<PathBuf>,
    /// Why nothing was taken from it.
    pub outcome: String,
}

impl fmt::Display for SearchedPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} ({}): {}", path.display(), self.origin, self.outcome),
            None => write!(f, "{}: {}", self.origin, self.outcome),
        }
    }
}

/// Formats a list of searched places, one `  - ...` line each.
struct Searched<'a>(&'a [SearchedPlace]);

impl fmt::Display for Searched<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for place in self.0 {
            writeln!(f, "  - {place}")?;
        }
        Ok(())
    }
}
