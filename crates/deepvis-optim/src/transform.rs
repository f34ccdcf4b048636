//! Random transforms (lucent's `transform`): pad, jitter, scale and rotate, each drawn afresh
//! per image and step, composed into one affine map and applied with one bilinear resampling
//! (differentiable, gathers on the device), so the network's input keeps its size. What falls
//! outside the picture is 0 in the normalized space (the mean colour).
//!
//! A map takes a point of the picture to a point of the network's input, in `(y, x)` pixel
//! coordinates (`y` down); rotations are counter-clockwise on screen.

use burn::prelude::*;
use deepvis_model::rng::Rng;
use deepvis_protocol::Transforms;

use crate::error::Result;

/// `q = m u + t`: a point `u` of the picture lands at `q`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// The linear part, `(y, x)` rows and columns.
    pub m: [[f64; 2]; 2],
    /// The translation.
    pub t: [f64; 2],
}

impl Affine {
    /// Nothing moves.
    pub const IDENTITY: Affine = Affine {
        m: [[1.0, 0.0], [0.0, 1.0]],
        t: [0.0, 0.0],
    };

    /// A shift by `(dy, dx)` pixels.
    pub fn shift(dy: f64, dx: f64) -> Affine {
        Affine {
            t: [dy, dx],
            ..Affine::IDENTITY
        }
    }

    /// `m` about the centre of a `size x size` picture.
    fn about_centre(m: [[f64; 2]; 2], size: usize) -> Affine {
        let c = (size as f64 - 1.0) / 2.0;
        // q = c + m (u - c) = m u + (c - m c)
        let t = [
            c - (m[0][0] * c + m[0][1] * c),
            c - (m[1][0] * c + m[1][1] * c),
        ];
        Affine { m, t }
    }

    /// Scaling by `s` about the centre.
    pub fn scale(s: f64, size: usize) -> Affine {
        Affine::about_centre([[s, 0.0], [0.0, s]], size)
    }

    /// Rotation by `degrees` counter-clockwise on screen, about the centre.
    pub fn rotate(degrees: f64, size: usize) -> Affine {
        let (s, c) = degrees.to_radians().sin_cos();
        Affine::about_centre([[c, -s], [s, c]], size)
    }

    /// `self`, then `next`.
    pub fn then(self, next: Affine) -> Affine {
        let (a, b) = (next.m, self.m);
        let m = [
            [
                a[0][0] * b[0][0] + a[0][1] * b[1][0],
                a[0][0] * b[0][1] + a[0][1] * b[1][1],
            ],
            [
                a[1][0] * b[0][0] + a[1][1] * b[1][0],
                a[1][0] * b[0][1] + a[1][1] * b[1][1],
            ],
        ];
        let t = [
            a[0][0] * self.t[0] + a[0][1] * self.t[1] + next.t[0],
            a[1][0] * self.t[0] + a[1][1] * self.t[1] + next.t[1],
        ];
        Affine { m, t }
    }

    /// The picture's point that lands at `q`.
    pub fn source(&self, q: [f64; 2]) -> [f64; 2] {
        let m = self.m;
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let (dy, dx) = (q[0] - self.t[0], q[1] - self.t[1]);
        [
            (m[1][1] * dy - m[0][1] * dx) / det,
            (-m[1][0] * dy + m[0][0] * dx) / det,
        ]
    }

    /// One random draw of `tr` for a `size x size` input, in lucent's order: pad, jitter,
    /// scale, rotate, then a jitter of half the range.
    pub fn draw(tr: &Transforms, size: usize, rng: &mut Rng) -> Affine {
        let mut a = Affine::IDENTITY;
        if tr.pad > 0 {
            // the padded picture shrunk back to the input's size
            a = a.then(Affine::scale(
                size as f64 / (size as f64 + 2.0 * tr.pad as f64),
                size,
            ));
        }
        let jitter = |a: Affine, r: u32, rng: &mut Rng| {
            if r == 0 {
                return a;
            }
            let mut d = || (rng.uniform() * (2 * r + 1) as f64).floor() - r as f64;
            let (dy, dx) = (d(), d());
            a.then(Affine::shift(dy, dx))
        };
        a = jitter(a, tr.jitter, rng);
        if tr.scale > 0.0 {
            a = a.then(Affine::scale(
                1.0 + tr.scale * (2.0 * rng.uniform() - 1.0),
                size,
            ));
        }
        if tr.rotate > 0.0 {
            a = a.then(Affine::rotate(
                tr.rotate * (2.0 * rng.uniform() - 1.0),
                size,
            ));
        }
        jitter(a, tr.jitter / 2, rng)
    }
}

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
