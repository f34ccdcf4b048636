//! Networks whose output is not class scores: the worker sends what the output shows (a map
//! over the frame, the strongest boxes) instead of a top-5.

mod common;
use common::collect;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use burn::prelude::Device;
use deepvis_engine::{EngineConfig, EngineHandle, ModelLoader, spawn};
use deepvis_model::preprocess::{InputSpec, Normalization};
use deepvis_model::{BackendChoice, Net, OutputKind};
use deepvis_onnx::proto::dtype;
use deepvis_onnx::write::{floats, ints, model, node, value};
use deepvis_protocol::{Event, OutputReading, SourceSpec};

/// x [N, 3, 32, 32] -> a 1x1 conv to `out` channels -> `tail` nodes; the graph's output `y`.
fn tiny(
    out: i64,
    tail: Vec<deepvis_onnx::proto::NodeProto>,
    extra: Vec<deepvis_onnx::proto::TensorProto>,
) -> Vec<u8> {
    let w: Vec<f32> = (0..out * 3).map(|i| ((i % 5) as f32 - 2.0) * 0.3).collect();
    let mut conv = node("Conv", "head", &["x", "w"], "c");
    conv.attribute = vec![ints("pads", &[0; 4])];
    let mut nodes = vec![conv];
    nodes.extend(tail);
    let mut init = vec![floats("w", &[out, 3, 1, 1], &w)];
    init.extend(extra);
    model(
        13,
        value("x", dtype::FLOAT, &[None, Some(3), Some(32), Some(32)]),
        nodes,
        init,
        "y",
    )
}

/// A saliency-like net: one channel through a sigmoid, `[N, 1, 32, 32]`.
fn map_model() -> Vec<u8> {
    tiny(1, vec![node("Sigmoid", "saliency", &["c"], "y")], vec![])
}

/// A detector-like net: 4 box numbers and 3 class scores for each of the 64 places, as
/// `[N, 64, 7]`.
fn boxes_model() -> Vec<u8> {
    let shape = deepvis_onnx::proto::TensorProto {
        name: "shape".into(),
        dims: vec![3],
        data_type: dtype::INT64,
        int64_data: vec![1, 7, 1024],
        ..Default::default()
    };
    let mut t = node("Transpose", "to_rows", &["r"], "y");
    t.attribute = vec![ints("perm", &[0, 2, 1])];
    tiny(
        7,
        vec![node("Reshape", "flat", &["c", "shape"], "r"), t],
        vec![shape],
    )
}

/// The network of an ONNX file's `bytes`, its 32x32 input in 0..1 about grey.
fn net_of(bytes: &[u8], name: &str, grid: Option<&str>, device: &Device) -> Result<Net, String> {
    let m = deepvis_onnx::read_bytes(bytes, Path::new(name)).map_err(|e| e.to_string())?;
    let input = InputSpec {
        size: 32,
        resize: 32,
        norm: Normalization {
            order: [0, 1, 2],
            scale: 1.0 / 255.0,
            mean: [0.5; 3],
            std: [0.5; 3],
        },
    };
    Net::from_any_graph(m.graph, name, input, grid, device).map_err(|e| e.to_string())
}

fn loader(name: &'static str, bytes: Vec<u8>) -> ModelLoader {
    ModelLoader::new(name, move |device| {
        net_of(&bytes, name, Some("head"), device)
    })
}

fn engine(l: ModelLoader) -> EngineHandle {
    let mut c = EngineConfig::new(
        l,
        SourceSpec::Synthetic {
            width: 64,
            height: 48,
            fps: 10,
        },
    );
    c.backend = BackendChoice::Cpu;
    spawn(c, Arc::new(|| {}))
}

/// The first output reading the worker sends, and whether a top-5 with classes came.
fn first_reading(h: EngineHandle) -> (Option<OutputReading>, bool) {
    let mut reading = None;
    let mut classes = false;
    collect(&h, Duration::from_secs(60), |e| {
        match e {
            Event::Output(r) => reading = Some(r.clone()),
            Event::Predictions(p) => classes |= !p.is_empty(),
            _ => {}
        }
        reading.is_some()
    });
    h.shutdown();
    (reading, classes)
}

#[test]
fn kinds_of_output_are_read_off_the_graph() {
    let device = deepvis_model::device::cpu().device;
    let net = |bytes: Vec<u8>| net_of(&bytes, "t.onnx", None, &device).unwrap();
    let map = net(map_model());
    assert_eq!(
        map.info().output_kind(),
        OutputKind::Map {
            channels: 1,
            height: 32,
            width: 32
        }
    );
    assert_eq!(map.info().output_layer(), "saliency");
    let boxes = net(boxes_model());
    assert_eq!(
        boxes.info().output_kind(),
        OutputKind::Boxes {
            candidates: 1024,
            classes: 3,
            per_row: true
        }
    );
    // a classifier stays one
    let sq = deepvis_model::Arch::SqueezeNet1_0.info();
    assert_eq!(sq.output_kind(), OutputKind::Classes { count: 1000 });
}

#[test]
fn a_map_output_is_sent_as_a_map_not_a_top5() {
    let h = engine(loader("map.onnx", map_model()));
    let (reading, classes) = first_reading(h);
    let Some(OutputReading::Map { image, min, max }) = reading else {
        panic!("no map: {reading:?}")
    };
    assert_eq!(image.dimensions(), (32, 32));
    // a sigmoid's values, scaled over their own range
    assert!(0.0 <= min && min < max && max <= 1.0, "{min} {max}");
    assert_eq!(image.as_raw().iter().max(), Some(&255));
    assert!(!classes, "a map has no classes");
}

#[test]
fn a_detector_output_is_sent_as_its_strongest_boxes() {
    let h = engine(loader("boxes.onnx", boxes_model()));
    let (reading, classes) = first_reading(h);
    let Some(OutputReading::Boxes(b)) = reading else {
        panic!("no boxes: {reading:?}")
    };
    assert!(!b.is_empty() && b.len() <= deepvis_viz::output::MAX_BOXES);
    assert!(b.windows(2).all(|w| w[0].score >= w[1].score), "{b:?}");
    assert!(
        b.iter()
            .all(|d| d.class < 3 && d.x0 <= d.x1 && d.y0 <= d.y1)
    );
    assert!(!classes);
}
