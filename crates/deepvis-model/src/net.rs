//! A network on a device: its graph with the weights, and what is known of it
//! ([`ModelInfo`]); a forward pass returns the named activations the caller asks for.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;

use crate::arch::{LayerInfo, ModelInfo};
use crate::error::{Error, Result};
use crate::graph::{Graph, GraphNet};
use crate::preprocess::InputSpec;
use crate::registry::Arch;
use crate::weights::WeightMap;

/// A network with its weights on a device.
#[derive(Debug, Clone)]
pub struct Net {
    info: Arc<ModelInfo>,
    graph: GraphNet,
}

/// Which activations a forward pass should return.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Layers whose outputs are wanted.
    pub layers: Vec<String>,
    /// Activation layers whose inputs (pre-activation values) are wanted.
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

    /// Every layer of the table.
    pub fn all(info: &ModelInfo) -> Request {
        Request::layers(
            &info
                .layers()
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>(),
        )
    }

    /// Also asks for the pre-ReLU value of `name`.
    pub fn with_pre_relu(mut self, name: &str) -> Request {
        self.pre_relu.push(name.to_string());
        self
    }
}

/// The activations a forward pass returned, as `[N, C, H, W]` tensors (vector layers have
/// `H = W = 1`), by the names they were asked by.
#[derive(Debug, Default)]
pub struct Taps {
    post: HashMap<String, Tensor<4>>,
    pre: HashMap<String, Tensor<4>>,
    leading: HashMap<String, Tensor<3>>,
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

    /// The leading tokens `[N, lead, D]` (CLS, registers) of a layer that holds a sequence of
    /// tokens (its patches are [`Taps::get`]'s maps), if it was asked for.
    pub fn leading(&self, name: &str) -> Option<&Tensor<3>> {
        self.leading.get(name)
    }

    /// The names of the layers held.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.post.keys().map(String::as_str)
    }
}

impl Net {
    /// Builds `arch` with the tensors of `map`; every tensor the network needs must be there
    /// with the right shape and finite values.
    pub fn from_weights(arch: Arch, mut map: WeightMap, device: &Device) -> Result<Net> {
        let graph = arch.graph(Some(&mut map))?;
        Net::from_graph(graph, arch.info(), device)
    }

    /// Reads a weights file (safetensors, `.pth` or `.net`) and builds `arch` from it.
    pub fn load(arch: Arch, path: &Path, device: &Device) -> Result<Net> {
        let map = WeightMap::read(path)?;
        Net::from_weights(arch, map, device)
    }

    /// A network from any graph (an ONNX file's, say), with its input preprocessing and the
    /// layer the window shows first (default: chosen from the shapes).
    pub fn from_any_graph(
        graph: Graph,
        name: &str,
        input: InputSpec,
        grid: Option<&str>,
        device: &Device,
    ) -> Result<Net> {
        let info = Arc::new(ModelInfo::new(&graph, name, input, grid)?);
        Net::from_graph(graph, info, device)
    }

    fn from_graph(graph: Graph, info: Arc<ModelInfo>, device: &Device) -> Result<Net> {
        Ok(Net {
            info,
            graph: GraphNet::new(graph, device)?,
        })
    }

    /// What is known of the network: name, layers, input, class layer.
    pub fn info(&self) -> &Arc<ModelInfo> {
        &self.info
    }

    /// The runnable graph.
    pub fn graph(&self) -> &GraphNet {
        &self.graph
    }

    /// The same network (its constants never require gradients; inputs still can).
    pub fn no_grad(self) -> Net {
        self
    }

    /// The same network with the learned parameters of `nodes` re-initialised at random
    /// (see [`GraphNet::randomized`]).
    pub fn randomized(&self, nodes: &[&str], seed: u64) -> Result<Net> {
        Ok(Net {
            info: self.info.clone(),
            graph: self.graph.randomized(nodes, seed)?,
        })
    }

    /// The same network with the CPU kernels off (see [`GraphNet::burn_only`]).
    pub fn burn_only(self) -> Net {
        Net {
            info: self.info,
            graph: self.graph.burn_only(),
        }
    }

