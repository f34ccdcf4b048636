//! The registry of known models: names, sha256 matching, formats.

use std::path::Path;

use deepvis_weights::{ExpectedSha256, Model, WeightFormat};

#[test]
fn names_round_trip() {
    for model in Model::ALL {
        assert_eq!(model.name().parse::<Model>().unwrap(), model);
        assert_eq!(model.spec().model, model);
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
