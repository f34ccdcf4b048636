//! Interpolation as ONNX's `Resize` defines it (nearest, linear and cubic, every coordinate
//! transformation but `tf_crop_and_resize`), one axis at a time: each output row is a fixed
//! combination of input rows, so a resize of the last two axes is `Ry . x . Rx^T` with two
//! small matrices, a pair of matrix products on any device, and burn's autodiff differentiates
//! it like any product.

/// How output values are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    /// The nearest input value.
    Nearest,
    /// Linear between the two nearest.
    Linear,
    /// Cubic convolution over the four nearest.
    Cubic,
}

/// How an output coordinate maps to an input one (ONNX `coordinate_transformation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    /// `(x + 0.5) / scale - 0.5` (the default).
    HalfPixel,
    /// As `HalfPixel`, centred on the input when the output size is rounded.
    HalfPixelSymmetric,
    /// As `HalfPixel`, but `-0.5` for an output of length 1.
    PytorchHalfPixel,
    /// `x * (in - 1) / (out - 1)`.
    AlignCorners,
    /// `x / scale`.
    Asymmetric,
    /// `(x + 0.5) / scale` (TensorFlow's nearest neighbour).
    TfHalfPixelForNn,
}

/// Which neighbour a nearest resize takes between two (ONNX `nearest_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    /// Round, halves down (the default).
    RoundPreferFloor,
    /// Round, halves up.
    RoundPreferCeil,
    /// Down.
    Floor,
    /// Up.
    Ceil,
}

/// The output size of a resize.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ResizeTo {
    /// `[H, W]` given.
    Sizes([usize; 2]),
    /// `[H, W]` scale factors (the output `floor(scale * input)`).
    Scales([f32; 2]),
}

/// A resize of the last two axes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resize {
    /// Interpolation.
    pub mode: ResizeMode,
    /// Coordinate transformation.
    pub coord: CoordMode,
    /// Rounding of a nearest resize.
    pub nearest: NearestMode,
    /// The cubic kernel's `a` (-0.75 as ONNX and PyTorch).
    pub cubic_a: f32,
    /// Whether input points outside the input weigh 0 (the others renormalized).
    pub exclude_outside: bool,
    /// The output size.
    pub to: ResizeTo,
}

impl Resize {
    /// The output `[H, W]` for an input of `[h, w]`, or `None` when it is empty or absurd.
    pub fn out_hw(&self, hw: [usize; 2]) -> Option<[usize; 2]> {
        let out = match self.to {
            ResizeTo::Sizes(s) => s,
            ResizeTo::Scales(s) => {
                let f = |i: usize| {
                    let v = (f64::from(s[i]) * hw[i] as f64).floor();
                    (1.0..=1e9).contains(&v).then_some(v as usize)
                };
                [f(0)?, f(1)?]
            }
        };
        (out[0] > 0 && out[1] > 0).then_some(out)
    }

    /// The scale factor of axis `i` (0: rows) from `len` to `out` values.
    fn scale(&self, i: usize, len: usize, out: usize) -> f64 {
        match self.to {
            ResizeTo::Scales(s) => f64::from(s[i]),
            ResizeTo::Sizes(_) => out as f64 / len as f64,
        }
    }

    /// The `[out, len]` row-major matrix that resizes axis `i` (0: rows, 1: columns) from
    /// `len` to `out` values: output `o` is `sum_k m[o][k] * input[k]`.
    pub fn matrix(&self, i: usize, len: usize, out: usize) -> Vec<f32> {
        let scale = self.scale(i, len, out);
        let mut m = vec![0f32; out * len];
        for o in 0..out {
            let x = self.source(o, scale, len, out);
            for (k, w) in self.weights(x, len) {
                m[o * len + k] += w as f32;
            }
        }
        m
    }

    /// The input coordinate of output `o` (ONNX's `x_original`).
    fn source(&self, o: usize, scale: f64, len: usize, out: usize) -> f64 {
        let x = o as f64;
        match self.coord {
            CoordMode::HalfPixel => (x + 0.5) / scale - 0.5,
            CoordMode::HalfPixelSymmetric => {
                let adjustment = out as f64 / (scale * len as f64);
                let center = len as f64 / 2.0;
                center * (1.0 - adjustment) + (x + 0.5) / scale - 0.5
            }
            CoordMode::PytorchHalfPixel if out == 1 => -0.5,
            CoordMode::PytorchHalfPixel => (x + 0.5) / scale - 0.5,
            CoordMode::AlignCorners if out == 1 => 0.0,
            CoordMode::AlignCorners => x * (len as f64 - 1.0) / (out as f64 - 1.0),
            CoordMode::Asymmetric => x / scale,
            CoordMode::TfHalfPixelForNn => (x + 0.5) / scale,
        }
    }

