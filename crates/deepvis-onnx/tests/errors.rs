//! Bad ONNX input: each a clear error naming the file (and node or tensor), never a panic.
//! Small models are written here with the crate's own protobuf messages.

use std::path::Path;

use burn::prelude::*;
use deepvis_model::graph::GraphNet;
use deepvis_model::to_vec;
use deepvis_onnx::proto::*;
use deepvis_onnx::spec::{Sidecar, SpecSource, model_input};
use deepvis_onnx::write::{floats, model, node, value};
use deepvis_onnx::{OnnxError, load, read_bytes};

/// x [N, 3, 8, 8] -> 1x1 conv to 2 channels (weight `w`) -> relu.
fn conv_model(opset: i64, w: TensorProto) -> Vec<u8> {
    model(
        opset,
        value("x", dtype::FLOAT, &[None, Some(3), Some(8), Some(8)]),
        vec![
            node("Conv", "conv", &["x", "w"], "c"),
            node("Relu", "relu", &["c"], "y"),
        ],
        vec![w],
        "y",
    )
}

fn weight() -> TensorProto {
    floats("w", &[2, 3, 1, 1], &[1.0, 2.0, 3.0, -1.0, 0.0, 0.5])
}

fn err(bytes: &[u8]) -> String {
    match read_bytes(bytes, Path::new("/models/m.onnx")) {
        Ok(_) => panic!("accepted a bad model"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_file_is_an_error() {
    let path = deepvis_testdata::shared_file("models/ops/caffenet_mini.onnx");
    let bytes = std::fs::read(&path).expect("read");
    for cut in [bytes.len() / 2, 100, 7] {
        let e = err(&bytes[..cut]);
        assert!(e.contains("/models/m.onnx"), "{e}");
    }
}

#[test]
fn random_bytes_and_empty_files_are_errors() {
    let mut state = 0x9e3779b97f4a7c15u64;
    for len in [1usize, 64, 4096, 100_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        err(&bytes);
    }
    let e = err(&[]);
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn unsupported_operator_names_op_node_and_file() {
    let bytes = model(
        13,
        value("x", dtype::FLOAT, &[Some(1), Some(3), Some(8), Some(8)]),
        vec![
            node("Relu", "r", &["x"], "a"),
            node("Hardmax", "my_hardmax", &["a"], "b"),
            node("Celu", "e", &["b"], "c"),
        ],
        vec![],
        "c",
    );
    let e = err(&bytes);
    assert!(
        e.contains("`Hardmax`") && e.contains("my_hardmax") && e.contains("/models/m.onnx"),
        "{e}"
    );
    assert!(
        e.contains("Celu"),
        "the other unsupported operators are listed too: {e}"
    );
}

#[test]
fn opset_7_is_refused() {
    let e = err(&conv_model(7, weight()));
    assert!(e.contains("opset 7"), "{e}");
}

#[test]
fn a_non_float_input_is_refused() {
    let bytes = model(
        13,
        value("x", dtype::INT64, &[Some(1), Some(3), Some(8), Some(8)]),
        vec![node("Relu", "r", &["x"], "y")],
        vec![],
        "y",
    );
    let e = err(&bytes);
    assert!(e.contains("int64") && e.contains("`x`"), "{e}");
}

#[test]
fn external_data_is_read_and_a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = weight();
    let raw = std::mem::take(&mut w.raw_data);
    w.data_location = 1;
    let entry = |k: &str, v: &str| StringStringEntryProto {
        key: k.into(),
        value: v.into(),
    };
    w.external_data = vec![
        entry("location", "m.weights"),
        entry("offset", "16"),
        entry("length", &raw.len().to_string()),
    ];
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, conv_model(13, w)).expect("write");
    let e = load(&path).expect_err("no external file yet").to_string();
    assert!(e.contains("m.weights") && e.contains("`w`"), "{e}");

    let mut data = vec![0u8; 16];
    data.extend_from_slice(&raw);
    std::fs::write(dir.path().join("m.weights"), &data).expect("write");
    let m = load(&path).expect("load with external data");
    // symbolic batch: two images at once
    let device = deepvis_model::device::cpu().device;
    let net = GraphNet::new(m.graph, &device).expect("graph");
    let mut x = vec![0f32; 2 * 3 * 64];
    for c in 0..3 {
        x[c * 64] = (c + 1) as f32; // image 0, pixel (0, 0): [1, 2, 3]
        x[3 * 64 + c * 64 + 5] = 1.0; // image 1, pixel (0, 5): [1, 1, 1]
    }
    let t = Tensor::from_data(TensorData::new(x, [2, 3, 8, 8]), &device);
    let taps = net
        .forward(t, &["relu", "conv"], &["relu"])
        .expect("forward");
    let y = to_vec(taps.outputs["relu"].clone()).expect("read");
    let pre = to_vec(taps.pre["relu"].clone()).expect("read");
    // image 0, pixel (0, 0) = [1, 2, 3]: channel 0 = 1 + 4 + 9, channel 1 = -1 + 0 + 1.5
    assert_eq!((y[0], y[64], pre[64]), (14.0, 0.5, 0.5));
    // image 1, pixel (0, 5) = [1, 1, 1]: channel 0 = 6, channel 1 = -1 + 0.5 (cut by the ReLU)
    assert_eq!(
        (y[128 + 5], y[128 + 64 + 5], pre[128 + 64 + 5]),
        (6.0, 0.0, -0.5)
    );

    // a location outside the model's folder is refused
    let mut w = weight();
    w.raw_data.clear();
    w.data_location = 1;
    w.external_data = vec![entry("location", "../etc/passwd")];
    std::fs::write(&path, conv_model(13, w)).expect("write");
    let e = load(&path).expect_err("escaping location").to_string();
    assert!(e.contains("plain path"), "{e}");
}

#[test]
fn sidecar_size_contradicting_the_model_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.onnx");
    std::fs::write(&path, conv_model(13, weight())).expect("write");
    let m = load(&path).expect("load");
    // no sidecar: the default, with a warning
    let d = model_input(&path, m.graph.input_hw, &Sidecar::default()).expect("default");
    assert_eq!(d.source, SpecSource::Default);
    assert_eq!(d.spec.size, 8);
    assert!(
        d.warning
            .as_deref()
            .is_some_and(|w| w.contains("m.onnx.toml"))
    );
    std::fs::write(dir.path().join("m.onnx.toml"), "size = 16\n").expect("write");
    let e = model_input(&path, m.graph.input_hw, &Sidecar::default())
        .expect_err("contradiction")
        .to_string();
    assert!(e.contains("16") && e.contains("8x8"), "{e}");
    std::fs::write(dir.path().join("m.onnx.toml"), "size = 8\nbogus = 1\n").expect("write");
    let e = model_input(&path, m.graph.input_hw, &Sidecar::default())
        .expect_err("unknown field")
        .to_string();
    assert!(e.contains("bogus"), "{e}");
    std::fs::write(
        dir.path().join("m.onnx.toml"),
        "order = \"bgr\"\nrange = 255.0\nmean = [1.0, 2.0, 3.0]\nstd = [1.0, 1.0, 1.0]\n",
    )
    .expect("write");
    let s = model_input(&path, m.graph.input_hw, &Sidecar::default()).expect("sidecar");
    assert!(matches!(s.source, SpecSource::Sidecar(_)));
    assert_eq!(s.spec.norm.order, [2, 1, 0]);
    assert_eq!(s.spec.norm.scale, 1.0);
    assert!(s.warning.is_none());
}

#[test]
fn known_models_are_recognised_by_their_sha256() {
    let shared = deepvis_testdata::shared();
    for (file, size, order) in [
        (
            "models/efficientnet_lite0/efficientnet_lite0.onnx",
            224,
            [0, 1, 2],
        ),
        ("models/squeezenet1_0/squeezenet1_0.onnx", 227, [2, 1, 0]),
    ] {
        let path = shared.join(file);
        let m = load(&path).expect("load");
        let s = model_input(&path, m.graph.input_hw, &Sidecar::default()).expect("spec");
        assert!(
            matches!(s.source, SpecSource::Known(_)),
            "{file}: {:?}",
            s.source
        );
        assert_eq!(s.spec.size, size);
        assert_eq!(s.spec.norm.order, order);
    }
}

#[test]
fn errors_are_typed() {
    let e = read_bytes(&conv_model(7, weight()), Path::new("m.onnx")).expect_err("opset");
    assert!(matches!(e, OnnxError::Opset { found: 7, .. }));
}

fn string_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 3,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 2,
        i: v,
        ..Default::default()
    }
}

