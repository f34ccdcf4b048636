//! The one way from `--model` to a network. `--model` names a registry model by its name or an
//! alias (`deepvis_model::Model`): a network deepvis builds (SqueezeNet, AlexNet), whose
//! weights are found by `--weights`, `DEEPVIS_WEIGHTS`, the project's `weights/`, the shared
//! weights folder or the user cache (where `deepvis weights fetch` puts them); or one
//! published as ONNX (CaffeNet), its file found the same way. Or `--model` is an ONNX file
//! (`PATH.onnx`), its preprocessing from the flags, a sidecar beside it, a known file's preset
//! or the stated default. [`ModelSource::resolve`] decides which, reading nothing yet; its
//! methods read and build what a command needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use deepvis_engine::ModelLoader;
use deepvis_model::{Arch, Model, ModelInfo, Net};
use deepvis_onnx::spec::{ModelInput, Order, Sidecar, SpecSource};
use deepvis_weights::{ResolveInputs, Resolved, WeightFormat};

use crate::Global;
use crate::env::{log, project_root};

/// Where the network that `--model` names comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A network deepvis builds; its weights are found when it is built.
    Builtin(Arch),
    /// A network read from an ONNX file.
    Onnx(PathBuf),
}

impl ModelSource {
    /// `--model` resolved: an ONNX file by its extension, else a registry model by its name
    /// or an alias (a model published as ONNX: its file found where weights are found).
    pub fn resolve(g: &Global) -> Result<ModelSource> {
        if is_onnx(Path::new(&g.model)) {
            return Ok(ModelSource::Onnx(PathBuf::from(&g.model)));
        }
        let model: Model = g
            .model
            .parse()
            .context("--model is a known model's name or an ONNX file (`PATH.onnx`)")?;
        if let Some(arch) = Arch::of(model) {
            return Ok(ModelSource::Builtin(arch));
        }
        if model.spec().download.format != WeightFormat::Onnx {
            bail!("{} is neither built in nor published as ONNX", model.name());
        }
        let found = registry_file(g, model)?;
        log(
            g,
            format!("model file: {} ({})", found.path.display(), found.source),
        );
        Ok(ModelSource::Onnx(found.path))
    }

    /// What is known of the network without its weights: the built-in network's, or the ONNX
    /// file's (read).
    pub fn info(&self, g: &Global) -> Result<Arc<ModelInfo>> {
        match self {
            ModelSource::Builtin(arch) => Ok(arch.info()),
            ModelSource::Onnx(path) => Ok(Arc::new(OnnxFile::read(g, path)?.info()?)),
        }
    }

    /// The file the network comes from: the ONNX file, or the built-in network's weights.
    pub fn file(&self, g: &Global) -> Result<PathBuf> {
        match self {
            ModelSource::Builtin(arch) => Ok(registry_file(g, arch.model())?.path),
            ModelSource::Onnx(path) => Ok(path.clone()),
        }
    }

    /// The network on `device`.
    pub fn net(&self, g: &Global, device: &Device) -> Result<Net> {
        match self {
            ModelSource::Builtin(arch) => {
                let weights = weights(g, *arch)?;
                Net::load(*arch, &weights, device)
                    .with_context(|| format!("loading {} weights", arch.name()))
            }
            ModelSource::Onnx(path) => OnnxFile::read(g, path)?
                .net(device)
                .with_context(|| format!("loading {}", path.display())),
        }
    }

    /// How the window's worker loads the network: an ONNX file is read (and checked) now, and
    /// built on the worker's device from memory; a built-in network's weights are found now.
    pub fn loader(&self, g: &Global) -> Result<ModelLoader> {
        match self {
            ModelSource::Builtin(arch) => Ok(ModelLoader::builtin(*arch, weights(g, *arch)?)),
            ModelSource::Onnx(path) => {
                let f = OnnxFile::read(g, path)?;
                // the whole graph must hold together before a window opens on it
                f.info()?;
                let (graph, spec, name) = (f.graph, f.input.spec, f.name);
                let loader = ModelLoader::new(&name.clone(), move |device| {
                    Net::from_any_graph(graph.clone(), &name, spec, None, device)
                        .map_err(|e| e.to_string())
                });
                Ok(match deepvis_onnx::spec::sha256_file(path) {
                    Ok(sha) => loader.with_file(path.clone(), sha),
                    Err(_) => loader,
                })
            }
        }
    }
}