    /// The input indices (clamped to the axis, as ONNX pads with the edge) and weights that
    /// make the value at input coordinate `x`.
    fn weights(&self, x: f64, len: usize) -> Vec<(usize, f64)> {
        let base = x.floor();
        // ONNX takes the point on the left when x is whole: ratio 1 of the pair before it
        let (ratio, left) = if x == base {
            (1.0, base - 1.0)
        } else {
            (x - base, base)
        };
        let (first, coeffs): (f64, Vec<f64>) = match self.mode {
            ResizeMode::Nearest => (left, self.nearest_coeffs(x == base, ratio).to_vec()),
            ResizeMode::Linear => (left, vec![1.0 - ratio, ratio]),
            ResizeMode::Cubic => (left - 1.0, cubic(f64::from(self.cubic_a), ratio).to_vec()),
        };
        let last = len as f64 - 1.0;
        let points: Vec<(f64, f64)> = coeffs
            .into_iter()
            .enumerate()
            .map(|(j, c)| (first + j as f64, c))
            .collect();
        let inside = |p: f64| (0.0..=last).contains(&p);
        let points: Vec<(f64, f64)> = match self.exclude_outside {
            true => {
                let total: f64 = points.iter().filter(|(p, _)| inside(*p)).map(|q| q.1).sum();
                points
                    .into_iter()
                    .map(|(p, c)| match (inside(p), total != 0.0) {
                        (true, true) => (p, c / total),
                        (true, false) => (p, c),
                        (false, _) => (p, 0.0),
                    })
                    .collect()
            }
            false => points,
        };
        points
            .into_iter()
            .map(|(p, c)| (p.clamp(0.0, last) as usize, c))
            .collect()
    }

    fn nearest_coeffs(&self, whole: bool, ratio: f64) -> [f64; 2] {
        let up = match (whole, self.nearest) {
            (true, _) => true,
            (false, NearestMode::RoundPreferFloor) => ratio > 0.5,
            (false, NearestMode::RoundPreferCeil) => ratio >= 0.5,
            (false, NearestMode::Floor) => false,
            (false, NearestMode::Ceil) => true,
        };
        if up { [0.0, 1.0] } else { [1.0, 0.0] }
    }
}

/// The four cubic convolution weights (Keys' kernel with parameter `a`) of the points at
/// `-1, 0, 1, 2` around a coordinate `ratio` past the second.
fn cubic(a: f64, ratio: f64) -> [f64; 4] {
    let (r, s) = (ratio, 1.0 - ratio);
    [
        ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
        ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
        ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0,
        ((a * (s + 1.0) - 5.0 * a) * (s + 1.0) + 8.0 * a) * (s + 1.0) - 4.0 * a,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(mode: ResizeMode, coord: CoordMode, to: ResizeTo) -> Resize {
        Resize {
            mode,
            coord,
            nearest: NearestMode::Floor,
            cubic_a: -0.75,
            exclude_outside: false,
            to,
        }
    }

    #[test]
    fn nearest_asymmetric_doubling_repeats_each_value() {
        let r = resize(
            ResizeMode::Nearest,
            CoordMode::Asymmetric,
            ResizeTo::Scales([2.0, 2.0]),
        );
        assert_eq!(r.out_hw([3, 4]), Some([6, 8]));
        let m = r.matrix(0, 3, 6);
        let rows: Vec<usize> = (0..6)
            .map(|o| (0..3).position(|k| m[o * 3 + k] == 1.0).unwrap_or(9))
            .collect();
        assert_eq!(rows, [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn every_row_of_weights_sums_to_one_and_identity_sizes_are_the_identity() {
        for mode in [ResizeMode::Nearest, ResizeMode::Linear, ResizeMode::Cubic] {
            let r = resize(mode, CoordMode::HalfPixel, ResizeTo::Sizes([16, 16]));
            let m = r.matrix(0, 37, 16);
            for o in 0..16 {
                let s: f32 = m[o * 37..(o + 1) * 37].iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "{mode:?} row {o} sums to {s}");
            }
            let id = r.matrix(0, 5, 5);
            for o in 0..5 {
                for k in 0..5 {
                    let want = if o == k { 1.0 } else { 0.0 };
                    assert!((id[o * 5 + k] - want).abs() < 1e-6, "{mode:?} {o},{k}");
                }
            }
        }
    }

    #[test]
    fn linear_half_pixel_matches_numpy() {
        // 2 -> 4, half_pixel: x = (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25
        let r = resize(
            ResizeMode::Linear,
            CoordMode::HalfPixel,
            ResizeTo::Sizes([4, 4]),
        );
        let m = r.matrix(1, 2, 4);
        let want = [1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0];
        for (g, w) in m.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{m:?}");
        }
    }
}
