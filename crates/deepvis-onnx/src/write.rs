//! Small ONNX models written from code, with the crate's own protobuf messages: the tests'
//! hand-made cases (bad files, hostile graphs) and anyone scripting a model to try.

use prost::Message;

use crate::proto::*;

/// A float (or `elem`-typed) value `name` of `dims` (`None`: a symbolic dimension `N`).
pub fn value(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: elem,
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

/// A node of operator `op` named `name`, from `inputs` to `output`, without attributes.
pub fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: name.into(),
        op_type: op.into(),
        ..Default::default()
    }
}

/// An integer-list attribute.
pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// A float32 initializer of `dims` holding `data`.
pub fn floats(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dtype::FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The bytes of a model of opset `opset`: one `input`, `nodes` in order, initializers `init`,
/// the float output `out`.
pub fn model(
    opset: i64,
    input: ValueInfoProto,
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    out: &str,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "deepvis tests".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: init,
            input: vec![input],
            output: vec![value(out, dtype::FLOAT, &[])],
        }),
    }
    .encode_to_vec()
}
