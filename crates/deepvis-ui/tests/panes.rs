//! The real panes driven with fake worker events: clicks, sliders, keys and messages become
//! the right commands and the right text.

use crossbeam_channel::{Receiver, Sender};
use deepvis_protocol::{Command, Event, LayerSummary, PreReluMode, StopReason};
use deepvis_ui::{BINDINGS, DeepvisApp, Persisted};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn layers() -> Vec<LayerSummary> {
    [
        ("conv1", 96, 111),
        ("pool8", 512, 13),
        ("fire9", 512, 13),
        ("pool10", 1000, 1),
    ]
    .into_iter()
    .map(|(n, c, s)| LayerSummary {
        name: n.into(),
        channels: c,
        height: s,
        width: s,
        relu: n != "pool8" && n != "pool10",
    })
    .collect()
}

/// A 16-channel grid of 5x5 tiles (4 x 4), channel i filled with gray 10 * i.
fn grid_event() -> Event {
    let layout = deepvis_viz::GridLayout::new(16, 5, 5, 1);
    let mut img = image::GrayImage::new(layout.width() as u32, layout.height() as u32);
    for c in 0..16 {
        let (ox, oy) = layout.origin(c);
        for y in 0..5 {
            for x in 0..5 {
                img.put_pixel(
                    (ox + x) as u32,
                    (oy + y) as u32,
                    image::Luma([(c * 10) as u8]),
                );
            }
        }
    }
    Event::Grid {
        layer: "fire9".into(),
        image: img,
        cols: 4,
        rows: 4,
        tile_w: 5,
        tile_h: 5,
        maxima: (0..16).map(|c| c as f32).collect(),
    }
}

fn setup() -> (
    Harness<'static, DeepvisApp>,
    Receiver<Command>,
    Sender<Event>,
) {
    let (ctx, crx) = crossbeam_channel::unbounded();
    let (etx, erx) = crossbeam_channel::unbounded();
    let app = DeepvisApp::new(ctx, erx, Persisted::default());
    etx.send(Event::Ready {
        model: "squeezenet1_0".into(),
        backend: "cpu (test)".into(),
        layers: layers(),
        grid_layer: "fire9".into(),
    })
    .unwrap();
    etx.send(grid_event()).unwrap();
    let mut h = Harness::builder()
        .with_size([1100.0, 700.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    h.run_steps(3);
    (h, crx, etx)
}

fn commands(rx: &Receiver<Command>) -> Vec<Command> {
    rx.try_iter().collect()
}

#[test]
fn clicking_a_tile_sends_select_and_outlines_it() {
    let (mut h, rx, _tx) = setup();
    let rect = h.get_by_label("layer grid").rect();
    let layout = deepvis_viz::GridLayout::new(16, 5, 5, 1);
    let scale = rect.width() / layout.width() as f32;
    let (ox, oy) = layout.origin(6);
    let pos = rect.min + egui::vec2(ox as f32 + 2.5, oy as f32 + 2.5) * scale;
    h.hover_at(pos);
    h.run_steps(2);
    assert_eq!(h.state().hover.map(|x| x.0), Some(6));
    assert!(h.query_by_label_contains("channel 6, max 6.000").is_some());
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.run_steps(1);
    }
    h.run_steps(2);
    assert!(commands(&rx).contains(&Command::SelectUnit(6)));
    assert_eq!(h.state().persisted.selected, Some(6));
    assert!(h.query_by_label_contains("unit fire9:6").is_some());
    // a separator pixel selects nothing
    let sep = rect.min + egui::vec2(5.5, 2.0) * scale;
    h.hover_at(sep);
    h.run_steps(2);
    assert_eq!(h.state().hover, None);
    // the status bar shows the UI's own frame time, which varies: masked
    h.mask(egui::Rect::from_min_max(
        egui::pos2(0.0, 660.0),
        egui::pos2(1100.0, 700.0),
    ));
    h.snapshot("grid_selected");
}

#[test]
fn moving_a_slider_sends_the_new_parameter() {
    let (mut h, rx, _tx) = setup();
    h.get_by_role_and_label(egui::accesskit::Role::Slider, "blur radius")
        .set_value_accesskit(2.5);
    h.run_steps(2);
    let sent = commands(&rx);
    let last = sent.iter().rev().find_map(|c| match c {
        Command::SetOptim(o) => Some(*o),
        _ => None,
    });
    let o = last.expect("no SetOptim sent");
    assert_eq!(o.params.blur_radius, 2.5);
    assert!(o.blur_on);
    // unticking a regularizer keeps its value but sends it as off
    assert_eq!(h.state().persisted.optim.params.blur_radius, 2.5);
}

#[test]
fn a_stop_event_shows_its_message_and_offers_the_way_past_it() {
    let (mut h, rx, tx) = setup();
    tx.send(Event::Stopped {
        reason: StopReason::ZeroGrad,
        message: "Stopped after 2 step(s): the gradient is exactly zero.".into(),
    })
    .unwrap();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("the gradient is exactly zero")
            .is_some()
    );
    h.get_by_label("use the pre-ReLU objective").click();
    h.run_steps(2);
    let sent = commands(&rx);
    assert!(
        sent.iter()
            .any(|c| matches!(c, Command::SetOptim(o) if o.pre_relu == PreReluMode::On))
    );
}

