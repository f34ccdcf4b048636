//! The real panes driven with fake worker events: clicks, sliders, keys and messages become
//! the right commands and the right text.

use crossbeam_channel::Receiver;
use deepvis_protocol::{Backend, Command, Event, LayerSummary, Outbox, PreReluMode, StopReason};
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
        attention: false,
        gelu: false,
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

fn setup() -> (Harness<'static, DeepvisApp>, Receiver<Command>, Outbox) {
    let (ctx, crx) = crossbeam_channel::unbounded();
    let (etx, erx) = deepvis_protocol::queue();
    let app = DeepvisApp::new(ctx, erx, Persisted::default());
    etx.send(Event::Ready {
        model: "squeezenet1_0".into(),
        backend: Backend {
            serving: "cpu (test)".into(),
            warming: None,
        },
        layers: layers(),
        grid_layer: "fire9".into(),
    })
    .unwrap();
    etx.send(grid_event()).unwrap();
    let mut h = Harness::builder()
        .with_size([1100.0, 700.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    h.run_steps(3);
    // the layout settles (no pane grows frame after frame)
    let first = h.get_by_label("layer grid").rect();
    h.run_steps(3);
    assert_eq!(first, h.get_by_label("layer grid").rect());
    (h, crx, etx)
}

fn commands(rx: &Receiver<Command>) -> Vec<Command> {
    rx.try_iter().collect()
}

#[test]
fn clicking_a_tile_sends_select_and_outlines_it() {
    let (mut h, rx, _tx) = setup();
    let drawn = h
        .state()
        .panes
        .grid
        .drawn
        .clone()
        .expect("the grid was drawn");
    let tile6 = drawn.tile_rect(6).expect("channel 6 has a tile");
    let pos = tile6.center();
    h.hover_at(pos);
    h.run_steps(2);
    assert_eq!(h.state().panes.grid.hover.map(|x| x.0), Some(6));
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
    // the gap between two tiles selects nothing
    let drawn = h
        .state()
        .panes
        .grid
        .drawn
        .clone()
        .expect("the grid was drawn");
    let tile6 = drawn.tile_rect(6).expect("channel 6 has a tile");
    let sep = egui::pos2(tile6.right() + 0.5, tile6.center().y);
    h.hover_at(sep);
    h.run_steps(2);
    assert_eq!(h.state().panes.grid.hover, None);
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
        iterations: 2,
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
    // on a pooling's unit there is no pre-ReLU value: no button, a word on what to do instead
    h.state_mut().select_layer(1);
    tx.send(Event::Stopped {
        reason: StopReason::ZeroGrad,
        iterations: 1,
    })
    .unwrap();
    h.run_steps(2);
    assert!(h.query_by_label("use the pre-ReLU objective").is_none());
    assert!(h.query_by_label_contains("no ReLU of its own").is_some());
}

#[test]
fn the_help_overlay_lists_every_binding() {
    let (mut h, _rx, _tx) = setup();
    assert!(h.query_by_label("show / hide this help").is_none());
    h.key_press(egui::Key::H);
    h.run_steps(2);
    for b in &BINDINGS {
        let (keys, what) = (b.keys, b.what);
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
    // rows are as many tiles as the pane shows in a row
    let cols = h.state().panes.grid.drawn.clone().expect("drawn").cols;
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(1);
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(1);
    assert_eq!(h.state().persisted.selected, Some(1 + cols)); // 0 -> 1 -> 1 + a row
    h.key_press(egui::Key::O);
    h.run_steps(1);
    h.key_press(egui::Key::F);
    h.run_steps(1);
    let sent = commands(&rx);
    assert!(sent.contains(&Command::SelectUnit(1)));
    assert!(sent.contains(&Command::SelectUnit(1 + cols)));
    assert!(sent.contains(&Command::SelectLayer("pool10".into())));
    assert!(sent.contains(&Command::Freeze(true)));
}

#[test]
fn worker_errors_and_restarts_are_shown() {
    let (mut h, _rx, tx) = setup();
    tx.send(Event::Restarted {
        panic: Some("boom".into()),
        crashes: 1,
    })
    .unwrap();
    tx.send(Event::Source {
        label: "camera 0".into(),
        state: deepvis_protocol::SourceState::Failed {
            error: "camera 0: unplugged".into(),
            retry_secs: 3,
        },
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
fn a_paused_worker_offers_a_restart() {
    let (mut h, rx, tx) = setup();
    tx.send(Event::WorkerPaused {
        crashes: 6,
        seconds: 60,
    })
    .unwrap();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("6 times within 60 s; it is paused")
            .is_some()
    );
    commands(&rx);
    h.get_by_label("restart the worker").click();
    h.run_steps(2);
    assert!(commands(&rx).contains(&Command::RestartWorker));
    assert!(h.query_by_label("restart the worker").is_none());
}

#[test]
fn the_source_picker_lists_the_devices_offered_and_switches_to_one() {
    use deepvis_protocol::{DeviceOffer, DeviceRef, SourceSpec};
    let (mut h, rx, tx) = setup();
    let device = |kind: &str, width| DeviceRef {
        kind: kind.into(),
        index: 0,
        width,
        height: 480,
    };
    // a kind the window has never heard of is offered like a camera
    tx.send(Event::Devices {
        offers: vec![
            DeviceOffer {
                label: "camera 0: Test cam".into(),
                device: device("camera", 640),
            },
            DeviceOffer {
                label: "screen 0: left monitor".into(),
                device: device("screen", 640),
            },
        ],
        notes: vec!["no tuner found".into()],
    })
    .unwrap();
    h.run_steps(2);
    h.get_by_label("source").click();
    h.run_steps(2);
    assert!(h.query_by_label("no tuner found").is_some());
    h.get_by_label("camera 0: Test cam").click();
    h.run_steps(2);
    let sent = commands(&rx);
    assert!(sent.contains(&Command::SetSource(SourceSpec::Device(device(
        "camera", 640
    )))));
    assert!(h.state().persisted.source.is_some());
    // asked at the size chosen in the size picker
    h.get_by_label("size").click();
    h.run_steps(2);
    h.get_by_label("1280x720").click();
    h.run_steps(2);
    h.get_by_label("source").click();
    h.run_steps(2);
    h.get_by_label("screen 0: left monitor").click();
    h.run_steps(2);
    let screen = DeviceRef {
        height: 720,
        ..device("screen", 1280)
    };
    assert!(commands(&rx).contains(&Command::SetSource(SourceSpec::Device(screen))));
}

fn unit_map_event(channel: usize) -> Event {
    Event::UnitMap(deepvis_protocol::UnitMap {
        channel,
        values: (0..169).map(|i| i as f32).collect(),
        width: 13,
        height: 13,
        argmax: (12, 12),
        field: [100, 110, 227, 227],
    })
}

fn click(h: &mut Harness<'static, DeepvisApp>, pos: egui::Pos2, button: egui::PointerButton) {
    h.hover_at(pos);
    h.run_steps(1);
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
        h.run_steps(1);
    }
}

#[test]
fn the_back_pane_switches_modes_and_the_unit_map_picks_the_position() {
    let (mut h, rx, tx) = setup();
    h.state_mut().select_unit(3);
    tx.send(unit_map_event(3)).unwrap();
    tx.send(Event::Input(image::RgbImage::new(227, 227)))
        .unwrap();
    tx.send(Event::Back {
        info: deepvis_protocol::BackInfo {
            layer: "fire9".into(),
            channel: 3,
            pos: Some((12, 12)),
            value: 4.5,
            ms: 180.0,
            ..Default::default()
        },
        image: image::RgbImage::from_pixel(227, 227, image::Rgb([200, 100, 50])),
    })
    .unwrap();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("fire9:3 at (y 12, x 12)")
            .is_some()
    );
    assert!(h.query_by_label_contains("value 4.500").is_some());
    // the receptive field is stated under the input
    assert!(
        h.query_by_label_contains("field rows 100..227, columns 110..227")
            .is_some()
    );
    commands(&rx);
    // b cycles the mode: grad -> deconv
    h.key_press(egui::Key::B);
    h.run_steps(2);
    let sent = commands(&rx);
    assert!(
        sent.iter().any(|c| matches!(c, Command::SetBack(b)
            if b.mode == deepvis_protocol::BackMode::Deconv)),
        "{sent:?}"
    );
    // n cycles the filter: raw -> gray
    h.key_press(egui::Key::N);
    h.run_steps(2);
    assert_eq!(
        h.state().persisted.back.filter,
        deepvis_protocol::BackFilter::Gray
    );
    // clicking cell (y 2, x 5) of the 13x13 unit map projects that position
    let r = h.get_by_label("unit map").rect();
    let cell = r.width() / 13.0;
    let pos = r.min + egui::vec2(5.5 * cell, 2.5 * cell);
    commands(&rx);
    click(&mut h, pos, egui::PointerButton::Primary);
    h.run_steps(2);
    let sent = commands(&rx);
    assert!(
        sent.iter()
            .any(|c| matches!(c, Command::SetBack(b) if b.pos == Some((2, 5)))),
        "{sent:?}"
    );
    assert!(h.query_by_label_contains("projecting (y 2, x 5)").is_some());
    // right click goes back to the maximum
    click(&mut h, pos, egui::PointerButton::Secondary);
    h.run_steps(2);
    assert_eq!(h.state().persisted.back.pos, None);
    // v blends the back-projection over the input
    h.key_press(egui::Key::V);
    h.run_steps(1);
    assert!(h.state().persisted.overlay);
}

#[test]
fn the_plot_marks_the_first_argmax_and_starts_over_with_a_new_run() {
    let (mut h, _rx, tx) = setup();
    h.state_mut().select_unit(1);
    let point = |iter: usize, is_argmax: bool| deepvis_protocol::Telemetry {
        run: 0,
        iter,
        obj: iter as f32,
        act: iter as f32,
        lr: Some(100.0),
        grad_norm: 10.0,
        is_argmax,
    };
    tx.send(Event::Telemetry {
        run: 1,
        points: (0..40).map(|i| point(i, i >= 17)).collect(),
    })
    .unwrap();
    h.run_steps(3);
    assert_eq!(h.state().panes.preferred.telemetry.first_argmax, Some(17));
    assert_eq!(h.state().panes.preferred.telemetry.points.len(), 40);
    assert!(
        h.query_by_label_contains("first became its layer's argmax at iteration 17")
            .is_some()
    );
    tx.send(Event::Telemetry {
        run: 2,
        points: (0..5).map(|i| point(i, false)).collect(),
    })
    .unwrap();
    h.run_steps(3);
    assert_eq!(h.state().panes.preferred.telemetry.points.len(), 5);
    assert_eq!(h.state().panes.preferred.telemetry.first_argmax, None);
    assert!(
        h.query_by_label_contains("has not been its layer's argmax yet")
            .is_some()
    );
}

#[test]
fn a_topk_index_shows_the_selected_units_montage_and_session_frames_gather() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fire9")).unwrap();
    let mut channels = Vec::new();
    for c in 0..512 {
        channels.push(deepvis_topk::IndexChannel {
            channel: c,
            montage: format!("fire9/c{c:04}.png"),
            back_montage: Some(format!("fire9/c{c:04}_deconv.png")),
            hits: vec![deepvis_topk::IndexHit {
                file: format!("photo{c}.jpg"),
                score: c as f32,
                y: 1,
                x: 2,
                field: [0, 0, 50, 50],
            }],
        });
    }
    image::RgbImage::from_pixel(20, 20, image::Rgb([10, 200, 10]))
        .save(dir.path().join("fire9/c0005.png"))
        .unwrap();
    image::RgbImage::from_pixel(20, 20, image::Rgb([200, 10, 10]))
        .save(dir.path().join("fire9/c0005_deconv.png"))
        .unwrap();
    deepvis_topk::Index {
        model: "squeezenet1_0".into(),
        layer: "fire9".into(),
        k: 1,
        folder: "/photos".into(),
        images: 42,
        skipped: vec![],
        shard: None,
        back: Some("deconv, raw".into()),
        channels,
    }
    .save(dir.path())
    .unwrap();
    let (mut h, _rx, tx) = setup();
    // a folder without an index is a message, not a crash
    h.state_mut().load_topk(&dir.path().join("nothing"));
    h.run_steps(1);
    assert!(
        h.query_by_label_contains("cannot load the top-k index")
            .is_some()
    );
    h.state_mut().load_topk(dir.path());
    h.state_mut().select_unit(5);
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("from 42 images in /photos")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("best: photo5.jpg (5.000)")
            .is_some()
    );
    assert!(h.query_by_label("index top 9").is_some());
    assert!(
        h.query_by_label_contains("their back-projections (deconv, raw)")
            .is_some()
    );
    assert!(h.query_by_label("index top 9 back").is_some());
    assert_eq!(h.state().persisted.topk_dir.as_deref(), Some(dir.path()));
    // another unit whose montage file is missing: a message, no picture
    h.state_mut().select_unit(6);
    h.run_steps(3);
    for missing in ["c0006.png", "c0006_deconv.png"] {
        assert!(
            h.state().messages.iter().any(|m| m.contains(missing)),
            "{:?}",
            h.state().messages
        );
    }
    assert!(h.query_by_label("index top 9 back").is_none());
    tx.send(Event::SessionTop {
        layer: "fire9".into(),
        channel: 6,
        montage: image::RgbImage::new(64, 64),
        scores: vec![3.0, 2.0],
    })
    .unwrap();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("2 frame(s) that excited fire9:6 most")
            .is_some()
    );
    assert!(h.query_by_label("session top 9").is_some());
}

