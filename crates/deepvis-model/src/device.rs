//! The one place where deepvis chooses the device its networks run on.

use burn::prelude::Device;

use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// wgpu on a hardware GPU when one is found, else the CPU.
    #[default]
    Auto,
    /// wgpu, even on a software adapter.
    Wgpu,
    /// Burn's pure-Rust CPU backend (flex).
    Cpu,
}

impl BackendChoice {
    /// Parses `auto`, `wgpu` or `cpu`.
    pub fn from_name(s: &str) -> Result<BackendChoice> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "wgpu" | "gpu" => Ok(BackendChoice::Wgpu),
            "cpu" | "flex" => Ok(BackendChoice::Cpu),
            other => Err(Error::Backend(format!(
                "unknown backend `{other}`: use auto, wgpu or cpu"
            ))),
        }
    }
}

/// The kind of backend that was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// burn-flex on the CPU.
    Cpu,
    /// burn-wgpu.
    Wgpu,
}

impl BackendKind {
    /// `cpu` or `wgpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "wgpu",
        }
    }
}

/// A graphics adapter wgpu can see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name (`NVIDIA H100 80GB HBM3`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub name: String,
    /// The graphics API (`Vulkan`, `Gl`, ...).
    pub api: String,
    /// Whether it is real hardware (a software rasterizer such as llvmpipe is not).
    pub hardware: bool,
}

/// A device ready for tensors, with a description for logs and the status bar.
#[derive(Clone, Debug)]
pub struct SelectedDevice {
    /// The device (without autodiff; call `.autodiff()` where gradients are needed).
    pub device: Device,
    /// Which backend.
    pub kind: BackendKind,
    /// One line naming the backend and adapter.
    pub description: String,
}

/// Lists the adapters wgpu can see (empty when no graphics driver is installed).
pub fn wgpu_adapters() -> Vec<AdapterSummary> {
    use burn::tensor::wgpu::wgpu;
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            AdapterSummary {
                name: info.name.clone(),
                api: format!("{:?}", info.backend),
                hardware: !matches!(info.device_type, wgpu::DeviceType::Cpu),
            }
        })
        .collect()
}

/// The CPU backend.
pub fn cpu() -> SelectedDevice {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    SelectedDevice {
        device: Device::flex(),
        kind: BackendKind::Cpu,
        description: format!("cpu (burn-flex, {threads} threads)"),
    }
}

fn wgpu_device(adapter: Option<&AdapterSummary>) -> SelectedDevice {
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let description = match adapter {
        Some(a) => format!(
            "wgpu on {} ({}{})",
            a.name,
            a.api,
            if a.hardware { "" } else { ", software" }
        ),
        None => "wgpu (default adapter)".to_string(),
    };
    SelectedDevice {
        device,
        kind: BackendKind::Wgpu,
        description,
    }
}

/// Chooses the device: `Cpu` is burn-flex; `Wgpu` is wgpu's default adapter whatever it is;
/// `Auto` is wgpu when a hardware adapter exists and the CPU otherwise (a software Vulkan
/// such as llvmpipe counts as none: its first SqueezeNet call takes many minutes).
pub fn select(choice: BackendChoice) -> Result<SelectedDevice> {
    match choice {
        BackendChoice::Cpu => Ok(cpu()),
        BackendChoice::Wgpu => {
            let adapters = wgpu_adapters();
            if adapters.is_empty() {
                return Err(Error::Backend(
                    "wgpu finds no graphics adapter (is a Vulkan, Metal or GL driver \
                     installed?); use --backend cpu"
                        .into(),
                ));
            }
            let best = adapters
                .iter()
                .find(|a| a.hardware)
                .or_else(|| adapters.first());
            Ok(wgpu_device(best))
        }
        BackendChoice::Auto => {
            let adapters = wgpu_adapters();
            match adapters.iter().find(|a| a.hardware) {
                Some(a) => Ok(wgpu_device(Some(a))),
                None => {
                    let mut d = cpu();
                    let why = if adapters.is_empty() {
                        "no wgpu adapter".to_string()
                    } else {
                        format!(
                            "only software adapters: {}",
                            adapters
                                .iter()
                                .map(|a| a.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    d.description = format!("{} [{}]", d.description, why);
                    Ok(d)
                }
            }
        }
    }
}
