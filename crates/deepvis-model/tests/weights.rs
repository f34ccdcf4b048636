//! Weight formats: the Deep Compression decoder, safetensors and PyTorch-named AlexNet weights,
//! and clear errors for broken files.

mod common;

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use common::*;
use deepvis_model::{Arch, Error, Net, Request, WeightMap, alexnet, deepcompression};

#[test]
fn net_file_decodes_to_the_safetensors_bit_for_bit() {
    let dir = shared().join("weights/squeezenet1_0");
    let decoded = deepcompression::decode_file(&dir.join("compressed_SqueezeNet.net")).unwrap();
    let st = WeightMap::read_safetensors(&dir.join("squeezenet1_0.safetensors")).unwrap();
    assert_eq!(decoded.tensors.len(), 52);
    assert_eq!(decoded.tensors.len(), st.tensors.len());
    let mut params = 0;
    for (name, want) in &st.tensors {
        let got = decoded
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("decoder lacks {name}"));
        assert_eq!(got.shape, want.shape, "{name}");
        let same = got
            .data
            .iter()
            .zip(&want.data)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name} differs");
        params += got.data.len();
    }
    assert_eq!(params, 1_248_424);
}

#[test]
fn net_file_gives_the_same_network() {
    let device = Device::flex();
    let dir = shared().join("weights/squeezenet1_0");
    let net = Net::load(
        Arch::SqueezeNet1_0,
        &dir.join("compressed_SqueezeNet.net"),
        &device,
    )
    .unwrap();
    let g = golden();
    let input = input_tensor(&golden_tensor(&g, "coffee/input"), &device);
    let probs = deepvis_model::to_vec(net.probabilities(input).unwrap()).unwrap();
    assert_close(
        "coffee/prob via .net",
        &probs,
        &golden_tensor(&g, "coffee/prob").data,
        1e-4,
        0,
    );
}

#[test]
fn truncated_net_file_is_a_clear_error() {
    let bytes =
        std::fs::read(shared().join("weights/squeezenet1_0/compressed_SqueezeNet.net")).unwrap();
    for cut in [0, 10, 104, 5000, bytes.len() - 1] {
        let e = deepcompression::decode(Path::new("cut.net"), &bytes[..cut]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let e = deepcompression::decode(Path::new("long.net"), &longer).unwrap_err();
    assert!(e.to_string().contains("unexpected bytes"), "{e}");
}

fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, d)| {
            let bytes: &[u8] = bytemuck_cast(d);
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), bytes)
                    .unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn bytemuck_cast(d: &[f32]) -> &[u8] {
    // f32 has no padding and any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(d.as_ptr() as *const u8, std::mem::size_of_val(d)) }
}