#[test]
fn the_help_overlay_lists_every_binding() {
    let (mut h, _rx, _tx) = setup();
    assert!(h.query_by_label("show / hide this help").is_none());
    h.key_press(egui::Key::H);
    h.run_steps(2);
    for (keys, what) in BINDINGS {
        assert!(h.query_by_label(keys).is_some(), "{keys}");
        assert!(h.query_by_label(what).is_some(), "{what}");
    }
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(h.query_by_label("show / hide this help").is_none());
}

#[test]
fn keys_move_the_selection_switch_layers_and_freeze() {
    let (mut h, rx, _tx) = setup();
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(1);
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(1);
    assert_eq!(h.state().persisted.selected, Some(5)); // 0 -> 1 -> 1 + 4 columns
    h.key_press(egui::Key::O);
    h.run_steps(1);
    h.key_press(egui::Key::F);
    h.run_steps(1);
    let sent = commands(&rx);
    assert!(sent.contains(&Command::SelectUnit(1)));
    assert!(sent.contains(&Command::SelectUnit(5)));
    assert!(sent.contains(&Command::SelectLayer("pool10".into())));
    assert!(sent.contains(&Command::Freeze(true)));
}

#[test]
fn worker_errors_and_restarts_are_shown() {
    let (mut h, _rx, tx) = setup();
    tx.send(Event::Restarted(
        "the worker crashed (boom) and was restarted".into(),
    ))
    .unwrap();
    tx.send(Event::Source {
        label: "camera 0".into(),
        ok: false,
        message: "camera 0: unplugged; keeping the last frame and retrying every 3 s".into(),
    })
    .unwrap();
    h.run_steps(2);
    assert!(h.query_by_label_contains("crashed (boom)").is_some());
    assert!(h.query_by_label_contains("retrying every 3 s").is_some());
    assert!(
        h.query_by_label_contains("preparing: restarting the worker")
            .is_some()
    );
}

#[test]
fn the_source_picker_lists_cameras_and_switches_to_one() {
    let (mut h, rx, tx) = setup();
    tx.send(Event::Cameras(vec![(0, "Test cam".into())]))
        .unwrap();
    h.run_steps(2);
    h.get_by_label("source").click();
    h.run_steps(2);
    h.get_by_label("camera 0: Test cam").click();
    h.run_steps(2);
    let sent = commands(&rx);
    assert!(
        sent.contains(&Command::SetSource(deepvis_protocol::SourceSpec::Camera {
            index: 0,
            width: 640,
            height: 480,
        }))
    );
    assert!(h.state().persisted.source.is_some());
}
