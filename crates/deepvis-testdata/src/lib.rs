//! Where the tests find the project and the shared data folder (`../shared`, beside the
//! project), decided when the tests run and not when they were built: cargo reuses a build
//! across checkouts, so a path baked in at build time can name another checkout.

use std::path::PathBuf;

/// The project's root: two folders above the manifest of the crate under test (cargo sets
/// `CARGO_MANIFEST_DIR` for the test process; every crate sits in `crates/`).
pub fn project_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.join("../..")
}

/// The shared data folder; tests that need it fail (not skip) when it is absent.
pub fn shared() -> PathBuf {
    let p = project_root().join("../shared");
    assert!(
        p.join("weights").is_dir(),
        "the shared data folder is missing at {} (../shared beside the project)",
        p.display()
    );
    p
}

/// A file of the shared data folder, which must exist.
pub fn shared_file(rel: &str) -> PathBuf {
    let p = shared().join(rel);
    assert!(p.is_file(), "shared data file missing: {}", p.display());
    p
}
