//! How a loaded model wants its photos: from flags, a sidecar file beside the model
//! (`model.onnx.toml`), a preset for a known file (recognised by its sha256; the presets are
//! the `*.onnx.toml` files of the project's `weights/`), or a stated default.

use std::path::{Path, PathBuf};

use std::io::Read;

use deepvis_model::fsguard;
use deepvis_model::preprocess::{InputSpec, MAX_INPUT_SIDE, MAX_RESIZED_SIDE, Normalization};
use deepvis_model::tokens::TokenSpec;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{OnnxError, Result};
use deepvis_model::graph::Graph;

/// Refuses an input side or a resize outside what deepvis feeds a network (`resize = 4e9`
/// would ask for an image of 4e9 pixels a side).
fn check_sizes(s: &Sidecar, size: usize, at: impl Fn() -> PathBuf) -> Result<()> {
    if size == 0 || size > MAX_INPUT_SIDE {
        return Err(OnnxError::Sidecar {
            path: at(),
            reason: format!("input size {size} must be between 1 and {MAX_INPUT_SIDE}"),
        });
    }
    if let Some(r) = s.resize
        && (r == 0 || r > MAX_RESIZED_SIDE)
    {
        return Err(OnnxError::Sidecar {
            path: at(),
            reason: format!("resize {r} must be between 1 and {MAX_RESIZED_SIDE}"),
        });
    }
    Ok(())
}

/// The presets of known model files, one TOML file each.
const KNOWN: &[(&str, &str)] = &[
    (
        "efficientnet_lite0.onnx.toml",
        include_str!("../../../weights/efficientnet_lite0.onnx.toml"),
    ),
    (
        "squeezenet1_0.onnx.toml",
        include_str!("../../../weights/squeezenet1_0.onnx.toml"),
    ),
    (
        "caffenet-9.onnx.toml",
        include_str!("../../../weights/caffenet-9.onnx.toml"),
    ),
];

/// Channel order of the input tensor.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (Caffe).
    Bgr,
}

/// The sidecar's `[tokens]` table: how a vision transformer's sequences of tokens split
/// (each field found from the graph when left out).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    /// Leading tokens (CLS, registers) before the patches.
    pub lead: Option<usize>,
    /// A patch's side in input pixels (the grid: the input's sides divided by it).
    pub patch: Option<usize>,
}

impl From<Tokens> for TokenSpec {
    fn from(t: Tokens) -> TokenSpec {
        TokenSpec {
            lead: t.lead,
            patch: t.patch,
        }
    }
}

/// A sidecar file: every field optional, unknown fields refused.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// A display name.
    pub name: Option<String>,
    /// The sha256 of the model file this preset is for.
    pub sha256: Option<String>,
    /// Input side.
    pub size: Option<usize>,
    /// Short side before the centre crop.
    pub resize: Option<u32>,
    /// Channel order.
    pub order: Option<Order>,
    /// The pixel range before mean and std: 1 (0..1) or 255 (0..255).
    pub range: Option<f32>,
    /// Per-channel mean, in the tensor's channel order and the range's units.
    pub mean: Option<[f32; 3]>,
    /// Per-channel standard deviation.
    pub std: Option<[f32; 3]>,
    /// How the sequences of tokens split (`[tokens]`: `lead`, `patch`).
    pub tokens: Option<Tokens>,
}

impl Sidecar {
    /// Parses a sidecar's text (`name` names it in messages).
    pub fn parse(text: &str, name: &Path) -> Result<Sidecar> {
        toml::from_str(text).map_err(|e| OnnxError::Sidecar {
            path: name.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Fields of `over` replace those of `self`.
    pub fn overlay(self, over: &Sidecar) -> Sidecar {
        Sidecar {
            name: over.name.clone().or(self.name),
            sha256: over.sha256.clone().or(self.sha256),
            size: over.size.or(self.size),
            resize: over.resize.or(self.resize),
            order: over.order.or(self.order),
            range: over.range.or(self.range),
            mean: over.mean.or(self.mean),
            std: over.std.or(self.std),
            tokens: over.tokens.or(self.tokens),
        }
    }
}

/// Where the preprocessing came from.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecSource {
    /// A sidecar file beside the model.
    Sidecar(PathBuf),
    /// The preset of a known file.
    Known(String),
    /// Nothing said: the default (ImageNet RGB statistics).
    Default,
}

/// A model's preprocessing and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInput {
    /// The preprocessing.
    pub spec: InputSpec,
    /// Where it came from (flags may have changed some fields).
    pub source: SpecSource,
    /// A warning for the user when nothing said how to preprocess.
    pub warning: Option<String>,
}

/// Reads an ONNX file and decides its preprocessing (`flags` over a sidecar, a known file's
/// preset or the default). A graph that computes its shapes is folded for the input size the
/// flags or the sidecar ask for (see [`crate::load_at`]). The sidecar's `[tokens]` split is
/// kept in the graph, checked against it (a split no value has is an error naming the
/// numbers).
pub fn open(path: &Path, flags: &Sidecar) -> Result<(crate::OnnxModel, ModelInput)> {
    let side = sidecar(path)?;
    let asked = match flags.size {
        Some(s) => Some(s),
        None => side.as_ref().and_then(|(s, _)| s.size),
    };
    // a size out of range is refused below, with the sidecar or the flag named
    let asked = asked.filter(|s| (1..=MAX_INPUT_SIDE).contains(s));
    let mut m = crate::load_at(path, asked.map(|s| [s, s]))?;
    let input = model_input(path, m.graph.input_hw, flags)?;
    let tokens = flags.tokens.or(side.as_ref().and_then(|(s, _)| s.tokens));
    if let Some(t) = tokens {
        let at = side.map_or_else(|| path.to_path_buf(), |(_, p)| p);
        apply_tokens(&mut m.graph, t.into(), input.spec.size, &at)?;
    }
    Ok((m, input))
}

/// Keeps the token split `tokens` in `graph` after checking it at an input of `size`
/// (`at`: the sidecar, for messages).
fn apply_tokens(graph: &mut Graph, tokens: TokenSpec, size: usize, at: &Path) -> Result<()> {
    let bad = |reason: String| OnnxError::Sidecar {
        path: at.to_path_buf(),
        reason,
    };
    graph.tokens = tokens;
    let [h, w] = graph.input_hw.unwrap_or([size, size]);
    let shapes = graph
        .shapes(1, h, w)
        .map_err(|e| bad(format!("tokens: {e}")))?;
    graph
        .check_tokens(&shapes)
        .map_err(|e| bad(format!("tokens: {e}")))
}

/// The sidecar `PATH.toml` beside the model at `path`, if there is one, and its path.
fn sidecar(path: &Path) -> Result<Option<(Sidecar, PathBuf)>> {
    let mut side = path.as_os_str().to_owned();
    side.push(".toml");
    let side = PathBuf::from(side);
    if !side.exists() {
        return Ok(None);
    }
    // a sidecar that is a pipe, a device or huge is an error, not waited on or skipped
    let text =
        fsguard::read_regular_text(&side, fsguard::MAX_TEXT_FILE_BYTES).map_err(|source| {
            OnnxError::Io {
                path: side.clone(),
                source,
            }
        })?;
    Ok(Some((Sidecar::parse(&text, &side)?, side)))
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fsguard::open_regular(path, fsguard::MAX_MODEL_FILE_BYTES).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut left = fsguard::MAX_MODEL_FILE_BYTES;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        // the size was checked on opening; a file that grows meanwhile is cut at the limit
        left = left.saturating_sub(n as u64);
        h.update(&buf[..n]);
        if left == 0 {
            break;
        }
    }
    Ok(format!("{:x}", h.finalize()))
}