fn int64s(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: dtype::INT64,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// A reshape whose target is computed from the data's values (a mean cast to integers):
/// nothing to fold at load, an error naming the node that makes integers of the data.
#[test]
fn a_shape_computed_from_the_data_cannot_be_folded() {
    let mut mean = node("ReduceMean", "/mean", &["x"], "m");
    mean.attribute = vec![int_attr("keepdims", 0)];
    let mut cast = node("Cast", "/to_int", &["m"], "k");
    cast.attribute = vec![int_attr("to", i64::from(dtype::INT64))];
    let bytes = model(
        14,
        value("x", dtype::FLOAT, &[None, Some(3), Some(8), Some(8)]),
        vec![
            mean,
            cast,
            node("Unsqueeze", "/unsq", &["k", "zero"], "k1"),
            node("Concat", "/cat", &["k1", "minus1"], "shape"),
            node("Reshape", "/reshape", &["x", "shape"], "y"),
        ],
        vec![int64s("zero", &[0]), int64s("minus1", &[-1])],
        "y",
    );
    let e = read_bytes(&bytes, Path::new("/models/m.onnx")).expect_err("data-dependent shape");
    assert!(
        matches!(&e, OnnxError::NotFoldable { node, .. } if node == "/to_int"),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.contains("/models/m.onnx") && e.contains("/to_int") && e.contains("8x8"),
        "{e}"
    );
}

/// Shape arithmetic that one graph cannot run for every batch size: a reshape to
/// `[N, N, -1]` (two dimensions of the batch), and a comparison of the batch size with 4.
#[test]
fn a_shape_that_depends_on_the_batch_twice_is_an_error() {
    let shape_chain = |last: NodeProto, init: Vec<TensorProto>| {
        let mut gather = node("Gather", "/n", &["s", "zero"], "n");
        gather.attribute = vec![int_attr("axis", 0)];
        let mut nodes = vec![
            node("Shape", "/shape", &["x"], "s"),
            gather,
            node("Unsqueeze", "/n1", &["n", "axes"], "n1"),
        ];
        nodes.push(last);
        let mut init = init;
        init.push(TensorProto {
            name: "zero".into(),
            data_type: dtype::INT64,
            int64_data: vec![0],
            ..Default::default()
        });
        init.push(int64s("axes", &[0]));
        model(
            14,
            value("x", dtype::FLOAT, &[None, Some(3), Some(8), Some(8)]),
            nodes,
            init,
            "y",
        )
    };
    let mut twice = shape_chain(
        node("Concat", "/cat", &["n1", "n1", "minus1"], "t"),
        vec![int64s("minus1", &[-1])],
    );
    // append the reshape
    let mut m = <ModelProto as prost::Message>::decode(twice.as_slice()).expect("decode");
    if let Some(g) = m.graph.as_mut() {
        g.node.push(node("Reshape", "/reshape", &["x", "t"], "y"));
    }
    twice = prost::Message::encode_to_vec(&m);
    let e = err(&twice);
    assert!(e.contains("/reshape") && e.contains("batch size"), "{e}");

    let four = shape_chain(
        node("Equal", "/is_four", &["n1", "four"], "y"),
        vec![int64s("four", &[4])],
    );
    let e = err(&four);
    assert!(e.contains("/is_four") && e.contains("batch size"), "{e}");
}

/// Resize modes deepvis does not compute are refused at load, naming the node: a mode ONNX
/// does not have and TensorFlow's crop-and-resize coordinates.
#[test]
fn an_unsupported_resize_mode_is_an_error() {
    let resize = |attrs: Vec<AttributeProto>| {
        let mut r = node("Resize", "/up", &["x", "", "scales"], "y");
        r.attribute = attrs;
        model(
            13,
            value("x", dtype::FLOAT, &[Some(1), Some(3), Some(8), Some(8)]),
            vec![r],
            vec![floats("scales", &[4], &[1.0, 1.0, 2.0, 2.0])],
            "y",
        )
    };
    let e = err(&resize(vec![string_attr("mode", "area")]));
    assert!(
        e.contains("/up") && e.contains("`area`") && e.contains("not supported"),
        "{e}"
    );
    let e = err(&resize(vec![
        string_attr("mode", "linear"),
        string_attr("coordinate_transformation_mode", "tf_crop_and_resize"),
    ]));
    assert!(e.contains("/up") && e.contains("tf_crop_and_resize"), "{e}");
    // the same node with a supported mode loads and doubles the map
    let m = read_bytes(
        &resize(vec![string_attr("mode", "cubic")]),
        Path::new("m.onnx"),
    )
    .expect("cubic");
    let shapes = m.graph.shapes(1, 8, 8).expect("shapes");
    assert_eq!(shapes.get("y"), Some(&[1, 3, 16, 16][..]));
}

/// The small ops the exporters write, on a 1x1x2x3 input against their ONNX definitions:
/// Gelu (opset 20, exact and tanh), Reciprocal, Tile, a Slice with a negative step and a
/// Gather of two columns.
#[test]
fn small_ops_compute_what_onnx_defines() {
    let x = [0.5f32, -1.0, 2.0, 1.5, -0.25, 4.0];
    let run =
        |nodes: Vec<NodeProto>, init: Vec<TensorProto>, out: &str| -> (Vec<usize>, Vec<f32>) {
            let bytes = model(
                20,
                value("x", dtype::FLOAT, &[Some(1), Some(1), Some(2), Some(3)]),
                nodes,
                init,
                out,
            );
            let m = read_bytes(&bytes, Path::new("m.onnx")).expect("load");
            let shapes = m.graph.shapes(1, 2, 3).expect("shapes");
            let dims = shapes.get(out).map(<[usize]>::to_vec).unwrap_or_default();
            let device = deepvis_model::device::cpu().device;
            let net = GraphNet::new(m.graph, &device).expect("graph");
            let t = Tensor::from_data(TensorData::new(x.to_vec(), [1, 1, 2, 3]), &device);
            let taps = net.forward(t, &[out], &[]).expect("forward");
            (dims, to_vec(taps.outputs[out].clone()).expect("read"))
        };
    let near = |got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    };
    // Gelu: 0.5 x (1 + erf(x / sqrt 2)), and the tanh form
    let (_, y) = run(vec![node("Gelu", "g", &["x"], "y")], vec![], "y");
    near(
        &y,
        &[
            0.345_731_23,
            -0.158_655_25,
            1.954_499_7,
            1.399_789_2,
            -0.100_323_42,
            3.999_873_3,
        ],
    );
    let mut g = node("Gelu", "g", &["x"], "y");
    g.attribute = vec![string_attr("approximate", "tanh")];
    let (_, y) = run(vec![g], vec![], "y");
    near(
        &y,
        &[
            0.345_714,
            -0.158_808_01,
            1.954_597_7,
            1.399_571_6,
            -0.100_324_65,
            3.999_93,
        ],
    );
    let (_, y) = run(vec![node("Reciprocal", "r", &["x"], "y")], vec![], "y");
    near(&y, &[2.0, -1.0, 0.5, 1.0 / 1.5, -4.0, 0.25]);
    let (d, y) = run(
        vec![node("Tile", "t", &["x", "reps"], "y")],
        vec![int64s("reps", &[1, 1, 1, 2])],
        "y",
    );
    assert_eq!(d, [1, 1, 2, 6]);
    near(
        &y,
        &[
            0.5, -1.0, 2.0, 0.5, -1.0, 2.0, 1.5, -0.25, 4.0, 1.5, -0.25, 4.0,
        ],
    );
    // x[..., ::-2]: columns 2 and 0
    let (d, y) = run(
        vec![node("Slice", "s", &["x", "st", "en", "ax", "sp"], "y")],
        vec![
            int64s("st", &[-1]),
            int64s("en", &[i64::MIN]),
            int64s("ax", &[3]),
            int64s("sp", &[-2]),
        ],
        "y",
    );
    assert_eq!(d, [1, 1, 2, 2]);
    near(&y, &[2.0, 0.5, 4.0, 1.5]);
    let mut gather = node("Gather", "g", &["x", "cols"], "y");
    gather.attribute = vec![int_attr("axis", 3)];
    let (d, y) = run(vec![gather], vec![int64s("cols", &[2, -3])], "y");
    assert_eq!(d, [1, 1, 2, 2]);
    near(&y, &[2.0, 0.5, 4.0, 1.5]);
}
