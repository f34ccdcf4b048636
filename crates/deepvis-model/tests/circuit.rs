//! The circuit under a unit by weight: SqueezeNet's fire9 units over pool8's channels are the
//! expand layer's weights times the squeeze layer's (a 1x1 layer between), as computed here by
//! hand from the weight tensors; a class over fire9 is conv10's row; an op that mixes
//! channels non-linearly is a clear error.

mod common;

use burn::prelude::*;
use common::*;
use deepvis_model::graph::Graph;

/// The output value of the node (layer) `name`.
fn value(g: &Graph, name: &str) -> String {
    g.nodes[g.node_index(name).unwrap()].output.clone()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

#[test]
fn expanded_weights_through_squeeze_and_expand_equal_their_product() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let g = net.graph().graph();
    let (pool8, fire9) = (value(g, "pool8"), value(g, "fire9"));
    let sq = &g.constants["fire9.squeeze1x1.weight"]; // [64, 512, 1, 1]
    let e1 = &g.constants["fire9.expand1x1.weight"]; // [256, 64, 1, 1]
    let e3 = &g.constants["fire9.expand3x3.weight"]; // [256, 64, 3, 3]
    assert_eq!(
        (sq.dims.clone(), e3.dims.clone()),
        (vec![64, 512, 1, 1], vec![256, 64, 3, 3])
    );
    // a unit of the 1x1 half: a 1x1 kernel per pool8 channel
    let e = g.expanded_kernel(&pool8, &fire9, 512, 5).unwrap().unwrap();
    assert_eq!((e.channels, e.kh, e.kw), (512, 1, 1));
    for c in [0, 7, 300, 511] {
        let want: f32 = (0..64)
            .map(|s| e1.data[5 * 64 + s] * sq.data[s * 512 + c])
            .sum();
        assert!(
            close(e.kernel[c], want),
            "channel {c}: {} vs {want}",
            e.kernel[c]
        );
    }
    // a unit of the 3x3 half (unit 300 is expand3x3's 44): a 3x3 kernel per channel
    let e = g
        .expanded_kernel(&pool8, &fire9, 512, 300)
        .unwrap()
        .unwrap();
    assert_eq!((e.kh, e.kw), (3, 3));
    for c in [1, 99, 510] {
        for p in 0..9 {
            let want: f32 = (0..64)
                .map(|s| e3.data[(44 * 64 + s) * 9 + p] * sq.data[s * 512 + c])
                .sum();
            let got = e.slice(c)[p];
            assert!(close(got, want), "channel {c}, place {p}: {got} vs {want}");
        }
    }
    let (norm, sum) = e.strength(99);
    assert!(norm > 0.0 && sum.abs() <= norm * 3.0);
    // a class over fire9: conv10's weights of that class (GlobalAveragePool passes it on)
    let w10 = &g.constants["conv10.weight"];
    let e = g
        .expanded_kernel(&fire9, &value(g, "pool10"), 1000, 3)
        .unwrap()
        .unwrap();
    assert_eq!((e.channels, e.kh), (512, 1));
    assert!(close(e.kernel[17], w10.data[3 * 512 + 17]));
    // a value that is not upstream gives no kernel; softmax mixes classes: an error
    assert_eq!(g.expanded_kernel(&fire9, &pool8, 512, 0).unwrap(), None);
    let err = g
        .expanded_kernel(&fire9, &value(g, "prob"), 1000, 3)
        .unwrap_err();
    assert!(err.to_string().contains("linearly"), "{err}");
    assert!(g.expanded_kernel(&pool8, &fire9, 512, 512).is_err());
}
