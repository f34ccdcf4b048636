//! What every module of the binary stands on: where the project is, and the log on stderr.

use std::path::{Path, PathBuf};

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
