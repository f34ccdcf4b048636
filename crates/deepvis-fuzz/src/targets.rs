//! The decoders of user files, each as a target that runs one case, and the real files its
//! cases start from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use deepvis_model::{Arch, WeightMap, deepcompression, preprocess, tensor_file};
use deepvis_protocol::SourceSpec;
use deepvis_topk::{Hit, Index, IndexChannel, IndexHit, ScanState, TopK};
use deepvis_ui::Persisted;
use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};

use crate::{Error, Result};

/// A decoder of files a user gives deepvis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Photos: decoding (every format deepvis reads) and the network's preprocessing.
    Image,
    /// The Deep Compression SqueezeNet `.net` file, then the network's weight checks.
    Net,
    /// Weights in safetensors, then the network's weight checks.
    Safetensors,
    /// A preprocessed input tensor in safetensors.
    InputTensor,
    /// PyTorch checkpoints (`.pth`, zip and legacy formats).
    Pytorch,
    /// A top-k index folder's `index.json`.
    TopkIndex,
    /// A top-k scan's `state.json`, and offering it a hit as a resumed scan does.
    TopkState,
    /// The window's saved settings: eframe's RON file and the value under deepvis's key.
    Settings,
    /// Animated GIFs played as clips: every frame decoded, then the network's preprocessing.
    Animation,
    /// An exported picture's JSON sidecar (`optimize --from`, dropped on the window).
    Sidecar,
    /// ONNX models changed in their structure (not their bytes): dimensions, attributes,
    /// names, initializer sizes, node order, external data; loaded, checked against a memory
    /// budget and run forward (see `structure.rs`).
    OnnxStructure,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 11] = [
        Target::Image,
        Target::Net,
        Target::Safetensors,
        Target::InputTensor,
        Target::Pytorch,
        Target::TopkIndex,
        Target::TopkState,
        Target::Settings,
        Target::Animation,
        Target::Sidecar,
        Target::OnnxStructure,
    ];

    /// The target's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Target::Image => "image",
            Target::Net => "net",
            Target::Safetensors => "safetensors",
            Target::InputTensor => "input-tensor",
            Target::Pytorch => "pytorch",
            Target::TopkIndex => "topk-index",
            Target::TopkState => "topk-state",
            Target::Settings => "settings",
            Target::Animation => "animation",
            Target::Sidecar => "sidecar",
            Target::OnnxStructure => "onnx-structure",
        }
    }

    /// Runs the decoder on one case: `Ok` when it accepted the input, `Err` with why when it
    /// refused it. `scratch` is a folder of the calling thread's own, for the decoders that
    /// read files and folders.
    pub fn run(self, bytes: &[u8], scratch: &Path) -> std::result::Result<(), Refusal> {
        match self {
            Target::Image => image(bytes),
            Target::Net => {
                let mut map = deepcompression::decode(Path::new("case.net"), bytes)?;
                Arch::SqueezeNet1_0.graph(Some(&mut map))?;
                Ok(())
            }
            Target::Safetensors => safetensors(bytes),
            Target::InputTensor => {
                let t = tensor_file::input_tensor_from_bytes(
                    Path::new("case.safetensors"),
                    bytes,
                    None,
                )?;
                check(
                    t.shape.iter().product::<usize>() == t.data.len(),
                    "tensor size",
                )
            }
            Target::Pytorch => {
                let path = scratch.join("case.pth");
                std::fs::write(&path, bytes)?;
                WeightMap::read_pytorch(&path)?;
                Ok(())
            }
            Target::Animation => animation(bytes, scratch),
            Target::Sidecar => {
                let path = scratch.join("case.json");
                std::fs::write(&path, bytes)?;
                let sc = deepvis_engine::export::read(&path)
                    .map_err(|e| Refusal::Sidecar(e.to_string()))?;
                check(!sc.runs.is_empty(), "a sidecar with runs")
            }
            Target::TopkIndex => topk_index(bytes, scratch),
            Target::TopkState => topk_state(bytes, scratch),
            Target::Settings => settings(bytes),
            Target::OnnxStructure => crate::structure::run(bytes, scratch),
        }
    }

    /// The real files the target's cases start from: the shared data folder's photos and
    /// weights (`shared` is `../shared` beside the project), files deepvis writes itself,
    /// and PyTorch checkpoints kept in this crate.
    pub fn seeds(self, shared: &Path) -> Result<Vec<Seed>> {
        let file = |rel: &str| -> Result<Seed> {
            let path = shared.join(rel);
            let bytes = std::fs::read(&path).map_err(|source| Error::Seed {
                path: path.clone(),
                source,
            })?;
            Ok(Seed {
                name: rel.to_string(),
                bytes,
            })
        };
        let seeds = match self {
            Target::Image => {
                let mut v = Vec::new();
                for f in ["dog.jpg", "eagle.jpg", "giraffe.jpg", "coffee.png"] {
                    v.push(file(&format!("images/{f}"))?);
                }
                v.extend(small_images()?);
                v
            }
            Target::Net => vec![file("weights/squeezenet1_0/compressed_SqueezeNet.net")?],
            Target::Safetensors => {
                let mut v = vec![file("weights/squeezenet1_0/squeezenet1_0.safetensors")?];
                v.extend(small_tensors()?);
                v
            }
            Target::InputTensor => small_tensors()?,
            Target::Pytorch => crate::pytorch::seeds()
                .into_iter()
                .map(|(name, bytes)| Seed {
                    name: name.to_string(),
                    bytes,
                })
                .collect(),
            Target::TopkIndex => vec![written("index.json", |d| {
                sample_index().save(d).map(|()| Index::path(d))
            })?],
            Target::TopkState => vec![written("state.json", |d| {
                sample_state().save(d).map(|()| ScanState::path(d))
            })?],
            Target::Settings => settings_seeds()?,
            Target::Animation => vec![file("videos/three_photos.gif")?],
            Target::Sidecar => vec![Seed {
                name: "picture.json".into(),
                bytes: sample_sidecar(),
            }],
            Target::OnnxStructure => crate::structure::SEEDS
                .iter()
                .map(|rel| file(rel))
                .collect::<Result<_>>()?,
        };
        Ok(seeds)
    }
}

