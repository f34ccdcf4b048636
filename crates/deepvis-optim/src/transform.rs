//! Applying the random transforms (lucent's `transform`): the draws of an image, defined in the
//! protocol's table ([`deepvis_protocol::transforms`]), composed into one affine map, are
//! applied with one bilinear resampling (differentiable, one selection of each image's four
//! corners on the device), so the
//! network's input keeps its size. What falls outside the picture is 0 in the normalized space
//! (the mean colour).

use burn::prelude::*;
pub use deepvis_protocol::Affine;

use crate::error::Result;

/// Resamples each image `i` of `x` (`[n, c, h, w]`) through `maps[i]`, bilinearly: output
/// pixel `q` takes the picture's value at `maps[i].source(q)`, 0 outside the picture.
pub fn resample(x: Tensor<4>, maps: &[Affine]) -> Result<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    if maps.len() != n {
        return Err(crate::OptimError::BadParam(format!(
            "{} transforms for {n} images",
            maps.len()
        )));
    }
    let hw = h * w;
    // the four corners of each output pixel side by side: source indices (one selection
    // serves every channel of an image) and bilinear weights
    let mut idx = vec![0i64; n * 4 * hw];
    let mut wts = vec![0f32; n * 4 * hw];
    for (i, a) in maps.iter().enumerate() {
        for y in 0..h {
            for xq in 0..w {
                let [sy, sx] = a.source([y as f64, xq as f64]);
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = (sy - y0, sx - x0);
                let p = y * w + xq;
                for (k, (dy, dx, wt)) in [
                    (0.0, 0.0, (1.0 - fy) * (1.0 - fx)),
                    (0.0, 1.0, (1.0 - fy) * fx),
                    (1.0, 0.0, fy * (1.0 - fx)),
                    (1.0, 1.0, fy * fx),
                ]
                .into_iter()
                .enumerate()
                {
                    let (yy, xx) = (y0 + dy, x0 + dx);
                    if yy >= 0.0 && xx >= 0.0 && yy < h as f64 && xx < w as f64 && wt > 0.0 {
                        idx[(i * 4 + k) * hw + p] = yy as i64 * w as i64 + xx as i64;
                        wts[(i * 4 + k) * hw + p] = wt as f32;
                    }
                }
            }
        }
    }
    let device = x.device();
    let ix = Tensor::<1, Int>::from_ints(idx.as_slice(), &device);
    let wt = Tensor::<1>::from_floats(wts.as_slice(), &device).reshape([n, 1, 4, hw]);
    let images: Vec<Tensor<4>> = (0..n)
        .map(|i| {
            x.clone()
                .slice([i..i + 1, 0..c, 0..h, 0..w])
                .reshape([c, hw])
                .select(1, ix.clone().narrow(0, i * 4 * hw, 4 * hw))
                .reshape([1, c, 4, hw])
        })
        .collect();
    let corners = Tensor::cat(images, 0);
    Ok((corners * wt).sum_dim(2).reshape([n, c, h, w]))
}
