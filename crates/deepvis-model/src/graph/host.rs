//! The CPU fast path of [`GraphNet`](super::GraphNet): on burn-flex without autodiff,
//! convolutions (with a following ReLU fused) and max pooling run on `deepvis-kernels`, on the
//! tensors' own host memory (burn-flex hands a uniquely held tensor's buffer over without a
//! copy), with the weights read out once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use deepvis_kernels::{Conv2d, KernelError, MaxPool2d, Output, Scratch};

use super::shape::window_out;
use super::{Graph, Op, Window};

/// Host copies of the convolution constants (weights packed for the kernels) and the fully
/// connected layers', and the im2col buffer.
#[derive(Debug)]
pub(crate) struct Host {
    /// Convolution weights and biases by constant name.
    consts: HashMap<String, Arc<[f32]>>,
    scratch: Mutex<Scratch>,
}

/// Whether `device` is the one this path serves.
pub(crate) fn serves(device: &Device) -> bool {
    !device.is_autodiff() && *device == Device::flex()
}

fn host_values(t: &Tensor<4>) -> Option<Vec<f32>> {
    t.clone().into_data().try_into_vec::<f32>().ok()
}

/// A channel range of a concatenation's buffer that a convolution writes into.
pub(crate) struct Slot<'a> {
    /// `[N, channels, H, W]`, allocated (zeros) by the first writer when empty.
    pub data: &'a mut Vec<f32>,
    /// The concatenation's channels.
    pub channels: usize,
    /// The first channel of this part.
    pub offset: usize,
}

impl Slot<'_> {
    /// Copies a value computed elsewhere into its channel range.
    pub(crate) fn fill(self, t: Tensor<4>) -> Result<(), Declined> {
        let [n, c, h, w] = t.dims();
        let v = take(t)?;
        if self.data.is_empty() {
            *self.data = vec![0.0f32; n * self.channels * h * w];
        }
        let plane = c * h * w;
        for b in 0..n {
            let at = (b * self.channels + self.offset) * h * w;
            let (Some(dst), Some(src)) = (
                self.data.get_mut(at..at + plane),
                v.get(b * plane..(b + 1) * plane),
            ) else {
                return Err(Declined::Failed(
                    "a part does not fit its concatenation".into(),
                ));
            };
            dst.copy_from_slice(src);
        }
        Ok(())
    }
}

/// Wraps a finished concatenation buffer as a value.
pub(crate) fn value(v: Vec<f32>, dims: [usize; 4], device: &Device) -> Tensor<4> {
    tensor(v, dims, device)
}

/// Why the host path did not give a value.
pub(crate) enum Declined {
    /// Not a case for this path: the value back, for burn to run.
    Burn(Box<Tensor<4>>),
    /// The kernel failed on the value it took.
    Failed(String),
}

/// A value's host data, without a copy where the tensor was held once.
fn take(x: Tensor<4>) -> Result<Vec<f32>, Declined> {
    x.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| Declined::Failed(format!("{e:?}")))
}

fn tensor(v: Vec<f32>, dims: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v, dims), device)
}

impl Host {
    /// Reads the graph's convolution constants out of `consts` (`None` on a device neither
    /// this path nor the tape serves).
    pub(crate) fn new(
        graph: &Graph,
        consts: &HashMap<String, Tensor<4>>,
        device: &Device,
    ) -> Option<Arc<Host>> {
        if !serves(device) && !super::autodiff::serves(device) {
            return None;
        }
        let mut out = HashMap::new();
        for node in &graph.nodes {
            // a fully connected layer's weights and bias, as they are
            if let Op::Gemm { .. } = node.op {
                for name in node.inputs.iter().skip(1) {
                    if let Some(v) = consts.get(name).and_then(host_values) {
                        out.insert(name.clone(), Arc::from(v));
                    }
                }
                continue;
            }
            let Op::Conv { window, group } = &node.op else {
                continue;
            };
            // the weights packed as the kernels read them, the bias as it is
            if let Some((name, t)) = node.inputs.get(1).and_then(|n| Some((n, consts.get(n)?))) {
                let [o, cpg, kh, kw] = t.dims();
                let conv = Conv2d {
                    in_channels: cpg * group,
                    out_channels: o,
                    group: *group,
                    kernel: [kh, kw],
                    stride: window.strides,
                    dilation: window.dilations,
                    pads: [0; 4],
                };
                let packed = (window.kernel == [kh, kw])
                    .then(|| host_values(t).and_then(|v| conv.pack(&v).ok()))
                    .flatten();
                if let Some(v) = packed {
                    out.insert(name.clone(), Arc::from(v));
                }
            }
            if let Some(name) = node.inputs.get(2)
                && let Some(v) = consts.get(name).and_then(host_values)
            {
                out.insert(name.clone(), Arc::from(v));
            }
        }
        Some(Arc::new(Host {
            consts: out,
            scratch: Mutex::new(Scratch::default()),
        }))
    }

    /// A convolution constant by name (weights packed for the kernels).
    pub(crate) fn constant(&self, name: &str) -> Option<Arc<[f32]>> {
        self.consts.get(name).cloned()
    }

