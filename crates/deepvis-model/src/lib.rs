//! The networks deepvis visualizes, as graphs of named nodes run on burn: the built-in
//! SqueezeNet v1.0 and AlexNet, and any graph a reader gives (ONNX); their weight formats,
//! input preprocessing, back-projection and device selection.

pub mod alexnet;
pub mod arch;
pub mod backprop;
pub mod circuit;
pub mod deepcompression;
pub mod device;
pub mod error;
pub mod fsguard;
pub mod graph;
pub mod labels;
pub mod net;
pub mod preprocess;
pub mod registry;
pub mod rng;
pub mod squeezenet;
pub mod tensor_file;
pub mod tokens;
pub mod weights;

pub use arch::{LayerInfo, ModelInfo, PreSource, Region};
pub use backprop::{BackMode, BackProjection, BackProjector};
pub use deepvis_viz::{ClassProb, Detection, OutputKind, OutputReading};
pub use device::{BackendChoice, BackendKind, SelectedDevice};
pub use error::{Error, Result};
pub use labels::Labels;
pub use net::{Net, Request, Taps};
pub use registry::{Arch, Model};
pub use weights::{RawTensor, WeightMap};

use burn::prelude::*;

/// Makes a `[N, C, H, W]` tensor from row-major values.
pub fn tensor4(data: Vec<f32>, dims: [usize; 4], device: &Device) -> Result<Tensor<4>> {
    let n: usize = dims.iter().product();
    if data.len() != n {
        return Err(Error::BadInput(format!(
            "{} values cannot fill a tensor of shape {dims:?}",
            data.len()
        )));
    }
    Ok(Tensor::from_data(TensorData::new(data, dims), device))
}

/// Reads a tensor back to the host as f32 values.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| Error::Backend(format!("cannot read a tensor back: {e:?}")))
}

/// The `k` most probable classes of a probability vector, best first.
pub fn top_k(probs: &[f32], k: usize, labels: &Labels) -> Vec<ClassProb> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    idx.into_iter()
        .take(k)
        .map(|i| ClassProb {
            index: i,
            label: labels.name(i),
            prob: probs[i],
        })
        .collect()
}
