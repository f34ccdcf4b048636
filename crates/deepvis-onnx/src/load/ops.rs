//! The ONNX operators deepvis reads, each listed once: its name and how a node of it becomes
//! an [`Op`]. The loader dispatches on this table and refuses a file whose operators are not
//! in it, so adding an operator is one entry here (with its builder when it reads attributes
//! or operands).

use deepvis_model::graph::{
    CoordMode, NearestMode, Op, PadMode, Padding, Resize, ResizeMode, ResizeTo, Window,
};

use super::{Reader, attr};
use crate::error::Result;
use crate::proto::NodeProto;

/// How a node of one operator becomes graph nodes (attributes read, constant operands folded
/// in).
#[derive(Clone, Copy)]
pub(super) enum Build {
    /// One node.
    One(fn(&Reader<'_>, &NodeProto) -> Result<Op>),
    /// One node per output, each its own op (a `Split`'s parts).
    Each(fn(&Reader<'_>, &NodeProto) -> Result<Vec<Op>>),
}

/// One operator deepvis reads.
pub(super) struct Operator {
    /// Its name in the default ONNX domain.
    pub(super) name: &'static str,
    /// How a node of it becomes an op.
    pub(super) build: Build,
    /// Whether its node keeps its data input alone, the other operands folded into the op
    /// (a clip's bounds, a reshape's shape, a pad's pads and value, a dropout's ratio).
    pub(super) data_only: bool,
}

type BuildOne = fn(&Reader<'_>, &NodeProto) -> Result<Op>;

impl Operator {
    const fn new(name: &'static str, build: BuildOne) -> Operator {
        Operator {
            name,
            build: Build::One(build),
            data_only: false,
        }
    }

    const fn data_only(name: &'static str, build: BuildOne) -> Operator {
        Operator {
            name,
            build: Build::One(build),
            data_only: true,
        }
    }
}

/// `Constant`: folded into the graph's constants as the file is read, never a node.
pub(super) const CONSTANT: &str = "Constant";

/// Every operator deepvis runs (besides [`CONSTANT`]).
const OPERATORS: &[Operator] = &[
    Operator::new("Conv", |r, n| r.conv(n)),
    Operator::new("Relu", |_, _| Ok(Op::Relu)),
    Operator::new("LeakyRelu", |_, n| {
        Ok(Op::LeakyRelu {
            alpha: Reader::float(n, "alpha", 0.01),
        })
    }),
    Operator::data_only("Clip", |r, n| r.clip(n)),
    Operator::new("Sigmoid", |_, _| Ok(Op::Sigmoid)),
    Operator::new("HardSigmoid", |_, n| {
        Ok(Op::HardSigmoid {
            alpha: Reader::float(n, "alpha", 0.2),
            beta: Reader::float(n, "beta", 0.5),
        })
    }),
    Operator::new("HardSwish", |_, _| Ok(Op::HardSwish)),
    Operator::new("MaxPool", |r, n| r.max_pool(n)),
    Operator::new("AveragePool", |r, n| {
        if r.ints_attr(n, "dilations", 2, 1)? != [1, 1] {
            return Err(r.bad(n, "a dilated average pooling (opset 19) is not supported"));
        }
        Ok(Op::AveragePool {
            window: r.window(n, None)?,
            count_include_pad: Reader::int(n, "count_include_pad", 0) != 0,
        })
    }),
    Operator::new("GlobalAveragePool", |_, _| Ok(Op::GlobalAveragePool)),
    Operator::new("LRN", |r, n| r.lrn(n)),
    Operator::new("BatchNormalization", |r, n| r.batch_norm(n)),
    Operator::new("Add", |_, _| Ok(Op::Add)),
    Operator::new("Sub", |_, _| Ok(Op::Sub)),
    Operator::new("Mul", |_, _| Ok(Op::Mul)),
    Operator::new("Div", |_, _| Ok(Op::Div)),
    Operator::new("Concat", |r, n| {
        Ok(Op::Concat {
            axis: attr(n, "axis")
                .map(|a| a.i)
                .ok_or_else(|| r.bad(n, "no axis"))?,
        })
    }),
    Operator::new("Gemm", |_, n| {
        Ok(Op::Gemm {
            alpha: Reader::float(n, "alpha", 1.0),
            beta: Reader::float(n, "beta", 1.0),
            trans_a: Reader::int(n, "transA", 0) != 0,
            trans_b: Reader::int(n, "transB", 0) != 0,
        })
    }),
    Operator::new("MatMul", |_, _| Ok(Op::MatMul)),
    Operator::new("Transpose", |r, n| r.transpose(n)),
    Operator::new("LayerNormalization", |r, n| r.layer_norm(n)),
    Operator::data_only("ReduceMean", |r, n| r.reduce_mean(n)),
    Operator::new("Erf", |_, _| Ok(Op::Erf)),
    Operator::new("Tanh", |_, _| Ok(Op::Tanh)),
    Operator::new("Flatten", |_, n| {
        Ok(Op::Flatten {
            axis: Reader::int(n, "axis", 1),
        })
    }),
    Operator::data_only("Reshape", |r, n| r.reshape(n)),
    Operator::new("Softmax", |r, n| {
        Ok(Op::Softmax {
            axis: Reader::int(n, "axis", if r.opset >= 13 { -1 } else { 1 }),
            coerce_2d: r.opset < 13,
        })
    }),
    Operator::data_only("Dropout", |_, _| Ok(Op::Dropout)),
    Operator::data_only("Pad", |r, n| r.pad(n)),
    Operator::new("Identity", |_, _| Ok(Op::Identity)),
    Operator::data_only("Gather", |r, n| r.gather(n)),
    Operator::data_only("Slice", |r, n| r.slice(n)),
    Operator {
        name: "Split",
        build: Build::Each(|r, n| r.split(n)),
        data_only: true,
    },
    Operator::data_only("Expand", |r, n| {
        let target = r.sym_operand(n, 1, "shape")?;
        Ok(Op::Expand {
            shape: r.extents(n, &target)?,
        })
    }),
    Operator::data_only("Tile", |r, n| {
        let repeats = r
            .const_ints(n, 1, "repeats")?
            .ok_or_else(|| r.bad(n, "no repeats"))?;
        Ok(Op::Tile {
            repeats: repeats
                .iter()
                .map(|&v| usize::try_from(v).map_err(|_| r.bad(n, format!("repeat {v}"))))
                .collect::<Result<_>>()?,
        })
    }),
    Operator::data_only("Unsqueeze", |r, n| r.squeeze(n, true)),
    Operator::data_only("Squeeze", |r, n| r.squeeze(n, false)),
    Operator::data_only("Cast", |r, n| match Reader::int(n, "to", 1) {
        // float to float (PyTorch casts its input to float32 first)
        1 | 10 | 11 | 16 => Ok(Op::Identity),
        // integers from the data's values: a shape that depends on the data
        to => Err(r.not_foldable(
            n,
            format!(
                "it casts values computed from the data to {}; deepvis folds integers from \
                 shapes and constants only",
                crate::proto::dtype::name(to as i32)
            ),
        )),
    }),
    Operator::data_only("Resize", |r, n| r.resize(n)),
    Operator::new("ConvTranspose", |r, n| r.conv_transpose(n)),
    Operator::data_only("Pow", |r, n| {
        let exponent = r
            .const_scalar(n, 1, "exponent")?
            .ok_or_else(|| r.bad(n, "no exponent"))?;
        Ok(Op::Pow { exponent })
    }),
    Operator::new("Sqrt", |_, _| Ok(Op::Sqrt)),
    Operator::new("Reciprocal", |_, _| Ok(Op::Reciprocal)),
    Operator::new("Gelu", |r, n| {
        match Reader::string(n, "approximate").as_deref() {
            None | Some("none") => Ok(Op::Gelu { tanh: false }),
            Some("tanh") => Ok(Op::Gelu { tanh: true }),
            Some(other) => Err(r.bad(n, format!("approximate `{other}` is not a GELU"))),
        }
    }),
];

/// The operator named `op_type`.
pub(super) fn find(op_type: &str) -> Option<&'static Operator> {
    OPERATORS.iter().find(|o| o.name == op_type)
}

/// Whether deepvis reads operator `op_type` of the default domain.
pub(super) fn is_supported(op_type: &str) -> bool {
    op_type == CONSTANT || find(op_type).is_some()
}

impl Reader<'_> {
    fn conv(&self, n: &NodeProto) -> Result<Op> {
        let kernel = n
            .input
            .get(1)
            .and_then(|w| self.floats.get(w))
            .filter(|w| w.dims.len() == 4)
            .map(|w| [w.dims[2], w.dims[3]]);
        if kernel.is_none() {
            return Err(self.bad(
                n,
                "the weight must be a constant [O, I, kH, kW] tensor (2-D convolution)",
            ));
        }
        let group = Self::int(n, "group", 1);
        if group < 1 {
            return Err(self.bad(n, format!("group {group} must be positive")));
        }
        Ok(Op::Conv {
            window: Window {
                ceil: false,
                ..self.window(n, kernel)?
            },
            group: group as usize,
        })
    }

    fn clip(&self, n: &NodeProto) -> Result<Op> {
        let (min, max) = if self.opset >= 11 {
            (
                self.const_scalar(n, 1, "min")?,
                self.const_scalar(n, 2, "max")?,
            )
        } else {
            (attr(n, "min").map(|a| a.f), attr(n, "max").map(|a| a.f))
        };
        Ok(Op::Clip {
            min: min.unwrap_or(f32::MIN),
            max: max.unwrap_or(f32::MAX),
        })
    }

    fn max_pool(&self, n: &NodeProto) -> Result<Op> {
        if n.output.len() > 1 && !n.output[1].is_empty() {
            return Err(self.bad(n, "the indices output is not supported"));
        }
        Ok(Op::MaxPool(self.window(n, None)?))
    }

    fn lrn(&self, n: &NodeProto) -> Result<Op> {
        let size = Self::int(n, "size", 0);
        if size < 1 {
            return Err(self.bad(n, "`size` must be a positive integer"));
        }
        Ok(Op::Lrn {
            size: size as usize,
            alpha: Self::float(n, "alpha", 1e-4),
            beta: Self::float(n, "beta", 0.75),
            bias: Self::float(n, "bias", 1.0),
        })
    }

    fn batch_norm(&self, n: &NodeProto) -> Result<Op> {
        if Self::int(n, "training_mode", 0) != 0 {
            return Err(self.bad(n, "training mode is not supported"));
        }
        Ok(Op::BatchNorm {
            epsilon: Self::float(n, "epsilon", 1e-5),
        })
    }

    fn reshape(&self, n: &NodeProto) -> Result<Op> {
        let allowzero = Self::int(n, "allowzero", 0) != 0;
        let target = self.sym_operand(n, 1, "shape")?;
        Ok(Op::Reshape {
            shape: self.reshape_target(n, &target, allowzero)?,
            allowzero,
        })
    }

    /// `Unsqueeze` (`insert`) or `Squeeze` of data: a reshape to the dimensions it leaves.
    fn squeeze(&self, n: &NodeProto, insert: bool) -> Result<Op> {
        let axes = match self.opset >= 13 {
            true => self.const_ints(n, 1, "axes")?,
            false => attr(n, "axes").map(|a| a.ints.clone()),
        };
        let dims = self
            .sym_dims(&n.input[0])
            .ok_or_else(|| self.bad(n, "the dimensions of its input are not known here"))?;
        let r = dims.len() as i64;
        let norm = |a: i64, rank: i64| {
            let v = if a < 0 { a + rank } else { a };
            (0..rank)
                .contains(&v)
                .then_some(v as usize)
                .ok_or_else(|| self.bad(n, format!("axis {a} is out of range")))
        };
        let one = super::fold::Sym::fixed(1);
        let target: Vec<super::fold::Sym> = if insert {
            let axes = axes.unwrap_or_default();
            let out = r + axes.len() as i64;
            let at: Vec<usize> = axes.iter().map(|&a| norm(a, out)).collect::<Result<_>>()?;
            let mut src = dims.iter();
            (0..out as usize)
                .map(|i| match at.contains(&i) {
                    true => one,
                    false => src.next().copied().unwrap_or(one),
                })
                .collect()
        } else {
            let drop: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&a| norm(a, r)).collect::<Result<_>>()?,
                None => (0..dims.len()).filter(|&i| dims[i] == one).collect(),
            };
            if let Some(&i) = drop.iter().find(|&&i| dims[i] != one) {
                return Err(self.bad(n, format!("axis {i} is {}, not 1", dims[i])));
            }
            (0..dims.len())
                .filter(|i| !drop.contains(i))
                .map(|i| dims[i])
                .collect()
        };
        Ok(Op::Reshape {
            shape: self.reshape_target(n, &target, false)?,
            allowzero: false,
        })
    }

    fn gather(&self, n: &NodeProto) -> Result<Op> {
        let name = n.input.get(1).cloned().unwrap_or_default();
        let idx = self.ints.get(&name).ok_or_else(|| {
            self.bad(
                n,
                format!("the indices `{name}` must be constant (deepvis gathers fixed positions)"),
            )
        })?;
        let indices = idx
            .known()
            .ok_or_else(|| self.bad(n, "the indices depend on the batch size"))?;
        Ok(Op::Gather {
            axis: Self::int(n, "axis", 0),
            indices,
            index_dims: idx.dims.clone(),
        })
    }

    fn slice(&self, n: &NodeProto) -> Result<Op> {
        let get = |k: usize, name: &str| -> Result<Option<Vec<i64>>> {
            match self.opset >= 10 {
                true => self.const_ints(n, k, name),
                false => Ok(attr(n, name).map(|a| a.ints.clone())),
            }
        };
        let starts = get(1, "starts")?.ok_or_else(|| self.bad(n, "no starts"))?;
        let ends = get(2, "ends")?.ok_or_else(|| self.bad(n, "no ends"))?;
        Ok(Op::Slice {
            axes: get(3, "axes")?.unwrap_or_default(),
            steps: get(4, "steps")?.unwrap_or_default(),
            starts,
            ends,
        })
    }

    /// `Split`: one slice per output along the axis.
    fn split(&self, n: &NodeProto) -> Result<Vec<Op>> {
        let a = Self::int(n, "axis", 0);
        let parts = n.output.len();
        let sizes = match self.opset >= 13 {
            true => self.const_ints(n, 1, "split")?,
            false => attr(n, "split").map(|a| a.ints.clone()),
        };
        let sizes = match sizes {
            Some(s) => s,
            None => {
                let dims = self.sym_dims(&n.input[0]).unwrap_or_default();
                let r = dims.len() as i64;
                let ax = if a < 0 { a + r } else { a };
                let len = usize::try_from(ax)
                    .ok()
                    .and_then(|ax| dims.get(ax))
                    .and_then(|d| d.known())
                    .ok_or_else(|| self.bad(n, "the split axis' length is not known here"))?;
                let pieces = match attr(n, "num_outputs") {
                    Some(k) => k.i,
                    None => parts as i64,
                };
                if pieces < 1 {
                    return Err(self.bad(n, "no outputs"));
                }
                let each = (len + pieces - 1) / pieces;
                (0..pieces)
                    .map(|k| (len - k * each).clamp(0, each))
                    .collect()
            }
        };
        if sizes.len() != parts || sizes.iter().any(|&s| s < 0) {
            return Err(self.bad(n, format!("split sizes {sizes:?} for {parts} outputs")));
        }
        let mut start = 0;
        Ok(sizes
            .iter()
            .map(|&len| {
                let op = Op::Slice {
                    axes: vec![a],
                    starts: vec![start],
                    ends: vec![start + len],
                    steps: vec![1],
                };
                start += len;
                op
            })
            .collect())
    }

    fn conv_transpose(&self, n: &NodeProto) -> Result<Op> {
        let kernel = n
            .input
            .get(1)
            .and_then(|w| self.floats.get(w))
            .filter(|w| w.dims.len() == 4)
            .map(|w| [w.dims[2], w.dims[3]]);
        if kernel.is_none() {
            return Err(self.bad(
                n,
                "the weight must be a constant [I, O/group, kH, kW] tensor",
            ));
        }
        if attr(n, "output_shape").is_some() {
            return Err(self.bad(n, "`output_shape` is not supported (give pads instead)"));
        }
        let window = self.window(n, kernel)?;
        if !matches!(window.padding, Padding::Explicit(_)) {
            return Err(self.bad(n, "automatic padding is not supported for ConvTranspose"));
        }
        let group = Self::int(n, "group", 1);
        if group < 1 {
            return Err(self.bad(n, format!("group {group} must be positive")));
        }
        let op = self.ints_attr(n, "output_padding", 2, 0)?;
        Ok(Op::ConvTranspose {
            window: Window {
                ceil: false,
                ..window
            },
            group: group as usize,
            output_padding: [op[0], op[1]],
        })
    }

    fn resize(&self, n: &NodeProto) -> Result<Op> {
        let mode = match Self::string(n, "mode").as_deref() {
            None | Some("nearest") => ResizeMode::Nearest,
            Some("linear") | Some("bilinear") => ResizeMode::Linear,
            Some("cubic") | Some("bicubic") => ResizeMode::Cubic,
            Some(other) => {
                return Err(self.bad(
                    n,
                    format!("Resize mode `{other}` is not supported (nearest, linear, cubic)"),
                ));
            }
        };
        let coord = match Self::string(n, "coordinate_transformation_mode").as_deref() {
            None | Some("half_pixel") => CoordMode::HalfPixel,
            Some("half_pixel_symmetric") => CoordMode::HalfPixelSymmetric,
            Some("pytorch_half_pixel") => CoordMode::PytorchHalfPixel,
            Some("align_corners") => CoordMode::AlignCorners,
            Some("asymmetric") => CoordMode::Asymmetric,
            Some("tf_half_pixel_for_nn") => CoordMode::TfHalfPixelForNn,
            Some(other) => {
                return Err(self.bad(
                    n,
                    format!("coordinate_transformation_mode `{other}` is not supported"),
                ));
            }
        };
        let nearest = match Self::string(n, "nearest_mode").as_deref() {
            None | Some("round_prefer_floor") => NearestMode::RoundPreferFloor,
            Some("round_prefer_ceil") => NearestMode::RoundPreferCeil,
            Some("floor") => NearestMode::Floor,
            Some("ceil") => NearestMode::Ceil,
            Some(other) => {
                return Err(self.bad(n, format!("nearest_mode `{other}` is not supported")));
            }
        };
        if Self::int(n, "antialias", 0) != 0 {
            return Err(self.bad(n, "an antialiased Resize is not supported"));
        }
        if !matches!(
            Self::string(n, "keep_aspect_ratio_policy").as_deref(),
            None | Some("stretch")
        ) {
            return Err(self.bad(n, "keep_aspect_ratio_policy other than `stretch`"));
        }
        Ok(Op::Resize(Resize {
            mode,
            coord,
            nearest,
            cubic_a: Self::float(n, "cubic_coeff_a", -0.75),
            exclude_outside: Self::int(n, "exclude_outside", 0) != 0,
            to: self.resize_to(n)?,
        }))
    }

    /// A resize's output size: `sizes` or `scales`, the axes before the last two unchanged.
    fn resize_to(&self, n: &NodeProto) -> Result<ResizeTo> {
        let dims = self.sym_dims(&n.input[0]);
        let (scales_at, sizes_at) = if self.opset >= 11 {
            (2, 3)
        } else {
            (1, usize::MAX)
        };
        let given = |k: usize| n.input.get(k).is_some_and(|s| !s.is_empty());
        let r = dims.as_ref().map(Vec::len);
        if attr(n, "axes").is_some() {
            return Err(self.bad(n, "the `axes` attribute is not supported"));
        }
        let lead_ok = |lead: &[bool]| lead.iter().all(|&ok| ok);
        if given(sizes_at) {
            let sizes = self.sym_operand(n, sizes_at, "sizes")?;
            let dims = dims.ok_or_else(|| self.bad(n, "its input's dimensions are not known"))?;
            let k = sizes.len();
            if k < 2 || Some(k) != r {
                return Err(self.bad(n, format!("{k} sizes for a rank-{} input", dims.len())));
            }
            let lead: Vec<bool> = (0..k - 2).map(|i| sizes[i] == dims[i]).collect();
            let hw = [sizes[k - 2].known(), sizes[k - 1].known()];
            return match (lead_ok(&lead), hw) {
                (true, [Some(h), Some(w)]) if h > 0 && w > 0 => {
                    Ok(ResizeTo::Sizes([h as usize, w as usize]))
                }
                (true, _) => Err(self.bad(n, "the output height and width must be positive")),
                (false, _) => Err(self.bad(n, "deepvis resizes the last two axes only")),
            };
        }
        let name = n.input.get(scales_at).cloned().unwrap_or_default();
        let scales = self
            .floats
            .get(&name)
            .ok_or_else(|| self.bad(n, "the scales must be constant (or give sizes)"))?;
        let k = scales.data.len();
        if k < 2 || r.is_some_and(|r| r != k) {
            return Err(self.bad(n, format!("{k} scales for the input")));
        }
        let lead: Vec<bool> = scales.data[..k - 2].iter().map(|&s| s == 1.0).collect();
        let hw = [scales.data[k - 2], scales.data[k - 1]];
        if !lead_ok(&lead) {
            return Err(self.bad(n, "deepvis resizes the last two axes only"));
        }
        if hw.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(self.bad(n, format!("scales {hw:?} must be positive")));
        }
        Ok(ResizeTo::Scales(hw))
    }

