//! The device stage: chooses the device, loads the network (and the judge) and warms it up, and
//! follows the GPU warming up beside the CPU until the work moves to it.

use std::sync::Arc;

use burn::prelude::*;
use crossbeam_channel::{Receiver, TryRecvError};
use deepvis_model::device::SelectedDevice;
use deepvis_model::{BackendKind, ModelInfo, Net, to_vec};
use deepvis_protocol::{Backend, Doing, Event, Failure, LayerSummary, Preparing};

use crate::error::{EngineError, Result};
use crate::schedule::Handover;
use crate::{EngineConfig, ModelLoader, Wake};

/// The network on its device: what every stage computes with.
pub(crate) struct Model {
    /// The network.
    pub net: Net,
    /// Its layers, input and class scores.
    pub info: Arc<ModelInfo>,
    /// Where it runs.
    pub device: Device,
    /// The device in words (for the window and exports).
    pub backend: String,
}

impl Model {
    fn on(net: Net, selected: &SelectedDevice) -> Model {
        Model {
            info: net.info().clone(),
            net,
            device: selected.device.clone(),
            backend: selected.description.clone(),
        }
    }

    /// Every layer, as the window lists them.
    pub fn layers(&self) -> Vec<LayerSummary> {
        self.info
            .layers()
            .iter()
            .map(|l| LayerSummary {
                name: l.name.clone(),
                channels: l.channels,
                height: l.height,
                width: l.width,
                relu: l.relu,
                attention: self.info.attention_layers().contains(&l.name),
                gelu: l.gelu,
            })
            .collect()
    }

    /// The layer a unit of `layer` is optimized and explained on: the softmax's units through
    /// the class scores (the softmax's own gradient vanishes once one class dominates).
    pub fn optimizable<'l>(&'l self, layer: &'l str) -> &'l str {
        let softmax = self.info.layer(layer).is_ok_and(|l| l.kind == "Softmax");
        if softmax {
            self.info.logits_layer()
        } else {
            layer
        }
    }

    /// A preprocessed frame (CHW) as the network's input tensor.
    pub fn input(&self, chw: Vec<f32>) -> Result<Tensor<4>> {
        let s = self.info.input_size();
        Ok(deepvis_model::tensor4(chw, [1, 3, s, s], &self.device)?)
    }
}

/// One forward pass to the class probabilities (compiles the kernels on a GPU).
fn warm_up(net: &Net, device: &Device) -> Result<()> {
    let s = net.info().input_size();
    let warm = Tensor::<4>::zeros([1, 3, s, s], device);
    net.logits(warm).and_then(to_vec)?;
    Ok(())
}

/// The GPU loading the network and compiling its kernels on a thread of its own.
pub(crate) struct GpuWarmUp {
    rx: Receiver<Result<Net>>,
    gpu: SelectedDevice,
}

impl GpuWarmUp {
    /// Starts loading `model` on `gpu`; `None` when the thread cannot start.
    fn start(model: &ModelLoader, gpu: &SelectedDevice, wake: &Wake) -> Option<GpuWarmUp> {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Net>>(1);
        let (model, device, wake) = (model.clone(), gpu.device.clone(), wake.clone());
        std::thread::Builder::new()
            .name("deepvis-gpu-warmup".into())
            .spawn(move || {
                let r = model
                    .load(&device)
                    .and_then(|n| warm_up(&n, &device).map(|_| n));
                let _ = tx.send(r);
                wake();
            })
            .ok()?;
        Some(GpuWarmUp {
            rx,
            gpu: gpu.clone(),
        })
    }

    /// How the warm-up stands; a network ready comes as the model on the GPU.
    pub fn poll(&self) -> Handover<Model> {
        let got = match self.rx.try_recv() {
            Ok(r) => Ok(Some(r)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(()),
        };
        match Handover::from_channel(got) {
            Handover::Switch(net) => Handover::Switch(Model::on(net, &self.gpu)),
            Handover::Waiting => Handover::Waiting,
            Handover::Stay(e) => Handover::Stay(e),
        }
    }
}

/// What the worker starts with: the network on its device, the GPU warming up beside it, the
/// judge.
pub(crate) struct Loaded {
    /// The network where it serves now.
    pub model: Model,
    /// The GPU warming up, when the CPU serves meanwhile.
    pub gpu: Option<GpuWarmUp>,
    /// Where it runs as the window is told at first (the CPU, with a GPU warming up beside it).
    pub backend: Backend,
    /// The network that judges preferred images.
    pub judge: Option<Net>,
}

/// Chooses the device, loads the network and warms it up (on a GPU the CPU serves while the
/// GPU loads and compiles its kernels). `send` tells the window what is under way. An error
/// here stops the worker.
pub(crate) fn load(
    c: &EngineConfig,
    wake: &Wake,
    send: &mut impl FnMut(Event),
) -> std::result::Result<Loaded, Failure> {
    send(Event::Preparing(Preparing::Loading {
        model: c.model.name.clone(),
    }));
    let chosen = deepvis_model::device::select(c.backend)
        .map_err(|e| EngineError::from(e).failure(Doing::ChooseDevice))?;
    let gpu = match chosen.kind {
        BackendKind::Wgpu => GpuWarmUp::start(&c.model, &chosen, wake),
        _ => None,
    };
    let selected = match gpu {
        Some(_) => deepvis_model::device::cpu(),
        None => chosen.clone(),
    };
    let net = c
        .model
        .load(&selected.device)
        .map_err(|e| e.failure(Doing::LoadModel))?;
    send(Event::Preparing(Preparing::WarmingUp {
        backend: selected.description.clone(),
    }));
    warm_up(&net, &selected.device).map_err(|e| e.failure(Doing::WarmUp))?;
    let judge = c.judge.as_ref().and_then(|loader| {
        loader
            .load(&selected.device)
            .map_err(|e| {
                send(e.event(Doing::LoadJudge {
                    judge: loader.name.clone(),
                }))
            })
            .ok()
    });
    let backend = Backend {
        serving: selected.description.clone(),
        warming: gpu.as_ref().map(|g| g.gpu.description.clone()),
    };
    Ok(Loaded {
        model: Model::on(net, &selected),
        gpu,
        backend,
        judge,
    })
}
