//! What the optimizer's tests share: SqueezeNet with the shared decoded weights.

use burn::prelude::*;
use deepvis_model::{Arch, Net};
use deepvis_testdata::shared;

/// SqueezeNet v1.0 on `device`.
pub fn squeezenet(device: &Device) -> Net {
    Net::load(
        Arch::SqueezeNet1_0,
        &shared().join("weights/squeezenet1_0/squeezenet1_0.safetensors"),
        device,
    )
    .unwrap()
}
