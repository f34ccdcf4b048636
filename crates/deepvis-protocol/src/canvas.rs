//! Crops of a large canvas (MACO as its authors run it, Fel et al. 2023): the picture is a
//! canvas larger than the network's input, and each step the network sees a few random crops
//! of it, each a share of the canvas's side resized to the input. What the crops drew is
//! where the network looked: the absolute gradient accumulated on the canvas (the
//! transparency map).

use serde::{Deserialize, Serialize};

use crate::transforms::Affine;

/// The canvas's knobs. Off (`side` 0) the picture is the network's input itself.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Canvas {
    /// The canvas's side in pixels; 0 is off (the picture is the input's size).
    pub side: usize,
    /// Crops shown to the network per step (one batch).
    pub crops: usize,
    /// The smallest crop's side, a share of the canvas's side.
    pub crop_min: f64,
    /// The largest crop's side, a share of the canvas's side.
    pub crop_max: f64,
    /// Gaussian noise added to each crop, its standard deviation in 0..1 pixel units.
    pub noise: f64,
}

impl Default for Canvas {
    fn default() -> Canvas {
        Canvas::OFF
    }
}

impl Canvas {
    /// No canvas: the picture is the input.
    pub const OFF: Canvas = Canvas {
        side: 0,
        crops: 4,
        crop_min: 0.45,
        crop_max: 0.55,
        noise: 0.01,
    };

    /// The MACO authors' (Horama's `maco`): a 1280-pixel canvas, 6 crops per step at 20 to
    /// 25% of its side, noise 0.05 of the normalized input (about 0.011 in pixel units).
    pub const AUTHORS: Canvas = Canvas {
        side: 1280,
        crops: 6,
        crop_min: 0.20,
        crop_max: 0.25,
        noise: 0.011,
    };

    /// Scaled for a CPU: twice a 224-pixel input, 4 crops of about half its side (each crop
    /// about the input's size, as the authors' are), their noise.
    pub const CPU: Canvas = Canvas {
        side: 448,
        crops: 4,
        crop_min: 0.45,
        crop_max: 0.55,
        noise: 0.011,
    };

    /// The largest canvas side.
    pub const MAX_SIDE: usize = 2048;
    /// The most crops per step.
    pub const MAX_CROPS: usize = 16;

    /// Whether a canvas is on.
    pub fn on(&self) -> bool {
        self.side > 0
    }

    /// The picture's side for a network whose input is `input` pixels: the canvas's, or the
    /// input's when off.
    pub fn picture_side(&self, input: usize) -> usize {
        if self.on() { self.side } else { input }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), String> {
        if self.side != 0 && !(16..=Self::MAX_SIDE).contains(&self.side) {
            return Err(format!(
                "canvas side is {}; it must be 0 (off) or 16..={}",
                self.side,
                Self::MAX_SIDE
            ));
        }
        if !(1..=Self::MAX_CROPS).contains(&self.crops) {
            return Err(format!(
                "crops per step is {}; it must be 1..={}",
                self.crops,
                Self::MAX_CROPS
            ));
        }
        for (name, v) in [
            ("smallest crop", self.crop_min),
            ("largest crop", self.crop_max),
        ] {
            if !v.is_finite() || !(0.05..=1.0).contains(&v) {
                return Err(format!(
                    "{name} is {v} of the canvas; it must lie in 0.05..=1"
                ));
            }
        }
        if self.crop_min > self.crop_max {
            return Err(format!(
                "the smallest crop ({}) is larger than the largest ({})",
                self.crop_min, self.crop_max
            ));
        }
        if !self.noise.is_finite() || !(0.0..=1.0).contains(&self.noise) {
            return Err(format!(
                "crop noise is {}; it must lie in 0..=1",
                self.noise
            ));
        }
        Ok(())
    }

