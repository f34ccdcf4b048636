//! Caffe SqueezeNet v1.0 (Iandola et al. 2016) as a graph: conv10 has pad 1, pooling is
//! ceil-mode, a fire module is squeeze 1x1 + ReLU, then expand 1x1 and 3x3 concatenated and
//! a ReLU (the same as two ReLUs and a concatenation).

use crate::error::Result;
use crate::graph::build::{Builder, window};
use crate::graph::{Graph, Op};
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
    let spec = |name: String, shape: [usize; 4]| ConvSpec {
        name,
        weight_shape: shape.to_vec(),
        out_channels: shape[0],
    };
    let mut v = vec![spec("conv1".into(), [96, 3, 7, 7])];
    for (i, &(cin, s, e)) in FIRES.iter().enumerate() {
        let f = i + 2;
        v.push(spec(format!("fire{f}.squeeze1x1"), [s, cin, 1, 1]));
        v.push(spec(format!("fire{f}.expand1x1"), [e, s, 1, 1]));
        v.push(spec(format!("fire{f}.expand3x3"), [e, s, 3, 3]));
    }
    v.push(spec("conv10".into(), [1000, 512, 1, 1]));
    v
}

/// The named layers of the table and the picker, in forward order.
pub const LAYERS: [&str; 15] = [
    "conv1", "pool1", "fire2", "fire3", "fire4", "pool4", "fire5", "fire6", "fire7", "fire8",
    "pool8", "fire9", "conv10", "pool10", "prob",
];

/// The network as a graph, its weights taken from `weights` (shape-only without them).
pub fn graph(weights: Option<&mut WeightMap>) -> Result<Graph> {
    let mut b = Builder::new("squeezenet1_0", "data", 3, weights);
    let pool = |b: &mut Builder, name: &str, input: &str| {
        b.node(
            name,
            "MaxPool",
            Op::MaxPool(window(3, 2, 0, true)),
            &[input],
        )
    };
    let c = b.conv("conv1.conv", "data", "conv1", [96, 3, 7], 2, 0)?;
    let mut x = b.relu("conv1", &c);
    x = pool(&mut b, "pool1", &x);
    for (i, &(cin, s, e)) in FIRES.iter().enumerate() {
        let f = format!("fire{}", i + 2);
        let k = |part: &str| format!("{f}.{part}");
        let sq = b.conv(&k("squeeze1x1"), &x, &k("squeeze1x1"), [s, cin, 1], 1, 0)?;
        let sq = b.relu(&k("squeeze"), &sq);
        let e1 = b.conv(&k("expand1x1"), &sq, &k("expand1x1"), [e, s, 1], 1, 0)?;
        let e3 = b.conv(&k("expand3x3"), &sq, &k("expand3x3"), [e, s, 3], 1, 1)?;
        let cat = b.node(&k("concat"), "Concat", Op::Concat { axis: 1 }, &[&e1, &e3]);
        x = b.relu(&f, &cat);
        if f == "fire4" || f == "fire8" {
            x = pool(&mut b, if f == "fire4" { "pool4" } else { "pool8" }, &x);
        }
    }
    let c = b.conv("conv10.conv", &x, "conv10", [1000, 512, 1], 1, 1)?;
    let x = b.relu("conv10", &c);
    let x = b.node("pool10", "GlobalAveragePool", Op::GlobalAveragePool, &[&x]);
    let op = Op::Softmax {
        axis: 1,
        coerce_2d: false,
    };
    let p = b.node("prob", "Softmax", op, &[&x]);
    Ok(b.finish(&[&p], &LAYERS))
}
