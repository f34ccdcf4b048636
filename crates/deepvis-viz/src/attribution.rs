//! Drawing attribution maps with colour maps, resizing them, and comparing them (Spearman, SSIM).

use image::{Rgb, RgbImage};

use crate::{BackFilter, NORM_BLUR_SIGMA, back_image, blur_plane};

/// A non-finite value read as 0.
fn clean(v: f32) -> f32 {
    if v.is_finite() { v } else { 0.0 }
}

/// `h * w` when both are non-zero, fit an image side (`u32`) and the product does not overflow.
fn plane_len(h: usize, w: usize) -> Option<usize> {
    if h == 0 || w == 0 || u32::try_from(h).is_err() || u32::try_from(w).is_err() {
        return None;
    }
    h.checked_mul(w)
}

/// How a scalar in `[0, 1]` is turned into a colour.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum ColorMap {
    /// Black (0) to white (1).
    #[default]
    Gray,
    /// Blue (0) through white (0.5) to red (1), as matplotlib's `RdBu_r`.
    Diverging,
    /// Perceptually uniform dark-to-bright (black, purple, orange, pale yellow), as
    /// matplotlib's `inferno`.
    Sequential,
}

/// `RdBu_r` (ColorBrewer RdBu, 11 classes, reversed) with its centre made pure white.
const DIVERGING: [[u8; 3]; 11] = [
    [5, 48, 97],
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [209, 229, 240],
    [255, 255, 255],
    [253, 219, 199],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
    [103, 0, 31],
];

/// `inferno` sampled at 11 evenly spaced points.
const SEQUENTIAL: [[u8; 3]; 11] = [
    [0, 0, 4],
    [22, 11, 57],
    [66, 10, 104],
    [106, 23, 110],
    [147, 38, 103],
    [188, 55, 84],
    [221, 81, 58],
    [243, 120, 25],
    [252, 165, 10],
    [246, 215, 70],
    [252, 255, 164],
];

