//! Which method makes a preferred image when the user chose none: the paper's regularized
//! gradient ascent on the paper's networks (the classic CNNs of the registry: SqueezeNet,
//! AlexNet, CaffeNet, which its presets were tuned for), MACO on any other network (a vision
//! transformer, a ConvNeXt, any ONNX file), where the paper's pixel-space regularizers make
//! noise and MACO's natural-image spectrum makes pictures.

use deepvis_model::{Model, ModelInfo};
use deepvis_protocol::MethodKind;

/// The default method for the network `info` describes.
pub fn default_method(info: &ModelInfo) -> MethodKind {
    default_for(info.name())
}

/// The default method for a network named `name` (a built-in network's name, or the file
/// name of one read from a file).
pub fn default_for(name: &str) -> MethodKind {
    match is_paper_network(name) {
        true => MethodKind::Paper,
        false => MethodKind::Maco,
    }
}

/// Whether `name` is one of the paper's networks: a registry model's name or alias, that with
/// `.onnx` after it, or the name of one of its known files (`caffenet-9.onnx`).
pub fn is_paper_network(name: &str) -> bool {
    let stem = match name.len().checked_sub(5) {
        Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".onnx") => {
            &name[..i]
        }
        _ => name,
    };
    Model::ALL.into_iter().any(|m| {
        m.is_named(name)
            || m.is_named(stem)
            || m.spec().local_files.iter().any(|f| f.file_name == name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deepvis_model::Arch;

    #[test]
    fn the_papers_networks_keep_the_papers_method_and_any_other_gets_maco() {
        for arch in Arch::ALL {
            assert_eq!(
                default_method(&arch.info()),
                MethodKind::Paper,
                "{}",
                arch.name()
            );
        }
        for name in [
            "squeezenet1_0",
            "SqueezeNet1.0",
            "squeezenet1_0.onnx",
            "alexnet",
            "caffenet",
            "caffenet-9.onnx",
            "bvlc_reference_caffenet.ONNX",
        ] {
            assert_eq!(default_for(name), MethodKind::Paper, "{name}");
        }
        for name in [
            "vit_s_focus.onnx",
            "vit_mini.onnx",
            "convnext_mini.onnx",
            "efficientnet_lite0.onnx",
            "resnet50.onnx",
            "",
            "é.onnx",
        ] {
            assert_eq!(default_for(name), MethodKind::Maco, "{name}");
        }
    }
}
