//! Applying the random transforms (lucent's `transform`): the draws of an image, defined in the
//! protocol's table ([`deepvis_protocol::transforms`]), composed into one affine map, are
//! applied with one bilinear resampling (differentiable, gathers on the device), so the
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
    // per corner: source indices and weights
    let mut idx = vec![vec![0i64; n * hw]; 4];
    let mut wts = vec![vec![0f32; n * hw]; 4];
    for (i, a) in maps.iter().enumerate() {
        for y in 0..h {
            for xq in 0..w {
                let [sy, sx] = a.source([y as f64, xq as f64]);
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = (sy - y0, sx - x0);
                let p = i * hw + y * w + xq;
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
                        idx[k][p] = yy as i64 * w as i64 + xx as i64;
                        wts[k][p] = wt as f32;
                    }
                }
            }
        }
    }
    let device = x.device();
    let flat = x.reshape([n, c, hw]);
    let mut out: Option<Tensor<3>> = None;
    for (ix, wt) in idx.into_iter().zip(wts) {
        let ix = Tensor::<1, Int>::from_ints(ix.as_slice(), &device)
            .reshape([n, 1, hw])
            .expand([n, c, hw]);
        let wt = Tensor::<1>::from_floats(wt.as_slice(), &device)
            .reshape([n, 1, hw])
            .expand([n, c, hw]);
        let term = flat.clone().gather(2, ix) * wt;
        out = Some(match out {
            Some(o) => o + term,
            None => term,
        });
    }
    Ok(out.unwrap_or(flat).reshape([n, c, h, w]))
}
