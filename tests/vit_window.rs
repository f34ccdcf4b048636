//! The window on a real vision transformer, through egui_kittest: vit_s_focus (a DINOv2-S/14
//! export: CLS and 16x16 patches at 224, 384 channels, 12 blocks of 6 heads) run by the real
//! worker on the CPU on a sample photo. Its last block shows as a grid of 384 tiles of 16x16
//! with the CLS token's strip apart, the attention view answers its switch, a unit selected
//! gets its map, and the preferred image's method is MACO (not the paper's network). The
//! preferred image is not run: a ViT-S step takes seconds on two cores. (Top-level `tests/`,
//! run as a test of the `deepvis` crate.)

mod common;
use common::until;

use std::sync::Arc;

use deepvis_engine::{EngineConfig, ModelLoader};
use deepvis_protocol::{MethodKind, SourceSpec};
use deepvis_testdata::shared;
use deepvis_ui::{DeepvisApp, Persisted};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// The last block's output: the layer a transformer's window shows first.
const BLOCK: &str = "/backbone/encoder/layer.11/Add_1";

/// vit_s_focus as the program loads it (its sidecar's preprocessing).
fn loader() -> ModelLoader {
    let path = shared().join("models/vit_s_focus/vit_s_focus.onnx");
    ModelLoader::new("vit_s_focus.onnx", move |device| {
        let (m, input) =
            deepvis_onnx::spec::open(&path, &Default::default()).map_err(|e| e.to_string())?;
        deepvis_model::Net::from_any_graph(m.graph, "vit_s_focus.onnx", input.spec, None, device)
            .map_err(|e| e.to_string())
    })
}

#[test]
fn the_window_shows_vit_s_as_grids_with_its_attention_and_a_units_map() {
    let mut c = EngineConfig::new(loader(), SourceSpec::Path(shared().join("images/dog.jpg")));
    c.backend = deepvis_model::BackendChoice::Cpu;
    c.running = false;
    let engine = deepvis_engine::spawn(c, Arc::new(|| {}));
    let persisted = Persisted {
        running: false,
        ..Persisted::default()
    };
    let app = DeepvisApp::new(engine.commands.clone(), engine.events.clone(), persisted);
    let mut h = Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);

    // the last block: 384 channels, each a 16x16 map over the patches, the CLS token apart
    until(&mut h, 600, "grid with its CLS token", |a| {
        a.panes.grid.grid.is_some() && !a.panes.grid.leading.is_empty()
    });
    let grid = h.state().panes.grid.grid.clone().expect("grid");
    assert_eq!(grid.layer, BLOCK);
    assert_eq!(grid.maxima.len(), 384);
    assert_eq!((grid.tile_w, grid.tile_h), (16, 16));
    assert!(grid.cols * grid.rows >= 384, "{}x{}", grid.cols, grid.rows);
    assert!(grid.maxima.iter().all(|m| m.is_finite()));
    let leading = h.state().panes.grid.leading.clone();
    assert_eq!(leading.len(), 1, "one leading token: CLS");
    assert_eq!(leading[0].len(), 384, "its value per channel");
    assert!(h.query_by_label("leading token strip").is_some());
    assert!(h.query_by_label("layer grid").is_some());

    // not the paper's network: the preferred image's method is MACO, and the window says so
    let optim = h.state().persisted.optim;
    assert_eq!(optim.method.kind(), MethodKind::Maco);
    assert_eq!(optim.method_chosen, Some(false));
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.contains("this network's default is MACO")),
        "{:?}",
        h.state().messages
    );

    // the attention view: the CLS token's attention, 12 blocks of 6 heads, over the patches
    h.get_by_label("attention").click();
    until(&mut h, 300, "attention map", |a| {
        a.panes.frame.attention.shown.is_some()
    });
    let att = h.state().panes.frame.attention.clone();
    assert_eq!((att.blocks, att.heads), (12, 6));
    let ((y, x), share) = att.peak.expect("where the CLS token looks most");
    assert!(y < 16 && x < 16, "({y}, {x})");
    assert!(share > 0.0 && share <= 1.0, "{share}");
    assert!((0.0..=1.0).contains(&att.to_leading), "{}", att.to_leading);
    assert!(h.query_by_label_contains("from the CLS token").is_some());

    // a unit: its 16x16 map on the photo, its CLS value said under the grid
    h.state_mut().select_unit(7);
    until(&mut h, 300, "unit map", |a| {
        a.panes.unit.unit.as_ref().is_some_and(|u| u.channel == 7)
    });
    let unit = h.state().panes.unit.unit.clone().expect("unit map");
    assert_eq!((unit.width, unit.height, unit.values.len()), (16, 16, 256));
    assert!(unit.values.iter().all(|v| v.is_finite()));
    let (ay, ax) = unit.argmax;
    let peak = unit.values[ay * 16 + ax];
    assert!(unit.values.iter().all(|&v| v <= peak));
    assert!(
        h.query_by_label_contains(&format!("unit {BLOCK}:7"))
            .is_some()
    );
    assert!(
        h.query_by_label_contains("leading tokens, channel 7: CLS ")
            .is_some()
    );
    engine.shutdown();
}
