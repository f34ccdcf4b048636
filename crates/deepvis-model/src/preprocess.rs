//! Turning photos into network inputs, per model, and back into pictures.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};

/// Largest width or height of an image deepvis will decode.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest allocation an image decoder may make.
pub const MAX_IMAGE_BYTES: u64 = 512 << 20;
/// Most pixels of an image deepvis will decode: as 8-bit RGB they fit [`MAX_IMAGE_BYTES`].
pub const MAX_IMAGE_PIXELS: u64 = MAX_IMAGE_BYTES / 3;

/// How an architecture wants its input normalized. Channel `i` of the tensor holds
/// `(pixel[order[i]] * scale - mean[i]) / std[i]`, where `pixel` is RGB in 0..255.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization {
    /// Which RGB channel feeds each tensor channel (`[2, 1, 0]` for BGR).
    pub order: [usize; 3],
    /// Multiplier applied to 0..255 values first.
    pub scale: f32,
    /// Subtracted per tensor channel after scaling.
    pub mean: [f32; 3],
    /// Divides per tensor channel after the mean.
    pub std: [f32; 3],
}

impl Normalization {
    /// The RGB pixels of a CHW vector in the network's input space: the inverse of
    /// [`Normalization::apply`], clamped to 0..255 (None when `chw` is not `3 x h x w`).
    pub fn to_image(&self, chw: &[f32], h: usize, w: usize) -> Option<RgbImage> {
        let plane = h * w;
        if chw.len() != 3 * plane || self.scale == 0.0 {
            return None;
        }
        let mut img = RgbImage::new(w as u32, h as u32);
        for (i, p) in img.pixels_mut().enumerate() {
            for c in 0..3 {
                let v = chw[c * plane + i];
                let v = if v.is_finite() { v } else { 0.0 };
                let px = (v * self.std[c] + self.mean[c]) / self.scale;
                p.0[self.order[c]] = px.round().clamp(0.0, 255.0) as u8;
            }
        }
        Some(img)
    }

    /// Normalizes an RGB image into a CHW vector.
    pub fn apply(&self, img: &RgbImage) -> Vec<f32> {
        let (w, h) = img.dimensions();
        let plane = (w * h) as usize;
        let mut out = vec![0f32; 3 * plane];
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                let v = p.0[self.order[c]] as f32 * self.scale;
                out[c * plane + i] = (v - self.mean[c]) / self.std[c];
            }
        }
        out
    }

    /// The inverse of [`Normalization::apply`]: a CHW vector back to an RGB image, clamped.
    pub fn invert(&self, chw: &[f32], width: u32, height: u32) -> Result<RgbImage> {
        let plane = (width * height) as usize;
        if chw.len() != 3 * plane {
            return Err(Error::BadInput(format!(
                "{} values cannot be a 3x{height}x{width} image",
                chw.len()
            )));
        }
        let mut img = RgbImage::new(width, height);
        for (i, p) in img.pixels_mut().enumerate() {
            for c in 0..3 {
                let v = (chw[c * plane + i] * self.std[c] + self.mean[c]) / self.scale;
                p.0[self.order[c]] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        Ok(img)
    }
}

/// An image made ready for a network.
#[derive(Clone, Debug)]
pub struct Preprocessed {
    /// The normalized input, CHW, `3 x size x size`.
    pub chw: Vec<f32>,
    /// The side of the square input.
    pub size: usize,
    /// The centre crop the network sees, as RGB.
    pub crop: RgbImage,
}

impl Preprocessed {
    /// The tensor shape `[1, 3, size, size]`.
    pub fn dims(&self) -> [usize; 4] {
        [1, 3, self.size, self.size]
    }
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_IMAGE_SIDE);
    l.max_image_height = Some(MAX_IMAGE_SIDE);
    l.max_alloc = Some(MAX_IMAGE_BYTES);
    l
}

fn decode<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<DynamicImage> {
    let err = |reason: String| Error::Image {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = reader
        .with_guessed_format()
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(err(
            "not an image in a format deepvis reads (PNG, JPEG, BMP, GIF, WebP, TIFF)".into(),
        ));
    }
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    // the decoder's limit bounds its own buffer; the RGB copy every use makes must fit too
    let (w, h) = decoder.dimensions();
    if w as u64 * h as u64 > MAX_IMAGE_PIXELS {
        return Err(err(format!(
            "{w} x {h} pixels are more than the limit of {MAX_IMAGE_PIXELS} pixels \
             ({MAX_IMAGE_BYTES} bytes as RGB)"
        )));
    }
    let orientation = decoder.orientation().map_err(|e| err(e.to_string()))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(err("the image is empty".into()));
    }
    Ok(img)
}

