//! torchvision's AlexNet as a Burn module.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};

use crate::error::Result;
use crate::squeezenet::set_conv;
use crate::weights::WeightMap;

/// (torchvision key, out, in, kernel) of the five convolutions.
const CONVS: [(&str, usize, usize, usize); 5] = [
    ("features.0", 64, 3, 11),
    ("features.3", 192, 64, 5),
    ("features.6", 384, 192, 3),
    ("features.8", 256, 384, 3),
    ("features.10", 256, 256, 3),
];

/// (torchvision key, out, in) of the three linear layers.
const LINEARS: [(&str, usize, usize); 3] = [
    ("classifier.1", 4096, 256 * 6 * 6),
    ("classifier.4", 4096, 4096),
    ("classifier.6", 1000, 4096),
];

/// Every tensor of torchvision's AlexNet state dict with its shape (PyTorch layout).
pub fn tensor_specs() -> Vec<(String, Vec<usize>)> {
    let mut v = Vec::new();
    for (k, o, i, s) in CONVS {
        v.push((format!("{k}.weight"), vec![o, i, s, s]));
        v.push((format!("{k}.bias"), vec![o]));
    }
    for (k, o, i) in LINEARS {
        v.push((format!("{k}.weight"), vec![o, i]));
        v.push((format!("{k}.bias"), vec![o]));
    }
    v
}

/// Configuration of [`AlexNet`].
#[derive(Config, Debug)]
pub struct AlexNetConfig {
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
}

impl AlexNetConfig {
    /// Builds the network with freshly initialised (random) weights.
    pub fn init(&self, device: &Device) -> AlexNet {
        let conv = |o: usize, i: usize, k: usize, s: usize, p: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .init(device)
        };
        AlexNet {
            conv1: conv(64, 3, 11, 4, 2),
            conv2: conv(192, 64, 5, 1, 2),
            conv3: conv(384, 192, 3, 1, 1),
            conv4: conv(256, 384, 3, 1, 1),
            conv5: conv(256, 256, 3, 1, 1),
            pool: MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init(),
            avgpool: AdaptiveAvgPool2dConfig::new([6, 6]).init(),
            fc6: LinearConfig::new(256 * 6 * 6, 4096).init(device),
            fc7: LinearConfig::new(4096, 4096).init(device),
            fc8: LinearConfig::new(4096, self.num_classes).init(device),
        }
    }
}

/// torchvision's AlexNet (the one-GPU variant: 64-192-384-256-256 channels).
#[derive(Module, Debug)]
pub struct AlexNet {
    /// conv1: 11x11 stride 4 pad 2.
    pub conv1: Conv2d,
    /// conv2: 5x5 pad 2.
    pub conv2: Conv2d,
    /// conv3: 3x3 pad 1.
    pub conv3: Conv2d,
    /// conv4: 3x3 pad 1.
    pub conv4: Conv2d,
    /// conv5: 3x3 pad 1.
    pub conv5: Conv2d,
    /// 3x3 stride 2 max pooling (pool1, pool2, pool5).
    pub pool: MaxPool2d,
    /// Adaptive average pooling to 6x6 before the classifier.
    pub avgpool: AdaptiveAvgPool2d,
    /// fc6.
    pub fc6: Linear,
    /// fc7.
    pub fc7: Linear,
    /// fc8: the class scores.
    pub fc8: Linear,
}

fn set_linear(
    lin: &mut Linear,
    map: &mut WeightMap,
    prefix: &str,
    out: usize,
    inp: usize,
    device: &Device,
) -> Result<()> {
    let w = map.take(&format!("{prefix}.weight"), &[out, inp])?;
    let b = map.take(&format!("{prefix}.bias"), &[out])?;
    // PyTorch stores [out, in]; burn's Linear multiplies by [in, out].
    let w = Tensor::<2>::from_data(TensorData::new(w.data, [out, inp]), device).transpose();
    lin.weight = Param::from_tensor(w);
    lin.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(b.data, [out]),
        device,
    )));
    Ok(())
}

impl AlexNet {
    /// Replaces every parameter by the tensors of `map` (torchvision names).
    pub fn load(mut self, map: &mut WeightMap, device: &Device) -> Result<AlexNet> {
        let convs = [
            &mut self.conv1,
            &mut self.conv2,
            &mut self.conv3,
            &mut self.conv4,
            &mut self.conv5,
        ];
        for (conv, (k, o, i, s)) in convs.into_iter().zip(CONVS) {
            set_conv(conv, map, k, &[o, i, s, s], device)?;
        }
        let lins = [&mut self.fc6, &mut self.fc7, &mut self.fc8];
        for (lin, (k, o, i)) in lins.into_iter().zip(LINEARS) {
            set_linear(lin, map, k, o, i, device)?;
        }
        Ok(self)
    }

    /// Runs stage `index` of [`crate::Arch::AlexNet`]'s stages.
    pub(crate) fn stage(&self, index: usize, x: Tensor<4>) -> (Option<Tensor<4>>, Tensor<4>) {
        let conv = |c: &Conv2d, x: Tensor<4>| {
            let pre = c.forward(x);
            (Some(pre.clone()), relu(pre))
        };
        let lin = |l: &Linear, x: Tensor<4>, with_relu: bool| {
            let [n, c, h, w] = x.dims();
            let y = l.forward(x.reshape([n, c * h * w]));
            let units = y.dims()[1];
            let pre = y.reshape([n, units, 1, 1]);
            if with_relu {
                (Some(pre.clone()), relu(pre))
            } else {
                (None, pre)
            }
        };
        match index {
            0 => conv(&self.conv1, x),
            1 | 3 | 7 => (None, self.pool.forward(x)),
            2 => conv(&self.conv2, x),
            4 => conv(&self.conv3, x),
            5 => conv(&self.conv4, x),
            6 => conv(&self.conv5, x),
            8 => lin(&self.fc6, self.avgpool.forward(x), true),
            9 => lin(&self.fc7, x, true),
            10 => lin(&self.fc8, x, false),
            _ => {
                let [n, c, _, _] = x.dims();
                let p = softmax(x.reshape([n, c]), 1);
                (None, p.reshape([n, c, 1, 1]))
            }
        }
    }
}