#[test]
fn the_model_picker_opens_a_file_and_a_new_models_layers_replace_the_old() {
    let (mut h, rx, tx) = setup();
    h.get_by_label("model").click();
    h.run_steps(2);
    h.state_mut().panes.top.model_input = "/models/efficientnet_lite0.onnx".into();
    h.run_steps(1);
    h.get_by_label("open").click();
    h.run_steps(2);
    assert!(commands(&rx).contains(&Command::OpenModel(
        "/models/efficientnet_lite0.onnx".into()
    )));
    // the worker comes back with the new model: its layers, and the old layer forgotten
    tx.send(Event::Ready {
        model: "efficientnet_lite0.onnx".into(),
        backend: Backend {
            serving: "cpu (test)".into(),
            warming: None,
        },
        layers: vec![LayerSummary {
            name: "blocks.10.add".into(),
            channels: 112,
            height: 14,
            width: 14,
            relu: false,
            attention: false,
            gelu: false,
        }],
        grid_layer: "blocks.10.add".into(),
    })
    .unwrap();
    h.run_steps(3);
    assert_eq!(h.state().model.as_deref(), Some("efficientnet_lite0.onnx"));
    assert_eq!(h.state().persisted.layer.as_deref(), Some("blocks.10.add"));
    assert_eq!(h.state().layers.len(), 1);
}

