//! The ONNX operators deepvis reads, each listed once: its name and how a node of it becomes
//! an [`Op`]. The loader dispatches on this table and refuses a file whose operators are not
//! in it, so adding an operator is one entry here (with its builder when it reads attributes
//! or operands).

use deepvis_model::graph::{Op, PadMode, Window};

use super::{Reader, attr};
use crate::error::Result;
use crate::proto::NodeProto;

/// How a node of one operator becomes an op (attributes read, constant operands folded in).
type Build = fn(&Reader<'_>, &NodeProto) -> Result<Op>;

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

impl Operator {
    const fn new(name: &'static str, build: Build) -> Operator {
        Operator {
            name,
            build,
            data_only: false,
        }
    }

    const fn data_only(name: &'static str, build: Build) -> Operator {
        Operator {
            name,
            build,
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
        let shape = self
            .const_ints(n, 1, "shape")?
            .ok_or_else(|| self.bad(n, "no shape"))?;
        Ok(Op::Reshape {
            shape,
            allowzero: Self::int(n, "allowzero", 0) != 0,
        })
    }

    fn transpose(&self, n: &NodeProto) -> Result<Op> {
        let perm = attr(n, "perm").map(|a| a.ints.clone()).unwrap_or_default();
        if perm.iter().any(|&p| !(0..4).contains(&p)) {
            return Err(self.bad(n, format!("perm {perm:?}: deepvis handles ranks 1 to 4")));
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