/// Largest image file deepvis reads.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// Decodes an image file, refusing images larger than [`MAX_IMAGE_SIDE`] before allocating,
/// and applying its EXIF orientation.
pub fn load_image(path: &Path) -> Result<DynamicImage> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_IMAGE_FILE_BYTES {
        return Err(Error::Image {
            path: path.to_path_buf(),
            reason: format!(
                "the file has {len} bytes, more than the limit of {MAX_IMAGE_FILE_BYTES}"
            ),
        });
    }
    // only a regular file, opened without blocking (a pipe or /dev/zero named a.jpg is refused)
    let bytes = crate::fsguard::read_regular(path, MAX_IMAGE_FILE_BYTES).map_err(io)?;
    decode_image(&bytes, path)
}

/// Whether JPEG data ends properly: an end-of-image marker after the last start-of-scan. The
/// JPEG decoder silently fills a truncated scan with grey; deepvis refuses such files.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| {
        bytes
            .windows(2)
            .rposition(|w| w[0] == 0xff && w[1] == marker)
    };
    match (last(0xda), last(0xd9)) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

/// Decodes an image held in memory (`name` is used in messages). A JPEG is decoded by
/// libjpeg-turbo with the settings Pillow and torchvision use (the accurate integer IDCT,
/// fancy upsampling), so its pixels are theirs to the bit; a JPEG libjpeg-turbo does not take
/// (CMYK, or one it fails on) goes to the image crate's decoder, as other formats do.
pub fn decode_image(bytes: &[u8], name: &Path) -> Result<DynamicImage> {
    if bytes.starts_with(&[0xff, 0xd8]) {
        if !jpeg_is_complete(bytes) {
            return Err(Error::Image {
                path: name.to_path_buf(),
                reason: "truncated JPEG: the data ends before the end-of-image marker".into(),
            });
        }
        if let Some(img) = decode_jpeg(bytes, name)? {
            return Ok(img);
        }
    }
    decode(ImageReader::new(Cursor::new(bytes)), name)
}

/// A JPEG decoded by libjpeg-turbo to RGB (Pillow's settings: the accurate integer IDCT, fancy
/// upsampling, warnings ignored), its EXIF orientation applied; `None` where libjpeg-turbo
/// does not take it (CMYK, or an error: the caller decodes it otherwise). Its size is checked
/// against the limits before the pixels are allocated.
fn decode_jpeg(bytes: &[u8], name: &Path) -> Result<Option<DynamicImage>> {
    use mozjpeg::{ColorSpace, DctMethod, Decompress};
    /// What libjpeg-turbo made of the data.
    enum Jpeg {
        Pixels(usize, usize, Vec<u8>),
        TooLarge(usize, usize),
        Declined,
    }
    // libjpeg reports a fatal error by unwinding out of its callback (the mozjpeg crate's
    // error manager): caught here, it sends the file to the other decoder
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<Jpeg> {
        let mut d = Decompress::new_mem(bytes)?;
        if matches!(d.color_space(), ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK) {
            return Ok(Jpeg::Declined);
        }
        let (w, h) = d.size();
        let side = MAX_IMAGE_SIDE as usize;
        if w == 0 || h == 0 || w > side || h > side || (w as u64 * h as u64) > MAX_IMAGE_PIXELS {
            return Ok(Jpeg::TooLarge(w, h));
        }
        d.dct_method(DctMethod::IntegerSlow);
        d.do_fancy_upsampling(true);
        let mut started = d.rgb()?;
        let pixels: Vec<u8> = started.read_scanlines()?;
        started.finish()?;
        Ok(Jpeg::Pixels(w, h, pixels))
    });
    let (w, h, pixels) = match decoded {
        Ok(Ok(Jpeg::Pixels(w, h, p))) => (w, h, p),
        Ok(Ok(Jpeg::TooLarge(w, h))) => {
            return Err(Error::Image {
                path: name.to_path_buf(),
                reason: format!(
                    "{w} x {h} pixels: outside the limits of {MAX_IMAGE_SIDE} pixels a side and \
                     {MAX_IMAGE_PIXELS} pixels"
                ),
            });
        }
        Ok(Ok(Jpeg::Declined) | Err(_)) | Err(_) => return Ok(None),
    };
    let Some(rgb) = RgbImage::from_raw(w as u32, h as u32, pixels) else {
        return Ok(None);
    };
    let mut img = DynamicImage::ImageRgb8(rgb);
    let orientation =
        image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes)).and_then(|mut j| j.orientation());
    if let Ok(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(Some(img))
}

