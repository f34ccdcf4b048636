//! Hostile model files (issue 28): each case is built here and must give a clear error (or
//! the right result) quickly and without a memory blow-up. Timings are printed, not asserted;
//! a hang is caught by the 60 s limit of the child processes the slow cases run in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use deepvis_model::ModelInfo;
use deepvis_onnx::proto::*;
use deepvis_onnx::spec::{Sidecar, open};
use deepvis_onnx::{OnnxError, load, read_bytes};
use prost::Message;

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: dtype::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            dim_value: *d,
                            dim_param: d.is_none().then(|| "N".to_string()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dtype::FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn model(
    input: ValueInfoProto,
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    out: &str,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "deepvis tests".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: init,
            input: vec![input],
            output: vec![value(out, &[])],
        }),
    }
    .encode_to_vec()
}

fn input(side: i64) -> ValueInfoProto {
    value("x", &[None, Some(3), Some(side), Some(side)])
}

/// x -> Identity x `n` -> y.
fn chain(n: usize) -> Vec<u8> {
    let nodes = (0..n)
        .map(|i| {
            let from = if i == 0 {
                "x".to_string()
            } else {
                format!("v{}", i - 1)
            };
            let to = if i + 1 == n {
                "y".to_string()
            } else {
                format!("v{i}")
            };
            node("Identity", &format!("id{i}"), &[&from], &to)
        })
        .collect();
    model(
        value("x", &[None, Some(3), Some(8), Some(8)]),
        nodes,
        vec![],
        "y",
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

#[test]
fn a_chain_of_100000_identity_nodes_loads_in_linear_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(dir.path(), "chain.onnx", &chain(100_000));
    let t0 = Instant::now();
    let (m, input) = open(&path, &Sidecar::default()).unwrap_or_else(|e| panic!("{e}"));
    let read = t0.elapsed();
    let info =
        ModelInfo::new(&m.graph, "chain", input.spec, None).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "100,000-node chain: read and checked in {:.3} s, model info in {:.3} s",
        read.as_secs_f64(),
        (t0.elapsed() - read).as_secs_f64()
    );
    assert_eq!(info.layers().len(), 100_000);
    assert_eq!(info.logits_layer(), "id99999");
}
