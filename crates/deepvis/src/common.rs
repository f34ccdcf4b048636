//! What the commands share: loading the network on the chosen device, reading inputs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use deepvis_model::{Arch, BackendChoice, Net, SelectedDevice, preprocess, tensor_file};

use crate::Global;

/// The project's root (holds `weights/`; `../shared` sits beside it): `DEEPVIS_ROOT` when set
/// (`scripts/run.sh` sets it), else the current folder when it is a deepvis checkout, else
/// where the binary was built.
pub fn project_root() -> PathBuf {
    let is_root = |p: &Path| p.join("weights/SHA256SUMS").is_file();
    if let Some(p) = std::env::var_os("DEEPVIS_ROOT").map(PathBuf::from) {
        return p.canonicalize().unwrap_or(p);
    }
    if let Ok(cwd) = std::env::current_dir()
        && is_root(&cwd)
    {
        return cwd;
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

/// Prints a log line on stderr unless `--quiet`.
pub fn log(g: &Global, msg: impl AsRef<str>) {
    if !g.quiet {
        eprintln!("deepvis: {}", msg.as_ref());
    }
}

/// A network ready to run.
pub struct Loaded {
    /// The architecture.
    pub arch: Arch,
    /// The network.
    pub net: Net,
    /// The device it lives on.
    pub device: SelectedDevice,
}

/// Chooses the device, finds the weights and loads the network.
pub fn load(g: &Global) -> Result<Loaded> {
    let arch = Arch::from_name(&g.model)?;
    let device = deepvis_model::device::select(BackendChoice::from_name(&g.backend)?)?;
    log(g, format!("backend: {}", device.description));
    let found = crate::weights::resolve(g, arch)?;
    log(
        g,
        format!("weights: {} ({})", found.path.display(), found.source),
    );
    let net = Net::load(arch, &found.path, &device.device)
        .with_context(|| format!("loading {} weights", arch.name()))?;
    Ok(Loaded { arch, net, device })
}

/// An input ready for the network.
pub struct Input {
    /// `[1, 3, H, W]`.
    pub tensor: Tensor<4>,
}

/// Reads a photo (any format the image crate decodes) or, for `.safetensors`, the named
/// preprocessed tensor.
pub fn read_input(path: &Path, tensor: Option<&str>, l: &Loaded) -> Result<Input> {
    let is_tensor = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if is_tensor {
        let t = tensor_file::read_input_tensor(path, tensor)?;
        let dims: [usize; 4] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
        l.net.check_input(dims)?;
        Ok(Input {
            tensor: deepvis_model::tensor4(t.data, dims, &l.device.device)?,
        })
    } else {
        let p = preprocess::preprocess_file(path, l.arch)?;
        let dims = p.dims();
        Ok(Input {
            tensor: deepvis_model::tensor4(p.chw, dims, &l.device.device)?,
        })
    }
}
