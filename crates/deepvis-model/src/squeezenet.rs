//! Caffe SqueezeNet v1.0 as a Burn module.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, softmax};

use crate::backprop::Piece;
use crate::error::Result;
use crate::weights::WeightMap;

/// One convolution of the network as the weight files name and shape it.
#[derive(Clone, Debug)]
pub struct ConvSpec {
    /// Tensor name prefix (`conv1`, `fire2.squeeze1x1`, ...).
    pub name: String,
    /// OIHW shape of the weight.
    pub weight_shape: Vec<usize>,
    /// Output channels (bias length).
    pub out_channels: usize,
}

/// (input channels, squeeze, expand) of fire2..fire9.
const FIRES: [(usize, usize, usize); 8] = [
    (96, 16, 64),
    (128, 16, 64),
    (128, 32, 128),
    (256, 32, 128),
    (256, 48, 192),
    (384, 48, 192),
    (384, 64, 256),
    (512, 64, 256),
];

/// The 26 convolutions in prototxt order (the order of the `.net` file).
pub fn conv_specs() -> Vec<ConvSpec> {
    let mut v = vec![ConvSpec {
        name: "conv1".into(),
        weight_shape: vec![96, 3, 7, 7],
        out_channels: 96,
    }];
    for (i, &(cin, s, e)) in FIRES.iter().enumerate() {
        let f = i + 2;
        v.push(ConvSpec {
            name: format!("fire{f}.squeeze1x1"),
            weight_shape: vec![s, cin, 1, 1],
            out_channels: s,
        });
        v.push(ConvSpec {
            name: format!("fire{f}.expand1x1"),
            weight_shape: vec![e, s, 1, 1],
            out_channels: e,
        });
        v.push(ConvSpec {
            name: format!("fire{f}.expand3x3"),
            weight_shape: vec![e, s, 3, 3],
            out_channels: e,
        });
    }
    v.push(ConvSpec {
        name: "conv10".into(),
        weight_shape: vec![1000, 512, 1, 1],
        out_channels: 1000,
    });
    v
}

/// A fire module: squeeze 1x1, then expand 1x1 and 3x3 concatenated (1x1 first).
#[derive(Module, Debug)]
pub struct Fire {
    /// The 1x1 squeeze convolution.
    pub squeeze1x1: Conv2d,
    /// The 1x1 expand convolution.
    pub expand1x1: Conv2d,
    /// The 3x3 expand convolution (pad 1).
    pub expand3x3: Conv2d,
}

impl Fire {
    fn new(cin: usize, s: usize, e: usize, device: &Device) -> Fire {
        Fire {
            squeeze1x1: Conv2dConfig::new([cin, s], [1, 1]).init(device),
            expand1x1: Conv2dConfig::new([s, e], [1, 1]).init(device),
            expand3x3: Conv2dConfig::new([s, e], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
        }
    }

    /// The module as two pieces for a back-projection (see [`crate::backprop`]): squeeze +
    /// ReLU, then both expands concatenated + ReLU; and its output.
    pub(crate) fn pieces(&self, x: &Tensor<4>) -> (Vec<Piece>, Tensor<4>) {
        let (squeeze, s) = Piece::new(x, true, |x| self.squeeze1x1.forward(x));
        let (expand, out) = Piece::new(&s, true, |s| {
            Tensor::cat(
                vec![self.expand1x1.forward(s.clone()), self.expand3x3.forward(s)],
                1,
            )
        });
        (vec![squeeze, expand], out)
    }

    /// Returns (pre-ReLU concat, post-ReLU concat).
    fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let s = relu(self.squeeze1x1.forward(x));
        let e1 = self.expand1x1.forward(s.clone());
        let e3 = self.expand3x3.forward(s);
        let pre = Tensor::cat(vec![e1, e3], 1);
        let post = relu(pre.clone());
        (pre, post)
    }
}

/// Configuration of [`SqueezeNet`].
#[derive(Config, Debug)]
pub struct SqueezeNetConfig {
    /// Number of classes.
    #[config(default = 1000)]
    pub num_classes: usize,
}

impl SqueezeNetConfig {
    /// Builds the network with freshly initialised (random) weights.
    pub fn init(&self, device: &Device) -> SqueezeNet {
        let fire = |i: usize| {
            let (c, s, e) = FIRES[i];
            Fire::new(c, s, e, device)
        };
        let pool = || {
            MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_ceil_mode(true)
                .init()
        };
        SqueezeNet {
            conv1: Conv2dConfig::new([3, 96], [7, 7])
                .with_stride([2, 2])
                .init(device),
            pool: pool(),
            fire2: fire(0),
            fire3: fire(1),
            fire4: fire(2),
            fire5: fire(3),
            fire6: fire(4),
            fire7: fire(5),
            fire8: fire(6),
            fire9: fire(7),
            conv10: Conv2dConfig::new([512, self.num_classes], [1, 1])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
        }
    }
}

