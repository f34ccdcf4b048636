//! A loaded network of either architecture, with a forward pass that returns the named
//! activations the caller asks for.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Module;
use burn::prelude::*;

use crate::alexnet::{AlexNet, AlexNetConfig};
use crate::arch::{Arch, LayerInfo};
use crate::error::{Error, Result};
use crate::squeezenet::{SqueezeNet, SqueezeNetConfig};
use crate::weights::WeightMap;

/// A network with its weights on a device.
#[derive(Debug, Clone)]
pub enum Net {
    /// SqueezeNet v1.0.
    SqueezeNet(Box<SqueezeNet>),
    /// AlexNet.
    AlexNet(Box<AlexNet>),
}

/// Which activations a forward pass should return.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Layers whose (post-ReLU) outputs are wanted.
    pub layers: Vec<String>,
    /// Layers whose pre-ReLU values are wanted.
    pub pre_relu: Vec<String>,
}

impl Request {
    /// The outputs of the given layers.
    pub fn layers<S: AsRef<str>>(names: &[S]) -> Request {
        Request {
            layers: names.iter().map(|s| s.as_ref().to_string()).collect(),
            pre_relu: Vec::new(),
        }
    }

    /// Every layer's output.
    pub fn all(arch: Arch) -> Request {
        Request::layers(&arch.stages().iter().map(|s| s.name).collect::<Vec<_>>())
    }

    /// Also asks for the pre-ReLU value of `name`.
    pub fn with_pre_relu(mut self, name: &str) -> Request {
        self.pre_relu.push(name.to_string());
        self
    }
}

/// The activations a forward pass returned, as `[N, C, H, W]` tensors (vector layers have
/// `H = W = 1`).
#[derive(Debug, Default)]
pub struct Taps {
    post: HashMap<&'static str, Tensor<4>>,
    pre: HashMap<&'static str, Tensor<4>>,
}

impl Taps {
    /// The output of a layer, if it was asked for.
    pub fn get(&self, name: &str) -> Option<&Tensor<4>> {
        self.post.get(name)
    }

    /// The pre-ReLU value of a layer, if it was asked for.
    pub fn pre_relu(&self, name: &str) -> Option<&Tensor<4>> {
        self.pre.get(name)
    }

    /// Removes and returns the output of a layer.
    pub fn take(&mut self, name: &str) -> Option<Tensor<4>> {
        self.post.remove(name)
    }

    /// Removes and returns the pre-ReLU value of a layer.
    pub fn take_pre_relu(&mut self, name: &str) -> Option<Tensor<4>> {
        self.pre.remove(name)
    }

    /// The names of the layers held.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.post.keys().copied()
    }
}

impl Net {
    /// Builds `arch` with the tensors of `map`; every tensor the network needs must be there
    /// with the right shape and finite values. Parameters do not require gradients.
    pub fn from_weights(arch: Arch, mut map: WeightMap, device: &Device) -> Result<Net> {
        let net = match arch {
            Arch::SqueezeNet1_0 => {
                let m = SqueezeNetConfig::new()
                    .init(device)
                    .load(&mut map, device)?;
                Net::SqueezeNet(Box::new(m))
            }
            Arch::AlexNet => {
                let m = AlexNetConfig::new().init(device).load(&mut map, device)?;
                Net::AlexNet(Box::new(m))
            }
        };
        Ok(net.no_grad())
    }

    /// Reads a weights file (safetensors, `.pth` or `.net`) and builds `arch` from it.
    pub fn load(arch: Arch, path: &Path, device: &Device) -> Result<Net> {
        let map = WeightMap::read(path)?;
        Net::from_weights(arch, map, device)
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        match self {
            Net::SqueezeNet(_) => Arch::SqueezeNet1_0,
            Net::AlexNet(_) => Arch::AlexNet,
        }
    }

    /// Stops every parameter from requiring a gradient (inputs still can).
    pub fn no_grad(self) -> Net {
        match self {
            Net::SqueezeNet(m) => Net::SqueezeNet(Box::new(m.no_grad())),
            Net::AlexNet(m) => Net::AlexNet(Box::new(m.no_grad())),
        }
    }

