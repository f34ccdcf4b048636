//! The real 2-d discrete Fourier transform of a `h x w` plane, orthonormal (numpy's
//! `norm="ortho"`), with `k = w / 2 + 1` columns of frequencies: both ways on the host in f64
//! (start images, checks, the natural-image spectrum), and the inverse as matrix products on the
//! device, so that gradients flow through it (images here are small: a 227 x 227 inverse is a
//! few small GEMMs).

use burn::prelude::*;
use std::f64::consts::PI;

/// A half spectrum: `re` and `im`, each `h * k` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    /// Rows (the plane's height).
    pub h: usize,
    /// The plane's width.
    pub w: usize,
    /// Real parts.
    pub re: Vec<f64>,
    /// Imaginary parts.
    pub im: Vec<f64>,
}

/// The number of frequency columns of a plane `w` wide.
pub fn columns(w: usize) -> usize {
    w / 2 + 1
}

/// The weight of column `k` in the inverse of a real transform: 1 for the constant column and
/// (even `w`) the Nyquist column, 2 for the others (each stands for itself and its mirror).
pub(crate) fn column_weight(k: usize, w: usize) -> f64 {
    if k == 0 || (w.is_multiple_of(2) && k == w / 2) {
        1.0
    } else {
        2.0
    }
}