/// The key deepvis saves its settings under in eframe's storage.
pub const SETTINGS_KEY: &str = "deepvis";

/// One file a target's cases are mutated from.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Where it came from.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Why a target's decoder refused a case (its own error), or how a case it accepted came
/// out inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A photo, weights or a tensor the model's readers refused.
    #[error(transparent)]
    Model(#[from] deepvis_model::Error),
    /// A clip the sources refused.
    #[error(transparent)]
    Source(#[from] deepvis_sources::SourceError),
    /// A top-k file its reader refused.
    #[error(transparent)]
    Topk(#[from] deepvis_topk::Error),
    /// The case could not be written to the scratch folder.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A settings file that is no UTF-8.
    #[error(transparent)]
    Utf8(#[from] std::str::Utf8Error),
    /// A settings file or value that is no RON of its type.
    #[error(transparent)]
    Ron(#[from] ron::error::SpannedError),
    /// A sidecar the window's reader refused (its message).
    #[error("{0}")]
    Sidecar(String),
    /// A clip that ended before one of its frames.
    #[error("frame {0}")]
    Frame(u64),
    /// A file without the part deepvis reads (a scan without its state, settings without
    /// deepvis's key).
    #[error("{0}")]
    Missing(&'static str),
    /// An ONNX model (or its preprocessing) the loader refused.
    #[error(transparent)]
    Onnx(#[from] deepvis_onnx::OnnxError),
    /// A case that took more memory than its budget allowed: a finding, not an error.
    #[error("over the memory budget: {0}")]
    Overrun(String),
    /// A decoder that accepted its input gave inconsistent output: a bug, not an error.
    #[error("inconsistent output: {0}")]
    Inconsistent(&'static str),
}

fn check(ok: bool, what: &'static str) -> std::result::Result<(), Refusal> {
    if ok {
        Ok(())
    } else {
        Err(Refusal::Inconsistent(what))
    }
}

/// Photos: decoded (every format deepvis reads), then the network's preprocessing.
fn image(bytes: &[u8]) -> std::result::Result<(), Refusal> {
    let img = preprocess::decode_image(bytes, Path::new("case.img"))?;
    let p = Arch::SqueezeNet1_0.input_spec().apply(&img);
    check(p.chw.len() == 3 * p.size * p.size, "preprocessed size")
}

/// Weights in safetensors; SqueezeNet's (and mutations of them) go on to the network's
/// checks.
fn safetensors(bytes: &[u8]) -> std::result::Result<(), Refusal> {
    let mut map = WeightMap::from_safetensors_bytes(Path::new("case.safetensors"), bytes)?;
    if !map.tensors.contains_key("conv1.weight") {
        return Ok(());
    }
    Arch::SqueezeNet1_0.graph(Some(&mut map))?;
    Ok(())
}

/// An animated GIF as a clip: its first, middle and last frames through the preprocessing,
/// and none past its end.
fn animation(bytes: &[u8], scratch: &Path) -> std::result::Result<(), Refusal> {
    use deepvis_sources::video::Clip;
    let path = scratch.join("case.gif");
    std::fs::write(&path, bytes)?;
    let mut clip = deepvis_sources::video::open_animation(&path)?;
    let info = clip.info().clone();
    for n in [0, info.frames / 2, info.frames - 1] {
        let f = clip.frame(n).map_err(|e| Refusal::Frame(e.at))?;
        let p = Arch::SqueezeNet1_0
            .input_spec()
            .apply(&DynamicImage::ImageRgb8(f));
        check(p.chw.len() == 3 * p.size * p.size, "preprocessed size")?;
    }
    check(clip.frame(info.frames).is_err(), "a frame past the end")
}

/// A top-k index, then the montages of its first channels.
fn topk_index(bytes: &[u8], scratch: &Path) -> std::result::Result<(), Refusal> {
    std::fs::write(Index::path(scratch), bytes)?;
    let idx = Index::load(scratch)?;
    for c in 0..idx.channels.len().min(4) {
        idx.montage(scratch, c);
        idx.back_montage(scratch, c);
    }
    Ok(())
}

/// A scan's state, then a hit offered to its first channels as a resumed scan does.
fn topk_state(bytes: &[u8], scratch: &Path) -> std::result::Result<(), Refusal> {
    std::fs::write(ScanState::path(scratch), bytes)?;
    let mut state = ScanState::load(scratch)?.ok_or(Refusal::Missing("no state"))?;
    for c in 0..state.top.channels().min(4) {
        state.top.hits(c);
        state.top.offer(
            c,
            Hit {
                file: "new.jpg".into(),
                score: 1.0,
                y: 0,
                x: 0,
            },
        );
    }
    Ok(())
}

/// The window's settings: the file as eframe's storage reads it, then the value under the
/// key (what `eframe::get_value` does); a case that is no file is tried as the value.
fn settings(bytes: &[u8]) -> std::result::Result<(), Refusal> {
    let text = std::str::from_utf8(bytes)?;
    let value = match ron::from_str::<HashMap<String, String>>(text) {
        Ok(mut kv) => kv
            .remove(SETTINGS_KEY)
            .ok_or(Refusal::Missing("no deepvis key"))?,
        Err(_) => text.to_string(),
    };
    ron::from_str::<Persisted>(&value)?;
    Ok(())
}

fn generated(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Generate {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

/// Small pictures in every format deepvis reads, as the image crate writes them.
fn small_images() -> Result<Vec<Seed>> {
    let rgb = RgbImage::from_fn(23, 17, |x, y| image::Rgb([x as u8 * 11, y as u8 * 15, 128]));
    let rgba = RgbaImage::from_fn(9, 12, |x, y| {
        image::Rgba([x as u8 * 28, 50, y as u8 * 20, 200])
    });
    let gray = DynamicImage::ImageRgb8(rgb.clone()).into_luma16();
    let cases: [(&str, DynamicImage, ImageFormat); 8] = [
        (
            "small.png",
            DynamicImage::ImageRgb8(rgb.clone()),
            ImageFormat::Png,
        ),
        (
            "rgba.png",
            DynamicImage::ImageRgba8(rgba.clone()),
            ImageFormat::Png,
        ),
        (
            "gray16.png",
            DynamicImage::ImageLuma16(gray),
            ImageFormat::Png,
        ),
        (
            "small.jpg",
            DynamicImage::ImageRgb8(rgb.clone()),
            ImageFormat::Jpeg,
        ),
        (
            "small.bmp",
            DynamicImage::ImageRgb8(rgb.clone()),
            ImageFormat::Bmp,
        ),
        (
            "small.gif",
            DynamicImage::ImageRgba8(rgba.clone()),
            ImageFormat::Gif,
        ),
        (
            "small.tiff",
            DynamicImage::ImageRgb8(rgb),
            ImageFormat::Tiff,
        ),
        (
            "small.webp",
            DynamicImage::ImageRgba8(rgba),
            ImageFormat::WebP,
        ),
    ];
    cases
        .into_iter()
        .map(|(name, img, format)| {
            let mut bytes = Cursor::new(Vec::new());
            img.write_to(&mut bytes, format)
                .map_err(|e| generated(name, e))?;
            Ok(Seed {
                name: name.into(),
                bytes: bytes.into_inner(),
            })
        })
        .collect()
}

/// Small safetensors files: one float32 input, one float64 `3xHxW` input.
fn small_tensors() -> Result<Vec<Seed>> {
    let f32s: Vec<u8> = (0..3 * 8 * 6)
        .flat_map(|i| (i as f32 * 0.5 - 20.0).to_le_bytes())
        .collect();
    let f64s: Vec<u8> = (0..3 * 5 * 7)
        .flat_map(|i| (i as f64 * -0.25).to_le_bytes())
        .collect();
    let one = |name: &str, dtype, shape: Vec<usize>, data: &[u8]| -> Result<Seed> {
        let view = safetensors::tensor::TensorView::new(dtype, shape, data)
            .map_err(|e| generated(name, e))?;
        let mut meta = HashMap::new();
        meta.insert("written by".to_string(), "deepvis-fuzz".to_string());
        let bytes = safetensors::serialize(vec![("input", view)], Some(meta))
            .map_err(|e| generated(name, e))?;
        Ok(Seed {
            name: name.into(),
            bytes,
        })
    };
    Ok(vec![
        one(
            "input_f32.safetensors",
            safetensors::Dtype::F32,
            vec![1, 3, 8, 6],
            &f32s,
        )?,
        one(
            "input_f64.safetensors",
            safetensors::Dtype::F64,
            vec![3, 5, 7],
            &f64s,
        )?,
    ])
}

/// A file as deepvis's own code writes it into a folder (`save` returns its path).
fn written(name: &str, save: impl FnOnce(&Path) -> deepvis_topk::Result<PathBuf>) -> Result<Seed> {
    let dir = tempfile::tempdir().map_err(Error::Scratch)?;
    let path = save(dir.path()).map_err(|e| generated(name, e))?;
    let bytes = std::fs::read(&path).map_err(|source| Error::Seed { path, source })?;
    Ok(Seed {
        name: name.into(),
        bytes,
    })
}

/// A top-k scan state as `deepvis topk` saves it.
pub fn sample_state() -> ScanState {
    let mut top = TopK::new(3, 2);
    for (i, f) in ["a.jpg", "b/c.png", "d.jpg"].iter().enumerate() {
        for c in 0..3 {
            top.offer(
                c,
                Hit {
                    file: (*f).into(),
                    score: (i * 3 + c) as f32 * 0.7 - 1.0,
                    y: i,
                    x: c,
                },
            );
        }
    }
    ScanState {
        model: "squeezenet1_0".into(),
        layer: "fire9".into(),
        folder: PathBuf::from("/photos"),
        done: ["a.jpg", "b/c.png", "d.jpg", "e.jpg"]
            .iter()
            .map(|s| (*s).to_string())
            .collect::<BTreeSet<_>>(),
        skipped: vec![("e.jpg".into(), "not an image".into())],
        top,
        shard: None,
        stats: Vec::new(),
    }
}

/// A picture's sidecar as the window's export writes it: a run with a slider moved and the
/// automatic objective switch while it ran, and the window's settings.
pub fn sample_sidecar() -> Vec<u8> {
    use deepvis_optim::recipe::{
        Change, ModelFile, Recipe, RunRecord, Sidecar, Which, WindowSettings,
    };
    use deepvis_optim::{Init, Objective, Params, Unit};
    let objective = Objective {
        layer: "fire9".into(),
        unit: Unit::At {
            channel: 20,
            y: 6,
            x: 6,
        },
        pre_relu: true,
        sign: 1.0,
    };
    let params = Params::preset(3).unwrap_or_default();
    let mut moved = params;
    moved.decay = 0.01;
    let recipe = Recipe {
        objective: objective.clone().into(),
        params,
        method: Default::default(),
        images: 1,
        init: Init::Noise { seed: 0, std: 10.0 },
        changes: vec![
            (4, Change::Params(moved)),
            (4, Change::Resume),
            (
                9,
                Change::Objective(
                    Objective {
                        pre_relu: false,
                        ..objective.clone()
                    }
                    .into(),
                ),
            ),
        ],
        iterations: 12,
    };
    let sidecar = Sidecar {
        app: "deepvis 0.1.0".into(),
        model: "squeezenet1_0".into(),
        model_file: Some(ModelFile {
            path: "/weights/compressed_SqueezeNet.net".into(),
            sha256: "e4ab6960ae8cd81505e1c2136921201507e930966c53deaf15862a395b3a3261".into(),
        }),
        backend: "cpu".into(),
        image: Which::Current,
        scale: 1,
        runs: vec![RunRecord {
            layer: "fire9".into(),
            unit: 20,
            preset: None,
            start: "noise N(0,10) seed 0".into(),
            objective: objective.into(),
            params: moved,
            method: Default::default(),
            iterations: 12,
            best_obj: Some(3.5),
            best_iter: Some(11),
            stop: None,
            recipe,
        }],
        window: Some(WindowSettings {
            layer: "fire9".into(),
            unit: 20,
            optim: deepvis_protocol::OptimSettings::default(),
        }),
    };
    serde_json::to_vec_pretty(&sidecar).unwrap_or_default()
}

/// A top-k index as `deepvis topk --back deconv` writes it.
pub fn sample_index() -> Index {
    let state = sample_state();
    let channels = (0..state.top.channels())
        .map(|c| IndexChannel {
            channel: c,
            montage: format!("fire9/c{c:04}.png"),
            back_montage: (c != 1).then(|| format!("fire9/c{c:04}_deconv.png")),
            hits: state
                .top
                .hits(c)
                .iter()
                .map(|h| IndexHit {
                    file: h.file.clone(),
                    score: h.score,
                    y: h.y,
                    x: h.x,
                    field: [0, 0, 227, 227],
                })
                .collect(),
        })
        .collect();
    Index {
        model: state.model,
        layer: state.layer,
        k: 2,
        folder: state.folder,
        images: 3,
        skipped: state.skipped,
        shard: None,
        back: Some("deconv, raw".into()),
        channels,
    }
}

/// The window's settings: the defaults and changed ones, as the value eframe stores and as
/// its whole file.
fn settings_seeds() -> Result<Vec<Seed>> {
    let mut changed = Persisted {
        layer: Some("fire9/expand3x3".into()),
        selected: Some(207),
        running: false,
        source: Some(SourceSpec::Path(PathBuf::from("/home/me/photos"))),
        topk_dir: Some(PathBuf::from("/tmp/index")),
        ..Persisted::default()
    };
    changed.optim.seed = 42;
    let mut seeds = Vec::new();
    for (name, p) in [("default", Persisted::default()), ("changed", changed)] {
        let value = ron::to_string(&p).map_err(|e| generated("settings", e))?;
        let mut kv = BTreeMap::new();
        kv.insert(SETTINGS_KEY.to_string(), value.clone());
        kv.insert("egui".to_string(), "(windows:{})".to_string());
        let file = ron::ser::to_string_pretty(&kv, ron::ser::PrettyConfig::default())
            .map_err(|e| generated("settings file", e))?;
        seeds.push(Seed {
            name: format!("{name} value"),
            bytes: value.into_bytes(),
        });
        seeds.push(Seed {
            name: format!("{name} app.ron"),
            bytes: file.into_bytes(),
        });
    }
    Ok(seeds)
}
