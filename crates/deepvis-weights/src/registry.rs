//! The known models, their download URLs and the checksums of their files.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::WeightsError;

/// A model whose weights this crate knows how to find, fetch and verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Model {
    /// SqueezeNet v1.0 (ImageNet, 1000 classes), the default model.
    #[default]
    SqueezeNet1_0,
    /// torchvision's AlexNet.
    AlexNet,
    /// BVLC CaffeNet, the original toolbox's network, as the ONNX model zoo publishes it
    /// (`caffenet-9.onnx`, opset 9).
    CaffeNet,
}

impl Model {
    /// Every known model, the default first.
    pub const ALL: [Model; 3] = [Model::SqueezeNet1_0, Model::AlexNet, Model::CaffeNet];

    /// The model's name as used on the command line and as its subfolder name
    /// (`squeezenet1_0`, `alexnet`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The other names it is known by on the command line (`squeezenet`, ...).
    pub fn aliases(self) -> &'static [&'static str] {
        self.spec().aliases
    }

    /// Whether `name` names it: its name or an alias, ignoring ASCII case and surrounding
    /// space, `-` and `.` read as `_` (`SqueezeNet1.0` and `squeezenet-v1.0` name
    /// `squeezenet1_0`).
    pub fn is_named(self, name: &str) -> bool {
        let key = normalized(name);
        std::iter::once(self.name())
            .chain(self.aliases().iter().copied())
            .any(|n| normalized(n) == key)
    }

    /// The model's registry entry.
    pub fn spec(self) -> &'static ModelSpec {
        match self {
            Model::SqueezeNet1_0 => &SQUEEZENET1_0,
            Model::AlexNet => &ALEXNET,
            Model::CaffeNet => &CAFFENET,
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = WeightsError;

    /// Parses a model's name or alias ([`Model::is_named`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.is_named(s))
            .ok_or_else(|| WeightsError::UnknownModel {
                name: s.to_owned(),
                known: Model::ALL.map(Model::name).join(", "),
            })
    }
}

/// A name as [`Model::is_named`] compares it.
fn normalized(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', '.'], "_")
}

/// A model name on the command line: the name, its aliases (as written in the registry; set
/// `ignore_case` on the argument to ignore their case).
#[cfg(feature = "clap")]
impl clap::ValueEnum for Model {
    fn value_variants<'a>() -> &'a [Model] {
        &Model::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).aliases(self.aliases().iter().copied()))
    }
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
    /// The model.
    pub model: Model,
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
    /// The known file of this model called `file_name`, if any.
    pub fn file_named(&self, file_name: &str) -> Option<&'static KnownFile> {
        self.local_files.iter().find(|f| f.file_name == file_name)
    }
}

const SQUEEZENET_NET: KnownFile = KnownFile {
    file_name: "compressed_SqueezeNet.net",
    format: WeightFormat::DeepCompressionNet,
    size: Some(675_763),
    sha256: Some(ExpectedSha256::Full(
        "e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261",
    )),
};

const SQUEEZENET_SAFETENSORS: KnownFile = KnownFile {
    file_name: "squeezenet1_0.safetensors",
    format: WeightFormat::Safetensors,
    size: Some(4_998_664),
    sha256: Some(ExpectedSha256::Full(
        "9b0b7b3d609c874a22beda9f06699b87c9495aaf797394ee758459f033ed29f8",
    )),
};

const ALEXNET_PTH: KnownFile = KnownFile {
    file_name: "alexnet-owt-7be5be79.pth",
    format: WeightFormat::PyTorch,
    size: None,
    sha256: Some(ExpectedSha256::Prefix("7be5be79")),
};

const ALEXNET_SAFETENSORS: KnownFile = KnownFile {
    file_name: "alexnet.safetensors",
    format: WeightFormat::Safetensors,
    size: None,
    sha256: None,
};

static SQUEEZENET1_0: ModelSpec = ModelSpec {
    model: Model::SqueezeNet1_0,
    name: "squeezenet1_0",
    aliases: &[
        "squeezenet",
        "squeezenet1",
        "squeezenet1.0",
        "squeezenet_v1_0",
    ],
    url: "https://github.com/songhan/SqueezeNet-Deep-Compression/raw/master/compressed_SqueezeNet.net",
    download: SQUEEZENET_NET,
    local_files: &[SQUEEZENET_SAFETENSORS, SQUEEZENET_NET],
};

static ALEXNET: ModelSpec = ModelSpec {
    model: Model::AlexNet,
    name: "alexnet",
    aliases: &[],
    url: "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    download: ALEXNET_PTH,
    local_files: &[ALEXNET_PTH, ALEXNET_SAFETENSORS],
};

const CAFFENET_ONNX: KnownFile = KnownFile {
    file_name: "caffenet-9.onnx",
    format: WeightFormat::Onnx,
    size: Some(243_863_553),
    // the ONNX model zoo's Git LFS pointer of the file
    sha256: Some(ExpectedSha256::Full(
        "802138332cf3e423c82a9a80c76e4f9227dd4effb3aba55413601fa4345cfd36",
    )),
};

static CAFFENET: ModelSpec = ModelSpec {
    model: Model::CaffeNet,
    name: "caffenet",
    aliases: &["bvlc_caffenet", "bvlc_reference_caffenet"],
    url: "https://github.com/onnx/models/raw/main/validated/vision/classification/caffenet/model/caffenet-9.onnx",
    download: CAFFENET_ONNX,
    local_files: &[CAFFENET_ONNX],
};
