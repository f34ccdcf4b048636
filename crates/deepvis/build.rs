//! Looks for `Xvfb` and Chromium on the PATH: the window test (`tests/window.rs`) runs where
//! Xvfb is found (cfg `has_xvfb`), the atlas's browser test (`tests/atlas.rs`) where Chromium
//! is (cfg `has_chromium`); each is ignored, saying why, where it is not. The cfgs are worked
//! out again when the PATH changes or the program found goes away; after installing one on an
//! unchanged PATH, `touch crates/deepvis/build.rs` (CI installs both before the first build).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_xvfb)");
    println!("cargo::rustc-check-cfg=cfg(has_chromium)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    for (names, cfg) in [
        (&["Xvfb"][..], "has_xvfb"),
        (&["chromium", "chromium-browser"][..], "has_chromium"),
    ] {
        if let Some(found) = find(names) {
            println!("cargo::rerun-if-changed={}", found.display());
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

/// The first of `names` found on the PATH.
fn find(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|x| x.is_file())
}
