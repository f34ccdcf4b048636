//! Turning activations and images into pictures: tiled channel grids, signed images scaled
//! about zero, montages; and the names of what is drawn (the attribution methods, filters and
//! colour maps, a class and its probability, what a network's output is), each one table. No
//! model, no window.

use image::{GrayImage, Luma, Rgb, RgbImage};

pub mod attribution;
pub mod classes;
pub mod mode;
pub mod output;
pub use attribution::*;
pub use classes::ClassProb;
pub use mode::BackMode;
pub use output::{Detection, OutputHints, OutputKind, OutputReading};

/// Names as a list in words: `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Where the tiles of a channel grid sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    /// Number of tiles.
    pub count: usize,
    /// Tiles per row.
    pub cols: usize,
    /// Rows of tiles.
    pub rows: usize,
    /// Width of one tile in pixels.
    pub tile_w: usize,
    /// Height of one tile in pixels.
    pub tile_h: usize,
    /// Separator width between tiles (and none around the border).
    pub sep: usize,
}

impl GridLayout {
    /// A near-square grid (`cols = ceil(sqrt(count))`) of `count` tiles of `tile_w x tile_h`.
    pub fn new(count: usize, tile_w: usize, tile_h: usize, sep: usize) -> GridLayout {
        let mut cols = (count as f64).sqrt().ceil() as usize;
        cols = cols.max(1);
        while cols * cols < count {
            cols += 1;
        }
        let rows = count.div_ceil(cols).max(1);
        GridLayout {
            count,
            cols,
            rows,
            tile_w,
            tile_h,
            sep,
        }
    }

    /// The whole grid's width in pixels.
    pub fn width(&self) -> usize {
        self.cols * self.tile_w + (self.cols - 1) * self.sep
    }

    /// The whole grid's height in pixels.
    pub fn height(&self) -> usize {
        self.rows * self.tile_h + (self.rows - 1) * self.sep
    }

    /// The top-left pixel of tile `i`.
    pub fn origin(&self, i: usize) -> (usize, usize) {
        let (r, c) = (i / self.cols, i % self.cols);
        (c * (self.tile_w + self.sep), r * (self.tile_h + self.sep))
    }

    /// The tile under pixel `(x, y)`, if any (separators belong to no tile).
    pub fn tile_at(&self, x: usize, y: usize) -> Option<usize> {
        let (sw, sh) = (self.tile_w + self.sep, self.tile_h + self.sep);
        let (c, r) = (x / sw, y / sh);
        if c >= self.cols || r >= self.rows || x % sw >= self.tile_w || y % sh >= self.tile_h {
            return None;
        }
        let i = r * self.cols + c;
        (i < self.count).then_some(i)
    }
}

/// The minimum and maximum of the finite values (`(0, 0)` when there are none).
pub fn finite_range(values: &[f32]) -> (f32, f32) {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &v in values.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// A map's values as 0..255 gray levels, its own finite minimum to black and maximum to white
/// (a flat map is black).
pub fn gray_levels(values: &[f32]) -> Vec<u8> {
    let (lo, hi) = finite_range(values);
    let s = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    values
        .iter()
        .map(|v| ((v - lo) * s).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// Tiles every channel of a `C x H x W` activation into one grayscale grid, 1-px separators,
/// normalized over the whole layer (min to black, max to white), as the original toolbox
/// showed layers. Separators and unused cells are drawn in `sep_gray`.
pub fn channel_grid(
    chw: &[f32],
    channels: usize,
    h: usize,
    w: usize,
    sep_gray: u8,
) -> Option<(GrayImage, GridLayout)> {
    if channels == 0 || h == 0 || w == 0 || chw.len() != channels * h * w {
        return None;
    }
    let layout = GridLayout::new(channels, w, h, 1);
    let (lo, hi) = finite_range(chw);
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let mut img = GrayImage::from_pixel(
        layout.width() as u32,
        layout.height() as u32,
        Luma([sep_gray]),
    );
    for c in 0..channels {
        let (ox, oy) = layout.origin(c);
        let plane = &chw[c * h * w..(c + 1) * h * w];
        for y in 0..h {
            for x in 0..w {
                let v = plane[y * w + x];
                let g = if v.is_finite() {
                    ((v - lo) * scale).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                };
                img.put_pixel((ox + x) as u32, (oy + y) as u32, Luma([g]));
            }
        }
    }
    Some((img, layout))
}

/// A `C x H x W` map (C = 3, channels in `order` of RGB) scaled about zero, as the toolbox
/// showed preferred images: `x / max|x|` mapped to 0..255 with 0 at mid-gray.
pub fn scaled_about_zero(chw: &[f32], h: usize, w: usize, order: [usize; 3]) -> Option<RgbImage> {
    if chw.len() != 3 * h * w {
        return None;
    }
    let m = chw
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()));
    let s = if m > 0.0 { 127.5 / m } else { 0.0 };
    let plane = h * w;
    let mut img = RgbImage::new(w as u32, h as u32);
    for (i, p) in img.pixels_mut().enumerate() {
        let mut px = [0u8; 3];
        for c in 0..3 {
            let v = chw[c * plane + i];
            let v = if v.is_finite() { v } else { 0.0 };
            px[order[c]] = (127.5 + v * s).round().clamp(0.0, 255.0) as u8;
        }
        *p = Rgb(px);
    }
    Some(img)
}

/// How a back-projection is drawn (the original toolbox's back filters).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum BackFilter {
    /// Signed, the three channels scaled about zero (mid-gray is zero).
    #[default]
    Raw,
    /// The mean over the channels, scaled about zero.
    Gray,
    /// The per-pixel L2 norm over the channels, min to max.
    Norm,
    /// The norm blurred with a Gaussian of sigma 4, min to max.
    NormBlur,
}