/// Linear interpolation in a table of evenly spaced control points, `t` in `[0, 1]`.
fn interpolate(table: &[[u8; 3]], t: f32) -> [u8; 3] {
    let n = table.len();
    if n == 0 {
        return [0; 3];
    }
    if n == 1 {
        return table[0];
    }
    let x = t.clamp(0.0, 1.0) * (n - 1) as f32;
    let i = (x.floor() as usize).min(n - 2);
    let f = x - i as f32;
    let (a, b) = (table[i], table[i + 1]);
    let mut out = [0u8; 3];
    for c in 0..3 {
        let v = a[c] as f32 + (b[c] as f32 - a[c] as f32) * f;
        out[c] = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}

impl ColorMap {
    /// Every colour map, in cycling order.
    pub const ALL: [ColorMap; 3] = [ColorMap::Gray, ColorMap::Diverging, ColorMap::Sequential];

    /// `gray`, `diverging` or `sequential`.
    pub fn as_str(self) -> &'static str {
        match self {
            ColorMap::Gray => "gray",
            ColorMap::Diverging => "diverging",
            ColorMap::Sequential => "sequential",
        }
    }

    /// Parses a colour map name (case-insensitive).
    pub fn from_name(s: &str) -> Option<ColorMap> {
        ColorMap::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// The colour of `t`, clamped to `[0, 1]`; NaN reads as 0.5 for [`ColorMap::Diverging`]
    /// (white) and 0 otherwise.
    pub fn color(self, t: f32) -> [u8; 3] {
        let t = if t.is_nan() {
            match self {
                ColorMap::Diverging => 0.5,
                _ => 0.0,
            }
        } else {
            t.clamp(0.0, 1.0)
        };
        match self {
            ColorMap::Gray => {
                let g = (t * 255.0).round().clamp(0.0, 255.0) as u8;
                [g, g, g]
            }
            ColorMap::Diverging => interpolate(&DIVERGING, t),
            ColorMap::Sequential => interpolate(&SEQUENTIAL, t),
        }
    }
}

/// Colours a `h x w` plane, mapping each value to `t` in `[0, 1]` with `to_t`.
fn colour_plane(
    plane: &[f32],
    h: usize,
    w: usize,
    cmap: ColorMap,
    to_t: impl Fn(f32) -> f32,
) -> RgbImage {
    let mut img = RgbImage::new(w as u32, h as u32);
    for (p, &v) in img.pixels_mut().zip(plane) {
        *p = Rgb(cmap.color(to_t(clean(v))));
    }
    img
}

/// The share of values a map's scale covers: the rest (a few outliers, as deconvolution
/// makes) saturate instead of washing out the whole picture.
pub const DISPLAY_PERCENTILE: f32 = 99.5;

/// The nearest-rank [`DISPLAY_PERCENTILE`] of the finite values of `it` (0 when none); the
/// largest value for fewer than 200 values.
fn high_percentile(it: impl Iterator<Item = f32>) -> f32 {
    let mut v: Vec<f32> = it.filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    let k = ((DISPLAY_PERCENTILE / 100.0 * v.len() as f32).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, x, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    *x
}

/// The map from a value to `t` for a signed plane: `0.5 + 0.5 v / m` (0 at 0.5), where `m`
/// is the high percentile of `|v|`.
fn signed_t(plane: &[f32]) -> impl Fn(f32) -> f32 {
    let m = high_percentile(plane.iter().map(|v| v.abs()));
    let s = if m > 0.0 { 0.5 / m } else { 0.0 };
    move |v| 0.5 + v * s
}

/// The map from a value to `t` for an unsigned plane: the minimum to 0, the high percentile
/// to 1 (non-finite values count as 0 in the range; a constant plane maps to 0).
fn unsigned_t(plane: &[f32]) -> impl Fn(f32) -> f32 {
    let lo = plane
        .iter()
        .map(|&v| clean(v))
        .fold(f32::INFINITY, f32::min);
    let hi = high_percentile(plane.iter().map(|&v| clean(v)));
    let s = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
    move |v| if s > 0.0 { (v - lo) * s } else { 0.0 }
}

/// Draws a `h x w` plane with `cmap`. A `signed` plane is scaled by the
/// [`DISPLAY_PERCENTILE`] of `|v|` (its largest `|v|` below 200 values) so that 0 lands on
/// `t = 0.5` (white for [`ColorMap::Diverging`], mid-gray for [`ColorMap::Gray`]), larger
/// values saturating; an unsigned plane is stretched from its minimum (`t = 0`) to that
/// percentile (`t = 1`). A constant plane is drawn at `t = 0.5` (signed) or 0 (unsigned).
/// Non-finite values count as 0. `None` when the sizes disagree or are zero.
pub fn plane_image(
    plane: &[f32],
    h: usize,
    w: usize,
    signed: bool,
    cmap: ColorMap,
) -> Option<RgbImage> {
    if plane_len(h, w)? != plane.len() {
        return None;
    }
    Some(if signed {
        colour_plane(plane, h, w, cmap, signed_t(plane))
    } else {
        colour_plane(plane, h, w, cmap, unsigned_t(plane))
    })
}

/// A signed `h x w` map over a picture: upsampled to the picture's size, in diverging colours
/// (red above 0, blue below, [`plane_image`]'s scale), blended over it with opacity `alpha`.
/// `None` when the sizes disagree or are zero.
pub fn diverging_overlay(
    map: &[f32],
    h: usize,
    w: usize,
    base: &RgbImage,
    alpha: f32,
) -> Option<RgbImage> {
    let (bw, bh) = (base.width() as usize, base.height() as usize);
    let up = upsample_bilinear(map, h, w, bh, bw)?;
    let top = plane_image(&up, bh, bw, true, ColorMap::Diverging)?;
    crate::blend(base, &top, alpha)
}

/// Reduces an attribution map (`channels x h x w`, planar, usually 1 or 3 channels) to one
/// `h x w` plane, returned with whether it is signed: [`BackFilter::Raw`] and
/// [`BackFilter::Gray`] give the mean over the channels (signed); [`BackFilter::Norm`] the
/// per-pixel L2 norm over the channels (`|v|` for one channel; unsigned);
/// [`BackFilter::NormBlur`] that norm blurred with [`blur_plane`] at [`NORM_BLUR_SIGMA`]
/// (unsigned). Non-finite values count as 0. `None` when the sizes disagree or are zero.
pub fn reduce_map(
    map: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    filter: BackFilter,
) -> Option<(Vec<f32>, bool)> {
    let plane = plane_len(h, w)?;
    if channels == 0 || plane.checked_mul(channels)? != map.len() {
        return None;
    }
    let at = |c: usize, i: usize| clean(map[c * plane + i]);
    match filter {
        BackFilter::Raw | BackFilter::Gray => {
            let mean = (0..plane)
                .map(|i| (0..channels).map(|c| at(c, i)).sum::<f32>() / channels as f32)
                .collect();
            Some((mean, true))
        }
        BackFilter::Norm | BackFilter::NormBlur => {
            let norm: Vec<f32> = (0..plane)
                .map(|i| (0..channels).map(|c| at(c, i).powi(2)).sum::<f32>().sqrt())
                .collect();
            if filter == BackFilter::NormBlur {
                Some((blur_plane(&norm, h, w, NORM_BLUR_SIGMA), false))
            } else {
                Some((norm, false))
            }
        }
    }
}

/// Draws an attribution map (`channels x h x w`, planar). With 3 channels,
/// [`BackFilter::Raw`] and [`ColorMap::Gray`] it is [`back_image`]'s RGB picture scaled about
/// zero (`order` gives the RGB position of each channel); otherwise the map is reduced with
/// [`reduce_map`] and drawn with [`plane_image`], except that a signed plane under
/// [`ColorMap::Sequential`] is drawn as its absolute value (sequential maps show magnitudes)
/// and an unsigned plane under [`ColorMap::Diverging`] uses the map's upper half (white to
/// red, `t` in `[0.5, 1]`). `None` when the sizes disagree or are zero.
pub fn attribution_image(
    map: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    order: [usize; 3],
    filter: BackFilter,
    cmap: ColorMap,
) -> Option<RgbImage> {
    if channels == 3 && filter == BackFilter::Raw && cmap == ColorMap::Gray {
        plane_len(h, w)?;
        if order.iter().any(|&o| o > 2) {
            return None;
        }
        return back_image(map, h, w, order, BackFilter::Raw);
    }
    let (plane, signed) = reduce_map(map, channels, h, w, filter)?;
    match (signed, cmap) {
        (true, ColorMap::Sequential) => {
            let abs: Vec<f32> = plane.iter().map(|v| v.abs()).collect();
            plane_image(&abs, h, w, false, cmap)
        }
        (false, ColorMap::Diverging) => {
            let t = unsigned_t(&plane);
            Some(colour_plane(&plane, h, w, cmap, |v| 0.5 + 0.5 * t(v)))
        }
        _ => plane_image(&plane, h, w, signed, cmap),
    }
}

/// Resizes a `h x w` plane to `oh x ow` bilinearly with half-pixel centres (`align_corners =
/// false`, as PyTorch's `F.interpolate(mode="bilinear")` and OpenCV's `cv2.resize`), edges
/// clamped; a 1 x 1 plane becomes constant. Non-finite values count as 0. `None` when the
/// sizes disagree or any is zero.
pub fn upsample_bilinear(
    plane: &[f32],
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
) -> Option<Vec<f32>> {
    if plane_len(h, w)? != plane.len() {
        return None;
    }
    let out_len = plane_len(oh, ow)?;
    // source index pair and weight of the second, per output coordinate
    let taps = |n: usize, on: usize| -> Vec<(usize, usize, f64)> {
        let scale = n as f64 / on as f64;
        (0..on)
            .map(|o| {
                let s = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (s.floor() as usize).min(n - 1);
                let i1 = (i0 + 1).min(n - 1);
                let f = if i1 > i0 { s - i0 as f64 } else { 0.0 };
                (i0, i1, f)
            })
            .collect()
    };
    let (ys, xs) = (taps(h, oh), taps(w, ow));
    let at = |y: usize, x: usize| clean(plane[y * w + x]) as f64;
    let mut out = Vec::with_capacity(out_len);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push((top * (1.0 - fy) + bottom * fy) as f32);
        }
    }
    Some(out)
}

