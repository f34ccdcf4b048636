//! Finding a model's weights on disk.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::{KnownFile, ModelSpec, SearchedPlace, WeightFormat, WeightsError};

/// The environment variable naming a weights file or folder (rule b).
pub const ENV_WEIGHTS: &str = "DEEPVIS_WEIGHTS";

/// Which rule found the weights, in the order the rules are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightsSource {
    /// (a) A path given explicitly (the `--weights PATH` flag).
    Explicit,
    /// (b) The `DEEPVIS_WEIGHTS` environment variable.
    EnvVar,
    /// (c) The project's `weights/` folder.
    ProjectDir,
    /// (d) `../shared/weights` relative to the project root.
    SharedDir,
    /// (e) The user cache folder (`$XDG_CACHE_HOME/deepvis/weights` or
    /// `$HOME/.cache/deepvis/weights`).
    UserCache,
}

impl fmt::Display for WeightsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightsSource::Explicit => "--weights",
            WeightsSource::EnvVar => ENV_WEIGHTS,
            WeightsSource::ProjectDir => "the project's weights/ folder",
            WeightsSource::SharedDir => "the shared weights folder",
            WeightsSource::UserCache => "the user cache",
        })
    }
}

/// Everything resolution looks at, so that it reads no global state itself.
///
/// Build it with [`ResolveInputs::from_env`] in a program, or by hand in tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveInputs {
    /// (a) The `--weights` path: a file or a folder; must exist.
    pub explicit: Option<PathBuf>,
    /// (b) The value of `DEEPVIS_WEIGHTS`: a file or a folder; must exist.
    /// An empty value counts as unset.
    pub env_weights: Option<OsString>,
    /// (c) The project's `weights/` folder; skipped when missing.
    pub project_weights_dir: Option<PathBuf>,
    /// (d) The shared weights folder (`<project root>/../shared/weights`);
    /// skipped when missing.
    pub shared_weights_dir: Option<PathBuf>,
    /// (e) The user cache folder; skipped when missing.
    pub cache_dir: Option<PathBuf>,
}

impl ResolveInputs {
    /// The inputs of a real run: `explicit` from `--weights`, `DEEPVIS_WEIGHTS`
    /// from the environment, `<project_root>/weights`,
    /// `<project_root>/../shared/weights` and [`default_cache_dir`].
    pub fn from_env(explicit: Option<PathBuf>, project_root: &Path) -> Self {
        ResolveInputs {
            explicit,
            env_weights: env::var_os(ENV_WEIGHTS),
            project_weights_dir: Some(project_root.join("weights")),
            shared_weights_dir: Some(project_root.join("..").join("shared").join("weights")),
            cache_dir: default_cache_dir(),
        }
    }
}

/// The user cache folder for weights, from the real environment:
/// `$XDG_CACHE_HOME/deepvis/weights`, else `$HOME/.cache/deepvis/weights`.
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(env::var_os("XDG_CACHE_HOME"), env::var_os("HOME"))
}

/// [`default_cache_dir`] from given values of `XDG_CACHE_HOME` and `HOME`.
/// An empty or relative `XDG_CACHE_HOME` is ignored, as the XDG spec says.
pub fn cache_dir_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    if let Some(xdg) = xdg_cache_home.filter(|v| !v.is_empty()) {
        let xdg = PathBuf::from(xdg);
        if xdg.is_absolute() {
            return Some(xdg.join("deepvis").join("weights"));
        }
    }
    home.filter(|v| !v.is_empty()).map(|home| {
        PathBuf::from(home)
            .join(".cache")
            .join("deepvis")
            .join("weights")
    })
}

/// Weights found by [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The weights file.
    pub path: PathBuf,
    /// The rule that found it.
    pub source: WeightsSource,
    /// Its format: that of the known file of that name, else guessed from the
    /// extension; `None` for an explicitly given file with an unknown extension.
    pub format: Option<WeightFormat>,
    /// The registry entry of the file, when its name is one of the model's
    /// known files.
    pub known_file: Option<&'static KnownFile>,
}

