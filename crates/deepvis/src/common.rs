//! What the commands share: the network on the chosen device (by the one way to a model,
//! `crate::model`), reading inputs, writing pictures and tensors.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use std::sync::Arc;

use deepvis_model::graph::Layout;
use deepvis_model::tokens::TokenAt;
use deepvis_model::{BackendChoice, ModelInfo, Net, SelectedDevice, preprocess, tensor_file};

use crate::Global;
pub use crate::env::{log, project_root};
use crate::model::ModelSource;

/// A network ready to run.
pub struct Loaded {
    /// What is known of it (layers, input, class layer).
    pub info: Arc<ModelInfo>,
    /// The network.
    pub net: Net,
    /// The device it lives on.
    pub device: SelectedDevice,
}

/// Chooses the device and loads the network `--model` names.
pub fn load(g: &Global) -> Result<Loaded> {
    let device = deepvis_model::device::select(BackendChoice::from_name(&g.backend)?)?;
    log(g, format!("backend: {}", device.description));
    let net = ModelSource::resolve(g)?.net(g, &device.device)?;
    Ok(Loaded {
        info: net.info().clone(),
        net,
        device,
    })
}

/// How the window's worker loads the network `--model` names.
pub fn model_loader(g: &Global) -> Result<deepvis_engine::ModelLoader> {
    ModelSource::resolve(g)?.loader(g)
}

/// Opens `.onnx` files for the window's model picker (sidecar or known preprocessing, else
/// the default with a warning in the log).
pub fn onnx_opener() -> deepvis_engine::ModelOpener {
    deepvis_engine::ModelOpener::new(|path| {
        let g = Global {
            model: path.display().to_string(),
            weights: None,
            backend: "auto".into(),
            quiet: false,
            input_size: None,
            mean: None,
            std: None,
            bgr: false,
            input_range: None,
        };
        match ModelSource::resolve(&g) {
            Ok(source @ ModelSource::Onnx(_)) => source.loader(&g).map_err(|e| format!("{e:#}")),
            _ => Err("not an .onnx file".into()),
        }
    })
}

/// Writes a picture in the format its name says, through the atomic write (whole or not at
/// all: no half-written file when the folder goes away or the disk fills up).
pub fn save_image<P>(img: &image::ImageBuffer<P, Vec<P::Subpixel>>, path: &Path) -> Result<()>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
{
    let format = image::ImageFormat::from_path(path).with_context(|| {
        format!(
            "{}: the name's extension is no image format (use .png)",
            path.display()
        )
    })?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, format)
        .with_context(|| format!("encoding {}", path.display()))?;
    deepvis_topk::write_atomic(path, bytes.get_ref())?;
    Ok(())
}

/// Writes one float32 tensor to a safetensors file, through the atomic write.
pub fn save_tensor(path: &Path, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
    let bytes = tensor_file::to_safetensors(name, shape, data)?;
    deepvis_topk::write_atomic(path, &bytes)?;
    Ok(())
}

/// An input ready for the network.
pub struct Input {
    /// `[1, 3, H, W]`.
    pub tensor: Tensor<4>,
}

/// A picture by name: a photo, or a frame of a video as `VIDEO@SECONDS`, or `frame` of a
/// video (a video without either: its first frame).
pub fn read_picture(path: &Path, frame: Option<u64>) -> Result<image::DynamicImage> {
    use deepvis_sources::video::{FrameAt, is_animation, is_video, read_frame, split_at_time};
    let at = match (split_at_time(path), frame) {
        (Some(_), Some(_)) => anyhow::bail!(
            "{}: give the frame as VIDEO@SECONDS or as --frame N, not both",
            path.display()
        ),
        (Some((file, t)), None) => Some((file, FrameAt::Seconds(t))),
        (None, Some(n)) => Some((path.to_path_buf(), FrameAt::Index(n))),
        (None, None) => {
            let still = image::ImageFormat::from_path(path).is_ok() && !is_animation(path);
            (is_video(path) && !still).then(|| (path.to_path_buf(), FrameAt::Index(0)))
        }
    };
    match at {
        Some((file, at)) => Ok(image::DynamicImage::ImageRgb8(read_frame(
            &deepvis_sources::Ffmpeg::from_env(),
            &file,
            at,
        )?)),
        None => Ok(preprocess::load_image(path)?),
    }
}

