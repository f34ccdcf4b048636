//! The worker on a vision transformer (vit_mini: CLS and two registers over 8x8 patches, three
//! blocks of three heads): a block's grid is 48 maps of the patches with its three leading
//! tokens apart, and the attention view answers for the CLS token and for a patch.

mod common;
use common::collect;

use std::sync::Arc;
use std::time::Duration;

use deepvis_engine::{EngineConfig, ModelLoader, spawn};
use deepvis_model::BackendChoice;
use deepvis_protocol::{AttentionAsk, Command, Event, SourceSpec};

fn vit_mini() -> ModelLoader {
    let path = deepvis_testdata::shared_file("models/ops/vit_mini.onnx");
    ModelLoader::new("vit_mini.onnx", move |device| {
        let (m, input) =
            deepvis_onnx::spec::open(&path, &Default::default()).map_err(|e| e.to_string())?;
        deepvis_model::Net::from_any_graph(m.graph, "vit_mini.onnx", input.spec, None, device)
            .map_err(|e| e.to_string())
    })
}

#[test]
fn a_block_is_a_grid_of_patches_and_the_attention_view_follows_a_patch() {
    let mut c = EngineConfig::new(
        vit_mini(),
        SourceSpec::Synthetic {
            width: 96,
            height: 64,
            fps: 10,
        },
    );
    c.backend = BackendChoice::Cpu;
    let h = spawn(c, Arc::new(|| {}));
    let (mut grid, mut leading) = (None, None);
    collect(&h, Duration::from_secs(60), |e| {
        match e {
            Event::Grid {
                layer,
                tile_w,
                tile_h,
                maxima,
                ..
            } => grid = Some((layer.clone(), *tile_w, *tile_h, maxima.len())),
            Event::Leading { tokens, .. } => leading = Some(tokens.clone()),
            _ => {}
        }
        grid.is_some() && leading.is_some()
    });
    // the last block's output, the grid a transformer starts at
    let (layer, tw, th, channels) = grid.expect("a grid");
    assert_eq!((tw, th, channels), (8, 8, 48), "{layer}");
    let leading = leading.expect("the leading tokens");
    assert_eq!(leading.len(), 3, "CLS and two registers");
    assert!(leading.iter().all(|t| t.len() == 48));
    // the attention view: the CLS token's, then the patch at (2, 5)'s
    let mut answers = Vec::new();
    for from in [None, Some((2, 5))] {
        h.send(Command::SetAttention(Some(AttentionAsk {
            block: 1,
            head: None,
            from,
        })));
        collect(&h, Duration::from_secs(60), |e| {
            if let Event::Attention {
                ask,
                blocks,
                heads,
                map,
                h,
                w,
                to_leading,
            } = e
                && ask.from == from
            {
                answers.push((*ask, *blocks, *heads, map.clone(), (*h, *w), *to_leading));
                return true;
            }
            false
        });
    }
    h.shutdown();
    assert_eq!(answers.len(), 2, "an answer for each");
    for (ask, blocks, heads, map, hw, to_leading) in &answers {
        assert_eq!((ask.block, *blocks, *heads, *hw), (1, 3, 3, (8, 8)));
        // a softmax row: the patches' share and the leading tokens' make one
        let total: f32 = map.iter().sum::<f32>() + to_leading;
        assert!((total - 1.0).abs() < 1e-4, "{total}");
    }
    assert_ne!(answers[0].3, answers[1].3, "another token, another row");
}