fn map_info(method: deepvis_protocol::BackMode) -> deepvis_protocol::BackInfo {
    deepvis_protocol::BackInfo {
        layer: "fire9".into(),
        channel: 3,
        method,
        passes: 1,
        ms: 20.0,
        ..Default::default()
    }
}

#[test]
fn the_attribution_pane_shows_progress_every_method_side_by_side_and_the_sanity_plot() {
    use deepvis_protocol::{BackMode, SanityReport, SanityStep};
    let (mut h, rx, tx) = setup();
    h.state_mut().select_unit(3);
    tx.send(unit_map_event(3)).unwrap();
    tx.send(Event::Input(image::RgbImage::new(227, 227)))
        .unwrap();
    h.run_steps(2);
    // a slow method shows its progress until its map comes
    h.state_mut().persisted.back.mode = BackMode::Occlusion;
    tx.send(Event::BackProgress {
        compare: false,
        method: BackMode::Occlusion,
        done: 24,
        total: 196,
    })
    .unwrap();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("occlusion 24/196 passes")
            .is_some()
    );
    tx.send(Event::Back {
        info: map_info(BackMode::Occlusion),
        image: image::RgbImage::new(227, 227),
    })
    .unwrap();
    h.run_steps(2);
    assert!(h.query_by_label_contains("24/196").is_none());
    // c turns the compare view on: every method has its tile, slow ones their progress
    commands(&rx);
    h.key_press(egui::Key::C);
    h.run_steps(2);
    assert!(commands(&rx).contains(&Command::SetCompare(true)));
    for &m in BackMode::METHODS {
        assert!(
            h.query_by_label(&format!("compare {}", m.as_str()))
                .is_some(),
            "{m:?}"
        );
    }
    for m in [BackMode::Grad, BackMode::GradCam] {
        tx.send(Event::Compare {
            info: map_info(m),
            image: image::RgbImage::new(227, 227),
        })
        .unwrap();
    }
    tx.send(Event::BackProgress {
        compare: true,
        method: BackMode::Ig,
        done: 8,
        total: 32,
    })
    .unwrap();
    h.run_steps(2);
    assert!(h.query_by_label_contains("8/32").is_some());
    let compare = &h.state().panes.frame.attribution.compare;
    assert!(compare.state(BackMode::GradCam).0.is_some());
    assert!(compare.state(BackMode::Occlusion).0.is_none());
    // the sanity check: a button, then its plot as reports come
    commands(&rx);
    h.get_by_label("sanity check").click();
    h.run_steps(2);
    assert!(commands(&rx).contains(&Command::Sanity(true)));
    assert!(h.query_by_label("cancel sanity check").is_some());
    let step = |k: usize, s: f32| SanityStep {
        node: format!("node{k}"),
        randomized: k,
        spearman: s,
        ssim: s / 2.0,
    };
    tx.send(Event::Sanity(SanityReport {
        method: BackMode::Grad,
        layer: "fire9".into(),
        channel: 3,
        steps: vec![step(1, 0.8), step(2, 0.1)],
        done: 3,
        total: 5,
        error: None,
    }))
    .unwrap();
    h.run_steps(2);
    assert!(h.query_by_label("sanity plot").is_some());
    assert!(
        h.query_by_label_contains("top 2 layers randomized (down to node2): rank correlation 0.10")
            .is_some()
    );
    // c again turns the compare view off
    h.key_press(egui::Key::C);
    h.run_steps(2);
    assert!(h.query_by_label("compare grad").is_none());
}

