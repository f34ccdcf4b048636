//! The window's concept pane through egui_kittest, on the real worker (CPU) and the shared
//! photos: `g` held gathers the espresso photo as the concept, shift+`g` the dog as others,
//! "fit" gives a gauge and a map over the frame, and the concept is saved, cleared and loaded
//! again; the frame's parts by NMF show over it, and one becomes the concept. (Top-level
//! `tests/`, run as a test of the `deepvis` crate.)

mod common;
use common::{photo, squeezenet, until};

use std::sync::Arc;
use std::time::Duration;

use deepvis_protocol::Command;
use deepvis_testdata::shared;
use deepvis_ui::{DeepvisApp, Persisted};
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

#[test]
fn the_concept_pane_records_fits_shows_saves_and_loads_a_concept() {
    let c = squeezenet("coffee.png", "fire9");
    let engine = deepvis_engine::spawn(c, Arc::new(|| {}));
    let persisted = Persisted {
        running: false,
        layer: Some("fire9".into()),
        ..Persisted::default()
    };
    let mut app = DeepvisApp::new(engine.commands.clone(), engine.events.clone(), persisted);
    app.set_atlas_program(deepvis_ui::AtlasProgram {
        exe: env!("CARGO_BIN_EXE_deepvis").into(),
        model_args: vec![
            "--model".into(),
            "squeezenet1_0".into(),
            "--backend".into(),
            "cpu".into(),
        ],
        backend: "cpu".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("espresso.json");
    app.panes.concept.path = file.display().to_string();
    let mut h = Harness::builder()
        .with_size([1400.0, 3000.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    until(&mut h, 300, "grid", |a| a.panes.grid.grid.is_some());
    h.get_by_label("concept (teach one with the camera)")
        .click();
    h.run_steps(2);
    // g held: the espresso photo is the concept
    h.key_down(Key::G);
    until(&mut h, 60, "concept frames", |a| {
        a.panes.concept.counts.0 >= 1
    });
    h.key_up(Key::G);
    h.run_steps(2);
    record_others(&mut h);
    assert!(h.state().panes.concept.recording.is_none() || h.state().panes.concept.counts.1 >= 1);
    h.get_by_label("fit").click();
    until(&mut h, 60, "a concept score", |a| {
        !a.panes.concept.scores.is_empty()
    });
    h.get_by_label("concept map");
    h.get_by_label("concept score history");
    let on_dog = *h.state().panes.concept.scores.back().unwrap();
    h.state_mut().send(Command::SetSource(photo("coffee.png")));
    until(&mut h, 60, "a score on the espresso", |a| {
        a.panes.concept.scores.len() >= 2
    });
    let on_coffee = *h.state().panes.concept.scores.back().unwrap();
    assert!(on_coffee > on_dog, "espresso {on_coffee}, dog {on_dog}");
    // saved, cleared, loaded
    h.get_by_label("save concept").click();
    until(&mut h, 30, "the saved file", |_| file.is_file());
    h.get_by_label("clear").click();
    until(&mut h, 30, "the concept cleared", |a| {
        a.panes.concept.ready.is_none()
    });
    h.get_by_label("load concept").click();
    until(&mut h, 30, "the concept loaded and scored", |a| {
        a.panes.concept.ready.is_some() && !a.panes.concept.scores.is_empty()
    });
    tcav(&mut h);
    // the frame's parts by NMF, and one of them made the concept
    h.get_by_label("parts of the frame (NMF)").click();
    until(&mut h, 60, "the frame's parts", |a| {
        a.panes.concept.part_shares.len() == 3
    });
    h.get_by_label("concept parts");
    // each part's picture, and the concept's, form
    until(&mut h, 240, "the parts' pictures", |a| {
        a.panes.concept.pictures().1 == 3
    });
    h.get_by_label_contains("part 2").click();
    until(&mut h, 60, "part 2 as the concept", |a| {
        a.panes
            .concept
            .ready
            .as_ref()
            .is_some_and(|r| r.0 == "part 2")
    });
    until(&mut h, 240, "the concept's picture", |a| {
        a.panes.concept.pictures().0
    });
    engine.shutdown();
}

/// TCAV of the loaded concept for espresso over the shared photos, run by the pane as
/// `deepvis concept tcav`: its line.
fn tcav(h: &mut Harness<'static, DeepvisApp>) {
    // TCAV of the concept for espresso over the shared photos, by `deepvis concept tcav`
    h.state_mut().panes.concept.tcav_images = shared().join("images").display().to_string();
    h.run_steps(2);
    h.get_by_label("TCAV").click();
    until(h, 240, "TCAV's line", |a| {
        a.panes.concept.tcav_result.is_some()
    });
    let line = h.state().panes.concept.tcav_result.clone().unwrap();
    let line = line.unwrap_or_else(|e| panic!("TCAV failed: {e}"));
    assert!(
        line.contains("TCAV of") && line.contains("class 967") && line.contains("p = "),
        "{line}"
    );
}

/// Shift+`g` held on the dog, then the giraffe recorded too: two frames of others.
fn record_others(h: &mut Harness<'static, DeepvisApp>) {
    h.state_mut().send(Command::SetSource(photo("dog.jpg")));
    until(h, 60, "the dog", |a| a.source.label.contains("dog"));
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(3);
    // shift+g held: the dog is another thing
    h.key_down_modifiers(Modifiers::SHIFT, Key::G);
    until(h, 60, "other frames", |a| a.panes.concept.counts.1 >= 1);

    h.key_up_modifiers(Modifiers::SHIFT, Key::G);
    h.run_steps(2);
    // the giraffe is another too (TCAV's random concepts need two)
    h.state_mut().send(Command::SetSource(photo("giraffe.jpg")));
    until(h, 60, "the giraffe", |a| a.source.label.contains("giraffe"));
    h.state_mut().send(Command::ConceptRecord(Some(
        deepvis_protocol::ConceptSide::Others,
    )));
    until(h, 60, "a second other frame", |a| {
        a.panes.concept.counts.1 >= 2
    });
    h.state_mut().send(Command::ConceptRecord(None));
}
