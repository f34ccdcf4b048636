//! `deepvis weights`: where the weights are, checking them, downloading them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use deepvis_model::Model;

use crate::Global;
use crate::common::log;
use crate::model::registry_file;

/// Subcommands of `deepvis weights`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Download a model's weights into the user cache (sha256-checked, never a partial file).
    Fetch {
        /// The model (default: --model's; caffenet is the ONNX model zoo's BVLC CaffeNet).
        #[arg(value_enum, ignore_case = true)]
        model: Option<Model>,
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

/// Runs a subcommand.
pub fn run(g: &Global, c: Command) -> Result<ExitCode> {
    match c {
        Command::Fetch { model, cache } => {
            let model = match model {
                Some(m) => m,
                None => g.model.parse()?,
            };
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
            let path = deepvis_weights::fetch(model.spec(), &cache, |done, total| {
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
                None => registry_file(g, model)?.path,
            };
            let v = deepvis_weights::verify(&path, model.spec())?;
            println!(
                "{}: {} bytes, sha256 {} ({:?})",
                v.path.display(),
                v.digest.size,
                v.digest.sha256,
                v.check
            );
        }
        Command::Where => {
            let r = registry_file(g, g.model.parse()?)?;
            println!("{} ({})", r.path.display(), r.source);
        }
    }
    Ok(ExitCode::SUCCESS)
}