#[test]
fn a_montage_larger_than_any_montage_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.png");
    image::RgbImage::new(30, 20).save(&ok).unwrap();
    assert_eq!(
        deepvis_ui::read_montage(&ok).unwrap().dimensions(),
        (30, 20)
    );
    let wide = dir.path().join("wide.png");
    image::RgbImage::new(deepvis_ui::MAX_MONTAGE_SIDE + 1, 1)
        .save(&wide)
        .unwrap();
    let err = deepvis_ui::read_montage(&wide).unwrap_err();
    assert!(err.contains("limit"), "{err}");
    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert!(deepvis_ui::read_montage(&junk).is_err());
}

fn playback(frame: u64, paused: bool) -> deepvis_protocol::Playback {
    deepvis_protocol::Playback {
        file: "clip.mp4".into(),
        codec: "h264".into(),
        width: 320,
        height: 240,
        fps: 10.0,
        frame,
        frames: 48,
        paused,
        speed: 1.0,
        looping: true,
        every_frame: false,
    }
}

#[test]
fn a_clip_gets_player_controls_and_its_line_in_the_status_bar() {
    use deepvis_protocol::PlayerCommand;
    let (mut h, rx, tx) = setup();
    assert!(h.query_by_label("frame >").is_none(), "no clip, no player");
    tx.send(Event::Playback(Some(playback(16, false)))).unwrap();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("h264 320x240 10 fps, 0:01.6 / 0:04.8")
            .is_some()
    );
    assert!(h.query_by_label_contains("frame 17 of 48").is_some());
    h.get_by_label("frame >").click();
    h.run_steps(1);
    h.get_by_label("pause clip").click();
    h.run_steps(1);
    let sent = commands(&rx);
    assert!(
        sent.contains(&Command::Player(PlayerCommand::Step(1))),
        "{sent:?}"
    );
    assert!(sent.contains(&Command::Freeze(true)), "{sent:?}");
    h.get_by_label("every frame").click();
    h.run_steps(1);
    assert!(commands(&rx).contains(&Command::Player(PlayerCommand::EveryFrame(true))));
    // the keys step too
    h.key_press(egui::Key::Comma);
    h.run_steps(1);
    assert!(commands(&rx).contains(&Command::Player(PlayerCommand::Step(-1))));
    // paused: the button plays
    tx.send(Event::Playback(Some(playback(16, true)))).unwrap();
    h.run_steps(2);
    h.get_by_label("play clip").click();
    h.run_steps(1);
    assert!(commands(&rx).contains(&Command::Freeze(false)));
    // the source is no clip any more: the player goes
    tx.send(Event::Playback(None)).unwrap();
    h.run_steps(2);
    assert!(h.query_by_label("frame >").is_none());
}