/// Reads a photo (any format the image crate decodes), a frame of a video (`VIDEO@SECONDS`
/// or `frame`) or, for `.safetensors`, the named preprocessed tensor.
pub fn read_input(
    path: &Path,
    tensor: Option<&str>,
    frame: Option<u64>,
    l: &Loaded,
) -> Result<Input> {
    let is_tensor = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if is_tensor {
        let t = tensor_file::read_input_tensor(path, tensor)?;
        let dims: [usize; 4] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
        l.net.check_input(dims)?;
        Ok(Input {
            tensor: deepvis_model::tensor4(t.data, dims, &l.device.device)?,
        })
    } else {
        let p = l.info.input.apply(&read_picture(path, frame)?);
        let dims = p.dims();
        Ok(Input {
            tensor: deepvis_model::tensor4(p.chw, dims, &l.device.device)?,
        })
    }
}

/// Where token `token` of `layer`'s sequence lies on the layer's map (`--token`). A layer that
/// holds no sequence of tokens, a token past the last and a leading token (CLS, register: no
/// place on the map, and no unit of the commands) are errors saying so.
pub fn token_place(info: &ModelInfo, layer: &str, token: usize) -> Result<(usize, usize)> {
    let name = info.layer(layer)?.name;
    let Layout::Tokens(grid) = info.layout_of(&name) else {
        bail!(
            "--token {token}: layer {name} is not a sequence of tokens (a vision transformer's \
             [N, T, D]); give its place with --y and --x"
        );
    };
    let last = grid.tokens() - 1;
    match grid.token(token) {
        Some(TokenAt::Patch { y, x }) => Ok((y, x)),
        Some(TokenAt::Leading(_)) => bail!(
            "--token {token}: token {token} of {name} is one of its {} leading tokens (CLS or \
             register), which has no place on the patch grid and cannot be a unit here; the \
             patch tokens are {}..={last}",
            grid.lead,
            grid.lead
        ),
        None => bail!(
            "--token {token}: {name} has {} tokens, 0..={last} ({} leading, then {}x{} patches)",
            grid.tokens(),
            grid.lead,
            grid.h,
            grid.w
        ),
    }
}

/// The unit a command explains, and the input it explains it on.
#[derive(clap::Args, Debug)]
pub struct UnitArgs {
    /// A photo, a video (`VIDEO@SECONDS` for a frame), or a `.safetensors` file holding a
    /// preprocessed 1x3xHxW tensor.
    pub image: PathBuf,
    /// The frame of a video (0 = the first).
    #[arg(long, value_name = "N")]
    pub frame: Option<u64>,
    /// The unit's layer (see `deepvis layers`).
    #[arg(long)]
    pub layer: String,
    /// The unit's channel (or class).
    #[arg(long)]
    pub unit: usize,
    /// Row in the unit's map (default: where the map is largest on this image).
    #[arg(long, requires = "x")]
    pub y: Option<usize>,
    /// Column in the unit's map.
    #[arg(long, requires = "y")]
    pub x: Option<usize>,
    /// Token I of a vision transformer layer's sequence instead of --y/--x (I counts every
    /// token, the leading CLS/register ones first): patch token I is the unit at row
    /// (I - leading) / w, column (I - leading) % w of the patch grid.
    #[arg(long, value_name = "I", conflicts_with_all = ["y", "x"])]
    pub token: Option<usize>,
    /// The tensor to read from a `.safetensors` input.
    #[arg(long, value_name = "NAME")]
    pub tensor: Option<String>,
}

impl UnitArgs {
    /// The unit's place on its map: `--y`/`--x`, or `--token`'s patch (`None`: neither).
    pub fn position(&self, info: &ModelInfo) -> Result<Option<(usize, usize)>> {
        match self.token {
            Some(i) => Ok(Some(token_place(info, &self.layer, i)?)),
            None => Ok(self.y.zip(self.x)),
        }
    }

    /// The picture's default name: `<image stem>_<layer>_<unit>_<what>.png`.
    pub fn default_png(&self, layer: &str, what: &str) -> PathBuf {
        let stem = self
            .image
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into());
        // the layer is a node name a model file chose: made a plain file name
        let layer = deepvis_topk::safe_file_name(layer);
        PathBuf::from(format!("{stem}_{layer}_{}_{what}.png", self.unit))
    }
}
