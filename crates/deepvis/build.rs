//! Looks for `Xvfb` on the PATH: the window test (`tests/window.rs`) runs where it is found
//! (cfg `has_xvfb`) and is ignored, saying why, where it is not. The cfg is worked out again
//! when the PATH changes or the Xvfb found goes away; after installing Xvfb on an unchanged
//! PATH, `touch crates/deepvis/build.rs` (CI installs it before the first build).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_xvfb)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("Xvfb"))
            .find(|x| x.is_file())
    });
    if let Some(xvfb) = found {
        println!("cargo::rerun-if-changed={}", xvfb.display());
        println!("cargo::rustc-cfg=has_xvfb");
    }
}
