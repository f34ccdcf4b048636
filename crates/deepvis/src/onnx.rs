//! Models read from ONNX files (`--model PATH.onnx`): the graph, and its preprocessing from
//! the flags, a sidecar beside the file, a known file's preset or the stated default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::Device;
use deepvis_model::{ModelInfo, Net};
use deepvis_onnx::spec::{ModelInput, Order, Sidecar, SpecSource};

use crate::Global;
use crate::common::log;

/// The `--model` value as an ONNX file, when it names one: a path ending in `.onnx`, or a
/// registry model published as ONNX (`caffenet`), found where weights are found.
pub fn onnx_path(g: &Global) -> Result<Option<PathBuf>> {
    let p = Path::new(&g.model);
    let is_onnx = p
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if is_onnx {
        return Ok(Some(p.to_path_buf()));
    }
    match g.model.parse::<deepvis_weights::Model>() {
        Ok(m) if m.spec().download.format == deepvis_weights::WeightFormat::Onnx => {
            let found = crate::weights::resolve_model(g, m)?;
            log(
                g,
                format!("model file: {} ({})", found.path.display(), found.source),
            );
            Ok(Some(found.path))
        }
        _ => Ok(None),
    }
}

/// The preprocessing flags of the command line as a sidecar overlay.
pub fn flags(g: &Global) -> Result<Sidecar> {
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
pub struct OnnxFile {
    /// The graph.
    pub graph: deepvis_model::graph::Graph,
    /// The preprocessing.
    pub input: ModelInput,
    /// The file's name, as the model's name.
    pub name: String,
}

/// Reads `path` and decides its preprocessing.
pub fn read(g: &Global, path: &Path) -> Result<OnnxFile> {
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

impl OnnxFile {
    /// What is known of it without a device.
    pub fn info(&self) -> Result<ModelInfo> {
        Ok(ModelInfo::new(
            &self.graph,
            &self.name,
            self.input.spec,
            None,
        )?)
    }

    /// The network on `device`.
    pub fn net(self, device: &Device) -> Result<Net> {
        Ok(Net::from_any_graph(
            self.graph,
            &self.name,
            self.input.spec,
            None,
            device,
        )?)
    }
}