    /// Parses `off`, `authors`, `cpu` or `SIDE[,crops=N][,scale=MIN-MAX][,noise=SD]`.
    pub fn parse(spec: &str) -> Result<Canvas, String> {
        let spec = spec.trim();
        let mut c = match spec {
            "off" | "none" | "0" => return Ok(Canvas::OFF),
            "authors" => return Ok(Canvas::AUTHORS),
            "cpu" => return Ok(Canvas::CPU),
            _ => Canvas::CPU,
        };
        let bad = |what: &str| {
            format!(
                "canvas {spec}: {what} (use off, authors, cpu or \
                 SIDE[,crops=N][,scale=MIN-MAX][,noise=SD])"
            )
        };
        let mut parts = spec.split(',');
        let side = parts.next().unwrap_or("").trim();
        c.side = side
            .parse()
            .map_err(|_| bad(&format!("`{side}` is not a side in pixels")))?;
        for part in parts {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(&format!("`{part}` is not NAME=VALUE")))?;
            let num = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| bad(&format!("`{}` is not a number", s.trim())))
            };
            match k.trim() {
                "crops" => {
                    c.crops = v
                        .trim()
                        .parse()
                        .map_err(|_| bad(&format!("`{}` is not a count", v.trim())))?
                }
                "scale" => {
                    let (lo, hi) = v.split_once('-').unwrap_or((v, v));
                    c.crop_min = num(lo)?;
                    c.crop_max = num(hi)?;
                }
                "noise" => c.noise = num(v)?,
                other => return Err(bad(&format!("`{other}` is not crops, scale or noise"))),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// One step's crops for an `input`-pixel network: each a map from the canvas to the
    /// input (as the transforms' maps: a canvas point lands at `q`), its side a uniform share
    /// of the canvas in `crop_min..=crop_max`, its place uniform over where it fits, taking
    /// uniform numbers in `0..1` from `u` (three per crop: side, row, column).
    pub fn draw(&self, input: usize, u: &mut dyn FnMut() -> f64) -> Vec<Affine> {
        let side = self.picture_side(input) as f64;
        (0..self.crops)
            .map(|_| {
                let share = self.crop_min + (self.crop_max - self.crop_min) * u();
                let c = (share * side).clamp(1.0, side);
                let (oy, ox) = (u() * (side - c), u() * (side - c));
                Canvas::crop(oy, ox, c, input)
            })
            .collect()
    }

    /// The map of the crop whose corner is at `(oy, ox)` and whose side is `c` canvas pixels
    /// (pixel edges), resized to `input` pixels: pixel centres map to pixel centres.
    pub fn crop(oy: f64, ox: f64, c: f64, input: usize) -> Affine {
        let r = input as f64 / c;
        Affine {
            m: [[r, 0.0], [0.0, r]],
            t: [r * (0.5 - oy) - 0.5, r * (0.5 - ox) - 0.5],
        }
    }
}

