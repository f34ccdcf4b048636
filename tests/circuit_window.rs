//! The window's circuit pane through egui_kittest, on the real worker (CPU) and the espresso
//! photo: the inputs of the espresso class's unit in fire9, by weight and on the frame, each
//! with its map and its picture, and a click that walks down into one. (Its own test binary:
//! its pictures keep a worker busy, which would slow the concept pane's test beside it.)

mod common;
use common::{squeezenet, until};

use std::sync::Arc;

use deepvis_ui::{DeepvisApp, Persisted};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

#[test]
fn the_circuit_pane_lists_inputs_with_maps_and_pictures_and_a_click_walks_down() {
    let mut c = squeezenet("coffee.png", "conv10");
    // the espresso class's unit before the pooling: its inputs are fire9's channels
    c.selected = Some(967);
    let engine = deepvis_engine::spawn(c, Arc::new(|| {}));
    let persisted = Persisted {
        running: false,
        layer: Some("conv10".into()),
        selected: Some(967),
        ..Persisted::default()
    };
    let app = DeepvisApp::new(engine.commands.clone(), engine.events.clone(), persisted);
    let mut h = Harness::builder()
        .with_size([1400.0, 3000.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    until(&mut h, 300, "grid", |a| a.panes.grid.grid.is_some());
    h.get_by_label("circuit (the unit's inputs below)").click();
    until(&mut h, 60, "the circuit", |a| {
        a.panes.circuit.view.as_ref().is_some_and(|v| v.unit == 967)
    });
    let v = h.state().panes.circuit.view.clone().unwrap();
    assert_eq!((v.layer.as_str(), v.below.as_str()), ("conv10", "fire9"));
    let w = v.by_weight.as_ref().expect("conv10 is linear in fire9");
    assert_eq!(w.excite.len(), deepvis_ui::circuit::DEFAULT_TOP);
    assert!(
        !v.on_frame.excite.is_empty(),
        "espresso excites its class on the photo"
    );
    for i in v.on_frame.excite.iter().chain(&w.excite) {
        assert!(i.value > 0.0);
        assert_eq!(i.map.dimensions(), (13, 13));
    }
    // each tile's picture is made once and comes back finished
    let first = w.excite[0].channel;
    until(&mut h, 240, "a finished input picture", |a| {
        a.panes.circuit.done.contains(&("fire9".to_string(), first))
    });
    h.get_by_label(&format!("circuit picture {first}"));
    // a click walks down into that unit of fire9
    h.get_by_label(&format!("walk down to fire9 {first}"))
        .click();
    until(&mut h, 60, "the circuit of the unit below", |a| {
        a.panes
            .circuit
            .view
            .as_ref()
            .is_some_and(|v| v.layer == "fire9" && v.unit == first)
    });
    assert_eq!(h.state().persisted.layer.as_deref(), Some("fire9"));
    assert_eq!(h.state().persisted.selected, Some(first));
    assert_eq!(
        h.state().panes.circuit.view.as_ref().unwrap().below,
        "pool8"
    );
    engine.shutdown();
}