    fn transpose(&self, n: &NodeProto) -> Result<Op> {
        let perm = attr(n, "perm").map(|a| a.ints.clone()).unwrap_or_default();
        if perm.iter().any(|&p| !(0..5).contains(&p)) {
            return Err(self.bad(n, format!("perm {perm:?}: deepvis handles ranks 1 to 5")));
        }
        Ok(Op::Transpose {
            perm: perm.into_iter().map(|p| p as usize).collect(),
        })
    }

    fn layer_norm(&self, n: &NodeProto) -> Result<Op> {
        if n.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(self.bad(
                n,
                "the mean and inverse deviation outputs are not supported",
            ));
        }
        Ok(Op::LayerNorm {
            axis: Self::int(n, "axis", -1),
            epsilon: Self::float(n, "epsilon", 1e-5),
        })
    }

    fn reduce_mean(&self, n: &NodeProto) -> Result<Op> {
        // opset 18 gives the axes as an input, before as an attribute
        let axes = if self.opset >= 18 {
            self.const_ints(n, 1, "axes")?
        } else {
            attr(n, "axes").map(|a| a.ints.clone())
        }
        .unwrap_or_default();
        if axes.is_empty() && Self::int(n, "noop_with_empty_axes", 0) != 0 {
            return Ok(Op::Identity);
        }
        Ok(Op::ReduceMean {
            axes,
            keepdims: Self::int(n, "keepdims", 1) != 0,
        })
    }

    fn pad(&self, n: &NodeProto) -> Result<Op> {
        // opsets before 11 give pads and value as attributes
        let value = if self.opset < 11 {
            Some(Self::float(n, "value", 0.0))
        } else {
            self.const_scalar(n, 2, "constant_value")?
        };
        let mode = match Self::string(n, "mode").as_deref() {
            None | Some("constant") => PadMode::Constant(value.unwrap_or(0.0)),
            Some("reflect") => PadMode::Reflect,
            Some("edge") => PadMode::Edge,
            Some(other) => {
                return Err(self.bad(n, format!("mode `{other}` is not supported")));
            }
        };
        if n.input.get(3).is_some_and(|s| !s.is_empty()) {
            return Err(self.bad(n, "the `axes` input is not supported"));
        }
        let pads = if self.opset < 11 {
            attr(n, "pads").map(|a| a.ints.clone())
        } else {
            self.const_ints(n, 1, "pads")?
        }
        .ok_or_else(|| self.bad(n, "no pads"))?;
        Ok(Op::Pad { pads, mode })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operator_is_listed_once() {
        for (i, o) in OPERATORS.iter().enumerate() {
            assert!(
                OPERATORS[i + 1..].iter().all(|p| p.name != o.name),
                "{} twice",
                o.name
            );
            assert_ne!(o.name, CONSTANT);
            assert!(is_supported(o.name));
        }
        assert!(is_supported(CONSTANT));
        assert!(!is_supported("Loop"));
    }
}
