//! Attention rollout as an attribution method: on vit_mini (three blocks, CLS and two
//! registers over 8x8 patches) the CLS token's rollout is a distribution over the tokens whose
//! patches make the map; on a token layer it follows the unit's own patch; on a network without
//! attention it is a clear error.

use burn::prelude::*;
use deepvis_attribution::rollout::{Attention, rollout};
use deepvis_attribution::{AttrOptions, Error, Job, Method, Target};
use deepvis_model::preprocess::{InputSpec, Normalization};
use deepvis_model::{Net, Request, to_vec};

fn mini(name: &str) -> Net {
    let path = deepvis_testdata::shared().join(format!("models/ops/{name}.onnx"));
    let m = deepvis_onnx::load(&path).expect("load");
    let input = InputSpec {
        size: 64,
        resize: 64,
        norm: Normalization {
            order: [0, 1, 2],
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        },
    };
    let device = deepvis_model::device::cpu().device;
    Net::from_any_graph(m.graph, name, input, None, &device).expect("net")
}

fn photo() -> Tensor<4> {
    let data: Vec<f32> = (0..3 * 64 * 64)
        .map(|i| ((i as f32) * 0.013).sin())
        .collect();
    let device = deepvis_model::device::cpu().device;
    Tensor::from_data(TensorData::new(data, [1, 3, 64, 64]), &device)
}

#[test]
fn the_cls_rollout_of_vit_mini_is_the_blocks_product() {
    let net = mini("vit_mini");
    let info = net.info().clone();
    let x = photo();
    // the class scores explained: the CLS token's rollout
    let target = Target::unit("logits", 3, None);
    let a = Job::run(
        &net,
        x.clone(),
        &target,
        Method::Rollout,
        &AttrOptions::default(),
    )
    .expect("rollout");
    assert_eq!((a.channels, a.height, a.width), (1, 64, 64));
    assert!(a.map.iter().all(|v| *v >= 0.0), "a share of attention");
    // by hand from the three attention maps the network computes
    let layers: Vec<&str> = info.attention_layers().iter().map(String::as_str).collect();
    assert_eq!(layers.len(), 3);
    let taps = net.forward(x, &Request::layers(&layers)).expect("forward");
    let blocks: Vec<Attention> = layers
        .iter()
        .map(|l| {
            let t = taps.get(l).expect("attention").clone();
            let [_, heads, tokens, _] = t.dims();
            Attention {
                values: to_vec(t).expect("read"),
                heads,
                tokens,
            }
        })
        .collect();
    let row = rollout(&blocks, 0).expect("row");
    assert_eq!(row.len(), 67);
    let total: f32 = row.iter().sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    // the map is the patches' part (64 of the 67 tokens) brought to 64x64: each 8x8 patch's
    // centre holds about its share
    let patches = &row[3..];
    for (p, want) in patches.iter().enumerate() {
        let (py, px) = (p / 8, p % 8);
        let got = a.map[(py * 8 + 4) * 64 + px * 8 + 4];
        let near: Vec<f32> = patches.to_vec();
        let hi = near.iter().fold(0f32, |m, v| m.max(*v));
        assert!((got - want).abs() <= 0.5 * hi, "patch {p}: {got} vs {want}");
    }
}

#[test]
fn on_a_token_layer_rollout_follows_the_units_patch_and_a_cnn_has_none() {
    let net = mini("vit_mini");
    let x = photo();
    let at = |y, x_| Target::unit("/blocks/blocks.2/Add_1", 5, Some((y, x_)));
    let opts = AttrOptions::default();
    let a = Job::run(&net, x.clone(), &at(1, 6), Method::Rollout, &opts).expect("rollout");
    let b = Job::run(&net, x, &at(6, 1), Method::Rollout, &opts).expect("rollout");
    assert_eq!(a.pos, Some((1, 6)));
    assert_ne!(a.map, b.map, "another patch, another row");
    // a CNN has no attention: a clear error, not a blank map
    let cnn = mini("resnet_mini");
    let e = Job::run(
        &cnn,
        photo(),
        &Target::unit("logits", 0, None),
        Method::Rollout,
        &opts,
    );
    assert!(matches!(e, Err(Error::NoAttention(_))), "{e:?}");
}