/// `(cos, sin)` of `2 pi j / n` for `j` in `0..n`.
fn twiddles(n: usize) -> (Vec<f64>, Vec<f64>) {
    (0..n)
        .map(|j| {
            let a = 2.0 * PI * j as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .unzip()
}

/// The forward transform of one plane (`h * w` values, row-major).
pub fn rfft2(plane: &[f32], h: usize, w: usize) -> Spectrum {
    let k = columns(w);
    let (cw, sw) = twiddles(w);
    let (ch, sh) = twiddles(h);
    // along x: X[m, q] = sum_n x[m, n] e^{-2 pi i q n / w}
    let mut xr = vec![0.0; h * k];
    let mut xi = vec![0.0; h * k];
    for m in 0..h {
        let row = &plane[m * w..(m + 1) * w];
        for q in 0..k {
            let (mut r, mut i) = (0.0, 0.0);
            for (n, &v) in row.iter().enumerate() {
                let t = (q * n) % w;
                r += v as f64 * cw[t];
                i -= v as f64 * sw[t];
            }
            xr[m * k + q] = r;
            xi[m * k + q] = i;
        }
    }
    // along y: F[j, q] = sum_m X[m, q] e^{-2 pi i j m / h}
    let norm = 1.0 / ((h * w) as f64).sqrt();
    let mut re = vec![0.0; h * k];
    let mut im = vec![0.0; h * k];
    for j in 0..h {
        for m in 0..h {
            let t = (j * m) % h;
            let (c, s) = (ch[t], sh[t]);
            for q in 0..k {
                let (a, b) = (xr[m * k + q], xi[m * k + q]);
                re[j * k + q] += a * c + b * s;
                im[j * k + q] += b * c - a * s;
            }
        }
    }
    re.iter_mut().chain(im.iter_mut()).for_each(|v| *v *= norm);
    Spectrum { h, w, re, im }
}

/// The inverse transform (numpy's `irfft2(..., s=(h, w), norm="ortho")`): the imaginary part
/// of the constant column's transform is dropped, as a real result requires.
pub fn irfft2(s: &Spectrum) -> Vec<f64> {
    let (h, w) = (s.h, s.w);
    let k = columns(w);
    let (cw, sw) = twiddles(w);
    let (ch, sh) = twiddles(h);
    // along y: T[m, q] = sum_j S[j, q] e^{2 pi i j m / h}
    let mut tr = vec![0.0; h * k];
    let mut ti = vec![0.0; h * k];
    for m in 0..h {
        for j in 0..h {
            let t = (j * m) % h;
            let (c, sn) = (ch[t], sh[t]);
            for q in 0..k {
                let (a, b) = (s.re[j * k + q], s.im[j * k + q]);
                tr[m * k + q] += a * c - b * sn;
                ti[m * k + q] += a * sn + b * c;
            }
        }
    }
    // along x: x[m, n] = sum_q w_q Re(T[m, q] e^{2 pi i q n / w})
    let norm = 1.0 / ((h * w) as f64).sqrt();
    let mut out = vec![0.0; h * w];
    for m in 0..h {
        for n in 0..w {
            let mut v = 0.0;
            for q in 0..k {
                let t = (q * n) % w;
                v += column_weight(q, w) * (tr[m * k + q] * cw[t] - ti[m * k + q] * sw[t]);
            }
            out[m * w + n] = v * norm;
        }
    }
    out
}

/// lucent's `rfft2d_freqs` (its first `k` columns): the length of each frequency, in cycles per
/// pixel, `h * k` row-major.
pub fn freqs(h: usize, w: usize) -> Vec<f64> {
    let k = columns(w);
    let fy = |j: usize| {
        // numpy's fftfreq: 0, 1, ..., then the negative half
        let j = j as f64;
        let h = h as f64;
        if j < (h / 2.0).ceil() {
            j / h
        } else {
            (j - h) / h
        }
    };
    (0..h)
        .flat_map(|j| {
            (0..k).map(move |q| {
                let fx = q as f64 / w as f64;
                (fx * fx + fy(j) * fy(j)).sqrt()
            })
        })
        .collect()
}

/// lucent's frequency scaling of `fft_image`: `1 / max(f, 1 / max(h, w))^decay_power`, `h * k`.
pub fn freq_scale(h: usize, w: usize, decay_power: f64) -> Vec<f64> {
    let floor = 1.0 / h.max(w) as f64;
    freqs(h, w)
        .into_iter()
        .map(|f| 1.0 / f.max(floor).powf(decay_power))
        .collect()
}

/// The inverse transform on the device: `[n, c, h, k]` real and imaginary parts to
/// `[n, c, h, w]` planes, as two matrix products (differentiable): every row of every plane
/// along x in one, each plane along y in the other. The matrices are kept on the host and put
/// on the input's device once for plain inputs and once for autodiff ones.
#[derive(Clone, Debug)]
pub struct Irfft {
    /// `[[cx, sx], [-sx, cx]]` (`2k x 2w`) and `[cy | -sy]` (`h x 2h`) on the device: for
    /// plain inputs, for autodiff.
    on_device: [std::sync::OnceLock<[Tensor<2>; 2]>; 2],
    h: usize,
    w: usize,
    /// `w_q cos(2 pi q n / w)`, `k x w`.
    cx: Vec<f32>,
    /// `w_q sin(2 pi q n / w)`, `k x w`.
    sx: Vec<f32>,
    /// `cos(2 pi j m / h) / sqrt(h w)`, `h x h` (row m, column j).
    cy: Vec<f32>,
    /// `sin(2 pi j m / h) / sqrt(h w)`, `h x h`.
    sy: Vec<f32>,
}

impl Irfft {
    /// The matrices for `h x w` planes.
    pub fn new(h: usize, w: usize) -> Irfft {
        let k = columns(w);
        let (cw, sw) = twiddles(w);
        let (ch, sh) = twiddles(h);
        let x = |t: &[f64]| -> Vec<f32> {
            (0..k)
                .flat_map(|q| (0..w).map(move |n| (q, n)))
                .map(|(q, n)| (column_weight(q, w) * t[(q * n) % w]) as f32)
                .collect()
        };
        let norm = 1.0 / ((h * w) as f64).sqrt();
        let y = |t: &[f64]| -> Vec<f32> {
            (0..h)
                .flat_map(|m| (0..h).map(move |j| (m, j)))
                .map(|(m, j)| (t[(m * j) % h] * norm) as f32)
                .collect()
        };
        Irfft {
            on_device: Default::default(),
            h,
            w,
            cx: x(&cw),
            sx: x(&sw),
            cy: y(&ch),
            sy: y(&sh),
        }
    }

    /// The two matrices, on the host: `[[cx, sx], [-sx, cx]]` and `[cy | -sy]`.
    fn joined(&self) -> (Vec<f32>, Vec<f32>) {
        let (h, w, k) = (self.h, self.w, columns(self.w));
        let mut xm = Vec::with_capacity(4 * k * w);
        for q in 0..k {
            xm.extend_from_slice(&self.cx[q * w..(q + 1) * w]);
            xm.extend_from_slice(&self.sx[q * w..(q + 1) * w]);
        }
        for q in 0..k {
            xm.extend(self.sx[q * w..(q + 1) * w].iter().map(|v| -v));
            xm.extend_from_slice(&self.cx[q * w..(q + 1) * w]);
        }
        let mut ym = Vec::with_capacity(2 * h * h);
        for m in 0..h {
            ym.extend_from_slice(&self.cy[m * h..(m + 1) * h]);
            ym.extend(self.sy[m * h..(m + 1) * h].iter().map(|v| -v));
        }
        (xm, ym)
    }

    /// The plane size.
    pub fn size(&self) -> (usize, usize) {
        (self.h, self.w)
    }

    /// `re`, `im`: `[n, c, h, k]`; the planes, `[n, c, h, w]`.
    pub fn apply(&self, re: Tensor<4>, im: Tensor<4>) -> Tensor<4> {
        self.apply_joined(Tensor::cat(vec![re, im], 3))
    }

    /// `s`: `[n, c, h, 2k]`, the real parts then the imaginary parts of each row; the planes,
    /// `[n, c, h, w]`.
    pub fn apply_joined(&self, s: Tensor<4>) -> Tensor<4> {
        let [n, c, h, k2] = s.dims();
        let w = self.w;
        let [xm, ym] = self.on_device[s.is_autodiff() as usize]
            .get_or_init(|| {
                let device = s.device();
                let (xm, ym) = self.joined();
                [
                    Tensor::<1>::from_floats(xm.as_slice(), &device).reshape([k2, 2 * w]),
                    Tensor::<1>::from_floats(ym.as_slice(), &device).reshape([h, 2 * h]),
                ]
            })
            .clone();
        // along x, every row of every plane at once: [ur | ui] = [re | im] [[cx, sx], [-sx, cx]]
        let u = s.reshape([n * c * h, k2]).matmul(xm);
        // along y, keeping the real part: cy ur - sy ui = [cy | -sy] [ur; ui]
        let stacked = u
            .reshape([n * c, h, 2, w])
            .swap_dims(1, 2)
            .reshape([n * c, 2 * h, w]);
        ym.reshape([1, h, 2 * h])
            .expand([n * c, h, 2 * h])
            .matmul(stacked)
            .reshape([n, c, h, w])
    }
}
