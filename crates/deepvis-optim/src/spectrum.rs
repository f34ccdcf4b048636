//! The magnitude spectrum of natural images that MACO holds fixed: measured from photos (in the
//! decorrelated colour basis that the Fourier parameterizations use, before their sigmoid),
//! shipped as `assets/maco-magnitude.bin`, and resampled to any input size.
//!
//! The file: the 8 bytes `DVMAG1\0\0`, the plane's height and width (u32 little-endian), then
//! `3 * h * (w / 2 + 1)` f32 little-endian magnitudes, channel-major then row-major.

use image::RgbImage;
use image::imageops::FilterType;

use crate::error::{OptimError, Result};
use crate::fft::{columns, rfft2};
use crate::param::decorrelated_logits;

/// The shipped spectrum: [`natural_planes`] of the four photos of `../shared/images`, measured
/// at 227 x 227 (`examples/maco_spectrum.rs` writes it; a test measures it again).
pub const SHIPPED: &[u8] = include_bytes!("../../../assets/maco-magnitude.bin");

const MAGIC: &[u8; 8] = b"DVMAG1\0\0";

/// A magnitude spectrum: 3 channels of `h x (w / 2 + 1)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Magnitude {
    /// Plane height.
    pub h: usize,
    /// Plane width.
    pub w: usize,
    /// `3 * h * k` magnitudes.
    pub values: Vec<f32>,
}

impl Magnitude {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(self.h as u32).to_le_bytes());
        out.extend_from_slice(&(self.w as u32).to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Magnitude> {
        let bad = |m: &str| OptimError::BadParam(format!("magnitude spectrum file: {m}"));
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad("it does not start with DVMAG1"));
        }
        let u = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[i..i + 4]);
            u32::from_le_bytes(b) as usize
        };
        let (h, w) = (u(8), u(12));
        let n = 3 * h * columns(w);
        if h == 0 || w == 0 || bytes.len() != 16 + 4 * n {
            return Err(bad(&format!(
                "{} bytes for a {h} x {w} spectrum (expected {})",
                bytes.len(),
                16 + 4 * n
            )));
        }
        let values: Vec<f32> = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(bad("it holds a negative or non-finite magnitude"));
        }
        Ok(Magnitude { h, w, values })
    }

    /// The shipped spectrum.
    pub fn shipped() -> Result<Magnitude> {
        Magnitude::decode(SHIPPED)
    }

    /// The mean magnitude of `planes` (each `3 x h x w`, already in the basis to measure).
    pub fn measure(planes: &[Vec<f32>], h: usize, w: usize) -> Result<Magnitude> {
        let k = columns(w);
        let mut acc = vec![0f64; 3 * h * k];
        for p in planes {
            if p.len() != 3 * h * w {
                return Err(OptimError::BadParam(format!(
                    "a plane of {} values is not 3 x {h} x {w}",
                    p.len()
                )));
            }
            for c in 0..3 {
                let s = rfft2(&p[c * h * w..(c + 1) * h * w], h, w);
                for (i, (re, im)) in s.re.iter().zip(&s.im).enumerate() {
                    acc[c * h * k + i] += (re * re + im * im).sqrt();
                }
            }
        }
        let n = planes.len().max(1) as f64;
        Ok(Magnitude {
            h,
            w,
            values: acc.into_iter().map(|v| (v / n) as f32).collect(),
        })
    }

    /// The spectrum for `h x w` planes: bilinear in frequency (cycles per pixel; rows wrap
    /// around) from this one, then made symmetric where a real plane's spectrum is (the
    /// constant column and, for an even width, the Nyquist column: row `j` equals row `h - j`).
    pub fn resample(&self, h: usize, w: usize) -> Vec<f32> {
        let (k, sk) = (columns(w), columns(self.w));
        let signed = |j: usize, n: usize| {
            if (j as f64) < (n as f64 / 2.0).ceil() {
                j as f64
            } else {
                j as f64 - n as f64
            }
        };
        let mut out = vec![0f32; 3 * h * k];
        for c in 0..3 {
            let src = &self.values[c * self.h * sk..(c + 1) * self.h * sk];
            for j in 0..h {
                // the source row of the same frequency, fractional, wrapped
                let fy = signed(j, h) / h as f64 * self.h as f64;
                let y0 = fy.floor();
                let ty = fy - y0;
                let row = |d: f64| ((y0 + d) as i64).rem_euclid(self.h as i64) as usize;
                for q in 0..k {
                    let fx = (q as f64 / w as f64 * self.w as f64).min((sk - 1) as f64);
                    let x0 = fx.floor() as usize;
                    let x1 = (x0 + 1).min(sk - 1);
                    let tx = fx - x0 as f64;
                    let at = |r: usize, x: usize| src[r * sk + x] as f64;
                    let (r0, r1) = (row(0.0), row(1.0));
                    let v = (1.0 - ty) * ((1.0 - tx) * at(r0, x0) + tx * at(r0, x1))
                        + ty * ((1.0 - tx) * at(r1, x0) + tx * at(r1, x1));
                    out[(c * h + j) * k + q] = v as f32;
                }
            }
            for q in hermitian_columns(w) {
                for j in 1..h {
                    let (a, b) = ((c * h + j) * k + q, (c * h + (h - j)) * k + q);
                    if a < b {
                        let m = 0.5 * (out[a] + out[b]);
                        out[a] = m;
                        out[b] = m;
                    }
                }
            }
        }
        out
    }
}