    /// Moves the network to another device.
    pub fn to_device(self, device: &Device) -> Net {
        Net {
            info: self.info,
            graph: self.graph.to_device(device),
        }
    }

    /// The layer table for an input of the network's own size.
    pub fn layers(&self) -> &[LayerInfo] {
        self.info.layers()
    }

    /// Checks that `input` is `[N, 3, H, W]` with a side the network accepts.
    pub fn check_input(&self, dims: [usize; 4]) -> Result<()> {
        let i = &self.info;
        let [n, c, h, w] = dims;
        let channels = i.graph().input_channels;
        let fixed = i.graph().input_hw;
        let ok = n >= 1
            && c == channels
            && h >= i.min_input_size()
            && w >= i.min_input_size()
            && fixed.is_none_or(|hw| hw == [h, w]);
        if !ok {
            return Err(Error::BadInput(format!(
                "{} needs an input of shape [N>=1, {channels}, H, W] with {} (the usual size is \
                 {s}x{s}); got {dims:?}",
                i.name(),
                match fixed {
                    Some([fh, fw]) => format!("H = {fh}, W = {fw}"),
                    None => format!("H, W >= {}", i.min_input_size()),
                },
                s = i.input_size()
            )));
        }
        Ok(())
    }

    /// Runs the network as far as the deepest requested layer and returns the requested
    /// activations. Unknown layer names and pre-ReLU requests of layers without an activation
    /// are errors, checked before any computation.
    pub fn forward(&self, input: Tensor<4>, req: &Request) -> Result<Taps> {
        self.check_input(input.dims())?;
        let post: Vec<&str> = req
            .layers
            .iter()
            .map(|n| self.info.resolve(n))
            .collect::<Result<_>>()?;
        let pre: Vec<&str> = req
            .pre_relu
            .iter()
            .map(|n| {
                let r = self.info.resolve(n)?;
                match self.info.layer(r)?.relu {
                    true => Ok(r),
                    false => Err(Error::NoPreRelu(r.to_string())),
                }
            })
            .collect::<Result<_>>()?;
        let out = self.graph.forward(input, &post, &pre)?;
        let mut taps = Taps::default();
        for (asked, node) in req.layers.iter().zip(&post) {
            if let Some(t) = out.outputs.get(*node) {
                taps.post.insert(asked.clone(), t.clone());
            }
            if let Some(t) = out.leading.get(*node) {
                taps.leading.insert(asked.clone(), t.clone());
            }
        }
        for (asked, node) in req.pre_relu.iter().zip(&pre) {
            if let Some(t) = out.pre.get(*node) {
                taps.pre.insert(asked.clone(), t.clone());
            }
        }
        Ok(taps)
    }

    /// The class scores as `[N, classes]`.
    pub fn logits(&self, input: Tensor<4>) -> Result<Tensor<2>> {
        let name = self.info.logits_layer().to_string();
        let mut taps = self.forward(input, &Request::layers(&[&name]))?;
        let t = taps
            .take(&name)
            .ok_or_else(|| Error::BadInput("the forward pass returned no class scores".into()))?;
        let [n, c, h, w] = t.dims();
        Ok(t.reshape([n, c * h * w]))
    }

    /// What the output of the first image of `input` shows when the output is not class
    /// scores (a map, boxes, an embedding); `None` for class scores (their top-5 is
    /// [`Net::probabilities`]').
    pub fn read_output(&self, input: Tensor<4>) -> Result<Option<deepvis_viz::OutputReading>> {
        let kind = self.info.output_kind();
        if matches!(kind, deepvis_viz::OutputKind::Classes { .. }) {
            return Ok(None);
        }
        let name = self.info.output_layer().to_string();
        let mut taps = self.forward(input, &Request::layers(&[&name]))?;
        let t = taps
            .take(&name)
            .ok_or_else(|| Error::BadInput("the forward pass returned no output".into()))?;
        Ok(kind.read(&crate::to_vec(t)?)?)
    }

    /// Class probabilities as `[N, classes]`.
    pub fn probabilities(&self, input: Tensor<4>) -> Result<Tensor<2>> {
        Ok(burn::tensor::activation::softmax(self.logits(input)?, 1))
    }
}
