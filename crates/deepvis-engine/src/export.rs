//! Preferred images with their sidecar: the PNG, `NAME.json` beside it (everything that made
//! it, [`Sidecar`]) and `NAME.startK.safetensors` for start images that are pictures; read
//! back, the sidecar replays the runs to the very same image (`deepvis optimize --from`).

use std::path::{Path, PathBuf};

use deepvis_model::ModelInfo;
use deepvis_optim::recipe::Which;
use deepvis_optim::{Init, Optimizer, ParamKind, Sidecar};
use image::RgbImage;

use crate::error::{EngineError, Result};

/// How a run's image is drawn: the paper's pixels scaled about zero (as the toolbox showed
/// its preferred images: the network's input is unbounded there), the spectral
/// parameterizations' as the very pixels the network sees (their sigmoid keeps them valid;
/// scaled about zero, the ImageNet mean would turn every one of them grey-purple).
pub fn look(chw: &[f32], info: &ModelInfo, param: ParamKind) -> Result<RgbImage> {
    let s = info.input_size();
    let img = match param {
        ParamKind::Pixel => deepvis_viz::scaled_about_zero(chw, s, s, info.norm().order),
        ParamKind::Fourier | ParamKind::Maco => info.norm().to_image(chw, s, s),
    };
    img.ok_or(EngineError::WrongSize("the image"))
}

/// A run's image drawn by [`look`], enlarged `scale` times (at most 16).
pub fn render(chw: &[f32], info: &ModelInfo, scale: u32, param: ParamKind) -> Result<RgbImage> {
    let s = info.input_size();
    let img = look(chw, info, param)?;
    Ok(if scale > 1 {
        let k = scale.min(16);
        image::imageops::resize(
            &img,
            s as u32 * k,
            s as u32 * k,
            image::imageops::FilterType::Nearest,
        )
    } else {
        img
    })
}

/// The picture of runs `ids` of `opt` as `which` says (every image of each run): one image,
/// a 2-column montage of four, or rows of up to 4.
pub fn picture(opt: &Optimizer, ids: &[usize], which: Which, scale: u32) -> Result<RgbImage> {
    let mut images = Vec::new();
    for &id in ids {
        let all = match which {
            Which::Current => opt.current_images(id),
            Which::Best => opt.best_images(id),
        }?;
        let param = opt.config(id)?.method.param;
        for chw in all {
            images.push(render(&chw, opt.info(), scale, param)?);
        }
    }
    Ok(match images.len() {
        1 => images.remove(0),
        2 | 4 => deepvis_viz::montage(&images, 2, 4, [255, 255, 255]),
        _ => deepvis_viz::montage(&images, 4, 4, [255, 255, 255]),
    })
}

/// The sidecar's name for a picture: `NAME.json`.
pub fn sidecar_path(png: &Path) -> PathBuf {
    png.with_extension("json")
}

fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)?;
    Ok(bytes.into_inner())
}

/// Writes the picture and its sidecar (start images that are pictures go to
/// `NAME.startK.safetensors`, named in the sidecar); every file whole or not at all. Returns
/// the sidecar's path.
pub fn write(png: &Path, img: &RgbImage, sidecar: &mut Sidecar) -> Result<PathBuf> {
    let stem = png
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| EngineError::NotAFile(png.to_path_buf()))?;
    let dir = png.parent().unwrap_or(Path::new(""));
    let mut k = 0;
    for run in &mut sidecar.runs {
        for init in run.recipe.inits_mut() {
            if let Init::Image { chw, label } = init {
                let name = format!("{stem}.start{k}.safetensors");
                k += 1;
                let s = ((chw.len() / 3) as f64).sqrt() as usize;
                let bytes = deepvis_model::tensor_file::to_safetensors("x0", &[1, 3, s, s], chw)?;
                deepvis_topk::write_atomic(&dir.join(&name), &bytes)?;
                *label = name;
            }
        }
    }
    deepvis_topk::write_atomic(png, &encode_png(img)?)?;
    let json = sidecar_path(png);
    let text = serde_json::to_string_pretty(sidecar).map_err(EngineError::Json)?;
    deepvis_topk::write_atomic(&json, text.as_bytes())?;
    Ok(json)
}

/// The largest sidecar read (a run with a few thousand changes fits many times over).
pub const MAX_SIDECAR_BYTES: u64 = 64 << 20;

/// Reads a sidecar (and the start images it names, from beside it).
pub fn read(json: &Path) -> Result<Sidecar> {
    let path = || json.to_path_buf();
    let read = |source| EngineError::Read {
        path: path(),
        source,
    };
    let len = std::fs::metadata(json).map_err(read)?.len();
    if len > MAX_SIDECAR_BYTES {
        return Err(EngineError::TooLarge { path: path(), len });
    }
    // a regular file only, read within the limit (a named pipe would block)
    let bytes = deepvis_model::fsguard::read_regular(json, MAX_SIDECAR_BYTES).map_err(read)?;
    let mut sidecar: Sidecar =
        serde_json::from_slice(&bytes).map_err(|source| EngineError::Sidecar {
            path: path(),
            source,
        })?;
    let dir = json.parent().unwrap_or(Path::new(""));
    for run in &mut sidecar.runs {
        for init in run.recipe.inits_mut() {
            if let Init::Image { chw, label } = init {
                let t = deepvis_model::tensor_file::read_input_tensor(&dir.join(&*label), None)
                    .map_err(|source| EngineError::StartImage {
                        path: path(),
                        label: label.clone(),
                        source: Box::new(source),
                    })?;
                *chw = t.data;
            }
        }
    }
    if sidecar.runs.is_empty() {
        return Err(EngineError::NoRuns(path()));
    }
    Ok(sidecar)
}

/// Replays the sidecar's runs on `opt` (a run alone when it had changes, else all in one
/// batch as `optimize --all-presets` ran them). Returns the runs' ids.
pub fn replay(sidecar: &Sidecar, opt: &mut Optimizer) -> Result<Vec<usize>> {
    let plain = sidecar.runs.iter().all(|r| r.recipe.changes.is_empty());
    if sidecar.runs.len() == 1 || !plain {
        if sidecar.runs.len() > 1 {
            return Err(EngineError::ReplayMany);
        }
        let id = sidecar.runs[0].recipe.replay(opt)?;
        return Ok(vec![id]);
    }
    // the batch: every run until it stops or reaches its count (as it ran)
    let mut ids = Vec::new();
    for r in &sidecar.runs {
        ids.push(opt.add_run(deepvis_optim::RunConfig {
            objective: r.recipe.objective.clone(),
            params: r.recipe.params,
            init: r.recipe.init.clone(),
            method: r.recipe.method,
            images: r.recipe.images,
        })?);
    }
    loop {
        let mut behind = false;
        for (id, r) in ids.iter().zip(&sidecar.runs) {
            let st = opt.status(*id)?;
            behind |= st.stop.is_none() && st.iterations < r.recipe.iterations;
        }
        if !behind {
            break;
        }
        opt.step(1)?;
    }
    Ok(ids)
}