#[test]
fn shift_r_records_the_window_and_the_recording_is_reported() {
    use deepvis_protocol::{RecordTarget, RecordingStatus};
    let (mut h, rx, tx) = setup();
    h.event(egui::Event::Key {
        key: egui::Key::R,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::SHIFT,
    });
    h.run_steps(1);
    let sent = commands(&rx);
    let path = sent
        .iter()
        .find_map(|c| match c {
            Command::Record {
                what: RecordTarget::Window,
                path: Some(p),
            } => Some(p.clone()),
            _ => None,
        })
        .expect("a record command");
    assert!(path.extension().is_some_and(|e| e == "mp4"), "{path:?}");
    assert!(!sent.contains(&Command::ResetOptim), "shift+r is not r");
    tx.send(Event::Recording {
        what: RecordTarget::Window,
        status: RecordingStatus {
            path: path.clone(),
            frames: 42,
            bytes: 2_500_000,
            ..RecordingStatus::default()
        },
    })
    .unwrap();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("recording, 42 frames, 2.5 MB")
            .is_some()
    );
    h.get_by_label("record (R)").click();
    h.run_steps(1);
    assert!(commands(&rx).contains(&Command::Record {
        what: RecordTarget::Window,
        path: None
    }));
    // a worker that restarts closed its recording: the pane says so
    h.get_by_label("record (R)").click();
    h.run_steps(1);
    assert!(h.state().panes.frame.input.player.recording[0]);
    tx.send(Event::Restarted {
        panic: Some("crash".into()),
        crashes: 1,
    })
    .unwrap();
    h.run_steps(2);
    assert!(!h.state().panes.frame.input.player.recording[0]);
    assert!(h.query_by_label_contains(": saved, 0 frames").is_some());
}

