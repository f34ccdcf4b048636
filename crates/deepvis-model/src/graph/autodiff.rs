//! The CPU fast path under autodiff (the optimizer's forward and backward on burn-flex): a max
//! pooling runs on `deepvis-kernels` as one operation of burn's autodiff graph (burn's
//! backend-extension API), its backward each window's signal on its first maximum (burn's and
//! PyTorch's rule), on the kernels too. (Convolutions stay burn's here: the kernels' values
//! differ from burn's in the last bits, harmless in a forward pass, but they decide ties of the
//! poolings' maxima differently from the independent reference gradients.)

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use deepvis_kernels::MaxPool2d;

use super::Window;
use super::host::Declined;

type FlexTensor = <Flex as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// Whether `device` is the autodiff device this path serves (burn-flex, no checkpointing).
pub(crate) fn serves(device: &Device) -> bool {
    *device == Device::flex().autodiff()
}

/// Registers a host gradient for node `id`.
fn register(grads: &mut Gradients, id: NodeId, gx: Vec<f32>, dims: [usize; 4]) {
    let gx = Tensor::<4>::from_data(TensorData::new(gx, dims), &Device::flex());
    if let Ok(gx) = gx.try_into_primitive::<Flex>() {
        grads.register::<Flex>(id, gx);
    }
}

/// The plain flex tensor of `v`, as a primitive.
fn primitive(v: Vec<f32>, dims: [usize; 4]) -> Result<FlexTensor, Declined> {
    Tensor::<4>::from_data(TensorData::new(v, dims), &Device::flex())
        .try_into_primitive::<Flex>()
        .map_err(|e| Declined::Failed(format!("{e:?}")))
}

/// What the pooling's backward keeps: its geometry, its input's values and its output's.
#[derive(Clone, Debug)]
struct PoolState {
    pool: MaxPool2d,
    x: Arc<Vec<f32>>,
    y: Arc<Vec<f32>>,
    dims: [usize; 4],
}

#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(parent) = parent else {
            return;
        };
        let PoolState { pool, x, y, dims } = ops.state;
        let [n, c, h, w] = dims;
        let gy = Tensor::<4>::from_primitive::<Flex>(grad);
        // (the shapes were checked in the forward: a failure here would leave the input
        // without a gradient rather than end the program)
        let Ok(g) = gy.into_data().try_into_vec::<f32>() else {
            return;
        };
        let mut gx = vec![0.0f32; n * c * h * w];
        if pool
            .backward_input(&x, &y, [n * c, h, w], &g, &mut gx)
            .is_err()
        {
            return;
        }
        register(grads, parent.id, gx, dims);
    }
}

/// A max pooling of an autodiff input on the kernels, recorded as one operation; declined (the
/// input back) on other devices.
pub(crate) fn max_pool(window: &Window, x: Tensor<4>) -> Result<Tensor<4>, Declined> {
    if !serves(&x.device()) {
        return Err(Declined::Burn(Box::new(x)));
    }
    let dims = x.dims();
    let [n, c, h, w] = dims;
    let Some((pool, [oh, ow])) = super::host::pooling(window, [h, w]) else {
        return Err(Declined::Burn(Box::new(x)));
    };
    let ad = match x.clone().try_into_primitive::<Autodiff<Flex>>() {
        Ok(ad) => ad,
        Err(_) => return Err(Declined::Burn(Box::new(x))),
    };
    drop(x);
    let (input, node) = ad.into_parts();
    let xs: Vec<f32> = Tensor::<4>::from_primitive::<Flex>(input)
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| Declined::Failed(format!("{e:?}")))?;
    let mut out = vec![0.0f32; n * c * oh * ow];
    pool.run(&xs, [n * c, h, w], &mut out)
        .map_err(|e| Declined::Failed(e.to_string()))?;
    let y = Arc::new(out);
    let out = primitive(y.to_vec(), [n, c, oh, ow])?;
    let state = PoolState {
        pool,
        x: Arc::new(xs),
        y,
        dims,
    };
    let recorded = match PoolBackward
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Ok(Tensor::<4>::from_primitive::<Autodiff<Flex>>(recorded))
}