#[test]
fn squeezenet_safetensors_with_a_wrong_shape_names_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let st = WeightMap::read_safetensors(&squeezenet_weights()).unwrap();
    let mut tensors: Vec<_> = st
        .tensors
        .into_iter()
        .map(|(n, t)| (n, t.shape, t.data))
        .collect();
    let device = Device::flex();

    // wrong shape
    let mut wrong = tensors.clone();
    for t in wrong.iter_mut().filter(|t| t.0 == "fire3.expand3x3.weight") {
        t.1 = vec![64, 16, 9, 1];
    }
    let p = dir.path().join("wrong.safetensors");
    write_safetensors(&p, &wrong);
    let e = Net::load(Arch::SqueezeNet1_0, &p, &device).unwrap_err();
    assert!(matches!(e, Error::WrongShape { .. }), "{e}");
    assert!(e.to_string().contains("fire3.expand3x3.weight"), "{e}");

    // missing tensor
    let mut missing = tensors.clone();
    missing.retain(|t| t.0 != "conv10.bias");
    let p = dir.path().join("missing.safetensors");
    write_safetensors(&p, &missing);
    let e = Net::load(Arch::SqueezeNet1_0, &p, &device).unwrap_err();
    assert!(e.to_string().contains("conv10.bias"), "{e}");

    // non-finite value
    for t in tensors
        .iter_mut()
        .filter(|t| t.0 == "fire5.squeeze1x1.weight")
    {
        t.2[7] = f32::NAN;
    }
    let p = dir.path().join("nan.safetensors");
    write_safetensors(&p, &tensors);
    let e = Net::load(Arch::SqueezeNet1_0, &p, &device).unwrap_err();
    assert!(
        e.to_string().contains("fire5.squeeze1x1.weight") && e.to_string().contains("non-finite"),
        "{e}"
    );

    // truncated file
    let bytes = std::fs::read(squeezenet_weights()).unwrap();
    let p = dir.path().join("cut.safetensors");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = Net::load(Arch::SqueezeNet1_0, &p, &device).unwrap_err();
    assert!(e.to_string().contains("safetensors"), "{e}");

    // not a weights file at all
    let p = dir.path().join("photo.safetensors");
    std::fs::write(&p, b"\x89PNG\r\n\x1a\n not weights").unwrap();
    assert!(Net::load(Arch::SqueezeNet1_0, &p, &device).is_err());
    let e = Net::load(
        Arch::SqueezeNet1_0,
        &dir.path().join("absent.safetensors"),
        &device,
    )
    .unwrap_err();
    assert!(e.to_string().contains("absent.safetensors"), "{e}");
}

#[test]
fn alexnet_loads_torchvision_named_random_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 12345u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.02
    };
    let tensors: Vec<_> = alexnet::tensor_specs()
        .into_iter()
        .map(|(n, s)| {
            let count: usize = s.iter().product();
            let data: Vec<f32> = (0..count).map(|_| rnd()).collect();
            (n, s, data)
        })
        .collect();
    let p = dir.path().join("alexnet.safetensors");
    write_safetensors(&p, &tensors);
    let device = Device::flex();
    let net = Net::load(Arch::AlexNet, &p, &device).unwrap();
    let x = Tensor::<4>::ones([1, 3, 224, 224], &device);
    let taps = net
        .forward(
            x,
            &Request::layers(&["conv5", "pool5", "fc6", "fc8", "prob"]),
        )
        .unwrap();
    assert_eq!(taps.get("conv5").unwrap().dims(), [1, 256, 13, 13]);
    assert_eq!(taps.get("pool5").unwrap().dims(), [1, 256, 6, 6]);
    assert_eq!(taps.get("fc6").unwrap().dims(), [1, 4096, 1, 1]);
    assert_eq!(taps.get("fc8").unwrap().dims(), [1, 1000, 1, 1]);
    let p = deepvis_model::to_vec(taps.get("prob").unwrap().clone()).unwrap();
    let s: f32 = p.iter().sum();
    assert!((s - 1.0).abs() < 1e-4);

    // fc8 computed by hand from fc7 and the written weights: checks the [out, in] transpose.
    let fc7 = deepvis_model::to_vec(
        net.forward(
            Tensor::<4>::ones([1, 3, 224, 224], &device),
            &Request::layers(&["fc7"]),
        )
        .unwrap()
        .take("fc7")
        .unwrap(),
    )
    .unwrap();
    let by_name: HashMap<_, _> = tensors.iter().map(|t| (t.0.as_str(), &t.2)).collect();
    let (w, b) = (by_name["classifier.6.weight"], by_name["classifier.6.bias"]);
    let fc8 = deepvis_model::to_vec(taps.get("fc8").unwrap().clone()).unwrap();
    for o in [0usize, 17, 999] {
        let want: f32 = b[o] + (0..4096).map(|i| w[o * 4096 + i] * fc7[i]).sum::<f32>();
        assert!(
            (fc8[o] - want).abs() < 1e-4 * (1.0 + want.abs()),
            "fc8[{o}]"
        );
    }

    // squeezenet weights are not alexnet weights
    let e = Net::load(Arch::AlexNet, &squeezenet_weights(), &device).unwrap_err();
    assert!(e.to_string().contains("features.0.weight"), "{e}");
}