/// Finds `model`'s weights, trying in order: (a) `inputs.explicit`,
/// (b) `inputs.env_weights`, (c) the project's `weights/` folder, (d) the shared
/// weights folder, (e) the user cache folder.
///
/// A path given by (a) or (b) must exist, and when it is a folder it must hold
/// the model's weights: otherwise this is an error, not a fall-through.
/// The folders of (c)-(e) are skipped when missing or without the model's files;
/// when all are, the error lists each place searched.
///
/// In a folder `dir`, the model's known files are looked for in `dir/` and in
/// `dir/<model name>/`, in the registry's order of preference (for SqueezeNet:
/// `squeezenet1_0.safetensors`, then `compressed_SqueezeNet.net`).
/// Resolution does not hash the file found; use [`crate::verify`] for that.
pub fn resolve(
    model: &'static ModelSpec,
    inputs: &ResolveInputs,
) -> Result<Resolved, WeightsError> {
    if let Some(path) = &inputs.explicit {
        return resolve_given(model, path, WeightsSource::Explicit);
    }
    if let Some(value) = inputs.env_weights.as_ref().filter(|v| !v.is_empty()) {
        return resolve_given(model, Path::new(value), WeightsSource::EnvVar);
    }

    let folders = [
        (WeightsSource::ProjectDir, &inputs.project_weights_dir),
        (WeightsSource::SharedDir, &inputs.shared_weights_dir),
        (WeightsSource::UserCache, &inputs.cache_dir),
    ];
    let mut searched = Vec::with_capacity(folders.len());
    for (source, dir) in folders {
        let Some(dir) = dir else {
            let outcome = match source {
                WeightsSource::UserCache => "unknown: neither XDG_CACHE_HOME nor HOME is set",
                _ => "no folder given",
            };
            searched.push(SearchedPlace {
                origin: source,
                path: None,
                outcome: outcome.to_owned(),
            });
            continue;
        };
        if !dir.is_dir() {
            searched.push(SearchedPlace {
                origin: source,
                path: Some(dir.clone()),
                outcome: "does not exist".to_owned(),
            });
            continue;
        }
        if let Some((path, known)) = locate_in_dir(model, dir) {
            return Ok(Resolved {
                path,
                source,
                format: Some(known.format),
                known_file: Some(known),
            });
        }
        searched.push(SearchedPlace {
            origin: source,
            path: Some(dir.clone()),
            outcome: format!("holds no {}", looked_for(model)),
        });
    }
    Err(WeightsError::NotFound {
        model: model.name,
        searched,
    })
}

/// Finds the model's weights in the real environment: [`resolve`] with
/// [`ResolveInputs::from_env`].
pub fn resolve_from_env(
    model: &'static ModelSpec,
    explicit: Option<PathBuf>,
    project_root: &Path,
) -> Result<Resolved, WeightsError> {
    resolve(model, &ResolveInputs::from_env(explicit, project_root))
}

/// The model's preferred weights file in `dir`, looking in `dir/` and
/// `dir/<model name>/`, or `None`.
pub fn locate_in_dir(
    model: &'static ModelSpec,
    dir: &Path,
) -> Option<(PathBuf, &'static KnownFile)> {
    let spec = model;
    let subdir = dir.join(spec.name);
    spec.local_files.iter().find_map(|known| {
        [dir, subdir.as_path()]
            .into_iter()
            .map(|d| d.join(known.file_name))
            .find(|p| p.is_file())
            .map(|p| (p, known))
    })
}

/// The file names looked for in a folder, in words.
fn looked_for(model: &'static ModelSpec) -> String {
    let spec = model;
    let names: Vec<&str> = spec.local_files.iter().map(|f| f.file_name).collect();
    format!(
        "{} (in the folder itself or in its {}/ subfolder)",
        names.join(" or "),
        spec.name
    )
}

fn resolve_given(
    model: &'static ModelSpec,
    path: &Path,
    origin: WeightsSource,
) -> Result<Resolved, WeightsError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(WeightsError::MissingPath {
                path: path.to_path_buf(),
                origin,
            });
        }
        Err(e) => return Err(WeightsError::io("read", path, e)),
    };
    if meta.is_dir() {
        return match locate_in_dir(model, path) {
            Some((found, known)) => Ok(Resolved {
                path: found,
                source: origin,
                format: Some(known.format),
                known_file: Some(known),
            }),
            None => Err(WeightsError::NoWeightsInDir {
                model: model.name,
                dir: path.to_path_buf(),
                origin,
                looked_for: looked_for(model),
            }),
        };
    }
    let known_file = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| model.file_named(n));
    Ok(Resolved {
        path: path.to_path_buf(),
        source: origin,
        format: known_file
            .map(|k| k.format)
            .or_else(|| WeightFormat::from_path(path)),
        known_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_rules() {
        assert_eq!(
            cache_dir_from(Some("/x/cache".into()), Some("/home/u".into())),
            Some(PathBuf::from("/x/cache/deepvis/weights"))
        );
        assert_eq!(
            cache_dir_from(Some("relative".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/deepvis/weights"))
        );
        assert_eq!(
            cache_dir_from(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.cache/deepvis/weights"))
        );
        assert_eq!(cache_dir_from(None, None), None);
        assert_eq!(cache_dir_from(None, Some("".into())), None);
    }
}
