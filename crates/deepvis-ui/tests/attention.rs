//! The attention view of a vision transformer, driven with fake worker events: it shows only
//! for a network with attention layers, its switch asks the worker for the CLS token's
//! attention, a click on the input frame asks for that patch's, and the worker's map is drawn
//! over the input and described.

use crossbeam_channel::Receiver;
use deepvis_protocol::{AttentionAsk, Backend, Command, Event, LayerSummary, Outbox};
use deepvis_ui::{DeepvisApp, Persisted};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

fn setup(attention: bool) -> (Harness<'static, DeepvisApp>, Receiver<Command>, Outbox) {
    let (ctx, crx) = crossbeam_channel::unbounded();
    let (etx, erx) = deepvis_protocol::queue();
    let app = DeepvisApp::new(ctx, erx, Persisted::default());
    let layer = |name: &str, attention| LayerSummary {
        name: name.into(),
        channels: 48,
        height: 8,
        width: 8,
        relu: false,
        attention,
        gelu: false,
    };
    etx.send(Event::Ready {
        model: "vit_mini.onnx".into(),
        backend: Backend {
            serving: "cpu (test)".into(),
            warming: None,
        },
        layers: vec![
            layer("/blocks/blocks.0/attn/Softmax", attention),
            layer("block", false),
        ],
        grid_layer: "block".into(),
    })
    .unwrap();
    etx.send(Event::Input(image::RgbImage::new(64, 64)))
        .unwrap();
    let mut h = Harness::builder()
        .with_size([1280.0, 1000.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    h.run_steps(3);
    (h, crx, etx)
}

fn asked(rx: &Receiver<Command>) -> Vec<Option<AttentionAsk>> {
    rx.try_iter()
        .filter_map(|c| match c {
            Command::SetAttention(a) => Some(a),
            _ => None,
        })
        .collect()
}

#[test]
fn a_cnn_has_no_attention_switch() {
    let (h, _rx, _tx) = setup(false);
    assert!(h.query_by_label("attention").is_none());
}

#[test]
fn the_switch_asks_for_the_cls_token_and_a_click_for_a_patch() {
    let (mut h, rx, tx) = setup(true);
    h.get_by_label("attention").click();
    h.run_steps(2);
    assert_eq!(asked(&rx), vec![Some(AttentionAsk::default())]);
    // the worker's answer: 3 blocks of 3 heads, the CLS token looking most at patch (2, 5)
    let mut map = vec![0.01f32; 64];
    map[2 * 8 + 5] = 0.3;
    tx.send(Event::Attention {
        ask: AttentionAsk::default(),
        blocks: 3,
        heads: 3,
        map,
        h: 8,
        w: 8,
        to_leading: 0.07,
    })
    .unwrap();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("most to the patch at row 2, column 5 (30.0%)")
            .is_some()
    );
    assert!(h.query_by_label_contains("from the CLS token").is_some());
    // a click on the input's bottom right corner: the last patch
    let frame = h.get_by_label("input frame").rect();
    let at = egui::pos2(frame.max.x - 1.0, frame.max.y - 1.0);
    h.event(egui::Event::PointerMoved(at));
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.event(egui::Event::PointerButton {
        pos: at,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.run_steps(2);
    assert_eq!(
        asked(&rx),
        vec![Some(AttentionAsk {
            from: Some((7, 7)),
            ..AttentionAsk::default()
        })]
    );
    // off again
    h.get_by_label("attention").click();
    h.run_steps(2);
    assert_eq!(asked(&rx), vec![None]);
}
