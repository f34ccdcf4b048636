//! `deepvis weights`: where the weights are, checking them, downloading them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use deepvis_model::Arch;
use deepvis_weights::{Model, ResolveInputs, Resolved};

use crate::Global;
use crate::common::{log, project_root};

/// Subcommands of `deepvis weights`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Download a model's weights into the user cache (sha256-checked, never a partial file).
    Fetch {
        /// squeezenet1_0 (default), alexnet, or caffenet (the ONNX model zoo's BVLC CaffeNet).
        model: Option<String>,
        /// Cache folder (default: $XDG_CACHE_HOME/deepvis/weights or ~/.cache/deepvis/weights).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Check a weights file (or the one deepvis would use) against the known checksums.
    Verify {
        /// The file or folder (default: the one resolution finds).
        path: Option<PathBuf>,
    },
    /// Show where deepvis finds the weights of the model.
    Where,
}

fn model_of(arch: Arch) -> Model {
    match arch {
        Arch::SqueezeNet1_0 => Model::SqueezeNet1_0,
        Arch::AlexNet => Model::AlexNet,
    }
}

/// Finds the weights of `arch` in the documented order.
pub fn resolve(g: &Global, arch: Arch) -> Result<Resolved> {
    resolve_model(g, model_of(arch))
}

/// Finds the file of a registry model in the documented order.
pub fn resolve_model(g: &Global, model: Model) -> Result<Resolved> {
    let inputs = ResolveInputs::from_env(g.weights.clone(), &project_root());
    Ok(deepvis_weights::resolve(model, &inputs)?)
}

/// Runs a subcommand.
pub fn run(g: &Global, c: Command) -> Result<ExitCode> {
    match c {
        Command::Fetch { model, cache } => {
            let model: Model = model.as_deref().unwrap_or(&g.model).parse()?;
            let cache = match cache {
                Some(c) => c,
                None => deepvis_weights::default_cache_dir()
                    .context("no cache folder: set XDG_CACHE_HOME or HOME, or pass --cache")?,
            };
            let bar = if g.quiet {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(0)
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let path = deepvis_weights::fetch(model, &cache, |done, total| {
                if let Some(t) = total {
                    bar.set_length(t);
                }
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            log(
                g,
                format!("{} verified at {}", model.name(), path.display()),
            );
            println!("{}", path.display());
        }
        Command::Verify { path } => {
            let model: Model = g.model.parse()?;
            let path = match path {
                Some(p) => p,
                None => resolve_model(g, model)?.path,
            };
            let v = deepvis_weights::verify(&path, model)?;
            println!(
                "{}: {} bytes, sha256 {} ({:?})",
                v.path.display(),
                v.digest.size,
                v.digest.sha256,
                v.check
            );
        }
        Command::Where => {
            let r = resolve_model(g, g.model.parse()?)?;
            println!("{} ({})", r.path.display(), r.source);
        }
    }
    Ok(ExitCode::SUCCESS)
}