impl std::fmt::Display for Canvas {
    /// `off`, or `SIDE,crops=N,scale=MIN-MAX,noise=SD` (what [`Canvas::parse`] reads).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.on() {
            return f.write_str("off");
        }
        write!(
            f,
            "{},crops={},scale={}-{},noise={}",
            self.side, self.crops, self.crop_min, self.crop_max, self.noise
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_maps_its_corners_and_centre_as_by_hand() {
        // a 100-pixel crop at (10, 20) of the canvas, resized to 50 pixels: factor 0.5
        let a = Canvas::crop(10.0, 20.0, 100.0, 50);
        // the crop's first pixel centre (10.5, 20.5 in edges, index 10, 20 shifted by the
        // half pixel) is the input's first pixel's centre's source: 0 -> 10 + 0.5 * 2 - 0.5
        let [y, x] = a.source([0.0, 0.0]);
        assert!(
            (y - 10.5).abs() < 1e-12 && (x - 20.5).abs() < 1e-12,
            "{y} {x}"
        );
        // the last input pixel (49) reads 10 + 49.5 * 2 - 0.5 = 108.5
        let [y, x] = a.source([49.0, 49.0]);
        assert!(
            (y - 108.5).abs() < 1e-12 && (x - 118.5).abs() < 1e-12,
            "{y} {x}"
        );
        // a crop the input's size at the origin is the identity
        let id = Canvas::crop(0.0, 0.0, 64.0, 64);
        for q in [[0.0, 0.0], [5.0, 63.0], [31.5, 2.0]] {
            let s = id.source(q);
            assert!((s[0] - q[0]).abs() < 1e-12 && (s[1] - q[1]).abs() < 1e-12);
        }
    }

    /// Uniform numbers from a fixed list, in turn.
    fn from(values: Vec<f64>) -> impl FnMut() -> f64 {
        let mut i = 0;
        move || {
            let v = values[i % values.len()];
            i += 1;
            v
        }
    }

    #[test]
    fn crops_take_their_side_and_place_from_the_draws() {
        let c = Canvas {
            side: 400,
            crops: 2,
            crop_min: 0.2,
            crop_max: 0.3,
            noise: 0.0,
        };
        // first crop: share 0.2 (80 px) at the origin; second: share 0.3 (120 px) in the
        // far corner (280, 280)
        let maps = c.draw(40, &mut from(vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]));
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[0], Canvas::crop(0.0, 0.0, 80.0, 40));
        assert_eq!(maps[1], Canvas::crop(280.0, 280.0, 120.0, 40));
        // the input's corners read inside the canvas
        for m in &maps {
            for q in [[-0.5, -0.5], [39.5, 39.5]] {
                // pixel indices, the edges half a pixel out
                let [y, x] = m.source(q);
                assert!((-0.5 - 1e-9..=399.5 + 1e-9).contains(&y), "{y}");
                assert!((-0.5 - 1e-9..=399.5 + 1e-9).contains(&x), "{x}");
            }
        }
    }

    #[test]
    fn crops_stay_inside_and_cover_the_canvas_over_steps() {
        let c = Canvas {
            side: 200,
            crops: 4,
            crop_min: 0.2,
            crop_max: 0.25,
            noise: 0.0,
        };
        let mut rng = {
            let mut s = 0x2545_f491_4f6c_dd1du64;
            move || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64
            }
        };
        let mut seen = vec![false; 200 * 200];
        for _ in 0..200 {
            for m in c.draw(32, &mut rng) {
                // the crop's edges in canvas pixels (indices are half a pixel in)
                let edge = |q| m.source(q).map(|v| v + 0.5);
                let [y0, x0] = edge([-0.5, -0.5]);
                let [y1, x1] = edge([31.5, 31.5]);
                let side = y1 - y0;
                assert!((40.0 - 1e-9..=50.0 + 1e-9).contains(&side), "side {side}");
                assert!((x1 - x0 - side).abs() < 1e-9, "square");
                assert!(y0 >= -1e-9 && x0 >= -1e-9 && y1 <= 200.0 + 1e-9 && x1 <= 200.0 + 1e-9);
                // the pixels it reads (any part of them)
                for y in y0.floor() as usize..(y1.ceil() as usize).min(200) {
                    for x in x0.floor() as usize..(x1.ceil() as usize).min(200) {
                        seen[y * 200 + x] = true;
                    }
                }
            }
        }
        // a crop's place is uniform over where it fits (the authors'): the edges are reached
        // less often than the middle, every row and column of them reached all the same
        for i in 0..200 {
            assert!((0..200).any(|x| seen[i * 200 + x]), "row {i} never seen");
            assert!((0..200).any(|y| seen[y * 200 + i]), "column {i} never seen");
        }
        let covered = seen.iter().filter(|s| **s).count();
        assert!(
            covered * 100 >= 200 * 200 * 99,
            "800 crops cover {covered} pixels"
        );
    }

    #[test]
    fn bad_canvases_are_refused_and_good_ones_read_back() {
        for bad in [
            "8",
            "5000",
            "448,crops=0",
            "448,crops=99",
            "448,scale=0.6-0.4",
            "448,scale=2",
        ] {
            assert!(Canvas::parse(bad).is_err(), "{bad}");
        }
        assert!(Canvas::parse("448,noise=nan").is_err());
        assert!(Canvas::parse("448,colour=3").is_err());
        assert_eq!(Canvas::parse("off").unwrap(), Canvas::OFF);
        assert_eq!(Canvas::parse("authors").unwrap(), Canvas::AUTHORS);
        let c = Canvas::parse("640,crops=6,scale=0.2-0.25,noise=0.02").unwrap();
        assert_eq!(
            c,
            Canvas {
                side: 640,
                crops: 6,
                crop_min: 0.2,
                crop_max: 0.25,
                noise: 0.02
            }
        );
        assert_eq!(Canvas::parse(&c.to_string()).unwrap(), c);
        assert_eq!(c.picture_side(224), 640);
        assert_eq!(Canvas::OFF.picture_side(224), 224);
    }
}