/// The ranks (1-based) of `v`, ties given their average rank; non-finite values count as 0.
fn ranks(v: &[f32]) -> Vec<f64> {
    let vals: Vec<f32> = v.iter().map(|&x| clean(x)).collect();
    let mut idx: Vec<usize> = (0..vals.len()).collect();
    idx.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
    let mut r = vec![0f64; vals.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        // -0.0 and 0.0 tie
        while j < idx.len() && vals[idx[j]] == vals[idx[i]] {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0; // mean of ranks i+1 ..= j
        for &k in &idx[i..j] {
            r[k] = avg;
        }
        i = j;
    }
    r
}

/// The Spearman rank correlation of `a` and `b`: the Pearson correlation of their ranks, ties
/// given their average rank. Non-finite values count as 0. `None` when the lengths differ,
/// are below 2, or either ranking is constant.
pub fn spearman(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut sab, mut saa, mut sbb) = (0f64, 0f64, 0f64);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return None;
    }
    Some((sab / (saa * sbb).sqrt()).clamp(-1.0, 1.0) as f32)
}

/// `v` stretched to `[0, 1]` (non-finite values as 0; a constant plane becomes all 0).
fn min_max(v: &[f32]) -> Vec<f32> {
    let t = unsigned_t(v);
    v.iter().map(|&x| t(clean(x))).collect()
}