/// The preset whose sha256 is `sha`, if any.
pub fn known_preset(sha: &str) -> Result<Option<(String, Sidecar)>> {
    for (file, text) in KNOWN {
        let s = Sidecar::parse(text, Path::new(file))?;
        if s.sha256.as_deref() == Some(sha) {
            let name = s.name.clone().unwrap_or_else(|| file.to_string());
            return Ok(Some((name, s)));
        }
    }
    Ok(None)
}

/// Decides the preprocessing of the model at `path` whose graph fixes `input_hw` (if it
/// does): a sidecar `PATH.toml` beside it, else the preset of a known file, else the default;
/// then the fields of `flags` on top. A size that contradicts the graph's is an error.
pub fn model_input(
    path: &Path,
    input_hw: Option<[usize; 2]>,
    flags: &Sidecar,
) -> Result<ModelInput> {
    let mut side = path.as_os_str().to_owned();
    side.push(".toml");
    let side = PathBuf::from(side);
    let (base, source) = if let Some((s, at)) = sidecar(path)? {
        (s, SpecSource::Sidecar(at))
    } else if let Some((name, s)) = known_preset(&sha256_file(path)?)? {
        (s, SpecSource::Known(name))
    } else {
        (Sidecar::default(), SpecSource::Default)
    };
    let s = base.overlay(flags);
    let graph_size = input_hw.filter(|[h, w]| h == w).map(|[h, _]| h);
    if let (Some(a), Some(b)) = (s.size, input_hw)
        && b != [a, a]
    {
        return Err(OnnxError::Sidecar {
            path: match &source {
                SpecSource::Sidecar(p) => p.clone(),
                _ => path.to_path_buf(),
            },
            reason: format!(
                "input size {a} contradicts the model's fixed {}x{} input",
                b[0], b[1]
            ),
        });
    }
    let size = s.size.or(graph_size).unwrap_or(224);
    check_sizes(&s, size, || match &source {
        SpecSource::Sidecar(p) => p.clone(),
        _ => path.to_path_buf(),
    })?;
    let range = s.range.unwrap_or(1.0);
    if !(range.is_finite() && range > 0.0) {
        return Err(OnnxError::Sidecar {
            path: path.to_path_buf(),
            reason: format!("range {range} must be positive (1 or 255)"),
        });
    }
    let imagenet = |v: [f32; 3]| v.map(|x| x * range);
    let mean = s.mean.unwrap_or(imagenet([0.485, 0.456, 0.406]));
    let std = s.std.unwrap_or(imagenet([0.229, 0.224, 0.225]));
    if mean.iter().chain(&std).any(|v| !v.is_finite()) || std.contains(&0.0) {
        return Err(OnnxError::Sidecar {
            path: path.to_path_buf(),
            reason: format!("mean {mean:?} and std {std:?} must be finite, std non-zero"),
        });
    }
    let spec = InputSpec {
        size,
        resize: s.resize.unwrap_or((size as u32 * 256).div_ceil(224)),
        norm: Normalization {
            order: match s.order.unwrap_or(Order::Rgb) {
                Order::Rgb => [0, 1, 2],
                Order::Bgr => [2, 1, 0],
            },
            scale: range / 255.0,
            mean,
            std,
        },
    };
    let warning = (source == SpecSource::Default && *flags == Sidecar::default()).then(|| {
        format!(
            "{}: no preprocessing is known for this model; using {size}x{size} RGB with \
             ImageNet mean/std in 0..1. Set it with a sidecar {} (size, resize, order, range, \
             mean, std) or --input-size/--mean/--std/--bgr",
            path.display(),
            side.display()
        )
    });
    Ok(ModelInput {
        spec,
        source,
        warning,
    })
}
