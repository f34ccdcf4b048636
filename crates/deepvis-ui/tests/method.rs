//! The preferred image's method picker, views and knobs, and the judge's line, driven with
//! fake worker events.

use crossbeam_channel::Receiver;
use deepvis_protocol::{
    Backend, Command, Event, LayerSummary, Method, MethodKind, OptimSettings, OptimView, Outbox,
    RunMode, Verdict,
};
use deepvis_ui::{DeepvisApp, Persisted};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

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
        layers: vec![LayerSummary {
            name: "pool10".into(),
            channels: 1000,
            height: 1,
            width: 1,
            relu: false,
            attention: false,
            gelu: false,
        }],
        grid_layer: "pool10".into(),
    })
    .unwrap();
    let mut h = Harness::builder()
        .with_size([1280.0, 1000.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    h.run_steps(3);
    (h, crx, etx)
}

fn last_optim(rx: &Receiver<Command>) -> Option<OptimSettings> {
    rx.try_iter()
        .filter_map(|c| match c {
            Command::SetOptim(o) => Some(o),
            _ => None,
        })
        .last()
}

fn preferred(captions: &[&str]) -> Event {
    Event::Preferred {
        layer: "pool10".into(),
        channel: 130,
        image: image::RgbImage::new(227 * 3, 227),
        transparency: None,
        captions: captions.iter().map(|s| s.to_string()).collect(),
        iteration: 12,
        objective: 3.5,
        activation: 3.5,
        mode: RunMode::FrameFallback,
    }
}

#[test]
fn the_picker_switches_methods_and_their_knobs_follow() {
    let (mut h, rx, _tx) = setup();
    h.get_by_label("Fourier + transforms").click();
    h.run_steps(3);
    let o = last_optim(&rx).expect("a SetOptim");
    assert_eq!(o.method, Method::FOURIER);
    assert_eq!(o.params, Method::default_params(MethodKind::Fourier));
    assert!(!o.blur_on && !o.decay_on);
    // the Fourier knobs are there; moving one sends it
    h.get_by_role_and_label(egui::accesskit::Role::Slider, "rotate")
        .set_value_accesskit(20.0);
    h.run_steps(2);
    let o = last_optim(&rx).expect("a SetOptim");
    assert_eq!(
        o.method
            .transforms
            .get(deepvis_protocol::TransformKind::Rotate),
        20.0
    );
    assert_eq!(o.method.param, deepvis_protocol::ParamKind::Fourier);
    let slider = egui::accesskit::Role::Slider;
    assert!(h.query_by_role_and_label(slider, "decay power").is_some());
    // a slider for every transform and every penalty of the tables
    for label in ["pad", "jitter", "scale ±", "total variation", "L1", "L2"] {
        assert!(
            h.query_by_role_and_label(slider, label).is_some(),
            "{label}"
        );
    }
    // MACO has no decay power
    h.get_by_label("MACO").click();
    h.run_steps(3);
    assert_eq!(last_optim(&rx).expect("a SetOptim").method, Method::MACO);
    assert!(h.query_by_role_and_label(slider, "decay power").is_none());
    // back to the paper: the preset's regularizers again
    h.get_by_label("paper 2015").click();
    h.run_steps(3);
    let o = last_optim(&rx).expect("a SetOptim");
    assert_eq!(o.method, Method::PAPER);
    assert!(o.blur_on && o.decay_on);
}

#[test]
fn the_views_and_the_judge_line_show() {
    let (mut h, rx, tx) = setup();
    h.get_by_label("diversity").click();
    h.run_steps(3);
    let o = last_optim(&rx).expect("a SetOptim");
    assert_eq!(o.view, OptimView::Diversity);
    assert!(h.query_by_label("images").is_some());
    tx.send(preferred(&["paper 2015", "Fourier + transforms", "MACO"]))
        .unwrap();
    let verdict = |rank: usize, prob: f32| Verdict {
        judge: "efficientnet_lite0".into(),
        class: Some("flamingo".into()),
        rank: Some(rank),
        prob: Some(prob),
        top: "redshank".into(),
        top_prob: 0.17,
    };
    tx.send(Event::Judged {
        layer: "pool10".into(),
        channel: 130,
        verdicts: vec![verdict(28, 0.004), verdict(3, 0.047), verdict(5, 0.02)],
    })
    .unwrap();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("tiles: paper 2015 | Fourier + transforms | MACO")
            .is_some()
    );
    assert!(
        h.query_by_label_contains(
            "judge efficientnet_lite0: flamingo: paper 2015 rank 28 (0.4%), Fourier + \
             transforms rank 3 (4.7%), MACO rank 5 (2.0%)"
        )
        .is_some()
    );
    // one picture: its rank and the judge's own top class
    tx.send(preferred(&[])).unwrap();
    tx.send(Event::Judged {
        layer: "pool10".into(),
        channel: 130,
        verdicts: vec![verdict(3, 0.047)],
    })
    .unwrap();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains(
            "judge efficientnet_lite0: flamingo rank 3 (4.7%); its top: redshank (17%)"
        )
        .is_some()
    );
    // a verdict on another unit is not shown for this one
    tx.send(Event::Judged {
        layer: "pool10".into(),
        channel: 7,
        verdicts: vec![Verdict {
            judge: "j".into(),
            class: None,
            rank: None,
            prob: None,
            top: "cock".into(),
            top_prob: 0.5,
        }],
    })
    .unwrap();
    h.run_steps(3);
    assert!(h.query_by_label_contains("judge j").is_none());
}

#[test]
fn maco_offers_a_canvas_and_shows_where_the_network_looked() {
    let (mut h, rx, tx) = setup();
    h.get_by_label("MACO").click();
    h.run_steps(3);
    let slider = egui::accesskit::Role::Slider;
    assert!(
        h.query_by_role_and_label(slider, "crops per step")
            .is_none()
    );
    // the canvas switched on: the CPU's, its knobs shown
    h.get_by_label("crops of a large canvas").click();
    h.run_steps(3);
    let o = last_optim(&rx).expect("a SetOptim");
    assert_eq!(o.method.param, deepvis_protocol::ParamKind::Maco);
    assert_eq!(o.method.canvas, deepvis_protocol::Canvas::CPU);
    for label in [
        "canvas",
        "crops per step",
        "smallest crop",
        "largest crop",
        "crop noise",
    ] {
        assert!(
            h.query_by_role_and_label(slider, label).is_some(),
            "{label}"
        );
    }
    h.get_by_role_and_label(slider, "crops per step")
        .set_value_accesskit(6.0);
    h.run_steps(2);
    assert_eq!(last_optim(&rx).expect("a SetOptim").method.canvas.crops, 6);
    // a picture with its transparency map: both shown, side by side, until hidden
    let mut e = preferred(&[]);
    if let Event::Preferred {
        image,
        transparency,
        ..
    } = &mut e
    {
        *image = image::RgbImage::new(448, 448);
        *transparency = Some(image::RgbImage::new(448, 448));
    }
    tx.send(e).unwrap();
    h.run_steps(3);
    assert!(h.query_by_label("preferred image view").is_some());
    assert!(h.query_by_label("transparency map view").is_some());
    h.get_by_label("where the network looked").click();
    h.run_steps(3);
    assert!(h.query_by_label("transparency map view").is_none());
    assert!(h.query_by_label("preferred image view").is_some());
    // a picture without one (the paper's): no map, no switch
    tx.send(preferred(&[])).unwrap();
    h.run_steps(3);
    assert!(h.query_by_label("where the network looked").is_none());
}