/// The structural similarity (Wang et al. 2004) of two `h x w` planes, each first stretched
/// to `[0, 1]` (a constant plane becomes all 0): local means, variances and covariance from a
/// Gaussian window of sigma 1.5 ([`blur_plane`], population-style moments as scikit-image's
/// `gaussian_weights=True, use_sample_covariance=False`), data range 1, `C1 = 0.01^2`,
/// `C2 = 0.03^2`, averaged over every pixel. Non-finite values count as 0. `None` when the
/// sizes disagree or are zero.
pub fn ssim(a: &[f32], b: &[f32], h: usize, w: usize) -> Option<f32> {
    let n = plane_len(h, w)?;
    if a.len() != n || b.len() != n {
        return None;
    }
    const SIGMA: f32 = 1.5;
    const C1: f64 = 0.01 * 0.01;
    const C2: f64 = 0.03 * 0.03;
    let (x, y) = (min_max(a), min_max(b));
    let blur = |v: &[f32]| blur_plane(v, h, w, SIGMA);
    let product =
        |p: &[f32], q: &[f32]| -> Vec<f32> { p.iter().zip(q).map(|(p, q)| p * q).collect() };
    let (mx, my) = (blur(&x), blur(&y));
    let (exx, eyy, exy) = (
        blur(&product(&x, &x)),
        blur(&product(&y, &y)),
        blur(&product(&x, &y)),
    );
    let mut total = 0f64;
    for i in 0..n {
        let (ux, uy) = (mx[i] as f64, my[i] as f64);
        let vx = exx[i] as f64 - ux * ux;
        let vy = eyy[i] as f64 - uy * uy;
        let cxy = exy[i] as f64 - ux * uy;
        let num = (2.0 * ux * uy + C1) * (2.0 * cxy + C2);
        let den = (ux * ux + uy * uy + C1) * (vx + vy + C2);
        total += num / den;
    }
    Some((total / n as f64) as f32)
}
