//! Decoder of the Deep Compression SqueezeNet v1.0 `.net` file (pruned, 8-bit codebook weights,
//! 4-bit relative positions) into the tensors of `squeezenet1_0.safetensors`.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::squeezenet::conv_specs;
use crate::weights::{RawTensor, WeightMap, read_file};

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(Error::WeightsFormat {
                path: self.path.to_path_buf(),
                reason: format!(
                    "truncated: {what} needs {n} bytes at offset {}, the file has {}",
                    self.at,
                    self.bytes.len()
                ),
            }),
        }
    }

    fn f32s(&mut self, n: usize, what: &str) -> Result<Vec<f32>> {
        Ok(self
            .take(n * 4, what)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// Reads and decodes a `.net` file.
pub fn decode_file(path: &Path) -> Result<WeightMap> {
    let bytes = read_file(path)?;
    decode(path, &bytes)
}

/// Decodes the bytes of a `.net` file (`path` is only used in messages).
pub fn decode(path: &Path, bytes: &[u8]) -> Result<WeightMap> {
    let specs = conv_specs();
    let mut cur = Cursor { bytes, at: 0, path };
    let nnz: Vec<usize> = cur
        .take(4 * specs.len(), "the header of non-zero counts")?
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let mut tensors = HashMap::new();
    for (spec, &nnz) in specs.iter().zip(&nnz) {
        let numel: usize = spec.weight_shape.iter().product();
        let bad = |reason: String| Error::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!("layer `{}`: {reason}", spec.name),
        };
        if nnz > numel {
            return Err(bad(format!(
                "claims {nnz} stored weights, the tensor has only {numel}"
            )));
        }
        let codebook = cur.f32s(256, &format!("the codebook of `{}`", spec.name))?;
        let bias = cur.f32s(spec.out_channels, &format!("the bias of `{}`", spec.name))?;
        let idx = cur.take(nnz, &format!("the weight indices of `{}`", spec.name))?;
        let gaps = cur.take(
            nnz.div_ceil(2),
            &format!("the positions of `{}`", spec.name),
        )?;
        let mut weight = vec![0f32; numel];
        let zero = codebook[0];
        if zero != 0.0 {
            weight.iter_mut().for_each(|w| *w = zero);
        }
        let mut pos: usize = 0;
        for k in 0..nnz {
            let byte = gaps[k / 2];
            let gap = if k % 2 == 0 { byte & 0x0f } else { byte >> 4 } as usize;
            pos += gap + 1;
            let p = pos - 1;
            if p >= numel {
                return Err(bad(format!(
                    "stored weight {k} lands at position {p}, past the tensor's {numel} values"
                )));
            }
            weight[p] = codebook[idx[k] as usize];
        }
        tensors.insert(
            format!("{}.weight", spec.name),
            RawTensor {
                shape: spec.weight_shape.clone(),
                data: weight,
            },
        );
        tensors.insert(
            format!("{}.bias", spec.name),
            RawTensor {
                shape: vec![spec.out_channels],
                data: bias,
            },
        );
    }
    if cur.at != bytes.len() {
        return Err(Error::WeightsFormat {
            path: path.to_path_buf(),
            reason: format!(
                "{} unexpected bytes after the last layer (decoded {} of {})",
                bytes.len() - cur.at,
                cur.at,
                bytes.len()
            ),
        });
    }
    Ok(WeightMap {
        path: path.to_path_buf(),
        tensors,
    })
}
