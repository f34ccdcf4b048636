//! Turning activations and images into pictures: tiled channel grids, signed images scaled
//! about zero, montages. No model, no window.

use image::{GrayImage, Luma, Rgb, RgbImage};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_near_square() {
        let g = GridLayout::new(512, 13, 13, 1);
        assert_eq!((g.cols, g.rows), (23, 23));
        let g = GridLayout::new(96, 111, 111, 1);
        assert_eq!((g.cols, g.rows), (10, 10));
        let g = GridLayout::new(256, 13, 13, 1);
        assert_eq!((g.cols, g.rows), (16, 16));
        assert_eq!(g.width(), 16 * 13 + 15);
        let g = GridLayout::new(1, 5, 5, 1);
        assert_eq!((g.cols, g.rows, g.width()), (1, 1, 5));
    }

    #[test]
    fn tile_at_inverts_origin_and_skips_separators() {
        let g = GridLayout::new(10, 4, 3, 1);
        for i in 0..10 {
            let (x, y) = g.origin(i);
            assert_eq!(g.tile_at(x, y), Some(i));
            assert_eq!(g.tile_at(x + 3, y + 2), Some(i));
        }
        assert_eq!(g.tile_at(4, 0), None); // separator column
        assert_eq!(g.tile_at(0, 3), None); // separator row
        assert_eq!(g.tile_at(g.width() + 5, 0), None);
        // cell 10 and 11 exist in the 4x3 grid but hold no tile
        let (x, y) = (2 * 5, 2 * 4);
        assert_eq!(g.tile_at(x, y), None);
    }

    #[test]
    fn channel_grid_normalizes_over_the_layer() {
        // two 1x2 channels: [0, 1] and [2, 4]
        let (img, layout) = channel_grid(&[0.0, 1.0, 2.0, 4.0], 2, 1, 2, 77).unwrap();
        assert_eq!((layout.cols, layout.rows), (2, 1));
        assert_eq!(img.dimensions(), (5, 1));
        let px: Vec<u8> = img.pixels().map(|p| p.0[0]).collect();
        assert_eq!(px, vec![0, 64, 77, 128, 255]);
        assert!(channel_grid(&[0.0; 3], 2, 1, 2, 0).is_none());
    }

    #[test]
    fn constant_layer_is_black_not_nan() {
        let (img, _) = channel_grid(&[3.0; 8], 2, 2, 2, 9).unwrap();
        assert!(img.pixels().all(|p| p.0[0] == 0 || p.0[0] == 9));
    }

    #[test]
    fn scaled_about_zero_maps_signs_to_either_side_of_gray() {
        // BGR planes of two pixels: blue [-2, 0], green [1, 2], red [0, 0]; max |x| = 2
        let chw = [-2.0, 0.0, 1.0, 2.0, 0.0, 0.0];
        let img = scaled_about_zero(&chw, 1, 2, [2, 1, 0]).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [128, 191, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [128, 255, 128]);
    }

    #[test]
    fn montage_places_images_in_a_grid() {
        let a = RgbImage::from_pixel(2, 2, Rgb([255, 0, 0]));
        let b = RgbImage::from_pixel(2, 2, Rgb([0, 255, 0]));
        let m = montage(&[a.clone(), b.clone(), a, b], 2, 1, [0, 0, 0]);
        assert_eq!(m.dimensions(), (5, 5));
        assert_eq!(m.get_pixel(3, 0).0, [0, 255, 0]);
        assert_eq!(m.get_pixel(0, 3).0, [255, 0, 0]);
        assert_eq!(m.get_pixel(2, 2).0, [0, 0, 0]);
    }
}
