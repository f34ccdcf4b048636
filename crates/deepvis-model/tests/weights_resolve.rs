//! Resolution order and local verification, with temporary folders only
//! (the environment is never read or changed: inputs are passed explicitly).

use std::fs;
use std::path::{Path, PathBuf};

use deepvis_model::Model;
use deepvis_weights::{
    Check, ResolveInputs, WeightFormat, WeightsError, WeightsSource, resolve, verify,
};

const SAFETENSORS: &str = "squeezenet1_0.safetensors";
const NET: &str = "compressed_SqueezeNet.net";

fn touch(path: &Path) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, b"x").unwrap();
    path.to_path_buf()
}

/// Folders for the rules (c), (d) and (e), each initially missing.
struct Places {
    _root: tempfile::TempDir,
    project: PathBuf,
    shared: PathBuf,
    cache: PathBuf,
    other: PathBuf,
}

impl Places {
    fn new() -> Places {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().to_path_buf();
        Places {
            project: p.join("project/weights"),
            shared: p.join("shared/weights"),
            cache: p.join("cache/deepvis/weights"),
            other: p.join("elsewhere"),
            _root: root,
        }
    }

    fn inputs(&self) -> ResolveInputs {
        ResolveInputs {
            explicit: None,
            env_weights: None,
            project_weights_dir: Some(self.project.clone()),
            shared_weights_dir: Some(self.shared.clone()),
            cache_dir: Some(self.cache.clone()),
        }
    }
}

fn shared_weights() -> PathBuf {
    let dir = deepvis_testdata::shared().join("weights");
    assert!(
        dir.join("squeezenet1_0").join(NET).is_file(),
        "test data missing: {} must hold squeezenet1_0/{NET} (the shared data folder, \
         ../shared relative to the project root)",
        dir.display()
    );
    dir
}

#[test]
fn folders_in_order_project_shared_cache() {
    let places = Places::new();
    let inputs = places.inputs();

    let cached = touch(&places.cache.join("squeezenet1_0").join(NET));
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(
        (found.path, found.source),
        (cached, WeightsSource::UserCache)
    );
    assert_eq!(found.format, Some(WeightFormat::DeepCompressionNet));

    let shared = touch(&places.shared.join(NET));
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(
        (found.path, found.source),
        (shared, WeightsSource::SharedDir)
    );

    // An existing project folder without the model's files is skipped.
    fs::create_dir_all(&places.project).unwrap();
    touch(&places.project.join("README.md"));
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(found.source, WeightsSource::SharedDir);

    let project = touch(&places.project.join("squeezenet1_0").join(SAFETENSORS));
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(
        (found.path, found.source),
        (project, WeightsSource::ProjectDir)
    );
    assert_eq!(found.format, Some(WeightFormat::Safetensors));
    assert_eq!(found.known_file.map(|k| k.file_name), Some(SAFETENSORS));
}

#[test]
fn env_var_beats_folders_and_explicit_beats_env_var() {
    let places = Places::new();
    touch(&places.project.join(NET));
    let env_file = touch(&places.other.join("env").join("my.safetensors"));
    let explicit_dir = places.other.join("explicit");
    let explicit_file = touch(&explicit_dir.join("squeezenet1_0").join(NET));

    let mut inputs = places.inputs();
    inputs.env_weights = Some(env_file.clone().into_os_string());
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(
        (found.path, found.source),
        (env_file, WeightsSource::EnvVar)
    );
    assert_eq!(found.format, Some(WeightFormat::Safetensors));
    assert_eq!(found.known_file, None);

    inputs.explicit = Some(explicit_dir);
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(
        (found.path, found.source),
        (explicit_file, WeightsSource::Explicit)
    );

    // An empty variable counts as unset.
    let mut inputs = places.inputs();
    inputs.env_weights = Some("".into());
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(found.source, WeightsSource::ProjectDir);

    // A folder in the variable is searched like the others.
    inputs.env_weights = Some(places.project.clone().into_os_string());
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(found.source, WeightsSource::EnvVar);
}

