//! Input gradients (vector-Jacobian products for the input): the max pooling's, each
//! output's signal on the first maximum of its window (burn's and PyTorch's rule), one channel
//! plane per task; the convolution's, the transposed convolution as one GEMM per image and
//! group and its columns added back into their pixels, one input channel per task.

use gemm::Parallelism;
use rayon::prelude::*;

use crate::{Conv2d, KernelError, MaxPool2d, Scratch, check_len, valid_range};

impl Conv2d {
    /// The signal on the input (`[n, in_channels, h, w]`, written to `gx`) given the signal
    /// `gy` on the output (`[n, out_channels, oh, ow]`) and the weights packed by
    /// [`pack`](Self::pack): `gx = W^T gy`, summed over the patches each pixel is in.
    pub fn backward_input(
        &self,
        gy: &[f32],
        [n, h, w]: [usize; 3],
        weight: &[f32],
        gx: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<(), KernelError> {
        let [oh, ow] = self.out_hw([h, w])?;
        let (ohw, hw) = (oh * ow, h * w);
        let cpg = self.in_channels / self.group;
        let opg = self.out_channels / self.group;
        let k = cpg * self.kernel[0] * self.kernel[1];
        check_len("the output signal", gy.len(), n * self.out_channels * ohw)?;
        check_len("the weights", weight.len(), self.out_channels * k)?;
        check_len("the input signal", gx.len(), n * self.in_channels * hw)?;
        let gx = &mut gx[..n * self.in_channels * hw];
        gx.fill(0.0);
        if ohw == 0 || hw == 0 || k == 0 || opg == 0 {
            return Ok(());
        }
        if self.depthwise() {
            self.backward_depthwise(gy, [n, h, w], [oh, ow], weight, gx);
            return Ok(());
        }
        let pointwise = self.pointwise();
        let par = match k * opg * ohw >= 1 << 18 {
            true => Parallelism::Rayon(0),
            false => Parallelism::None,
        };
        for b in 0..n {
            for g in 0..self.group {
                let gyg = &gy[(b * self.out_channels + g * opg) * ohw..][..opg * ohw];
                let wg = &weight[g * opg * k..(g + 1) * opg * k];
                let gxg = &mut gx[(b * self.in_channels + g * cpg) * hw..][..cpg * hw];
                // the columns: W^T (k x opg) times the signal (opg x ohw); a pointwise
                // convolution's columns are the input's pixels themselves
                let col: &mut [f32] = match pointwise {
                    true => &mut *gxg,
                    false => {
                        if scratch.col.len() < k * ohw {
                            scratch.col.resize(k * ohw, 0.0);
                        }
                        &mut scratch.col[..k * ohw]
                    }
                };
                // SAFETY: `col` is `k x ohw` row-major, `wg` is `opg x k` row-major (read
                // transposed), `gyg` is `opg x ohw` row-major, all within the checked lengths;
                // `col` overlaps neither operand.
                unsafe {
                    gemm::gemm(
                        k,
                        ohw,
                        opg,
                        col.as_mut_ptr(),
                        1,
                        ohw as isize,
                        false,
                        wg.as_ptr(),
                        k as isize,
                        1,
                        gyg.as_ptr(),
                        1,
                        ohw as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    );
                }
                if !pointwise {
                    self.add_columns(&scratch.col[..k * ohw], [h, w], [oh, ow], gxg);
                }
            }
        }
        Ok(())
    }

    /// Adds each column row `(kh, kw, channel)` into the pixels its patches read, one input
    /// channel per task.
    fn add_columns(&self, col: &[f32], [h, w]: [usize; 2], [oh, ow]: [usize; 2], gx: &mut [f32]) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let (pt, pl) = (self.pads[0], self.pads[1]);
        let cpg = self.in_channels / self.group;
        let ohw = oh * ow;
        let plane = |(c, dst): (usize, &mut [f32])| {
            for ki in 0..kh {
                let (y_lo, y_hi) = valid_range(oh, h, sh, ki * dh, pt);
                for kj in 0..kw {
                    let (x_lo, x_hi) = valid_range(ow, w, sw, kj * dw, pl);
                    let row = &col[((ki * kw + kj) * cpg + c) * ohw..][..ohw];
                    for oy in y_lo..y_hi {
                        let iy = oy * sh + ki * dh - pt;
                        let src = &row[oy * ow..(oy + 1) * ow];
                        let line = &mut dst[iy * w..(iy + 1) * w];
                        let ix0 = (x_lo * sw + kj * dw) as isize - pl as isize;
                        match sw {
                            1 => {
                                let at = ix0 as usize;
                                let span = &mut line[at..at + (x_hi - x_lo)];
                                for (d, v) in span.iter_mut().zip(&src[x_lo..x_hi]) {
                                    *d += v;
                                }
                            }
                            _ => {
                                for (j, v) in src[x_lo..x_hi].iter().enumerate() {
                                    line[ix0 as usize + j * sw] += v;
                                }
                            }
                        }
                    }
                }
            }
        };
        match cpg * h * w >= 1 << 12 {
            true => gx.par_chunks_mut(h * w).enumerate().for_each(plane),
            false => gx.chunks_mut(h * w).enumerate().for_each(plane),
        }
    }
}

