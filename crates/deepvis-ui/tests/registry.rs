//! Every pane of the registry draws, with no model and with fake events of every kind, in a
//! region of its name that holds what it drew.

use deepvis_protocol::{
    BackInfo, BackMode, Backend, ClassProb, Doing, ErrorKind, Event, Failure, LayerSummary, Outbox,
    Playback, RecordTarget, RecordingStatus, RunMode, SanityReport, SourceState, StartFrom,
    StopReason, Telemetry, UnitMap, Verdict,
};
use deepvis_ui::{DeepvisApp, Persisted, Place};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

fn window() -> (Harness<'static, DeepvisApp>, Outbox) {
    let (ctx, _crx) = crossbeam_channel::unbounded();
    let (tx, rx) = deepvis_protocol::queue();
    let settings = Persisted {
        layer: Some("fire9".into()),
        selected: Some(3),
        ..Persisted::default()
    };
    let app = DeepvisApp::new(ctx, rx, settings);
    let h = Harness::builder()
        .with_size([1280.0, 800.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    (h, tx)
}

/// Every pane's region is there and (but the overlays, which draw a window of their own) holds
/// what the pane drew.
fn every_pane_is_drawn(h: &Harness<'static, DeepvisApp>, when: &str) {
    let names: Vec<(&str, Place)> = h
        .state()
        .panes
        .all()
        .iter()
        .map(|p| (p.name(), p.place()))
        .collect();
    assert_eq!(names.len(), deepvis_ui::Panes::COUNT);
    for (name, place) in names {
        let region = h.get_by_role_and_label(Role::Group, name);
        if place != Place::Overlay {
            assert!(
                region.children().next().is_some(),
                "{when}: the {name} region is empty"
            );
        }
    }
}

fn rgb(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_pixel(w, h, image::Rgb([120, 60, 30]))
}

/// One event of every kind a worker sends (a paused worker aside).
fn every_event() -> Vec<Event> {
    [
        worker_events(),
        frame_events(),
        preferred_events(),
        vec![
            Event::Error(Failure::new(ErrorKind::Input, Doing::Setting, "bad")),
            Event::Restarted {
                panic: Some("boom".into()),
                crashes: 1,
            },
        ],
    ]
    .concat()
}

/// The worker's own: getting ready, its source, its speeds, the clip, the recordings.
fn worker_events() -> Vec<Event> {
    vec![
        Event::Preparing(deepvis_protocol::Preparing::Loading {
            model: "squeezenet1_0".into(),
        }),
        Event::Ready {
            model: "squeezenet1_0".into(),
            backend: Backend {
                serving: "cpu (test)".into(),
                warming: None,
            },
            layers: vec![LayerSummary {
                name: "fire9".into(),
                channels: 16,
                height: 5,
                width: 5,
                relu: true,
                attention: false,
                gelu: false,
            }],
            grid_layer: "fire9".into(),
        },
        Event::Devices {
            offers: vec![deepvis_protocol::DeviceOffer {
                label: "camera 0: Test cam".into(),
                device: deepvis_protocol::DeviceRef {
                    kind: "camera".into(),
                    index: 0,
                    width: 640,
                    height: 480,
                },
            }],
            notes: Vec::new(),
        },
        Event::Source {
            label: "synthetic".into(),
            state: SourceState::Running,
        },
        Event::Stats {
            grid_fps: 30.0,
            optim_ips: 20.0,
            back_fps: 10.0,
        },
        Event::Playback(Some(Playback {
            file: "clip.mp4".into(),
            codec: "h264".into(),
            width: 320,
            height: 240,
            fps: 10.0,
            frame: 3,
            frames: 48,
            paused: false,
            speed: 1.0,
            looping: true,
            every_frame: false,
        })),
        Event::Recording {
            what: RecordTarget::Window,
            status: RecordingStatus {
                path: "/tmp/deepvis-1.mp4".into(),
                frames: 3,
                ..RecordingStatus::default()
            },
        },
        Event::Exported {
            png: "/tmp/p.png".into(),
            json: "/tmp/p.json".into(),
        },
    ]
}

/// What a frame makes: the input, the grid, the unit's map and classes, the attribution maps,
/// the sanity check, the session's top frames.
fn frame_events() -> Vec<Event> {
    let layout = deepvis_viz::GridLayout::new(16, 5, 5, 1);
    let info = |method| BackInfo {
        layer: "fire9".into(),
        channel: 3,
        method,
        passes: 1,
        ms: 10.0,
        ..Default::default()
    };
    let progress = |compare, method, total| Event::BackProgress {
        compare,
        method,
        done: 1,
        total,
    };
    vec![
        Event::Input(rgb(227, 227)),
        Event::Grid {
            layer: "fire9".into(),
            image: image::GrayImage::new(layout.width() as u32, layout.height() as u32),
            cols: 4,
            rows: 4,
            tile_w: 5,
            tile_h: 5,
            maxima: (0..16).map(|c| c as f32).collect(),
        },
        Event::UnitMap(UnitMap {
            channel: 3,
            values: (0..25).map(|i| i as f32).collect(),
            width: 5,
            height: 5,
            argmax: (4, 4),
            field: [0, 0, 100, 100],
        }),
        Event::Predictions(vec![ClassProb {
            index: 130,
            label: "flamingo".into(),
            prob: 0.5,
        }]),
        // a transformer's: the leading tokens, its attention, an output that is a map
        Event::Leading {
            layer: "fire9".into(),
            tokens: vec![(0..16).map(|c| c as f32).collect()],
        },
        Event::Attention {
            ask: deepvis_protocol::AttentionAsk::default(),
            blocks: 3,
            heads: 2,
            map: vec![0.25; 4],
            h: 2,
            w: 2,
            to_leading: 0.0,
        },
        Event::Output(deepvis_protocol::OutputReading::Map {
            image: image::GrayImage::new(4, 4),
            min: 0.0,
            max: 1.0,
        }),
        Event::Output(deepvis_protocol::OutputReading::Boxes(vec![
            deepvis_protocol::Detection {
                class: 1,
                score: 0.9,
                x0: 10.0,
                y0: 10.0,
                x1: 50.0,
                y1: 60.0,
            },
        ])),
        Event::Back {
            info: info(BackMode::Grad),
            image: rgb(227, 227),
        },
        progress(false, BackMode::Occlusion, 9),
        Event::Compare {
            info: info(BackMode::Grad),
            image: rgb(227, 227),
        },
        progress(true, BackMode::Ig, 32),
        Event::Sanity(SanityReport {
            method: BackMode::Grad,
            layer: "fire9".into(),
            channel: 3,
            steps: Vec::new(),
            done: 1,
            total: 5,
            error: None,
        }),
        Event::SessionTop {
            layer: "fire9".into(),
            channel: 3,
            montage: rgb(64, 64),
            scores: vec![2.0],
        },
    ]
}

/// The preferred image's: the picture, the judge, the plot's points, a stop.
fn preferred_events() -> Vec<Event> {
    vec![
        Event::Preferred {
            layer: "fire9".into(),
            channel: 3,
            image: rgb(227, 227),
            transparency: None,
            captions: Vec::new(),
            iteration: 5,
            objective: 1.0,
            activation: 1.0,
            mode: RunMode::Asked {
                pre_relu: false,
                start: StartFrom::Noise,
            },
        },
        Event::Judged {
            layer: "fire9".into(),
            channel: 3,
            verdicts: vec![Verdict {
                judge: "j".into(),
                class: None,
                rank: None,
                prob: None,
                top: "flamingo".into(),
                top_prob: 0.3,
            }],
        },
        Event::Telemetry {
            run: 1,
            points: (0..10)
                .map(|iter| Telemetry {
                    run: 1,
                    iter,
                    obj: iter as f32,
                    act: iter as f32,
                    lr: Some(1.0),
                    grad_norm: 1.0,
                    is_argmax: false,
                })
                .collect(),
        },
        Event::Stopped {
            reason: StopReason::ZeroGrad,
            iterations: 5,
        },
    ]
}

#[test]
fn every_pane_draws_with_no_model_and_with_every_event() {
    let (mut h, tx) = window();
    h.state_mut().show_help = true;
    h.run_steps(3);
    every_pane_is_drawn(&h, "no model");
    for e in every_event() {
        tx.send(e).expect("send");
    }
    h.run_steps(3);
    every_pane_is_drawn(&h, "every event");
    // what some of the events became, each in its pane
    assert!(h.query_by_label("layer grid").is_some());
    assert!(h.query_by_label("session top 9").is_some());
    assert!(h.query_by_label_contains("crashed (boom)").is_some());
    assert!(h.query_by_label("show / hide this help").is_some());
    tx.send(Event::WorkerPaused {
        crashes: 6,
        seconds: 60,
    })
    .expect("send");
    h.run_steps(2);
    every_pane_is_drawn(&h, "a paused worker");
    assert!(h.query_by_label("restart the worker").is_some());
}