    /// The im2col buffer, taken out for a call rather than held locked through it: a forward
    /// on another thread (or nested in the thread pool's work) finds an empty one instead.
    pub(crate) fn take_scratch(&self) -> Scratch {
        match self.scratch.lock() {
            Ok(mut s) => std::mem::take(&mut *s),
            Err(_) => Scratch::default(),
        }
    }

    /// Gives the im2col buffer back.
    pub(crate) fn put_scratch(&self, scratch: Scratch) {
        if let Ok(mut s) = self.scratch.lock() {
            *s = scratch;
        }
    }

    /// Runs a convolution node whose inputs are `inputs` (the input, weight and bias names),
    /// with a ReLU after it when `relu`.
    pub(crate) fn conv(
        &self,
        inputs: &[String],
        window: &Window,
        group: usize,
        x: Tensor<4>,
        relu: bool,
        into: Option<Slot<'_>>,
    ) -> Result<Option<Tensor<4>>, Declined> {
        let weight = inputs.get(1).and_then(|w| self.consts.get(w)).cloned();
        let bias = match inputs.get(2) {
            Some(b) => self.consts.get(b).cloned().map(Some),
            None => Some(None),
        };
        let device = x.device();
        let (Some(weight), Some(bias), true) = (weight, bias, serves(&device)) else {
            return Err(Declined::Burn(Box::new(x)));
        };
        let [n, c, h, w] = x.dims();
        let Some(conv) = geometry(window, group, [c, h, w], weight.len()) else {
            return Err(Declined::Burn(Box::new(x)));
        };
        let out_channels = conv.out_channels;
        let Ok([oh, ow]) = conv.out_hw([h, w]) else {
            return Err(Declined::Burn(Box::new(x)));
        };
        let xs = take(x)?;
        let mut own = Vec::new();
        let (out, channels, offset) = match into {
            Some(slot) => (slot.data, slot.channels, slot.offset),
            None => (&mut own, out_channels, 0),
        };
        if out.is_empty() {
            *out = vec![0.0f32; n * channels * oh * ow];
        }
        let mut scratch = self.take_scratch();
        let dst = Output {
            data: out,
            channels,
            offset,
        };
        let done = conv.run(
            &xs,
            [n, h, w],
            &weight,
            bias.as_deref(),
            relu,
            dst,
            &mut scratch,
        );
        self.put_scratch(scratch);
        done.map_err(|e: KernelError| Declined::Failed(e.to_string()))?;
        Ok(match own.is_empty() {
            true => None,
            false => Some(tensor(own, [n, out_channels, oh, ow], &device)),
        })
    }
}

/// The kernels' convolution of `window` and `group` over `[c, h, w]` inputs with `weights`
/// values (`None` when the window does not fit).
pub(crate) fn geometry(
    window: &Window,
    group: usize,
    [c, h, w]: [usize; 3],
    weights: usize,
) -> Option<Conv2d> {
    let (_, pads) = window_out(window, [h, w])?;
    let per_out = c / group.max(1) * window.kernel[0] * window.kernel[1];
    let conv = Conv2d {
        in_channels: c,
        out_channels: weights / per_out.max(1),
        group,
        kernel: window.kernel,
        stride: window.strides,
        dilation: window.dilations,
        pads,
    };
    conv.out_hw([h, w]).ok()?;
    Some(conv)
}

/// The kernels' max pooling of `window` for an input of `[h, w]`, and its output `[h, w]`.
pub(crate) fn pooling(window: &Window, [h, w]: [usize; 2]) -> Option<(MaxPool2d, [usize; 2])> {
    let pool = MaxPool2d {
        kernel: window.kernel,
        stride: window.strides,
        dilation: window.dilations,
        pads: window.pads([h, w]),
        ceil: window.ceil,
    };
    let out = pool.out_hw([h, w]).ok()?;
    Some((pool, out))
}

/// Runs a max pooling on the host.
pub(crate) fn max_pool(window: &Window, x: Tensor<4>) -> Result<Tensor<4>, Declined> {
    let device = x.device();
    if !serves(&device) {
        return Err(Declined::Burn(Box::new(x)));
    }
    let [n, c, h, w] = x.dims();
    let Some((pool, [oh, ow])) = pooling(window, [h, w]) else {
        return Err(Declined::Burn(Box::new(x)));
    };
    let xs = take(x)?;
    let mut out = vec![0.0f32; n * c * oh * ow];
    pool.run(&xs, [n * c, h, w], &mut out)
        .map_err(|e| Declined::Failed(e.to_string()))?;
    Ok(tensor(out, [n, c, oh, ow], &device))
}

/// Clamps a value to `[min, max]` on the host, in place where the tensor was held once (NaN
/// stays NaN).
pub(crate) fn clamp(x: Tensor<4>, min: f32, max: f32) -> Result<Tensor<4>, Declined> {
    let device = x.device();
    if !serves(&device) {
        return Err(Declined::Burn(Box::new(x)));
    }
    let dims = x.dims();
    let mut v = take(x)?;
    for e in v.iter_mut() {
        *e = if *e < min {
            min
        } else if *e > max {
            max
        } else {
            *e
        };
    }
    Ok(tensor(v, dims, &device))
}