/// Caffe SqueezeNet v1.0: conv10 has pad 1, pooling is ceil-mode, every output is post-ReLU.
#[derive(Module, Debug)]
pub struct SqueezeNet {
    /// conv1: 7x7 stride 2, 96 channels.
    pub conv1: Conv2d,
    /// The 3x3 stride 2 ceil-mode max pooling (pool1, pool4, pool8).
    pub pool: MaxPool2d,
    /// fire2.
    pub fire2: Fire,
    /// fire3.
    pub fire3: Fire,
    /// fire4.
    pub fire4: Fire,
    /// fire5.
    pub fire5: Fire,
    /// fire6.
    pub fire6: Fire,
    /// fire7.
    pub fire7: Fire,
    /// fire8.
    pub fire8: Fire,
    /// fire9.
    pub fire9: Fire,
    /// conv10: 1x1 with pad 1, the class maps.
    pub conv10: Conv2d,
}

pub(crate) fn set_conv(
    conv: &mut Conv2d,
    map: &mut WeightMap,
    prefix: &str,
    shape: &[usize],
    device: &Device,
) -> Result<()> {
    let w = map.take(&format!("{prefix}.weight"), shape)?;
    let b = map.take(&format!("{prefix}.bias"), &shape[..1])?;
    conv.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w.data, w.shape), device));
    conv.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(b.data, b.shape),
        device,
    )));
    Ok(())
}

impl SqueezeNet {
    /// Replaces every parameter by the tensors of `map` (safetensors names), checking names,
    /// shapes and values.
    pub fn load(mut self, map: &mut WeightMap, device: &Device) -> Result<SqueezeNet> {
        let specs = conv_specs();
        let mut it = specs.iter();
        let mut next = |conv: &mut Conv2d| -> Result<()> {
            match it.next() {
                Some(s) => set_conv(conv, map, &s.name, &s.weight_shape, device),
                None => Ok(()),
            }
        };
        next(&mut self.conv1)?;
        for fire in [
            &mut self.fire2,
            &mut self.fire3,
            &mut self.fire4,
            &mut self.fire5,
            &mut self.fire6,
            &mut self.fire7,
            &mut self.fire8,
            &mut self.fire9,
        ] {
            next(&mut fire.squeeze1x1)?;
            next(&mut fire.expand1x1)?;
            next(&mut fire.expand3x3)?;
        }
        next(&mut self.conv10)?;
        Ok(self)
    }

    /// The fire module that is stage `index`, if it is one.
    pub(crate) fn fire_at(&self, index: usize) -> Option<&Fire> {
        match index {
            2 => Some(&self.fire2),
            3 => Some(&self.fire3),
            4 => Some(&self.fire4),
            6 => Some(&self.fire5),
            7 => Some(&self.fire6),
            8 => Some(&self.fire7),
            9 => Some(&self.fire8),
            11 => Some(&self.fire9),
            _ => None,
        }
    }

    /// Runs stage `index` of [`crate::Arch::SqueezeNet1_0`]'s stages; returns the pre-ReLU
    /// value (for stages with a ReLU) and the output.
    pub(crate) fn stage(&self, index: usize, x: Tensor<4>) -> (Option<Tensor<4>>, Tensor<4>) {
        let conv = |c: &Conv2d, x: Tensor<4>| {
            let pre = c.forward(x);
            (Some(pre.clone()), relu(pre))
        };
        let fire = |f: &Fire, x: Tensor<4>| {
            let (pre, post) = f.forward(x);
            (Some(pre), post)
        };
        match index {
            0 => conv(&self.conv1, x),
            1 | 5 | 10 => (None, self.pool.forward(x)),
            2 => fire(&self.fire2, x),
            3 => fire(&self.fire3, x),
            4 => fire(&self.fire4, x),
            6 => fire(&self.fire5, x),
            7 => fire(&self.fire6, x),
            8 => fire(&self.fire7, x),
            9 => fire(&self.fire8, x),
            11 => fire(&self.fire9, x),
            12 => conv(&self.conv10, x),
            13 => {
                let [n, c, _, _] = x.dims();
                (None, x.mean_dims(&[2, 3]).reshape([n, c, 1, 1]))
            }
            _ => {
                let [n, c, _, _] = x.dims();
                let p = softmax(x.reshape([n, c]), 1);
                (None, p.reshape([n, c, 1, 1]))
            }
        }
    }
}