#[test]
fn an_exported_sidecar_restores_the_window_settings() {
    let (mut h, rx, _tx) = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut optim = deepvis_protocol::OptimSettings {
        seed: 77,
        ..Default::default()
    };
    optim.params.decay = 0.002;
    let json = dir.path().join("p.json");
    std::fs::write(
        &json,
        serde_json::to_vec(&serde_json::json!({
            "app": "deepvis",
            "window": {"layer": "pool8", "unit": 12, "optim": optim},
        }))
        .unwrap(),
    )
    .unwrap();
    h.state_mut().restore_settings(&json);
    h.run_steps(2);
    assert_eq!(h.state().persisted.layer.as_deref(), Some("pool8"));
    assert_eq!(h.state().persisted.selected, Some(12));
    assert_eq!(h.state().persisted.optim.seed, 77);
    let sent = commands(&rx);
    assert!(sent.contains(&Command::SelectUnit(12)), "{sent:?}");
    assert!(
        sent.iter()
            .any(|c| matches!(c, Command::SetOptim(o) if o.seed == 77))
    );
    // not a sidecar: a message, nothing changes
    std::fs::write(&json, b"{\"runs\": 3}").unwrap();
    h.state_mut().restore_settings(&json);
    h.run_steps(1);
    assert_eq!(h.state().persisted.optim.seed, 77);
    assert!(
        h.state()
            .messages
            .last()
            .is_some_and(|m| m.contains("no window settings"))
    );
    std::fs::write(&json, b"garbage").unwrap();
    h.state_mut().restore_settings(&json);
    assert!(
        h.state()
            .messages
            .last()
            .is_some_and(|m| m.contains("no exported picture"))
    );
}