/// Whether `path` names an ONNX file (its extension, any case).
fn is_onnx(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The file of a registry model (weights, or a whole ONNX network), found in the documented
/// order: `--weights`, `DEEPVIS_WEIGHTS`, the project's `weights/`, the shared weights folder,
/// the user cache.
pub fn registry_file(g: &Global, model: Model) -> Result<Resolved> {
    let inputs = ResolveInputs::from_env(g.weights.clone(), &project_root());
    Ok(deepvis_weights::resolve(model.spec(), &inputs)?)
}

/// The weights of a built-in network, found (and said in the log).
fn weights(g: &Global, arch: Arch) -> Result<PathBuf> {
    let found = registry_file(g, arch.model())?;
    log(
        g,
        format!("weights: {} ({})", found.path.display(), found.source),
    );
    Ok(found.path)
}

/// The preprocessing flags of the command line as a sidecar overlay.
fn flags(g: &Global) -> Result<Sidecar> {
    let three = |s: &Option<String>, what: &str| -> Result<Option<[f32; 3]>> {
        let Some(s) = s else { return Ok(None) };
        let v: Vec<f32> = s
            .split(',')
            .map(|x| x.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .with_context(|| format!("--{what} {s}: expected three numbers, e.g. 0.5,0.5,0.5"))?;
        let a: [f32; 3] = v
            .try_into()
            .map_err(|_| anyhow::anyhow!("--{what} {s}: expected three numbers"))?;
        if a.iter().any(|x| !x.is_finite()) {
            bail!("--{what} {s}: values must be finite");
        }
        Ok(Some(a))
    };
    Ok(Sidecar {
        size: g.input_size,
        mean: three(&g.mean, "mean")?,
        std: three(&g.std, "std")?,
        order: g.bgr.then_some(Order::Bgr),
        range: g.input_range,
        ..Sidecar::default()
    })
}

/// An ONNX file read, with its preprocessing decided (warnings printed once).
struct OnnxFile {
    /// The graph.
    graph: deepvis_model::graph::Graph,
    /// The preprocessing.
    input: ModelInput,
    /// The file's name, as the model's name.
    name: String,
}

impl OnnxFile {
    /// Reads `path` and decides its preprocessing.
    fn read(g: &Global, path: &Path) -> Result<OnnxFile> {
        let (m, input) = deepvis_onnx::spec::open(path, &flags(g)?)?;
        log(
            g,
            format!(
                "model: {} (opset {}, {} nodes{})",
                path.display(),
                m.opset,
                m.graph.nodes.len(),
                if m.producer.is_empty() {
                    String::new()
                } else {
                    format!(", from {}", m.producer)
                }
            ),
        );
        if let Some(w) = &input.warning {
            eprintln!("deepvis: warning: {w}");
        }
        match &input.source {
            SpecSource::Known(name) => log(g, format!("preprocessing: the preset of {name}")),
            SpecSource::Sidecar(p) => log(g, format!("preprocessing: {}", p.display())),
            SpecSource::Default => {}
        }
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(OnnxFile {
            graph: m.graph,
            input,
            name,
        })
    }

    /// What is known of it without a device.
    fn info(&self) -> Result<ModelInfo> {
        Ok(ModelInfo::new(
            &self.graph,
            &self.name,
            self.input.spec,
            None,
        )?)
    }

    /// The network on `device`.
    fn net(self, device: &Device) -> Result<Net> {
        Ok(Net::from_any_graph(
            self.graph,
            &self.name,
            self.input.spec,
            None,
            device,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(model: &str) -> Global {
        Global {
            model: model.to_string(),
            input_size: None,
            mean: None,
            std: None,
            bgr: false,
            input_range: None,
            weights: None,
            backend: "cpu".into(),
            quiet: true,
        }
    }

    #[test]
    fn every_name_and_alias_of_a_built_in_model_resolves_to_its_network() {
        for arch in Arch::ALL {
            let m = arch.model();
            for name in std::iter::once(m.name()).chain(m.aliases().iter().copied()) {
                for spelled in [name.to_string(), name.to_ascii_uppercase()] {
                    let s = ModelSource::resolve(&global(&spelled)).unwrap();
                    assert_eq!(s, ModelSource::Builtin(arch), "{spelled}");
                }
            }
        }
        // the spellings the command line took before the names were one table
        for name in [
            "squeezenet",
            "SqueezeNet1.0",
            "squeezenet-v1.0",
            "squeezenet1",
        ] {
            let s = ModelSource::resolve(&global(name)).unwrap();
            assert_eq!(s, ModelSource::Builtin(Arch::SqueezeNet1_0), "{name}");
        }
    }

    #[test]
    fn an_onnx_path_is_a_file_and_an_unknown_name_lists_the_known_ones() {
        let s = ModelSource::resolve(&global("/nowhere/net.ONNX")).unwrap();
        assert_eq!(s, ModelSource::Onnx(PathBuf::from("/nowhere/net.ONNX")));
        let e = format!("{:#}", ModelSource::resolve(&global("vgg16")).unwrap_err());
        for want in ["vgg16", "squeezenet1_0", "alexnet", "caffenet", "ONNX file"] {
            assert!(e.contains(want), "{e}");
        }
    }
}
