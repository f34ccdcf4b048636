//! Reading an already preprocessed input tensor from a safetensors file.

use std::path::Path;

use crate::error::{Error, Result};
use crate::weights::{RawTensor, WeightMap, check_finite, read_file};

/// Reads tensor `name` (or the file's only tensor when `name` is `None`) as a `[1, 3, H, W]`
/// input. `3xHxW` tensors get a batch axis; float64 is converted to float32.
pub fn read_input_tensor(path: &Path, name: Option<&str>) -> Result<RawTensor> {
    input_tensor_from_bytes(path, &read_file(path)?, name)
}

/// [`read_input_tensor`] on the bytes of a safetensors file (`path` is only used in messages).
pub fn input_tensor_from_bytes(path: &Path, bytes: &[u8], name: Option<&str>) -> Result<RawTensor> {
    let mut map = WeightMap::from_safetensors_bytes(path, bytes)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => {
            if map.tensors.len() != 1 {
                let mut names: Vec<_> = map.tensors.keys().cloned().collect();
                names.sort();
                return Err(Error::BadInput(format!(
                    "{} holds {} tensors ({}); name one with --tensor",
                    path.display(),
                    names.len(),
                    names.join(", ")
                )));
            }
            map.tensors.keys().next().cloned().unwrap_or_default()
        }
    };
    let t = map.tensors.remove(&name).ok_or_else(|| {
        let mut names: Vec<_> = map.tensors.keys().cloned().collect();
        names.sort();
        names.truncate(20);
        Error::BadInput(format!(
            "{} has no tensor `{name}` (it has: {})",
            path.display(),
            names.join(", ")
        ))
    })?;
    let shape = match t.shape.as_slice() {
        [1, 3, h, w] | [3, h, w] => vec![1, 3, *h, *w],
        other => {
            return Err(Error::BadInput(format!(
                "tensor `{name}` in {} has shape {other:?}; an input must be 1x3xHxW or 3xHxW",
                path.display()
            )));
        }
    };
    check_finite(path, &name, &t.data)?;
    Ok(RawTensor {
        shape,
        data: t.data,
    })
}

/// Writes one float32 tensor to a safetensors file.
pub fn write_f32(path: &Path, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
    let out = to_safetensors(name, shape, data)?;
    std::fs::write(path, out)
        .map_err(|e| Error::BadInput(format!("cannot write {}: {e}", path.display())))
}

/// The bytes of a safetensors file holding one float32 tensor.
pub fn to_safetensors(name: &str, shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::BadInput(format!(
            "{} values do not fill a tensor of shape {shape:?}",
            data.len()
        )));
    }
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.to_vec(), &bytes)
            .map_err(|e| Error::BadInput(format!("cannot describe tensor {name}: {e}")))?;
    safetensors::serialize(vec![(name, view)], None)
        .map_err(|e| Error::BadInput(format!("cannot serialize tensor {name}: {e}")))
}