#[test]
fn a_top_k_frame_of_a_clip_opens_the_clip_paused_there() {
    use deepvis_protocol::{PlayerCommand, SourceSpec};
    let (mut h, rx, _tx) = setup();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("c.mp4");
    std::fs::write(&clip, b"a clip").unwrap();
    let photo = dir.path().join("p.jpg");
    std::fs::write(&photo, b"a photo").unwrap();
    h.state_mut().open_picture(&dir.path().join("c.mp4@1.5"));
    h.state_mut().open_picture(&photo);
    let sent = commands(&rx);
    assert_eq!(
        sent,
        [
            Command::SetSource(SourceSpec::Path(clip)),
            Command::Player(PlayerCommand::SeekTime(1.5)),
            Command::Freeze(true),
            Command::SetSource(SourceSpec::Path(photo)),
        ]
    );
}

/// What pressing `key` of the binding listed as `keys` must have done, given the commands it
/// sent and the window before and after; a binding without an expectation here fails.
fn did_what_it_says(
    keys: &str,
    key: egui::Key,
    before: &Persisted,
    app: &DeepvisApp,
    sent: &[Command],
) {
    use deepvis_protocol::{PlayerCommand, RecordTarget};
    let sent_any = |f: &dyn Fn(&Command) -> bool| sent.iter().any(f);
    let optim = || {
        sent.iter().rev().find_map(|c| match c {
            Command::SetOptim(o) => Some(*o),
            _ => None,
        })
    };
    let back = || {
        sent.iter().rev().find_map(|c| match c {
            Command::SetBack(b) => Some(b.clone()),
            _ => None,
        })
    };
    let ok = match keys {
        "arrows / i j k l" => sent_any(&|c| matches!(c, Command::SelectUnit(_))),
        "u / o" => sent_any(&|c| matches!(c, Command::SelectLayer(_))),
        "f" => sent.contains(&Command::Freeze(true)),
        ", / ." => {
            let d = if key == egui::Key::Comma { -1 } else { 1 };
            sent.contains(&Command::Player(PlayerCommand::Step(d)))
        }
        "R (shift+r)" => sent_any(&|c| {
            matches!(
                c,
                Command::Record {
                    what: RecordTarget::Window,
                    path: Some(_)
                }
            )
        }),
        "space" => sent.contains(&Command::SetRunning(!before.running)),
        "r" => sent.contains(&Command::ResetOptim),
        "1 2 3 4" => {
            let n = match key {
                egui::Key::Num1 => 1,
                egui::Key::Num2 => 2,
                egui::Key::Num3 => 3,
                _ => 4,
            };
            let want = deepvis_protocol::Params::preset(n).expect("a preset");
            optim().is_some_and(|o| o.params == want)
        }
        "p" => optim().is_some_and(|o| o.pre_relu != before.optim.pre_relu),
        "e / w" => {
            let d = if key == egui::Key::E { 1 } else { -1 };
            sent.contains(&Command::StepFile(d))
        }
        "b" => back().is_some_and(|b| b.mode != before.back.mode),
        "n" => back().is_some_and(|b| b.filter != before.back.filter),
        "m" => back().is_some_and(|b| b.cmap != before.back.cmap),
        "c" => sent.contains(&Command::SetCompare(true)),
        "v" => app.persisted.overlay != before.overlay,
        "h" => app.show_help,
        "esc" => !app.show_help,
        other => panic!("no expectation for the binding {other}"),
    };
    assert!(ok, "{keys} ({key:?}) did not do what it says: {sent:?}");
}

#[test]
fn every_key_of_the_table_does_what_the_help_says() {
    for b in &BINDINGS {
        let Some(press) = b.press else {
            continue;
        };
        for &key in press.keys {
            let (mut h, rx, tx) = setup();
            // a clip (for its frame steps) and the help shown (for esc)
            tx.send(Event::Playback(Some(playback(16, false)))).unwrap();
            h.state_mut().show_help = b.keys == "esc";
            h.run_steps(2);
            commands(&rx);
            let before = h.state().persisted.clone();
            let shift = press.shift == deepvis_ui::keys::Shift::With;
            h.event(egui::Event::Key {
                key,
                physical_key: None,
                pressed: true,
                repeat: false,
                modifiers: if shift {
                    egui::Modifiers::SHIFT
                } else {
                    egui::Modifiers::NONE
                },
            });
            h.run_steps(2);
            let sent = commands(&rx);
            did_what_it_says(b.keys, key, &before, h.state(), &sent);
        }
    }
}
