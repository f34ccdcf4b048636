//! The architectures deepvis knows, their named layers and the layers' geometry.

use crate::error::{Error, Result};

/// A network architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Caffe SqueezeNet v1.0 (227x227, BGR minus mean). The default.
    SqueezeNet1_0,
    /// torchvision's AlexNet (224x224, RGB normalized).
    AlexNet,
}

/// What a named layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// A convolution (followed by a ReLU where `relu` is set).
    Conv,
    /// Max pooling.
    MaxPool,
    /// A SqueezeNet fire module (squeeze 1x1, expand 1x1 and 3x3, concatenated).
    Fire,
    /// Global average pooling: the class scores of SqueezeNet.
    GlobalAvgPool,
    /// A fully connected layer.
    Linear,
    /// Softmax over the classes.
    Softmax,
}

impl LayerKind {
    /// A short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Conv => "conv",
            LayerKind::MaxPool => "maxpool",
            LayerKind::Fire => "fire",
            LayerKind::GlobalAvgPool => "avgpool",
            LayerKind::Linear => "linear",
            LayerKind::Softmax => "softmax",
        }
    }
}

/// The static description of one named stage of a network.
#[derive(Clone, Copy, Debug)]
pub struct StageSpec {
    /// The layer's name (`conv1`, `fire9`, ...).
    pub name: &'static str,
    /// What it computes.
    pub kind: LayerKind,
    /// Output channels (or units for linear layers).
    pub channels: usize,
    /// Kernel size of the spatial operation (the 3x3 expand for a fire module).
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// Whether the output is post-ReLU (so a pre-ReLU value exists).
    pub relu: bool,
    /// Ceil-mode output size (Caffe pooling).
    pub ceil: bool,
}

#[allow(clippy::too_many_arguments)] // a row of the static layer table
const fn st(
    name: &'static str,
    kind: LayerKind,
    channels: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    relu: bool,
    ceil: bool,
) -> StageSpec {
    StageSpec {
        name,
        kind,
        channels,
        kernel,
        stride,
        pad,
        relu,
        ceil,
    }
}

use LayerKind as K;

const SQUEEZENET: &[StageSpec] = &[
    st("conv1", K::Conv, 96, 7, 2, 0, true, false),
    st("pool1", K::MaxPool, 96, 3, 2, 0, false, true),
    st("fire2", K::Fire, 128, 3, 1, 1, true, false),
    st("fire3", K::Fire, 128, 3, 1, 1, true, false),
    st("fire4", K::Fire, 256, 3, 1, 1, true, false),
    st("pool4", K::MaxPool, 256, 3, 2, 0, false, true),
    st("fire5", K::Fire, 256, 3, 1, 1, true, false),
    st("fire6", K::Fire, 384, 3, 1, 1, true, false),
    st("fire7", K::Fire, 384, 3, 1, 1, true, false),
    st("fire8", K::Fire, 512, 3, 1, 1, true, false),
    st("pool8", K::MaxPool, 512, 3, 2, 0, false, true),
    st("fire9", K::Fire, 512, 3, 1, 1, true, false),
    st("conv10", K::Conv, 1000, 1, 1, 1, true, false),
    st("pool10", K::GlobalAvgPool, 1000, 0, 1, 0, false, false),
    st("prob", K::Softmax, 1000, 0, 1, 0, false, false),
];

const ALEXNET: &[StageSpec] = &[
    st("conv1", K::Conv, 64, 11, 4, 2, true, false),
    st("pool1", K::MaxPool, 64, 3, 2, 0, false, false),
    st("conv2", K::Conv, 192, 5, 1, 2, true, false),
    st("pool2", K::MaxPool, 192, 3, 2, 0, false, false),
    st("conv3", K::Conv, 384, 3, 1, 1, true, false),
    st("conv4", K::Conv, 256, 3, 1, 1, true, false),
    st("conv5", K::Conv, 256, 3, 1, 1, true, false),
    st("pool5", K::MaxPool, 256, 3, 2, 0, false, false),
    st("fc6", K::Linear, 4096, 0, 1, 0, true, false),
    st("fc7", K::Linear, 4096, 0, 1, 0, true, false),
    st("fc8", K::Linear, 1000, 0, 1, 0, false, false),
    st("prob", K::Softmax, 1000, 0, 1, 0, false, false),
];

/// A named layer and the shape of its output for one input size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name.
    pub name: &'static str,
    /// What it computes.
    pub kind: LayerKind,
    /// Channels (units for vector layers).
    pub channels: usize,
    /// Height of the output map (1 for vector layers).
    pub height: usize,
    /// Width of the output map (1 for vector layers).
    pub width: usize,
    /// Whether the layer's output is post-ReLU, so `pre_relu` can be asked of it.
    pub relu: bool,
}