/// The longest side [`resize_and_crop`] resizes to: an image of an extreme aspect ratio (a
/// 16384 x 1 strip would become 4 million pixels wide) has the centre of its long side cut out
/// first, since only the centre is kept.
pub const MAX_RESIZED_SIDE: u32 = 4096;

/// The largest input side a network is fed at (a model declaring a 10000x10000 input, or a
/// sidecar's `size`, is refused above it): 4096 x 4096 x 3 float32 is 200 MB for the input
/// alone.
pub const MAX_INPUT_SIDE: usize = MAX_RESIZED_SIDE as usize;

/// What [`resize_and_crop`] does to a `w x h` image: the part of it that is resized
/// (`[x0, y0, width, height]`: all of it, or the centre of the long side of an extreme strip)
/// and the size it is resized to, before the centre `crop x crop` square is cut out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizePlan {
    /// The source pixels resized, `[x0, y0, width, height]`.
    pub source: [u32; 4],
    /// The resized size `[width, height]` (its short side `short`, its long side at most
    /// [`MAX_RESIZED_SIDE`] unless the crop needs more).
    pub resized: [u32; 2],
}

impl ResizePlan {
    /// The plan for a `w x h` image, its short side resized to `short`, then cropped to `crop`.
    pub fn new([w, h]: [u32; 2], short: u32, crop: u32) -> ResizePlan {
        let s = w.min(h).max(1) as f64;
        let scale = short as f64 / s;
        // only the centre of the long side is seen: keep the source pixels that resize to
        // MAX_RESIZED_SIDE (far more than the crop and the filter's reach), cut out the rest
        let keep = (MAX_RESIZED_SIDE as f64 / scale).ceil() as u32;
        let source = if w.max(h) > keep && (w.max(h) as f64 * scale) > MAX_RESIZED_SIDE as f64 {
            if w > h {
                [(w - keep) / 2, 0, keep, h]
            } else {
                [0, (h - keep) / 2, w, keep]
            }
        } else {
            [0, 0, w, h]
        };
        let [_, _, w, h] = source;
        // The long side is truncated, as PIL-based pipelines (and the reference inputs) do.
        let resized = [
            ((w as f64 * scale) as u32).max(crop),
            ((h as f64 * scale) as u32).max(crop),
        ];
        ResizePlan { source, resized }
    }
}

/// Resizes the short side to `short` (bilinear) and crops the centre `crop x crop` square.
pub fn resize_and_crop(img: &DynamicImage, short: u32, crop: u32) -> RgbImage {
    let mut rgb = img.to_rgb8();
    let plan = ResizePlan::new([rgb.width(), rgb.height()], short, crop);
    let [x0, y0, kw, kh] = plan.source;
    if [kw, kh] != [rgb.width(), rgb.height()] {
        rgb = image::imageops::crop_imm(&rgb, x0, y0, kw, kh).to_image();
    }
    let [nw, nh] = plan.resized;
    let resized = resize_bilinear(&rgb, nw, nh);
    let x0 = (nw - crop) / 2;
    let y0 = (nh - crop) / 2;
    image::imageops::crop_imm(&resized, x0, y0, crop, crop).to_image()
}

