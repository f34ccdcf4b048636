//! Which method makes a preferred image when the user chose none: the best on the separate
//! classes where it was measured (SqueezeNet: MACO, the README's table), the paper's regularized
//! gradient ascent on the paper's other networks (AlexNet and CaffeNet, which its presets were
//! tuned for; not measured here, their weights are not on this machine), MACO on any other
//! network (a vision transformer, a ConvNeXt, any ONNX file), where the paper's pixel-space
//! regularizers make noise and MACO's natural-image spectrum makes pictures.

use deepvis_model::{Model, ModelInfo};
use deepvis_protocol::MethodKind;

/// The default method for the network `info` describes.
pub fn default_method(info: &ModelInfo) -> MethodKind {
    default_for(info.name())
}

/// The default method for a network named `name` (a built-in network's name, or the file
/// name of one read from a file).
pub fn default_for(name: &str) -> MethodKind {
    if let Some((_, kind)) = MEASURED.iter().find(|(m, _)| is_network(*m, name)) {
        return *kind;
    }
    match is_paper_network(name) {
        true => MethodKind::Paper,
        false => MethodKind::Maco,
    }
}

/// The networks whose default was measured: the method with the most of the separate classes
/// (every 40th from 20) in a second network's top 5 (`deepvis fv-quality`, the README's table:
/// SqueezeNet drawing, EfficientNet-Lite0 judging).
const MEASURED: [(Model, MethodKind); 1] = [(Model::SqueezeNet1_0, MethodKind::Maco)];

/// Whether `name` names registry model `m`: its name or alias, that with `.onnx` after it, or
/// one of its known files.
fn is_network(m: Model, name: &str) -> bool {
    let stem = match name.len().checked_sub(5) {
        Some(i) if name.is_char_boundary(i) && name[i..].eq_ignore_ascii_case(".onnx") => {
            &name[..i]
        }
        _ => name,
    };
    m.is_named(name) || m.is_named(stem) || m.spec().local_files.iter().any(|f| f.file_name == name)
}

/// Whether `name` is one of the paper's networks: a registry model's name or alias, that with
/// `.onnx` after it, or the name of one of its known files (`caffenet-9.onnx`).
pub fn is_paper_network(name: &str) -> bool {
    Model::ALL.into_iter().any(|m| is_network(m, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeezenet_gets_its_measured_best_the_other_papers_networks_theirs_any_other_maco() {
        for arch in deepvis_model::Arch::ALL {
            let want = match arch.name() == deepvis_model::Arch::SqueezeNet1_0.name() {
                true => MethodKind::Maco,
                false => MethodKind::Paper,
            };
            assert_eq!(default_method(&arch.info()), want, "{}", arch.name());
        }
        for name in ["squeezenet1_0", "SqueezeNet1.0", "squeezenet1_0.onnx"] {
            assert_eq!(default_for(name), MethodKind::Maco, "{name}");
            assert!(is_paper_network(name), "{name}");
        }
        for name in [
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
            assert!(!is_paper_network(name), "{name}");
        }
    }
}
