//! The registry of known models: names, sha256 matching, formats.

use std::path::Path;

use deepvis_model::Model;
use deepvis_weights::{ExpectedSha256, WeightFormat};

#[test]
fn names_round_trip() {
    for model in Model::ALL {
        assert_eq!(model.name().parse::<Model>().unwrap(), model);
        // its own entry, named as it is
        let own = Model::ALL
            .iter()
            .filter(|m| std::ptr::eq(m.spec(), model.spec()));
        assert_eq!(own.count(), 1);
        assert!(model.spec().is_named(model.name()));
        assert!(
            model
                .spec()
                .file_named(model.spec().download.file_name)
                .is_some()
        );
    }
    assert_eq!(Model::default(), Model::SqueezeNet1_0);
    assert_eq!("SqueezeNet".parse::<Model>().unwrap(), Model::SqueezeNet1_0);
    let err = "vgg16".parse::<Model>().unwrap_err().to_string();
    assert!(err.contains("vgg16") && err.contains("alexnet"), "{err}");
}

#[test]
fn every_alias_names_its_model_and_no_other() {
    for model in Model::ALL {
        for alias in model.aliases() {
            assert_eq!(alias.parse::<Model>().unwrap(), model, "{alias}");
            assert_eq!(alias.to_ascii_uppercase().parse::<Model>().unwrap(), model);
            for other in Model::ALL.into_iter().filter(|m| *m != model) {
                assert!(!other.is_named(alias), "{alias} names {other} too");
            }
        }
    }
    // `-` and `.` read as `_`, surrounding space ignored
    for spelled in [
        " squeezenet-v1.0 ",
        "SqueezeNet1.0",
        "squeezenet_v1_0",
        "BVLC-CaffeNet",
    ] {
        assert!(spelled.parse::<Model>().is_ok(), "{spelled}");
    }
}

/// The command line's names are the registry's: its name and aliases, any case.
#[cfg(feature = "clap")]
#[test]
fn the_command_line_takes_every_name_and_alias() {
    use clap::ValueEnum;
    for model in Model::ALL {
        for name in std::iter::once(model.name()).chain(model.aliases().iter().copied()) {
            assert_eq!(<Model as ValueEnum>::from_str(name, false), Ok(model));
            assert_eq!(
                <Model as ValueEnum>::from_str(&name.to_ascii_uppercase(), true),
                Ok(model)
            );
        }
    }
    assert!(<Model as ValueEnum>::from_str("vgg16", true).is_err());
}

#[test]
fn sha_matching() {
    let full = ExpectedSha256::Full("ab12");
    assert!(full.matches("AB12"));
    assert!(!full.matches("ab123"));
    let prefix = ExpectedSha256::Prefix("7be5be79");
    assert!(prefix.matches("7be5be79ffff"));
    assert!(prefix.matches("7BE5BE79"));
    assert!(!prefix.matches("7be5be7"));
    assert!(!prefix.matches("8be5be79ffff"));
    assert!(prefix.to_string().contains("prefix"));
}

#[test]
fn formats_from_extension() {
    assert_eq!(
        WeightFormat::from_path(Path::new("a/b.SafeTensors")),
        Some(WeightFormat::Safetensors)
    );
    assert_eq!(
        WeightFormat::from_path(Path::new("x.net")),
        Some(WeightFormat::DeepCompressionNet)
    );
    assert_eq!(
        WeightFormat::from_path(Path::new("x.pth")),
        Some(WeightFormat::PyTorch)
    );
    assert_eq!(WeightFormat::from_path(Path::new("x.bin")), None);
    assert_eq!(WeightFormat::from_path(Path::new("noext")), None);
}