/// Fixed-point precision of [`resize_bilinear`]'s weights (Pillow's for 8-bit images).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// One output pixel's source range and fixed-point weights along one axis.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// The weights of an antialiased bilinear (triangle) filter from `inp` to `out` samples along
/// one axis, as Pillow computes them: the filter widened by the downscale factor, centred on
/// each output pixel, normalized, then rounded to [`PRECISION_BITS`] fixed point.
fn bilinear_taps(inp: usize, out: usize) -> Vec<Taps> {
    let scale = inp as f64 / out.max(1) as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale;
    (0..out)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64)
                .min(inp as i64)
                .max(lo as i64) as usize;
            let raw: Vec<f64> = (lo..hi)
                .map(|x| {
                    let t = ((x as f64 - center + 0.5) / filterscale).abs();
                    if t < 1.0 { 1.0 - t } else { 0.0 }
                })
                .collect();
            let sum: f64 = raw.iter().sum();
            let one = (1u64 << PRECISION_BITS) as f64;
            let weights = raw
                .iter()
                .map(|w| {
                    let w = if sum != 0.0 { w / sum } else { *w };
                    if w < 0.0 {
                        (-0.5 + w * one) as i32
                    } else {
                        (0.5 + w * one) as i32
                    }
                })
                .collect();
            Taps { start: lo, weights }
        })
        .collect()
}

/// One fixed-point sum rounded and clamped to a byte.
fn to_byte(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an RGB image with Pillow's `resize(BILINEAR)` arithmetic (as torchvision's
/// `Resize` on a PIL image does, which is how the reference inputs were made): an antialiased
/// triangle filter in fixed point, rows first into 8-bit, then columns.
pub fn resize_bilinear(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = (nw.max(1) as usize, nh.max(1) as usize);
    let src = img.as_raw();
    let half = 1i64 << (PRECISION_BITS - 1);
    // rows: w -> nw
    let mut mid = vec![0u8; nw * h * 3];
    let cols = bilinear_taps(w, nw);
    for y in 0..h {
        let row = &src[y * w * 3..(y + 1) * w * 3];
        for (x, t) in cols.iter().enumerate() {
            for c in 0..3 {
                let acc = t.weights.iter().enumerate().fold(half, |a, (k, &wt)| {
                    a + row[(t.start + k) * 3 + c] as i64 * wt as i64
                });
                mid[(y * nw + x) * 3 + c] = to_byte(acc);
            }
        }
    }
    // columns: h -> nh
    let mut out = vec![0u8; nw * nh * 3];
    let rows = bilinear_taps(h, nh);
    for (y, t) in rows.iter().enumerate() {
        for x in 0..nw {
            for c in 0..3 {
                let acc = t.weights.iter().enumerate().fold(half, |a, (k, &wt)| {
                    a + mid[((t.start + k) * nw + x) * 3 + c] as i64 * wt as i64
                });
                out[(y * nw + x) * 3 + c] = to_byte(acc);
            }
        }
    }
    RgbImage::from_raw(nw as u32, nh as u32, out).unwrap_or_else(|| RgbImage::new(1, 1))
}

/// How a network wants a photo: the short side resized to `resize` (bilinear), the centre
/// `size x size` square cropped, then normalized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputSpec {
    /// The side of the square input.
    pub size: usize,
    /// The short side after resizing, before the crop (at least `size`).
    pub resize: u32,
    /// The normalization.
    pub norm: Normalization,
}

impl InputSpec {
    /// Preprocesses a decoded image. Grayscale and RGBA images become RGB.
    pub fn apply(&self, img: &DynamicImage) -> Preprocessed {
        let crop = resize_and_crop(img, self.resize.max(self.size as u32), self.size as u32);
        Preprocessed {
            chw: self.norm.apply(&crop),
            size: self.size,
            crop,
        }
    }
}

/// Preprocesses a decoded image as `spec` says. Grayscale and RGBA images become RGB.
pub fn preprocess(img: &DynamicImage, spec: &InputSpec) -> Preprocessed {
    spec.apply(img)
}

/// Loads and preprocesses an image file as `spec` says.
pub fn preprocess_file(path: &Path, spec: &InputSpec) -> Result<Preprocessed> {
    Ok(spec.apply(&load_image(path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_image_undoes_apply_for_caffe_and_torchvision_inputs() {
        let img = RgbImage::from_fn(5, 4, |x, y| {
            image::Rgb([(x * 50) as u8, (y * 60) as u8, ((x + y) * 20) as u8])
        });
        let caffe = Normalization {
            order: [2, 1, 0],
            scale: 1.0,
            mean: [104.0, 117.0, 123.0],
            std: [1.0, 1.0, 1.0],
        };
        let torch = Normalization {
            order: [0, 1, 2],
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        };
        for n in [caffe, torch] {
            let chw = n.apply(&img);
            assert_eq!(n.to_image(&chw, 4, 5), Some(img.clone()));
            assert_eq!(n.to_image(&chw[1..], 4, 5), None);
        }
    }
}
