//! The models deepvis knows by name, one row each: a built-in network (its builder, input and
//! first layer, [`Arch`]) or a network fetched as a file, with its download facts (URL, files,
//! sizes, checksums) that `deepvis weights` and the fetcher read. Adding a model is a variant
//! here, its entry, and for a network built in Rust its builder file.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use deepvis_weights::{ExpectedSha256, KnownFile, ModelSpec, WeightFormat, WeightsError};

use crate::arch::ModelInfo;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::preprocess::{InputSpec, Normalization};
use crate::weights::WeightMap;

/// A model deepvis knows by name: it can find, fetch and verify its weights.
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

    /// The model's registry entry: its names, download URL and files.
    pub fn spec(self) -> &'static ModelSpec {
        match self {
            Model::SqueezeNet1_0 => &SQUEEZENET1_0,
            Model::AlexNet => &ALEXNET,
            Model::CaffeNet => &CAFFENET,
        }
    }

    /// The model's name as used on the command line and as its subfolder name
    /// (`squeezenet1_0`, `alexnet`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The other names it is known by on the command line (`squeezenet`, ...).
    pub fn aliases(self) -> &'static [&'static str] {
        self.spec().aliases
    }

    /// Whether `name` names it ([`ModelSpec::is_named`]: its name or an alias, ignoring
    /// case, `-` and `.` read as `_`).
    pub fn is_named(self, name: &str) -> bool {
        self.spec().is_named(name)
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
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.is_named(s))
            .ok_or_else(|| WeightsError::UnknownModel {
                name: s.to_owned(),
                known: Model::ALL.map(Model::name).join(", "),
            })
    }
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

/// A network deepvis builds itself (its graph is code in this crate), by the registry model
/// it is: the graph, how photos become its input and the layer the window shows first. It is
/// a row of a table, not a second list of names: its name and aliases are the model's
/// ([`Model`]), and [`Arch::of`] says which models are built in.
#[derive(Clone, Copy, Debug)]
pub struct Arch {
    model: Model,
    input: InputSpec,
    grid: &'static str,
    build: fn(Option<&mut WeightMap>) -> Result<Graph>,
}

// named as the models they build, so that they read like the model's variants
#[allow(non_upper_case_globals)]
impl Arch {
    /// Caffe SqueezeNet v1.0 (227x227, BGR minus mean). The default.
    pub const SqueezeNet1_0: Arch = Arch {
        model: Model::SqueezeNet1_0,
        input: InputSpec {
            size: 227,
            resize: 256,
            norm: Normalization {
                order: [2, 1, 0],
                scale: 1.0,
                mean: [104.0, 117.0, 123.0],
                std: [1.0, 1.0, 1.0],
            },
        },
        grid: "fire9",
        build: crate::squeezenet::graph,
    };

    /// torchvision's AlexNet (224x224, RGB normalized).
    pub const AlexNet: Arch = Arch {
        model: Model::AlexNet,
        input: InputSpec {
            size: 224,
            resize: 256,
            norm: Normalization {
                order: [0, 1, 2],
                scale: 1.0 / 255.0,
                mean: [0.485, 0.456, 0.406],
                std: [0.229, 0.224, 0.225],
            },
        },
        grid: "conv5",
        build: crate::alexnet::graph,
    };
}

impl Arch {
    /// Every architecture, the default first.
    pub const ALL: [Arch; 2] = [Arch::SqueezeNet1_0, Arch::AlexNet];

    /// The built-in architecture of `model` (`None`: a model read from a file, as CaffeNet's
    /// ONNX).
    pub fn of(model: Model) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.model == model)
    }

    /// The registry model it is.
    pub fn model(self) -> Model {
        self.model
    }

    /// The canonical name (`squeezenet1_0`, `alexnet`): the model's.
    pub fn name(self) -> &'static str {
        self.model.name()
    }

    /// Parses a model name or alias (the registry's, [`Model`]) of a built-in network.
    pub fn from_name(name: &str) -> Result<Arch> {
        let model: Model = name.parse()?;
        Arch::of(model).ok_or_else(|| Error::NotBuiltIn(model.name().to_string()))
    }

    /// How photos become its input.
    pub fn input_spec(self) -> InputSpec {
        self.input
    }

    /// The input side the network was trained on.
    pub fn input_size(self) -> usize {
        self.input.size
    }

    /// The last layer with a 13x13 map: the grid the app shows first.
    pub fn default_grid_layer(self) -> &'static str {
        self.grid
    }

    /// The network as a graph with the weights of `map` (names and shapes checked).
    pub fn graph(self, map: Option<&mut WeightMap>) -> Result<Graph> {
        (self.build)(map)
    }

    /// What is known of the network without weights (built once, shared).
    pub fn info(self) -> Arc<ModelInfo> {
        static CACHE: [OnceLock<Arc<ModelInfo>>; Arch::ALL.len()] =
            [const { OnceLock::new() }; Arch::ALL.len()];
        let i = Arch::ALL.iter().position(|a| *a == self).unwrap_or(0);
        CACHE[i]
            .get_or_init(|| {
                let built = self.graph(None).and_then(|g| {
                    ModelInfo::new(
                        &g,
                        self.name(),
                        self.input_spec(),
                        Some(self.default_grid_layer()),
                    )
                });
                match built {
                    Ok(info) => Arc::new(info),
                    // the built-in graphs are fixed; their shapes are checked by the tests
                    Err(e) => Arc::new(ModelInfo::broken(self.name(), self.input_spec(), e)),
                }
            })
            .clone()
    }
}

/// One row per model: two architectures are the same when they build the same model.
impl PartialEq for Arch {
    fn eq(&self, other: &Arch) -> bool {
        self.model == other.model
    }
}

impl Eq for Arch {}

impl std::hash::Hash for Arch {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.model.hash(state);
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
    name: "caffenet",
    aliases: &["bvlc_caffenet", "bvlc_reference_caffenet"],
    url: "https://github.com/onnx/models/raw/main/validated/vision/classification/caffenet/model/caffenet-9.onnx",
    download: CAFFENET_ONNX,
    local_files: &[CAFFENET_ONNX],
};