/// The columns of a real plane's half spectrum that hold their own mirror images (row `j` is
/// the conjugate of row `h - j`): the constant column, and the Nyquist column of an even width.
pub fn hermitian_columns(w: usize) -> Vec<usize> {
    if w.is_multiple_of(2) && w > 1 {
        vec![0, w / 2]
    } else {
        vec![0]
    }
}

/// The planes a photo gives to the measurement: crops of 4 sizes (the whole short side, 3/4,
/// 1/2, 3/8) at 3 places along the diagonal, each also mirrored, resized to `size` x `size`,
/// in the decorrelated basis ([`decorrelated_logits`]).
pub fn natural_planes(img: &RgbImage, size: u32) -> Vec<Vec<f32>> {
    let (w, h) = img.dimensions();
    let short = w.min(h);
    let plane = (size * size) as usize;
    let mut out = Vec::new();
    for frac in [1.0, 0.75, 0.5, 0.375] {
        let side = ((short as f64 * frac) as u32).max(1);
        for place in [0.0, 0.5, 1.0] {
            let x = ((w - side) as f64 * place) as u32;
            let y = ((h - side) as f64 * (1.0 - place)) as u32;
            let crop = image::imageops::crop_imm(img, x, y, side, side).to_image();
            let small = image::imageops::resize(&crop, size, size, FilterType::Triangle);
            for flip in [false, true] {
                let im = if flip {
                    image::imageops::flip_horizontal(&small)
                } else {
                    small.clone()
                };
                let mut rgb = vec![0f32; 3 * plane];
                for (i, p) in im.pixels().enumerate() {
                    for c in 0..3 {
                        rgb[c * plane + i] = p.0[c] as f32 / 255.0;
                    }
                }
                out.push(decorrelated_logits(&rgb, plane));
            }
        }
    }
    out
}

/// The share of a picture's power above `cutoff` cycles per pixel (0.25: half the Nyquist
/// frequency) in its grey plane, its mean taken out: how much of it is fine detail and noise.
/// 0 for a flat picture.
pub fn high_frequency_share(img: &RgbImage, cutoff: f64) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return 0.0;
    }
    let grey: Vec<f32> = img
        .pixels()
        .map(|p| (p.0[0] as f32 + p.0[1] as f32 + p.0[2] as f32) / (3.0 * 255.0))
        .collect();
    let mean = grey.iter().sum::<f32>() / grey.len() as f32;
    let plane: Vec<f32> = grey.iter().map(|v| v - mean).collect();
    let s = rfft2(&plane, h, w);
    let f = crate::fft::freqs(h, w);
    let k = columns(w);
    let (mut high, mut all) = (0.0, 0.0);
    for (i, fi) in f.iter().enumerate() {
        let q = i % k;
        // a column other than the constant and the Nyquist one stands for its mirror too
        let weight = if q == 0 || (w % 2 == 0 && q == w / 2) {
            1.0
        } else {
            2.0
        };
        if *fi == 0.0 {
            // the mean, taken out
            continue;
        }
        let p = weight * (s.re[i] * s.re[i] + s.im[i] * s.im[i]);
        all += p;
        if *fi > cutoff {
            high += p;
        }
    }
    // a flat picture leaves only rounding
    if all > 1e-12 { high / all } else { 0.0 }
}