#[test]
fn explicit_paths_never_fall_through() {
    let places = Places::new();
    touch(&places.project.join(NET));
    let missing = places.other.join("nope.safetensors");

    let mut inputs = places.inputs();
    inputs.explicit = Some(missing.clone());
    let err = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap_err();
    assert!(
        matches!(&err, WeightsError::MissingPath { path, origin: WeightsSource::Explicit } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope.safetensors"), "{err}");

    let mut inputs = places.inputs();
    inputs.env_weights = Some(missing.clone().into_os_string());
    let err = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap_err();
    assert!(
        matches!(
            err,
            WeightsError::MissingPath {
                origin: WeightsSource::EnvVar,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("DEEPVIS_WEIGHTS"), "{err}");

    // An existing folder without the model's files is an error too.
    let empty = places.other.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let mut inputs = places.inputs();
    inputs.explicit = Some(empty);
    let err = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap_err();
    assert!(
        matches!(err, WeightsError::NoWeightsInDir { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(SAFETENSORS) && msg.contains(NET), "{msg}");
}

#[test]
fn an_explicit_file_is_taken_as_is() {
    let places = Places::new();
    let odd = touch(&places.other.join("weights.bin"));
    let mut inputs = places.inputs();
    inputs.explicit = Some(odd.clone());
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(found.path, odd);
    assert_eq!(found.format, None);
    assert_eq!(found.known_file, None);
}

#[test]
fn safetensors_preferred_over_net() {
    let places = Places::new();
    touch(&places.project.join(NET));
    let st = touch(&places.project.join("squeezenet1_0").join(SAFETENSORS));
    let found = resolve(Model::SqueezeNet1_0.spec(), &places.inputs()).unwrap();
    assert_eq!(found.path, st);

    let top = touch(&places.project.join(SAFETENSORS));
    let found = resolve(Model::SqueezeNet1_0.spec(), &places.inputs()).unwrap();
    assert_eq!(found.path, top);
}

#[test]
fn alexnet_files() {
    let places = Places::new();
    touch(&places.project.join(NET));
    touch(&places.project.join(SAFETENSORS));
    let err = resolve(Model::AlexNet.spec(), &places.inputs()).unwrap_err();
    assert!(matches!(err, WeightsError::NotFound { .. }), "{err:?}");

    let st = touch(&places.shared.join("alexnet").join("alexnet.safetensors"));
    let found = resolve(Model::AlexNet.spec(), &places.inputs()).unwrap();
    assert_eq!((found.path, found.source), (st, WeightsSource::SharedDir));

    let pth = touch(&places.shared.join("alexnet-owt-7be5be79.pth"));
    let found = resolve(Model::AlexNet.spec(), &places.inputs()).unwrap();
    assert_eq!(found.path, pth);
    assert_eq!(found.format, Some(WeightFormat::PyTorch));
}

#[test]
fn not_found_lists_every_place_and_suggests_fetch() {
    let places = Places::new();
    fs::create_dir_all(&places.shared).unwrap();
    let mut inputs = places.inputs();
    inputs.cache_dir = None;
    let err = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap_err();
    let WeightsError::NotFound { model, searched } = &err else {
        panic!("expected NotFound, got {err:?}");
    };
    assert_eq!(*model, Model::SqueezeNet1_0.name());
    let origins: Vec<_> = searched.iter().map(|s| s.origin).collect();
    assert_eq!(
        origins,
        [
            WeightsSource::ProjectDir,
            WeightsSource::SharedDir,
            WeightsSource::UserCache
        ]
    );
    let msg = err.to_string();
    assert!(msg.contains(&places.project.display().to_string()), "{msg}");
    assert!(msg.contains(&places.shared.display().to_string()), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
    assert!(msg.contains("HOME"), "{msg}");
    assert!(msg.contains("deepvis weights fetch squeezenet1_0"), "{msg}");
}

#[test]
fn the_real_shared_folder_resolves_and_verifies() {
    let shared = shared_weights();
    let places = Places::new();
    let mut inputs = places.inputs();
    inputs.shared_weights_dir = Some(shared.clone());
    let found = resolve(Model::SqueezeNet1_0.spec(), &inputs).unwrap();
    assert_eq!(found.source, WeightsSource::SharedDir);
    assert_eq!(found.path, shared.join("squeezenet1_0").join(SAFETENSORS));

    let v = verify(&found.path, Model::SqueezeNet1_0.spec()).unwrap();
    assert_eq!(v.check, Check::Full);
    assert_eq!(v.digest.size, 4_998_664);
    let v = verify(
        &shared.join("squeezenet1_0").join(NET),
        Model::SqueezeNet1_0.spec(),
    )
    .unwrap();
    assert_eq!(v.check, Check::Full);
    assert_eq!(v.known_file.file_name, NET);
    // A folder is searched first.
    let v = verify(&shared, Model::SqueezeNet1_0.spec()).unwrap();
    assert_eq!(v.known_file.file_name, SAFETENSORS);
}

#[test]
fn verify_by_name_by_hash_and_mismatches() {
    let shared = shared_weights();
    let net = fs::read(shared.join("squeezenet1_0").join(NET)).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Renamed copy: recognised by its hash.
    let renamed = dir.path().join("renamed.bin");
    fs::write(&renamed, &net).unwrap();
    let v = verify(&renamed, Model::SqueezeNet1_0.spec()).unwrap();
    assert_eq!(v.known_file.file_name, NET);

    // Right name, one byte flipped: hash mismatch naming the file.
    let mut bad = net.clone();
    bad[1000] ^= 0x80;
    let bad_path = dir.path().join(NET);
    fs::write(&bad_path, &bad).unwrap();
    let err = verify(&bad_path, Model::SqueezeNet1_0.spec()).unwrap_err();
    assert!(matches!(err, WeightsError::HashMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(NET), "{err}");

    // Right name, wrong size.
    fs::write(&bad_path, &net[..100]).unwrap();
    let err = verify(&bad_path, Model::SqueezeNet1_0.spec()).unwrap_err();
    assert!(
        matches!(
            err,
            WeightsError::SizeMismatch {
                expected: 675_763,
                found: 100,
                ..
            }
        ),
        "{err:?}"
    );

    // Unknown name and hash.
    let err = verify(&renamed, Model::AlexNet.spec()).unwrap_err();
    assert!(matches!(err, WeightsError::Unrecognized { .. }), "{err:?}");

    // AlexNet: prefix checked for the .pth; no reference for a local safetensors.
    let pth = dir.path().join("alexnet-owt-7be5be79.pth");
    fs::write(&pth, b"not the real thing").unwrap();
    let err = verify(&pth, Model::AlexNet.spec()).unwrap_err();
    assert!(err.to_string().contains("7be5be79"), "{err}");
    let st = dir.path().join("alexnet.safetensors");
    fs::write(&st, b"local conversion").unwrap();
    assert_eq!(
        verify(&st, Model::AlexNet.spec()).unwrap().check,
        Check::NoReference
    );

    // Missing file: an I/O error naming it.
    let err = verify(&dir.path().join("absent.net"), Model::SqueezeNet1_0.spec()).unwrap_err();
    assert!(err.to_string().contains("absent.net"), "{err}");
}