fn pooled(size: usize, k: usize, s: usize, p: usize, ceil: bool) -> usize {
    let span = (size + 2 * p).saturating_sub(k);
    let mut out = if ceil {
        span.div_ceil(s) + 1
    } else {
        span / s + 1
    };
    // Caffe: the last window must start inside the (left-padded) input.
    if ceil && p > 0 && (out - 1) * s >= size + p {
        out -= 1;
    }
    out
}

impl Arch {
    /// Every architecture, the default first.
    pub const ALL: [Arch; 2] = [Arch::SqueezeNet1_0, Arch::AlexNet];

    /// The canonical name (`squeezenet1_0`, `alexnet`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::SqueezeNet1_0 => "squeezenet1_0",
            Arch::AlexNet => "alexnet",
        }
    }

    /// Parses a model name (`squeezenet1_0`, `squeezenet`, `alexnet`).
    pub fn from_name(name: &str) -> Result<Arch> {
        match name.to_ascii_lowercase().replace(['-', '.'], "_").as_str() {
            "squeezenet1_0" | "squeezenet" | "squeezenet1" | "squeezenet_v1_0" => {
                Ok(Arch::SqueezeNet1_0)
            }
            "alexnet" => Ok(Arch::AlexNet),
            _ => Err(Error::UnknownModel(name.to_string())),
        }
    }

    /// The input side the network was trained on.
    pub fn input_size(self) -> usize {
        match self {
            Arch::SqueezeNet1_0 => 227,
            Arch::AlexNet => 224,
        }
    }

    /// The smallest input side the network accepts.
    pub fn min_input_size(self) -> usize {
        match self {
            Arch::SqueezeNet1_0 => 43,
            Arch::AlexNet => 63,
        }
    }

    /// The named stages in forward order.
    pub fn stages(self) -> &'static [StageSpec] {
        match self {
            Arch::SqueezeNet1_0 => SQUEEZENET,
            Arch::AlexNet => ALEXNET,
        }
    }

    /// The layer whose units are the class scores (pre-softmax).
    pub fn logits_layer(self) -> &'static str {
        match self {
            Arch::SqueezeNet1_0 => "pool10",
            Arch::AlexNet => "fc8",
        }
    }

    /// The last layer with a 13x13 map: the grid the app shows first.
    pub fn default_grid_layer(self) -> &'static str {
        match self {
            Arch::SqueezeNet1_0 => "fire9",
            Arch::AlexNet => "conv5",
        }
    }

    /// The index of a named stage; `logits` and `fc8`/`pool10` are accepted as aliases of the
    /// class-score layer.
    pub fn stage_index(self, name: &str) -> Result<usize> {
        let name = match name {
            "logits" | "fc8" | "pool10" => self.logits_layer(),
            n => n,
        };
        self.stages()
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::UnknownLayer {
                model: self.name(),
                name: name.to_string(),
                known: self
                    .stages()
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The layers with their output shapes for a square input of the given side.
    pub fn layers_for(self, input: usize) -> Vec<LayerInfo> {
        let (mut h, mut w) = (input, input);
        let mut out = Vec::new();
        for s in self.stages() {
            match s.kind {
                K::Conv | K::Fire | K::MaxPool => {
                    h = pooled(h, s.kernel, s.stride, s.pad, s.ceil);
                    w = pooled(w, s.kernel, s.stride, s.pad, s.ceil);
                }
                K::GlobalAvgPool | K::Linear | K::Softmax => {
                    h = 1;
                    w = 1;
                }
            }
            out.push(LayerInfo {
                name: s.name,
                kind: s.kind,
                channels: s.channels,
                height: h,
                width: w,
                relu: s.relu,
            });
        }
        out
    }

    /// The layers for the network's own input size.
    pub fn layers(self) -> Vec<LayerInfo> {
        self.layers_for(self.input_size())
    }

    /// The layer info of a named layer at the network's own input size.
    pub fn layer(self, name: &str) -> Result<LayerInfo> {
        let i = self.stage_index(name)?;
        let mut layers = self.layers();
        Ok(layers.swap_remove(i))
    }
}

/// A rectangle of input pixels, half-open: rows `y0..y1`, columns `x0..x1`. It may reach past
/// the image into the zero padding (negative or too large coordinates); see [`Region::clamped`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First row.
    pub y0: i64,
    /// First column.
    pub x0: i64,
    /// One past the last row.
    pub y1: i64,
    /// One past the last column.
    pub x1: i64,
}

