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
    let [n, _, h, w] = x.dims();
    if maps.len() != n {
        return Err(crate::OptimError::BadParam(format!(
            "{} transforms for {n} images",
            maps.len()
        )));
    }
    let picks: Vec<(usize, Affine)> = maps.iter().copied().enumerate().collect();
    resample_to(x, &picks, [h, w])
}

/// Output images `out` (height, width), image `i` read from image `picks[i].0` of `x` (`[n, c, h, w]`)
/// through `picks[i].1`, bilinearly: its pixel `q` takes the value at `picks[i].1.source(q)`,
/// 0 outside the picture (crops of a canvas, each with its transforms).
pub fn resample_to(x: Tensor<4>, picks: &[(usize, Affine)], out: [usize; 2]) -> Result<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    if let Some((i, _)) = picks.iter().find(|(i, _)| *i >= n) {
        return Err(crate::OptimError::BadParam(format!(
            "a crop of image {i} of {n}"
        )));
    }
    let [oh, ow] = out;
    let (hw, ohw) = (h * w, oh * ow);
    // the four corners of each output pixel side by side: source indices (one selection
    // serves every channel of an image) and bilinear weights
    let m = picks.len();
    let mut idx = vec![0i64; m * 4 * ohw];
    let mut wts = vec![0f32; m * 4 * ohw];
    for (i, (_, a)) in picks.iter().enumerate() {
        for y in 0..oh {
            for xq in 0..ow {
                let [sy, sx] = a.source([y as f64, xq as f64]);
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = (sy - y0, sx - x0);
                let p = y * ow + xq;
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
                        idx[(i * 4 + k) * ohw + p] = yy as i64 * w as i64 + xx as i64;
                        wts[(i * 4 + k) * ohw + p] = wt as f32;
                    }
                }
            }
        }
    }
    let device = x.device();
    let ix = Tensor::<1, Int>::from_ints(idx.as_slice(), &device);
    let wt = Tensor::<1>::from_floats(wts.as_slice(), &device).reshape([m, 1, 4, ohw]);
    let images: Vec<Tensor<4>> = picks
        .iter()
        .enumerate()
        .map(|(i, (src, _))| {
            x.clone()
                .slice([*src..*src + 1, 0..c, 0..h, 0..w])
                .reshape([c, hw])
                .select(1, ix.clone().narrow(0, i * 4 * ohw, 4 * ohw))
                .reshape([1, c, 4, ohw])
        })
        .collect();
    let corners = Tensor::cat(images, 0);
    Ok((corners * wt).sum_dim(2).reshape([m, c, oh, ow]))
}

/// Resizes a `3 x from x from` picture (CHW, any units) to `3 x to x to` on the host with an
/// antialiased triangle filter (Pillow's bilinear, in floating point): how a start picture
/// or the network's input becomes a canvas, and a canvas the network's input.
pub fn resize_square(chw: &[f32], from: usize, to: usize) -> Vec<f32> {
    if from == to {
        return chw.to_vec();
    }
    // per output sample: the first input sample and the normalized weights
    let taps: Vec<(usize, Vec<f64>)> = {
        let scale = from as f64 / to.max(1) as f64;
        let support = scale.max(1.0);
        (0..to)
            .map(|o| {
                let centre = (o as f64 + 0.5) * scale;
                let lo = ((centre - support + 0.5).floor().max(0.0)) as usize;
                let hi = ((centre + support + 0.5).floor() as usize)
                    .min(from)
                    .max(lo);
                let raw: Vec<f64> = (lo..hi)
                    .map(|x| (1.0 - ((x as f64 - centre + 0.5) / support).abs()).max(0.0))
                    .collect();
                let sum: f64 = raw.iter().sum();
                let w = raw.iter().map(|v| if sum > 0.0 { v / sum } else { 0.0 });
                (lo, w.collect())
            })
            .collect()
    };
    let plane = from * from;
    let mut out = Vec::with_capacity(3 * to * to);
    for c in 0..chw.len() / plane.max(1) {
        let src = &chw[c * plane..(c + 1) * plane];
        // rows first
        let mut mid = vec![0f64; from * to];
        for y in 0..from {
            for (x, (lo, w)) in taps.iter().enumerate() {
                mid[y * to + x] = w
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| wt * src[y * from + lo + k] as f64)
                    .sum();
            }
        }
        for (lo, w) in &taps {
            for x in 0..to {
                out.push(
                    w.iter()
                        .enumerate()
                        .map(|(k, wt)| wt * mid[(lo + k) * to + x])
                        .sum::<f64>() as f32,
                );
            }
        }
    }
    out
}
