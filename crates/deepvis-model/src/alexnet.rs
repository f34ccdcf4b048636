//! torchvision's AlexNet (Krizhevsky et al. 2012, the "one weird trick" variant) as a graph.

use crate::error::Result;
use crate::graph::build::{Builder, window};
use crate::graph::{Graph, Op};
use crate::weights::WeightMap;

/// (torchvision key, out, in, kernel, stride, pad) of the five convolutions.
const CONVS: [(&str, usize, usize, usize, usize, usize); 5] = [
    ("features.0", 64, 3, 11, 4, 2),
    ("features.3", 192, 64, 5, 1, 2),
    ("features.6", 384, 192, 3, 1, 1),
    ("features.8", 256, 384, 3, 1, 1),
    ("features.10", 256, 256, 3, 1, 1),
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
    for (k, o, i, s, ..) in CONVS {
        v.push((format!("{k}.weight"), vec![o, i, s, s]));
        v.push((format!("{k}.bias"), vec![o]));
    }
    for (k, o, i) in LINEARS {
        v.push((format!("{k}.weight"), vec![o, i]));
        v.push((format!("{k}.bias"), vec![o]));
    }
    v
}

/// The named layers of the table and the picker, in forward order.
pub const LAYERS: [&str; 12] = [
    "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8",
    "prob",
];

/// The network as a graph, its weights taken from `weights` (shape-only without them).
pub fn graph(weights: Option<&mut WeightMap>) -> Result<Graph> {
    let mut b = Builder::new("alexnet", "input", 3, weights);
    let mut x = "input".to_string();
    for (n, (key, o, i, k, s, p)) in CONVS.into_iter().enumerate() {
        let name = format!("conv{}", n + 1);
        let c = b.conv(&format!("{name}.conv"), &x, key, [o, i, k], s, p)?;
        x = b.relu(&name, &c);
        if let Some(pool) = match n {
            0 => Some("pool1"),
            1 => Some("pool2"),
            4 => Some("pool5"),
            _ => None,
        } {
            x = b.node(pool, "MaxPool", Op::MaxPool(window(3, 2, 0, false)), &[&x]);
        }
    }
    x = b.node(
        "avgpool",
        "AdaptiveAvgPool",
        Op::AdaptiveAvgPool { out: [6, 6] },
        &[&x],
    );
    x = b.node("flatten", "Flatten", Op::Flatten { axis: 1 }, &[&x]);
    for (n, (key, o, i)) in LINEARS.into_iter().enumerate() {
        let name = format!("fc{}", n + 6);
        if n < 2 {
            let l = b.linear(&format!("{name}.linear"), &x, key, [o, i])?;
            x = b.relu(&name, &l);
        } else {
            x = b.linear(&name, &x, key, [o, i])?;
        }
    }
    let op = Op::Softmax {
        axis: 1,
        coerce_2d: false,
    };
    let p = b.node("prob", "Softmax", op, &[&x]);
    Ok(b.finish(&[&p], &LAYERS))
}
