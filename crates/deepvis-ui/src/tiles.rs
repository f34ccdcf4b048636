//! Where the grid's tiles go (fill, crisp or a zoom) and went (hit tests): geometry, no drawing.

use egui::{Pos2, Rect, Vec2};
use serde::{Deserialize, Serialize};

/// Points between tiles.
pub const GAP: f32 = 1.0;

/// Zoom steps offered besides fitting the pane (tile pixels per map pixel).
pub const ZOOMS: [u32; 9] = [1, 2, 3, 4, 6, 8, 12, 16, 24];

/// How the tiles fit the pane when no zoom is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GridFit {
    /// The largest tiles that show every channel, smoothly scaled (linear filtering).
    #[default]
    Fill,
    /// The largest whole number of screen pixels per map pixel that shows every channel
    /// (nearest-pixel filtering: crisp, but as small as half the pane).
    Crisp,
}

impl GridFit {
    /// Both, in the picker's order.
    pub const ALL: [GridFit; 2] = [GridFit::Fill, GridFit::Crisp];

    /// Its name in the picker.
    pub fn label(self) -> &'static str {
        match self {
            GridFit::Fill => "fill",
            GridFit::Crisp => "crisp",
        }
    }
}

/// Where the tiles went on the last frame drawn: enough to hit-test, move by keys and test.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnGrid {
    /// The channels in display order.
    pub order: Vec<usize>,
    /// Tiles per row.
    pub cols: usize,
    /// The first tile's top-left corner.
    pub origin: Pos2,
    /// A tile's size in points.
    pub tile: Vec2,
    /// Points per map pixel.
    pub scale: f32,
    /// The room the tiles were fitted into (the pane below its header lines).
    pub room: Vec2,
}

impl DrawnGrid {
    fn pitch(&self) -> Vec2 {
        self.tile + Vec2::splat(GAP)
    }

    /// The size of every tile together, gaps included.
    pub fn content(&self) -> Vec2 {
        let cols = self.cols.max(1);
        let rows = self.order.len().div_ceil(cols);
        Vec2::new(
            cols as f32 * (self.tile.x + GAP) - GAP,
            rows as f32 * (self.tile.y + GAP) - GAP,
        )
    }

    /// The rectangle of the tile at display slot `i`.
    pub fn slot_rect(&self, i: usize) -> Rect {
        let (r, c) = (i / self.cols.max(1), i % self.cols.max(1));
        Rect::from_min_size(
            self.origin + Vec2::new(c as f32, r as f32) * self.pitch(),
            self.tile,
        )
    }

    /// The rectangle of channel `c`'s tile.
    pub fn tile_rect(&self, c: usize) -> Option<Rect> {
        let i = self.order.iter().position(|&x| x == c)?;
        Some(self.slot_rect(i))
    }

    /// The channel whose tile is under `p` (none on a gap).
    pub fn channel_at(&self, p: Pos2) -> Option<usize> {
        let d = p - self.origin;
        if d.x < 0.0 || d.y < 0.0 {
            return None;
        }
        let pitch = self.pitch();
        let (col, row) = ((d.x / pitch.x) as usize, (d.y / pitch.y) as usize);
        if col >= self.cols || d.x - col as f32 * pitch.x >= self.tile.x {
            return None;
        }
        if d.y - row as f32 * pitch.y >= self.tile.y {
            return None;
        }
        self.order.get(row * self.cols + col).copied()
    }

    /// The channel `delta` display slots from `c` (rows are `cols` slots), clamped.
    pub fn step(&self, c: usize, delta: i64) -> Option<usize> {
        let i = self.order.iter().position(|&x| x == c).unwrap_or(0) as i64;
        let last = self.order.len().checked_sub(1)? as i64;
        self.order.get((i + delta).clamp(0, last) as usize).copied()
    }
}

/// Tiles per row and points per map pixel for `n` tiles of `tile` map pixels in `avail`
/// points: the given zoom, or the largest that shows every tile ("fill"), rounded down to
/// whole physical pixels per map pixel when it magnifies ("crisp").
pub fn fit_layout(
    n: usize,
    tile: [usize; 2],
    avail: Vec2,
    zoom: Option<u32>,
    fit: GridFit,
    pixels_per_point: f32,
) -> (usize, f32) {
    let (tw, th) = (tile[0].max(1) as f32, tile[1].max(1) as f32);
    let n = n.max(1);
    if let Some(k) = zoom {
        let s = k.max(1) as f32 / pixels_per_point.max(0.25);
        let cols = ((avail.x + GAP) / (tw * s + GAP)).floor().max(1.0) as usize;
        return (cols.min(n), s);
    }
    let mut best = (1, 0.0f32);
    for cols in 1..=n {
        let rows = n.div_ceil(cols);
        let sx = (avail.x - GAP * (cols as f32 - 1.0)) / (cols as f32 * tw);
        let sy = (avail.y - GAP * (rows as f32 - 1.0)) / (rows as f32 * th);
        let s = sx.min(sy);
        if s > best.1 {
            best = (cols, s);
        }
    }
    let (cols, s) = best;
    let px = s * pixels_per_point;
    let s = if fit == GridFit::Crisp && px >= 1.0 {
        px.floor() / pixels_per_point
    } else {
        s.max(0.05)
    };
    (cols, s)
}