impl MaxPool2d {
    /// The signal on the input (`[planes, h, w]`, written to `gx`) given the input `x`, its
    /// pooled output `y` (`[planes, oh, ow]`, as [`run`](Self::run) gave it) and the signal
    /// `gy` on the output: each output's signal goes to the first maximum of its window (in
    /// row order; the first NaN where the window holds one), as burn's and PyTorch's pooling
    /// keep it.
    pub fn backward_input(
        &self,
        x: &[f32],
        y: &[f32],
        [planes, h, w]: [usize; 3],
        gy: &[f32],
        gx: &mut [f32],
    ) -> Result<(), KernelError> {
        let [oh, ow] = self.out_hw([h, w])?;
        check_len("the input", x.len(), planes * h * w)?;
        check_len("the output", y.len(), planes * oh * ow)?;
        check_len("the output signal", gy.len(), planes * oh * ow)?;
        check_len("the input signal", gx.len(), planes * h * w)?;
        let gx = &mut gx[..planes * h * w];
        gx.fill(0.0);
        if oh * ow == 0 || h * w == 0 {
            return Ok(());
        }
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let (pt, pl) = (self.pads[0], self.pads[1]);
        // each output's window: its valid rows and columns, found once
        let span = |o: usize, s: usize, d: usize, k: usize, pad: usize, len: usize| {
            let start = (o * s) as isize - pad as isize;
            let lo = (0..k).find(|&j| start + (j * d) as isize >= 0).unwrap_or(k);
            let hi = (0..k)
                .rev()
                .find(|&j| start + ((j * d) as isize) < len as isize)
                .map_or(0, |j| j + 1);
            (start, lo, hi.max(lo))
        };
        let rows: Vec<(isize, usize, usize)> =
            (0..oh).map(|o| span(o, sh, dh, kh, pt, h)).collect();
        let cols: Vec<(isize, usize, usize)> =
            (0..ow).map(|o| span(o, sw, dw, kw, pl, w)).collect();
        let plane = |(p, dst): (usize, &mut [f32])| {
            let src = &x[p * h * w..(p + 1) * h * w];
            let g = &gy[p * oh * ow..(p + 1) * oh * ow];
            let top = &y[p * oh * ow..(p + 1) * oh * ow];
            for (oy, &(y0, ylo, yhi)) in rows.iter().enumerate() {
                for (ox, &(x0, xlo, xhi)) in cols.iter().enumerate() {
                    let signal = g[oy * ow + ox];
                    if signal == 0.0 || ylo == yhi || xlo == xhi {
                        continue;
                    }
                    // the window backwards, without branches: the last match seen is the
                    // first in row order
                    let m = top[oy * ow + ox];
                    let nan = m.is_nan();
                    let mut best = usize::MAX;
                    for ki in (ylo..yhi).rev() {
                        let at = (y0 + (ki * dh) as isize) as usize * w;
                        let c0 = (x0 + (xlo * dw) as isize) as usize;
                        match (dw, nan) {
                            // the common case: a contiguous run of the row, no NaN
                            (1, false) => {
                                let run = &src[at + c0..at + c0 + (xhi - xlo)];
                                for (j, &v) in run.iter().enumerate().rev() {
                                    if v == m {
                                        best = at + c0 + j;
                                    }
                                }
                            }
                            _ => {
                                for kj in (xlo..xhi).rev() {
                                    let i = at + (x0 + (kj * dw) as isize) as usize;
                                    let v = src[i];
                                    if v == m || (nan && v.is_nan()) {
                                        best = i;
                                    }
                                }
                            }
                        }
                    }
                    if let Some(d) = dst.get_mut(best) {
                        *d += signal;
                    }
                }
            }
        };
        match planes * oh * ow >= 1 << 12 {
            true => gx.par_chunks_mut(h * w).enumerate().for_each(plane),
            false => gx.chunks_mut(h * w).enumerate().for_each(plane),
        }
        Ok(())
    }
}