impl BackFilter {
    /// Every filter, in the order the `n` key cycles them.
    pub const ALL: [BackFilter; 4] = [
        BackFilter::Raw,
        BackFilter::Gray,
        BackFilter::Norm,
        BackFilter::NormBlur,
    ];

    /// `raw`, `gray`, `norm` or `normblur`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackFilter::Raw => "raw",
            BackFilter::Gray => "gray",
            BackFilter::Norm => "norm",
            BackFilter::NormBlur => "normblur",
        }
    }

    /// Parses a filter name.
    pub fn from_name(s: &str) -> Option<BackFilter> {
        BackFilter::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
    }

    /// Parses a filter name; the error says which names there are.
    pub fn parse(s: &str) -> Result<BackFilter, String> {
        BackFilter::from_name(s).ok_or_else(|| {
            let names = BackFilter::ALL.map(BackFilter::as_str);
            format!("unknown filter `{s}`: use {}", one_of(&names))
        })
    }
}

/// `--filter NAME` on the command line.
#[cfg(feature = "clap")]
impl clap::ValueEnum for BackFilter {
    fn value_variants<'a>() -> &'a [BackFilter] {
        &BackFilter::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// The sigma of [`BackFilter::NormBlur`].
pub const NORM_BLUR_SIGMA: f32 = 4.0;

/// Blurs a `h x w` plane with a Gaussian of `sigma` (radius `4 sigma`, mirrored borders).
pub fn blur_plane(plane: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    if plane.len() != h * w || h == 0 || w == 0 || sigma <= 0.0 {
        return plane.to_vec();
    }
    let r = (4.0 * sigma + 0.5) as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        // symmetric: ... 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...
        loop {
            if i < 0 {
                i = -i - 1;
            } else if i >= n {
                i = 2 * n - i - 1;
            } else {
                return i as usize;
            }
        }
    };
    // separable: along rows, then along columns
    let pass = |src: &[f32], along_x: bool| -> Vec<f32> {
        let mut dst = vec![0f32; h * w];
        for y in 0..h {
            for x in 0..w {
                dst[y * w + x] = k
                    .iter()
                    .enumerate()
                    .map(|(j, kv)| {
                        let d = j as isize - r;
                        let at = if along_x {
                            y * w + reflect(x as isize + d, w)
                        } else {
                            reflect(y as isize + d, h) * w + x
                        };
                        kv * src[at]
                    })
                    .sum();
            }
        }
        dst
    };
    pass(&pass(plane, true), false)
}

fn gray_image(v: &[f32], h: usize, w: usize, map: impl Fn(f32) -> f32) -> RgbImage {
    let mut img = RgbImage::new(w as u32, h as u32);
    for (p, &x) in img.pixels_mut().zip(v) {
        let g = if x.is_finite() {
            (map(x) * 255.0).round().clamp(0.0, 255.0) as u8
        } else {
            0
        };
        *p = Rgb([g, g, g]);
    }
    img
}

/// Draws a back-projection (`3 x h x w`, channels in `order` of RGB) with `filter`; `None`
/// when the sizes disagree.
pub fn back_image(
    chw: &[f32],
    h: usize,
    w: usize,
    order: [usize; 3],
    filter: BackFilter,
) -> Option<RgbImage> {
    let plane = h * w;
    if chw.len() != 3 * plane {
        return None;
    }
    let clean = |v: f32| if v.is_finite() { v } else { 0.0 };
    match filter {
        BackFilter::Raw => scaled_about_zero(chw, h, w, order),
        BackFilter::Gray => {
            let mean: Vec<f32> = (0..plane)
                .map(|i| (0..3).map(|c| clean(chw[c * plane + i])).sum::<f32>() / 3.0)
                .collect();
            let m = mean.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if m > 0.0 { 0.5 / m } else { 0.0 };
            Some(gray_image(&mean, h, w, |v| 0.5 + v * s))
        }
        BackFilter::Norm | BackFilter::NormBlur => {
            let mut norm: Vec<f32> = (0..plane)
                .map(|i| {
                    (0..3)
                        .map(|c| clean(chw[c * plane + i]).powi(2))
                        .sum::<f32>()
                        .sqrt()
                })
                .collect();
            if filter == BackFilter::NormBlur {
                norm = blur_plane(&norm, h, w, NORM_BLUR_SIGMA);
            }
            let (lo, hi) = finite_range(&norm);
            let s = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
            Some(gray_image(&norm, h, w, |v| (v - lo) * s))
        }
    }
}

/// Blends `top` over `base` with opacity `alpha` (0 = base only, 1 = top only); `None` when
/// the sizes differ.
pub fn blend(base: &RgbImage, top: &RgbImage, alpha: f32) -> Option<RgbImage> {
    if base.dimensions() != top.dimensions() {
        return None;
    }
    let a = alpha.clamp(0.0, 1.0);
    let mut out = base.clone();
    for (o, t) in out.pixels_mut().zip(top.pixels()) {
        for c in 0..3 {
            o.0[c] = (o.0[c] as f32 * (1.0 - a) + t.0[c] as f32 * a).round() as u8;
        }
    }
    Some(out)
}

/// The region `[y0, x0, y1, x1]` (half-open, possibly reaching past the image) of `img`, with
/// the part outside the image dark gray (as the network's zero padding), resized to a square
/// of `tile` pixels. An empty region gives a dark gray tile.
pub fn field_crop(img: &RgbImage, region: [i64; 4], tile: u32) -> RgbImage {
    let gray = Rgb([64, 64, 64]);
    let [y0, x0, y1, x1] = region;
    if y1 <= y0 || x1 <= x0 || tile == 0 {
        return RgbImage::from_pixel(tile.max(1), tile.max(1), gray);
    }
    let (w, h) = ((x1 - x0) as u32, (y1 - y0) as u32);
    let mut sub = RgbImage::from_pixel(w, h, gray);
    for (x, y, p) in sub.enumerate_pixels_mut() {
        let (sx, sy) = (x0 + x as i64, y0 + y as i64);
        if sx >= 0 && sy >= 0 && (sx as u32) < img.width() && (sy as u32) < img.height() {
            *p = *img.get_pixel(sx as u32, sy as u32);
        }
    }
    image::imageops::resize(&sub, tile, tile, image::imageops::FilterType::Triangle)
}

/// Lays images of equal size side by side in `cols` columns with `sep` pixels between them.
pub fn montage(images: &[RgbImage], cols: usize, sep: u32, background: [u8; 3]) -> RgbImage {
    let cols = cols.max(1);
    let (w, h) = images.first().map(|i| i.dimensions()).unwrap_or((1, 1));
    let rows = images.len().div_ceil(cols).max(1) as u32;
    let c = cols.min(images.len().max(1)) as u32;
    let mut out = RgbImage::from_pixel(
        c * w + (c - 1) * sep,
        rows * h + (rows - 1) * sep,
        Rgb(background),
    );
    for (i, im) in images.iter().enumerate() {
        let (r, cc) = ((i / cols) as u32, (i % cols) as u32);
        image::imageops::overlay(
            &mut out,
            im,
            (cc * (w + sep)) as i64,
            (r * (h + sep)) as i64,
        );
    }
    out
}