/// The zoom one step in (`dir` > 0) or out from `k` pixels per map pixel; out of 1x is
/// fitting the pane.
pub fn zoom_step(k: u32, dir: i32) -> Option<u32> {
    match dir {
        d if d > 0 => Some(ZOOMS.iter().copied().find(|&z| z > k).unwrap_or(k.max(1))),
        _ => ZOOMS.iter().rev().copied().find(|&z| z < k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::pos2;

    #[test]
    fn fit_fills_the_pane_with_whole_pixels_and_zoom_steps() {
        let crisp = GridFit::Crisp;
        // 16 tiles of 5x5 in 400x400: 4 x 4 at 19.x points, rounded down to 19
        let (cols, s) = fit_layout(16, [5, 5], Vec2::new(400.0, 400.0), None, crisp, 1.0);
        assert_eq!((cols, s), (4, 19.0));
        // a wide pane takes more columns
        let (cols, _) = fit_layout(16, [5, 5], Vec2::new(800.0, 100.0), None, crisp, 1.0);
        assert_eq!(cols, 8);
        // at 200%, whole physical pixels: 2 * 19.x = 39 px = 19.5 points
        let (_, s) = fit_layout(16, [5, 5], Vec2::new(400.0, 400.0), None, crisp, 2.0);
        assert_eq!(s, 19.5);
        // more tiles than fit at 1 px: shrink below 1
        let (_, s) = fit_layout(1000, [15, 15], Vec2::new(100.0, 100.0), None, crisp, 1.0);
        assert!(s < 1.0 && s > 0.0);
        // a fixed zoom keeps its size and wraps at the pane's width
        for fit in GridFit::ALL {
            let (cols, s) = fit_layout(16, [5, 5], Vec2::new(100.0, 10.0), Some(4), fit, 1.0);
            assert_eq!((cols, s), (4, 4.0));
        }
        assert_eq!(zoom_step(3, 1), Some(4));
        assert_eq!(zoom_step(24, 1), Some(24));
        assert_eq!(zoom_step(4, -1), Some(3));
        assert_eq!(zoom_step(1, -1), None);
        let d = DrawnGrid {
            order: vec![3, 1, 2, 0],
            cols: 2,
            origin: pos2(10.0, 10.0),
            tile: Vec2::splat(10.0),
            scale: 2.0,
            room: Vec2::splat(100.0),
        };
        assert_eq!(d.channel_at(pos2(15.0, 15.0)), Some(3));
        assert_eq!(d.channel_at(pos2(25.0, 15.0)), Some(1));
        assert_eq!(d.channel_at(pos2(20.5, 15.0)), None);
        assert_eq!(d.channel_at(pos2(15.0, 25.0)), Some(2));
        assert_eq!(d.tile_rect(0).map(|r| r.min), Some(pos2(21.0, 21.0)));
        assert_eq!(d.step(1, 2), Some(0));
        assert_eq!(d.step(1, -5), Some(3));
        assert_eq!(d.content(), Vec2::splat(21.0));
    }

    /// fire9 (512 maps of 13x13) in the pane a 1280x800 window leaves it: 1 whole pixel per
    /// map pixel fills about half the pane, "fill" the whole limiting side.
    #[test]
    fn fill_takes_the_largest_tile_and_crisp_whole_pixels() {
        let room = Vec2::new(470.0, 650.0);
        let side = |fit| {
            let (cols, s) = fit_layout(512, [13, 13], room, None, fit, 1.0);
            let rows = 512usize.div_ceil(cols);
            let w = cols as f32 * (13.0 * s + GAP) - GAP;
            let h = rows as f32 * (13.0 * s + GAP) - GAP;
            assert!(w <= room.x + 1e-3 && h <= room.y + 1e-3, "{fit:?}: {w}x{h}");
            (s, (w / room.x).max(h / room.y))
        };
        let (s, filled) = side(GridFit::Crisp);
        assert_eq!(s, 1.0);
        assert!(filled < 0.6, "crisp fills {filled}");
        let (s, filled) = side(GridFit::Fill);
        assert!(s > 1.5, "fill scales by {s}");
        assert!(filled > 0.97, "fill fills {filled}");
    }
}
