//! The paper's regularizers and the image-space transforms, all on the device: clipping to
//! valid pixels, L2 decay, Gaussian blur with reflect borders, and the small-norm and
//! small-contribution pixel clipping with linear-interpolation percentiles.

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use deepvis_model::preprocess::Normalization;

use deepvis_protocol::{Axis, Penalties, PixelOps};

use crate::params::Params;

fn channel_consts(v: [f32; 3], dims: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::<1>::from_floats(v, device)
        .reshape([1, 3, 1, 1])
        .expand(dims)
}

/// Clips `x` (normalized input space) to the range of valid pixels, 0..255 per channel: for
/// SqueezeNet, `clamp(x + mean, 0, 255) - mean`.
pub fn clip_to_pixels(x: Tensor<4>, norm: &Normalization) -> Tensor<4> {
    let dims = x.dims();
    let device = x.device();
    let mean = channel_consts(norm.mean, dims, &device);
    let std = channel_consts(norm.std, dims, &device);
    let unit = norm.std == [1.0; 3] && norm.scale == 1.0;
    if unit {
        (x + mean.clone()).clamp(0.0, 255.0) - mean
    } else {
        let s = norm.scale as f64;
        let px = (x * std.clone() + mean.clone()) / s;
        (px.clamp(0.0, 255.0) * s - mean) / std
    }
}

/// The normalized 1-d Gaussian of `sigma` with radius `int(4 sigma + 0.5)` (scipy's
/// `gaussian_filter` kernel).
pub fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let r = (4.0 * sigma + 0.5) as i64;
    let w: Vec<f64> = (-r..=r)
        .map(|i| (-0.5 * (i * i) as f64 / (sigma * sigma)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| (v / s) as f32).collect()
}

/// Pads `r` values on both ends of axis `dim` (2 or 3) by half-sample symmetric reflection
/// (`c b a | a b c ... x y z | z y x`), reflecting again for radii beyond the size.
pub fn pad_symmetric(x: Tensor<4>, dim: usize, r: usize) -> Tensor<4> {
    if r == 0 {
        return x;
    }
    let n = x.dims()[dim];
    let mut left = Vec::new();
    let mut right = Vec::new();
    // indices of the padded positions in the original, numpy 'symmetric' style
    let map = |i: i64| -> usize {
        let period = 2 * n as i64;
        let m = i.rem_euclid(period);
        (if m < n as i64 { m } else { period - 1 - m }) as usize
    };
    for k in (1..=r as i64).rev() {
        left.push(map(-k));
    }
    for k in 0..r as i64 {
        right.push(map(n as i64 + k));
    }
    let device = x.device();
    let take = |idx: Vec<usize>| {
        let t = Tensor::<1, Int>::from_ints(
            idx.iter().map(|&i| i as i64).collect::<Vec<_>>().as_slice(),
            &device,
        );
        x.clone().select(dim, t)
    };
    let l = take(left);
    let rr = take(right);
    Tensor::cat(vec![l, x, rr], dim)
}

/// Blurs each channel separately with a Gaussian of `sigma` (rows, then columns), borders
/// reflected as scipy's `mode="reflect"`.
pub fn gaussian_blur(x: Tensor<4>, sigma: f64) -> Tensor<4> {
    if sigma <= 0.0 {
        return x;
    }
    let k = gaussian_kernel(sigma);
    let r = k.len() / 2;
    let device = x.device();
    let [_, c, _, _] = x.dims();
    let kern = Tensor::<1>::from_floats(k.as_slice(), &device);
    let ky = kern
        .clone()
        .reshape([1, 1, k.len(), 1])
        .expand([c, 1, k.len(), 1]);
    let kx = kern.reshape([1, 1, 1, k.len()]).expand([c, 1, 1, k.len()]);
    let opts = || ConvOptions::new([1, 1], [0, 0], [1, 1], c);
    let y = conv2d(pad_symmetric(x, 2, r), ky, None, opts());
    conv2d(pad_symmetric(y, 3, r), kx, None, opts())
}

/// The `q`-th percentile (0..100) of `values` with linear interpolation between the sorted
/// values (numpy's default), as a `[1]` tensor.
pub fn percentile(values: Tensor<1>, q: f64) -> Tensor<1> {
    let n = values.dims()[0];
    let sorted = values.sort(0);
    let h = (n.saturating_sub(1)) as f64 * q / 100.0;
    let lo = h.floor() as usize;
    let hi = (h.ceil() as usize).min(n - 1);
    let a = sorted.clone().narrow(0, lo, 1);
    if hi == lo {
        return a;
    }
    let b = sorted.narrow(0, hi, 1);
    a.clone() + (b - a) * (h - lo as f64)
}

