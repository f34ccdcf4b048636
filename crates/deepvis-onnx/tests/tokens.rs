//! Vision transformers' token sequences read as grids: the grid (leading tokens, patch rows and
//! columns) found from the patch embedding for vit_mini (CLS and two registers over 8x8) and
//! the real ViT-S (CLS over 16x16), the layer table showing a block as D maps of the patch
//! grid, the attention maps found block by block; CNNs and ConvNeXt have none.

use std::path::PathBuf;

use deepvis_model::graph::{GraphNet, Layout};
use deepvis_model::preprocess::{InputSpec, Normalization};
use deepvis_model::tokens::TokenGrid;
use deepvis_model::{ModelInfo, to_vec};

fn models() -> PathBuf {
    deepvis_testdata::shared().join("models")
}

fn info(path: &str, size: usize) -> ModelInfo {
    let m = deepvis_onnx::load(&models().join(path)).expect("load");
    let input = InputSpec {
        size,
        resize: size as u32,
        norm: Normalization {
            order: [0, 1, 2],
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        },
    };
    ModelInfo::new(&m.graph, path, input, None).expect("info")
}

#[test]
fn the_token_grid_of_vit_mini_and_vit_s() {
    let mini = info("ops/vit_mini.onnx", 64);
    assert_eq!(
        mini.token_grid(),
        Some(TokenGrid {
            lead: 3,
            h: 8,
            w: 8
        })
    );
    assert_eq!(mini.attention_layers().len(), 3, "three blocks");
    let block = mini
        .layer("/blocks/blocks.2/Add_1")
        .expect("a block's output");
    assert_eq!((block.channels, block.height, block.width), (48, 8, 8));
    assert!(matches!(
        mini.layout_of("/blocks/blocks.2/Add_1"),
        Layout::Tokens(_)
    ));
    let vit = info("vit_s_focus/vit_s_focus.onnx", 224);
    assert_eq!(
        vit.token_grid(),
        Some(TokenGrid {
            lead: 1,
            h: 16,
            w: 16
        })
    );
    assert_eq!(vit.attention_layers().len(), 12, "twelve blocks");
    let block = vit
        .layer("/backbone/encoder/layer.11/Add_1")
        .expect("the last block");
    assert_eq!((block.channels, block.height, block.width), (384, 16, 16));
    // the MLP's hidden units: 1536 maps of the patches
    let hidden = vit
        .layers()
        .iter()
        .find(|l| l.name.starts_with("/backbone/encoder/layer.0/mlp/fc1"))
        .expect("fc1");
    assert_eq!((hidden.height, hidden.width), (16, 16));
    // the GELUs, as the exporter writes them (Div, Erf, Add, Mul x, Mul 0.5): one per block,
    // marked in the layer table as the units worth visualizing
    let gelus: Vec<&str> = vit
        .layers()
        .iter()
        .filter(|l| l.gelu)
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(gelus.len(), 12, "{gelus:?}");
    assert!(gelus.iter().all(|g| g.contains("/mlp/")), "{gelus:?}");
    let g = vit.layer(gelus[0]).expect("a GELU");
    assert_eq!((g.channels, g.height, g.width), (1536, 16, 16));
    assert_eq!(mini.layers().iter().filter(|l| l.gelu).count(), 3);
    // no tokens in a CNN or in ConvNeXt's channels-last blocks
    for (path, size) in [("ops/convnext_mini.onnx", 64), ("ops/resnet_mini.onnx", 64)] {
        let i = info(path, size);
        assert_eq!(i.token_grid(), None, "{path}");
        assert!(i.attention_layers().is_empty(), "{path}");
    }
}

#[test]
fn a_blocks_leading_tokens_come_apart_from_its_patch_maps() {
    let m = deepvis_onnx::load(&models().join("ops/vit_mini.onnx")).expect("load");
    let device = deepvis_model::device::cpu().device;
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let x = burn::tensor::Tensor::<4>::ones([1, 3, 64, 64], &device) * 0.3;
    let node = "/blocks/blocks.0/Add";
    let taps = net.forward(x, &[node], &[]).expect("forward");
    assert_eq!(taps.outputs[node].dims(), [1, 48, 8, 8]);
    let lead = taps.leading.get(node).expect("leading tokens");
    assert_eq!(lead.dims(), [1, 3, 48]);
    assert!(
        to_vec(lead.clone())
            .expect("read")
            .iter()
            .all(|v| v.is_finite())
    );
}

/// vit_mini copied into a temporary folder with the sidecar `toml` beside it, opened as the
/// program opens a model (`spec::open`); the model's info, or the error's message.
fn with_sidecar(toml: &str) -> Result<ModelInfo, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("vit_mini.onnx");
    std::fs::copy(models().join("ops/vit_mini.onnx"), &path).map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("vit_mini.onnx.toml"), toml).map_err(|e| e.to_string())?;
    let (m, input) = deepvis_onnx::spec::open(&path, &deepvis_onnx::spec::Sidecar::default())
        .map_err(|e| e.to_string())?;
    ModelInfo::new(&m.graph, "vit_mini.onnx", input.spec, None).map_err(|e| e.to_string())
}

#[test]
fn a_sidecar_states_the_token_split_and_a_split_that_fits_nothing_is_an_error() {
    let grid = |toml: &str| with_sidecar(toml).map(|i| i.token_grid());
    let found = Some(TokenGrid {
        lead: 3,
        h: 8,
        w: 8,
    });
    // what the graph gives, stated or not
    assert_eq!(grid("size = 64\n"), Ok(found));
    assert_eq!(
        grid("size = 64\n[tokens]\nlead = 3\npatch = 8\n"),
        Ok(found)
    );
    // another split of the same 67 tokens: 51 leading ones (more than are ever guessed) and
    // 4x4 patches of 16 pixels; the layer table follows it
    let stated = TokenGrid {
        lead: 51,
        h: 4,
        w: 4,
    };
    let toml = "size = 64\n[tokens]\nlead = 51\npatch = 16\n";
    assert_eq!(grid(toml), Ok(Some(stated)));
    let info = with_sidecar(toml).expect("the stated split");
    let block = info.layer("/blocks/blocks.2/Add_1").expect("a block");
    assert_eq!((block.channels, block.height, block.width), (48, 4, 4));
    assert_eq!(
        info.layout_of("/blocks/blocks.2/Add_1"),
        Layout::Tokens(stated)
    );
    // splits no value has: each an error at load naming the sidecar and the numbers
    for (toml, says) in [
        (
            "size = 64\n[tokens]\nlead = 5\n",
            "5 leading tokens and 8x8 patches (69 tokens); the model's [N, T, D] values have T in [",
        ),
        (
            "size = 64\n[tokens]\npatch = 16\n",
            "at most 16 leading tokens and 4x4 patches (16 to 32 tokens)",
        ),
        ("size = 64\n[tokens]\npatch = 0\n", "a patch of 0 pixels"),
        ("size = 64\n[tokens]\npatch = 65\n", "a patch of 65 pixels"),
    ] {
        let e = with_sidecar(toml).expect_err(toml);
        assert!(e.contains("vit_mini.onnx.toml"), "{e}");
        assert!(e.contains(says), "{toml}: {e}");
        assert!(!toml.contains("lead") || e.contains("67"), "{e}");
    }
    // a misspelt field is refused, not ignored
    let e = with_sidecar("[tokens]\nleading = 3\n").expect_err("unknown field");
    assert!(e.contains("leading"), "{e}");
}
