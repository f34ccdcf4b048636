//! Helpers shared by the model crate's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use burn::prelude::*;
use deepvis_model::{Arch, Net, RawTensor, WeightMap};

/// `../shared` beside the project root. Tests that need it fail (not skip) when it is absent.
pub fn shared() -> PathBuf {
    deepvis_testdata::shared()
}

pub fn squeezenet_weights() -> PathBuf {
    shared().join("weights/squeezenet1_0/squeezenet1_0.safetensors")
}

pub fn squeezenet(device: &Device) -> Net {
    Net::load(Arch::SqueezeNet1_0, &squeezenet_weights(), device).expect("load squeezenet")
}

pub fn golden() -> WeightMap {
    WeightMap::read_safetensors(&shared().join("reference/squeezenet1_0_golden.safetensors"))
        .expect("golden file")
}

pub fn golden_tensor(g: &WeightMap, name: &str) -> RawTensor {
    g.tensors
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("golden file has no {name}"))
}

pub fn input_tensor(t: &RawTensor, device: &Device) -> Tensor<4> {
    let dims: [usize; 4] = t.shape.clone().try_into().expect("4-d input");
    deepvis_model::tensor4(t.data.clone(), dims, device).expect("input tensor")
}

/// Asserts `|got - want| <= tol * max|want|` for all but `allowed_outliers` elements; returns
/// the largest relative difference seen among the rest.
pub fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32, allowed_outliers: usize) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{name}: reference is all zero");
    let mut bad = Vec::new();
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs() / scale;
        if d.is_nan() || d > tol {
            bad.push((i, *g, *w));
        } else {
            worst = worst.max(d);
        }
    }
    assert!(
        bad.len() <= allowed_outliers,
        "{name}: {} of {} elements differ by more than {tol} x max|ref| ({scale}); first: {:?}",
        bad.len(),
        got.len(),
        &bad[..bad.len().min(5)]
    );
    eprintln!(
        "{name}: max rel diff {worst:.2e} (outliers {}/{})",
        bad.len(),
        got.len()
    );
}