    /// Moves the network to another device.
    pub fn to_device(self, device: &Device) -> Net {
        match self {
            Net::SqueezeNet(m) => Net::SqueezeNet(Box::new(m.to_device(device))),
            Net::AlexNet(m) => Net::AlexNet(Box::new(m.to_device(device))),
        }
    }

    /// The layer table for an input of the network's own size.
    pub fn layers(&self) -> Vec<LayerInfo> {
        self.arch().layers()
    }

    pub(crate) fn stage(&self, index: usize, x: Tensor<4>) -> (Option<Tensor<4>>, Tensor<4>) {
        match self {
            Net::SqueezeNet(m) => m.stage(index, x),
            Net::AlexNet(m) => m.stage(index, x),
        }
    }

    /// Stage `index`'s value before its ReLU (its output when it has none).
    pub(crate) fn pre(&self, index: usize, x: Tensor<4>) -> Tensor<4> {
        match self.stage(index, x) {
            (Some(pre), _) => pre,
            (None, out) => out,
        }
    }

    /// Checks that `input` is `[N, 3, H, W]` with a side the network accepts.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<()> {
        let arch = self.arch();
        let [n, c, h, w] = dims;
        if n == 0 || c != 3 || h < arch.min_input_size() || w < arch.min_input_size() {
            return Err(Error::BadInput(format!(
                "{} needs an input of shape [N>=1, 3, H, W] with H, W >= {} (the usual size is \
                 {s}x{s}); got {dims:?}",
                arch.name(),
                arch.min_input_size(),
                s = arch.input_size()
            )));
        }
        if arch == Arch::AlexNet && (h != arch.input_size() || w != arch.input_size()) {
            // The adaptive pooling handles other sizes, but only a 224 input matches the
            // training geometry; allowed.
        }
        Ok(())
    }

    /// Runs the network as far as the deepest requested layer and returns the requested
    /// activations. Unknown layer names and pre-ReLU requests of layers without a ReLU are
    /// errors, checked before any computation.
    pub fn forward(&self, input: Tensor<4>, req: &Request) -> Result<Taps> {
        let arch = self.arch();
        self.check_input(input.dims())?;
        let stages = arch.stages();
        let mut want_post = vec![false; stages.len()];
        let mut want_pre = vec![false; stages.len()];
        for name in &req.layers {
            want_post[arch.stage_index(name)?] = true;
        }
        for name in &req.pre_relu {
            let i = arch.stage_index(name)?;
            if !stages[i].relu {
                return Err(Error::NoPreRelu(stages[i].name.to_string()));
            }
            want_pre[i] = true;
        }
        let last = want_post.iter().zip(&want_pre).rposition(|(a, b)| *a || *b);
        let mut taps = Taps::default();
        let Some(last) = last else {
            return Ok(taps);
        };
        let mut x = input;
        for (i, spec) in stages.iter().enumerate().take(last + 1) {
            let (pre, out) = self.stage(i, x);
            if want_pre[i]
                && let Some(pre) = pre
            {
                taps.pre.insert(spec.name, pre);
            }
            if want_post[i] {
                taps.post.insert(spec.name, out.clone());
            }
            x = out;
        }
        Ok(taps)
    }

    /// The class scores (`pool10` / `fc8`) as `[N, classes]`.
    pub fn logits(&self, input: Tensor<4>) -> Result<Tensor<2>> {
        let name = self.arch().logits_layer();
        let mut taps = self.forward(input, &Request::layers(&[name]))?;
        let t = taps
            .take(name)
            .ok_or_else(|| Error::BadInput("the forward pass returned no logits".into()))?;
        let [n, c, _, _] = t.dims();
        Ok(t.reshape([n, c]))
    }

    /// Class probabilities as `[N, classes]`.
    pub fn probabilities(&self, input: Tensor<4>) -> Result<Tensor<2>> {
        Ok(burn::tensor::activation::softmax(self.logits(input)?, 1))
    }
}
