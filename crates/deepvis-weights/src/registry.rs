//! What a registry entry says of a model: its names, its download URL, its files with their
//! formats, sizes and checksums (the entries themselves are the model crate's table).

use std::fmt;
use std::path::Path;

/// A name as [`ModelSpec::is_named`] compares it.
fn normalized(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', '.'], "_")
}

/// The on-disk format of a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    /// A `.safetensors` file.
    Safetensors,
    /// The Deep Compression `.net` format of `compressed_SqueezeNet.net`.
    DeepCompressionNet,
    /// A PyTorch checkpoint (`.pth` / `.pt`, zip format).
    PyTorch,
    /// A whole network as an ONNX file.
    Onnx,
}

impl WeightFormat {
    /// Guesses the format from the file extension (case-insensitive).
    pub fn from_path(path: &Path) -> Option<WeightFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "safetensors" => Some(WeightFormat::Safetensors),
            "net" => Some(WeightFormat::DeepCompressionNet),
            "pth" | "pt" => Some(WeightFormat::PyTorch),
            "onnx" => Some(WeightFormat::Onnx),
            _ => None,
        }
    }
}

/// The expected sha256 of a file: the full digest, or only a prefix of it
/// (torchvision names its files after the first 8 hex digits of their sha256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedSha256 {
    /// The whole digest, 64 lowercase hex digits.
    Full(&'static str),
    /// A prefix of the digest, lowercase hex digits.
    Prefix(&'static str),
}

impl ExpectedSha256 {
    /// Whether `hex` (a sha256 digest in hex, any case) matches.
    pub fn matches(&self, hex: &str) -> bool {
        match *self {
            ExpectedSha256::Full(want) => hex.eq_ignore_ascii_case(want),
            ExpectedSha256::Prefix(want) => hex
                .get(..want.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(want)),
        }
    }

    /// Whether only a prefix of the digest is known.
    pub fn is_prefix(&self) -> bool {
        matches!(self, ExpectedSha256::Prefix(_))
    }
}

impl fmt::Display for ExpectedSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedSha256::Full(hex) => f.write_str(hex),
            ExpectedSha256::Prefix(hex) => write!(f, "{hex}... (prefix)"),
        }
    }
}

/// A weights file the registry knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KnownFile {
    /// The file name, e.g. `compressed_SqueezeNet.net`.
    pub file_name: &'static str,
    /// Its format.
    pub format: WeightFormat,
    /// Its size in bytes, when known.
    pub size: Option<u64>,
    /// Its sha256, when known.
    pub sha256: Option<ExpectedSha256>,
}

/// A model's registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// Its name, also the name of its subfolder in a weights folder.
    pub name: &'static str,
    /// The other names the command line takes for it.
    pub aliases: &'static [&'static str],
    /// The public URL of the file that `fetch` downloads.
    pub url: &'static str,
    /// The file that `fetch` downloads (its name, size and sha256).
    pub download: KnownFile,
    /// The files that count as this model's weights in a folder, in order of
    /// preference.
    pub local_files: &'static [KnownFile],
}

impl ModelSpec {
    /// Whether `name` names it: its name or an alias, ignoring ASCII case and surrounding
    /// space, `-` and `.` read as `_` (`SqueezeNet1.0` and `squeezenet-v1.0` name
    /// `squeezenet1_0`).
    pub fn is_named(&self, name: &str) -> bool {
        let key = normalized(name);
        std::iter::once(self.name)
            .chain(self.aliases.iter().copied())
            .any(|n| normalized(n) == key)
    }

    /// The known file of this model called `file_name`, if any.
    pub fn file_named(&self, file_name: &str) -> Option<&'static KnownFile> {
        self.local_files.iter().find(|f| f.file_name == file_name)
    }
}