impl Region {
    /// Height in pixels (0 when empty).
    pub fn height(&self) -> i64 {
        (self.y1 - self.y0).max(0)
    }

    /// Width in pixels (0 when empty).
    pub fn width(&self) -> i64 {
        (self.x1 - self.x0).max(0)
    }

    /// The part inside an image of `h` x `w` pixels (empty when it lies wholly in the padding).
    pub fn clamped(&self, h: usize, w: usize) -> Region {
        let (h, w) = (h as i64, w as i64);
        let y0 = self.y0.clamp(0, h);
        let x0 = self.x0.clamp(0, w);
        Region {
            y0,
            x0,
            y1: self.y1.clamp(y0, h),
            x1: self.x1.clamp(x0, w),
        }
    }

    /// Whether it holds no pixel.
    pub fn is_empty(&self) -> bool {
        self.height() == 0 || self.width() == 0
    }

    /// The whole of a square input of side `n`.
    pub fn whole(n: usize) -> Region {
        let n = n as i64;
        Region {
            y0: 0,
            x0: 0,
            y1: n,
            x1: n,
        }
    }

    /// `[y0, x0, y1, x1]`.
    pub fn bounds(&self) -> [i64; 4] {
        [self.y0, self.x0, self.y1, self.x1]
    }
}

impl Arch {
    /// The input pixels that unit `(y, x)` of `layer` can see, for a square input of side
    /// `input`, computed from the kernels, strides and padding of every stage below it. Units
    /// of global layers (class scores, fully connected) see the whole input.
    pub fn receptive_field(self, layer: &str, y: usize, x: usize, input: usize) -> Result<Region> {
        let idx = self.stage_index(layer)?;
        let layers = self.layers_for(input);
        let stages = self.stages();
        layers[idx].check_unit(0, Some((y, x)))?;
        // inclusive intervals [a, b] in the output of stage i
        let (mut ya, mut yb, mut xa, mut xb) = (y as i64, y as i64, x as i64, x as i64);
        for i in (0..=idx).rev() {
            let s = &stages[i];
            match s.kind {
                K::Conv | K::Fire | K::MaxPool => {
                    let (k, st, p) = (s.kernel as i64, s.stride as i64, s.pad as i64);
                    ya = ya * st - p;
                    yb = yb * st - p + k - 1;
                    xa = xa * st - p;
                    xb = xb * st - p + k - 1;
                }
                K::GlobalAvgPool | K::Linear | K::Softmax => return Ok(Region::whole(input)),
            }
        }
        Ok(Region {
            y0: ya,
            x0: xa,
            y1: yb + 1,
            x1: xb + 1,
        })
    }

    /// [`Arch::receptive_field`] as `[y0, x0, y1, x1]`, clamped to the input when `clamp`
    /// (else reaching into the padding); the whole input for a unit the layer does not have.
    pub fn field_bounds(
        self,
        layer: &str,
        (y, x): (usize, usize),
        input: usize,
        clamp: bool,
    ) -> [i64; 4] {
        let r = self
            .receptive_field(layer, y, x, input)
            .unwrap_or(Region::whole(input));
        if clamp {
            r.clamped(input, input).bounds()
        } else {
            r.bounds()
        }
    }
}

impl LayerInfo {
    /// Checks that channel `channel` (and, for maps, position `(y, x)`) exists in this layer.
    pub fn check_unit(&self, channel: usize, pos: Option<(usize, usize)>) -> Result<()> {
        if channel >= self.channels {
            return Err(Error::UnitOutOfRange {
                layer: self.name.to_string(),
                what: format!("channel {channel}"),
                limit: format!(
                    "it has {} channels, 0..={}",
                    self.channels,
                    self.channels - 1
                ),
            });
        }
        if let Some((y, x)) = pos
            && (y >= self.height || x >= self.width)
        {
            return Err(Error::UnitOutOfRange {
                layer: self.name.to_string(),
                what: format!("position (y {y}, x {x})"),
                limit: format!("its map is {}x{}", self.height, self.width),
            });
        }
        Ok(())
    }

    /// The centre of the map, `(h / 2, w / 2)`.
    pub fn centre(&self) -> (usize, usize) {
        (self.height / 2, self.width / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_mode_differs_from_floor_on_odd_sizes() {
        assert_eq!(pooled(112, 3, 2, 0, true), 56);
        assert_eq!(pooled(112, 3, 2, 0, false), 55);
        assert_eq!(pooled(111, 3, 2, 0, true), 55);
    }
}
