//! Preferred images with their sidecar: the PNG, `NAME.json` beside it (everything that made
//! it, [`Sidecar`]) and `NAME.startK.safetensors` for start images that are pictures; read
//! back, the sidecar replays the runs to the very same image (`deepvis optimize --from`).

use std::path::{Path, PathBuf};

use deepvis_model::ModelInfo;
use deepvis_optim::recipe::Which;
use deepvis_optim::{Init, Optimizer, ParamKind, Sidecar};
use image::{RgbImage, RgbaImage};

use crate::error::{EngineError, Result};

/// The side of a square `3 x side x side` picture (the network's input, or a canvas).
pub fn side(chw: &[f32]) -> usize {
    ((chw.len() / 3) as f64).sqrt().round() as usize
}

/// How a run's image is drawn: the paper's pixels scaled about zero (as the toolbox showed
/// its preferred images: the network's input is unbounded there), the spectral
/// parameterizations' as the very pixels the network sees (their sigmoid keeps them valid;
/// scaled about zero, the ImageNet mean would turn every one of them grey-purple).
pub fn look(chw: &[f32], info: &ModelInfo, param: ParamKind) -> Result<RgbImage> {
    let s = side(chw);
    let img = match param {
        ParamKind::Pixel => deepvis_viz::scaled_about_zero(chw, s, s, info.norm().order),
        ParamKind::Fourier | ParamKind::Maco => info.norm().to_image(chw, s, s),
    };
    img.ok_or(EngineError::WrongSize("the image"))
}

/// A run's image drawn by [`look`], enlarged `scale` times (at most 16).
pub fn render(chw: &[f32], info: &ModelInfo, scale: u32, param: ParamKind) -> Result<RgbImage> {
    let img = look(chw, info, param)?;
    let s = img.width() as usize;
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
    Ok(layout(images, [255, 255, 255]))
}

/// Tiles laid out as [`picture`] lays them.
fn layout(mut images: Vec<RgbImage>, background: [u8; 3]) -> RgbImage {
    match images.len() {
        1 => images.remove(0),
        2 | 4 => deepvis_viz::montage(&images, 2, 4, background),
        _ => deepvis_viz::montage(&images, 4, 4, background),
    }
}

/// A transparency map (the accumulated absolute gradient of each pixel) as opacities: 255
/// at its 99th percentile and above, in proportion below.
pub fn opacity(map: &[f32]) -> Vec<u8> {
    let mut finite: Vec<f32> = map.iter().copied().filter(|v| v.is_finite()).collect();
    let at = (finite.len() * 99 / 100).min(finite.len().saturating_sub(1));
    let top = match finite.is_empty() {
        true => 0.0,
        false => *finite.select_nth_unstable_by(at, f32::total_cmp).1,
    };
    map.iter()
        .map(|&v| match top > 0.0 && v.is_finite() {
            true => (v / top * 255.0).clamp(0.0, 255.0).round() as u8,
            false => 0,
        })
        .collect()
}

/// `img` seen through its opacities (`alpha`, one per pixel, row-major) over a grey
/// checkerboard of 8-pixel squares: what the transparency map keeps.
pub fn see_through(img: &RgbImage, alpha: &[u8]) -> RgbImage {
    let w = img.width();
    let mut out = img.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w.max(1));
        let back = if (x / 8 + y / 8) % 2 == 0 {
            200.0
        } else {
            150.0
        };
        let a = alpha.get(i).copied().unwrap_or(0) as f32 / 255.0;
        p.0 = p.0.map(|v| (v as f32 * a + back * (1.0 - a)).round() as u8);
    }
    out
}

/// The transparency picture of runs `ids`, laid out as [`picture`]: each image with its
/// transparency map as its alpha channel (enlarged `scale` times); None before a first step.
pub fn transparency(
    opt: &Optimizer,
    ids: &[usize],
    which: Which,
    scale: u32,
) -> Result<Option<RgbaImage>> {
    let picture = picture(opt, ids, which, scale)?;
    let mut tiles = Vec::new();
    for &id in ids {
        let Some(maps) = opt.transparency(id)? else {
            return Ok(None);
        };
        let side = opt.picture_side(id)? as u32;
        for map in maps {
            let grey: Vec<u8> = opacity(&map).into_iter().flat_map(|a| [a, a, a]).collect();
            let tile = RgbImage::from_raw(side, side, grey)
                .ok_or(EngineError::WrongSize("the transparency map"))?;
            let k = scale.clamp(1, 16);
            tiles.push(match k {
                1 => tile,
                _ => image::imageops::resize(
                    &tile,
                    side * k,
                    side * k,
                    image::imageops::FilterType::Nearest,
                ),
            });
        }
    }
    let alpha = layout(tiles, [0, 0, 0]);
    if alpha.dimensions() != picture.dimensions() {
        return Err(EngineError::WrongSize("the transparency map"));
    }
    let mut out = RgbaImage::new(picture.width(), picture.height());
    for ((o, p), a) in out.pixels_mut().zip(picture.pixels()).zip(alpha.pixels()) {
        o.0 = [p.0[0], p.0[1], p.0[2], a.0[0]];
    }
    Ok(Some(out))
}

/// The transparency picture's name beside a picture: `NAME.transparency.png`.
pub fn transparency_path(png: &Path) -> PathBuf {
    let stem = png.file_stem().map(|s| s.to_string_lossy().into_owned());
    png.with_file_name(format!("{}.transparency.png", stem.unwrap_or_default()))
}

/// Writes the transparency picture of runs `ids` beside `png` (whole or not at all), if
/// they have stepped; returns its path.
pub fn write_transparency(
    png: &Path,
    opt: &Optimizer,
    ids: &[usize],
    which: Which,
    scale: u32,
) -> Result<Option<PathBuf>> {
    let Some(img) = transparency(opt, ids, which, scale)? else {
        return Ok(None);
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)?;
    let path = transparency_path(png);
    deepvis_topk::write_atomic(&path, &bytes.into_inner())?;
    Ok(Some(path))
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