/// Zeroes every pixel (all channels) of the single image `x` (`[1, C, H, W]`) whose `score`
/// (`[1, 1, H, W]`) is strictly below the `q`-th percentile of all scores.
fn zero_pixels_below(x: Tensor<4>, score: Tensor<4>, q: f64) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let thr = percentile(score.clone().reshape([h * w]), q);
    let thr = thr.reshape([1, 1, 1, 1]).expand([b, 1, h, w]);
    let keep = score.greater_equal(thr).float().expand([b, c, h, w]);
    x * keep
}

/// Small-norm clipping: zero the pixels whose L2 norm over the channels is below the `q`-th
/// percentile. `x` is one image, `[1, C, H, W]`.
pub fn clip_small_norm(x: Tensor<4>, q: f64) -> Tensor<4> {
    let norms = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    zero_pixels_below(x, norms, q)
}

/// Small-contribution clipping: zero the pixels whose `|sum_c g[c] * (-x[c])|` (the predicted
/// change of the objective if the pixel were set to zero) is below the `q`-th percentile.
pub fn clip_small_contribution(x: Tensor<4>, g: Tensor<4>, q: f64) -> Tensor<4> {
    let contrib = (g * x.clone().neg()).sum_dim(1).abs();
    zero_pixels_below(x, contrib, q)
}

/// Steps 6 to 10 of an iteration on one image: `x + lr g`, decay, blur (when `ii` is a blur
/// step), small-norm and small-contribution clipping, each only when switched on.
pub fn regularized_update(x: Tensor<4>, g: Tensor<4>, lr: f64, p: &Params, ii: usize) -> Tensor<4> {
    regularize(x + g.clone() * lr, g, p, ii)
}

/// Steps 7 to 10 on one updated image `x` (`g`: the step's gradient, for the contribution
/// clipping): decay, blur, small-norm and small-contribution clipping, each only when on.
pub fn regularize(x: Tensor<4>, g: Tensor<4>, p: &Params, ii: usize) -> Tensor<4> {
    let mut x = x;
    if p.decay > 0.0 {
        x = x * (1.0 - p.decay);
    }
    if p.blurs_at(ii) {
        x = gaussian_blur(x, p.blur_radius);
    }
    if p.norm_pct > 0.0 {
        x = clip_small_norm(x, p.norm_pct);
    }
    if p.contrib_pct > 0.0 {
        x = clip_small_contribution(x, g, p.contrib_pct);
    }
    x
}

/// Pictures in 0..1 units (`[n, c, h, w]`, with gradients) in the pixel operations the
/// protocol's penalties are written in, with the run's start pictures where known.
pub struct Pixels(pub Tensor<4>, pub Option<Tensor<4>>);

impl PixelOps for Pixels {
    type Scalar = Tensor<1>;

    fn diff(&self, axis: Axis) -> Pixels {
        let [n, c, h, w] = self.0.dims();
        let x = &self.0;
        let p = match axis {
            Axis::Height => {
                x.clone().slice([0..n, 0..c, 1..h, 0..w])
                    - x.clone().slice([0..n, 0..c, 0..h - 1, 0..w])
            }
            Axis::Width => {
                x.clone().slice([0..n, 0..c, 0..h, 1..w])
                    - x.clone().slice([0..n, 0..c, 0..h, 0..w - 1])
            }
        };
        Pixels(p, None)
    }

    fn minus(&self, v: f64) -> Pixels {
        Pixels(self.0.clone() - v, None)
    }

    fn abs(self) -> Pixels {
        Pixels(self.0.abs(), None)
    }

    fn square(self) -> Pixels {
        Pixels(self.0.powi_scalar(2), None)
    }

    fn off_start(&self) -> Option<Pixels> {
        let start = self.1.as_ref()?;
        (start.dims() == self.0.dims()).then(|| Pixels(self.0.clone() - start.clone(), None))
    }

    fn mean_per_image(self) -> Tensor<1> {
        let n = self.0.dims()[0];
        self.0.mean().reshape([1]) * n as f64
    }

    fn size(&self) -> (usize, usize) {
        let [_, _, h, w] = self.0.dims();
        (h, w)
    }
}

/// The weighted sum of the active penalties of `p` on pictures `px` (0..1 units), `[1]`, the
/// run's start pictures `start` (0..1 units) where known; `None` when none applies.
pub fn penalties(p: &Penalties, px: Tensor<4>, start: Option<Tensor<4>>) -> Option<Tensor<1>> {
    let px = Pixels(px, start);
    p.active()
        .filter_map(|(kind, w)| kind.eval(&px).map(|v| v * w))
        .reduce(|a, b| a + b)
}
