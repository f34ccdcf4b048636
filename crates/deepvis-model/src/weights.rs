//! Reading weight files (safetensors, PyTorch `.pth`, Deep Compression `.net`) into named
//! float32 tensors, with checks that name the offending tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One tensor read from a weights file, as float32 in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values.
    pub data: Vec<f32>,
}

/// All tensors of a weights file, by name.
#[derive(Debug)]
pub struct WeightMap {
    /// The file they came from (for error messages).
    pub path: PathBuf,
    /// The tensors.
    pub tensors: HashMap<String, RawTensor>,
}

/// The on-disk formats deepvis reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// safetensors.
    Safetensors,
    /// PyTorch's zip (or legacy) pickle format.
    Pytorch,
    /// The Deep Compression SqueezeNet `.net` file.
    DeepCompression,
}

impl WeightsFormat {
    /// Guesses the format from the file name.
    pub fn from_path(path: &Path) -> Option<WeightsFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "safetensors" => Some(WeightsFormat::Safetensors),
            "pth" | "pt" | "bin" => Some(WeightsFormat::Pytorch),
            "net" => Some(WeightsFormat::DeepCompression),
            _ => None,
        }
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    crate::fsguard::read_regular(path, crate::fsguard::MAX_WEIGHTS_FILE_BYTES).map_err(|source| {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Converts little-endian float bytes of a safetensors/PyTorch tensor into f32.
fn floats_from_le(
    path: &Path,
    name: &str,
    dtype: &str,
    bytes: &[u8],
    count: usize,
) -> Result<Vec<f32>> {
    let width = match dtype {
        "F32" => 4,
        "F64" => 8,
        other => {
            return Err(Error::WrongDtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: other.to_string(),
            });
        }
    };
    if bytes.len() != count * width {
        return Err(Error::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!(
                "tensor `{name}` has {} bytes of data, its shape needs {}",
                bytes.len(),
                count * width
            ),
        });
    }
    Ok(if width == 4 {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect()
    })
}

impl WeightMap {
    /// Reads a weights file in the format its name says.
    pub fn read(path: &Path) -> Result<WeightMap> {
        match WeightsFormat::from_path(path) {
            Some(WeightsFormat::Safetensors) => Self::read_safetensors(path),
            Some(WeightsFormat::Pytorch) => Self::read_pytorch(path),
            Some(WeightsFormat::DeepCompression) => crate::deepcompression::decode_file(path),
            None => Err(Error::WeightsFormat {
                path: path.to_path_buf(),
                reason: "unknown extension: expected .safetensors, .pth/.pt or .net".into(),
            }),
        }
    }

    /// Reads every float tensor of a safetensors file.
    pub fn read_safetensors(path: &Path) -> Result<WeightMap> {
        let bytes = read_file(path)?;
        Self::from_safetensors_bytes(path, &bytes)
    }

    /// Parses safetensors bytes (`path` is only used in messages).
    pub fn from_safetensors_bytes(path: &Path, bytes: &[u8]) -> Result<WeightMap> {
        let st =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::WeightsFormat {
                path: path.to_path_buf(),
                reason: format!("not a valid safetensors file: {e}"),
            })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let count = shape.iter().product();
            let dtype = format!("{:?}", view.dtype());
            let data = floats_from_le(path, &name, &dtype, view.data(), count)?;
            tensors.insert(name, RawTensor { shape, data });
        }
        Ok(WeightMap {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Reads every float tensor of a PyTorch checkpoint (a state dict, possibly under
    /// `state_dict` or `model`).
    pub fn read_pytorch(path: &Path) -> Result<WeightMap> {
        let fmt = |e: pytorch_reader::PytorchError| Error::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!("not a readable PyTorch file: {e}"),
        };
        // the reader opens the file itself: a pipe or a device must not reach it
        crate::fsguard::check_regular(path, crate::fsguard::MAX_WEIGHTS_FILE_BYTES).map_err(
            |source| Error::Io {
                path: path.to_path_buf(),
                source,
            },
        )?;
        let reader = match pytorch_reader::PytorchReader::new(path) {
            Ok(r) if r.keys().iter().any(|k| k == "state_dict") => {
                pytorch_reader::PytorchReader::with_top_level_key(path, "state_dict")
                    .map_err(fmt)?
            }
            Ok(r) => r,
            Err(e) => return Err(fmt(e)),
        };
        let mut tensors = HashMap::new();
        for (name, t) in reader.into_tensors() {
            let dtype = match t.dtype() {
                pytorch_reader::DType::F32 => "F32".to_string(),
                pytorch_reader::DType::F64 => "F64".to_string(),
                other => format!("{other:?}"),
            };
            let shape = t.shape().to_vec();
            let count = t.num_elements();
            let bytes = t.read().map_err(|e| Error::WeightsFormat {
                path: path.to_path_buf(),
                reason: format!("cannot read tensor `{name}`: {e}"),
            })?;
            let data = floats_from_le(path, &name, &dtype, &bytes, count)?;
            tensors.insert(name, RawTensor { shape, data });
        }
        Ok(WeightMap {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Removes and returns the tensor `name`, checking its shape and that every value is
    /// finite.
    pub fn take(&mut self, name: &str, expected: &[usize]) -> Result<RawTensor> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
            })?;
        if t.shape != expected {
            return Err(Error::WrongShape {
                path: self.path.clone(),
                name: name.to_string(),
                found: t.shape,
                expected: expected.to_vec(),
            });
        }
        check_finite(&self.path, name, &t.data)?;
        Ok(t)
    }
}

/// Fails with [`Error::NonFinite`] if any value is NaN or infinite.
pub fn check_finite(path: &Path, name: &str, data: &[f32]) -> Result<()> {
    let mut bad = data.iter().enumerate().filter(|(_, v)| !v.is_finite());
    if let Some((first, _)) = bad.next() {
        return Err(Error::NonFinite {
            path: path.to_path_buf(),
            name: name.to_string(),
            count: 1 + bad.count(),
            first,
        });
    }
    Ok(())
}
