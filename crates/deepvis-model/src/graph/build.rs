//! Writing a graph in code: the built-in networks are built with this from their weight maps
//! (or, for their layer tables alone, from the weights' shapes).

use super::{Graph, HostTensor, Node, Op, Padding, Window};
use crate::error::Result;
use crate::weights::WeightMap;

/// Builds a graph node by node; each method returns the new node's output name.
pub struct Builder<'a> {
    graph: Graph,
    weights: Option<&'a mut WeightMap>,
}

/// A square window with symmetric padding.
pub fn window(kernel: usize, stride: usize, pad: usize, ceil: bool) -> Window {
    Window {
        kernel: [kernel, kernel],
        strides: [stride, stride],
        dilations: [1, 1],
        padding: Padding::Explicit([pad; 4]),
        ceil,
    }
}

impl<'a> Builder<'a> {
    /// A graph named `name` with a `[N, channels, H, W]` input called `input`; constants come
    /// from `weights`, or are shape-only placeholders when it is `None` (such a graph has
    /// shapes and fields but cannot run).
    pub fn new(
        name: &str,
        input: &str,
        channels: usize,
        weights: Option<&'a mut WeightMap>,
    ) -> Builder<'a> {
        Builder {
            graph: Graph {
                name: name.into(),
                input: input.into(),
                input_channels: channels,
                ..Graph::default()
            },
            weights,
        }
    }

    /// Adds constant `key` of `shape` (taken from the weights, checked).
    pub fn constant(&mut self, key: &str, shape: &[usize]) -> Result<String> {
        let t = match self.weights.as_deref_mut() {
            Some(map) => {
                let t = map.take(key, shape)?;
                HostTensor {
                    dims: t.shape,
                    data: t.data,
                }
            }
            None => HostTensor::placeholder(shape.to_vec()),
        };
        self.graph.constants.insert(key.to_string(), t);
        Ok(key.to_string())
    }

    /// Adds a node.
    pub fn node(&mut self, name: &str, op_type: &str, op: Op, inputs: &[&str]) -> String {
        self.graph.nodes.push(Node {
            name: name.into(),
            op_type: op_type.into(),
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output: name.into(),
        });
        name.to_string()
    }

    /// A convolution `name` with weights `{key}.weight` `[o, i, k, k]` and `{key}.bias`.
    pub fn conv(
        &mut self,
        name: &str,
        input: &str,
        key: &str,
        [o, i, k]: [usize; 3],
        stride: usize,
        pad: usize,
    ) -> Result<String> {
        let w = self.constant(&format!("{key}.weight"), &[o, i, k, k])?;
        let b = self.constant(&format!("{key}.bias"), &[o])?;
        let op = Op::Conv {
            window: window(k, stride, pad, false),
            group: 1,
        };
        Ok(self.node(name, "Conv", op, &[input, &w, &b]))
    }

    /// A fully connected layer `name` with PyTorch's `{key}.weight` `[o, i]` and `{key}.bias`.
    pub fn linear(
        &mut self,
        name: &str,
        input: &str,
        key: &str,
        [o, i]: [usize; 2],
    ) -> Result<String> {
        let w = self.constant(&format!("{key}.weight"), &[o, i])?;
        let b = self.constant(&format!("{key}.bias"), &[o])?;
        let op = Op::Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        };
        Ok(self.node(name, "Gemm", op, &[input, &w, &b]))
    }

    /// A ReLU.
    pub fn relu(&mut self, name: &str, input: &str) -> String {
        self.node(name, "Relu", Op::Relu, &[input])
    }

    /// The graph, with `outputs` and the curated layer list `layers`.
    pub fn finish(mut self, outputs: &[&str], layers: &[&str]) -> Graph {
        self.graph.outputs = outputs.iter().map(|s| s.to_string()).collect();
        self.graph.layers = layers.iter().map(|s| s.to_string()).collect();
        self.graph
    }
}
