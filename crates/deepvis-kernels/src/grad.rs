//! The input gradient of the max pooling (its vector-Jacobian product for the input): each
//! output's signal goes to the first maximum of its window (burn's and PyTorch's rule), one
//! channel plane per task.

use rayon::prelude::*;

use crate::{KernelError, MaxPool2d, check_len};

impl MaxPool2d {
    /// The signal on the input (`[planes, h, w]`, written to `gx`) given the input `x` and the
    /// signal `gy` on the output (`[planes, oh, ow]`): each output's signal goes to the first
    /// maximum of its window (in row order), as burn's and PyTorch's pooling keep it.
    pub fn backward_input(
        &self,
        x: &[f32],
        [planes, h, w]: [usize; 3],
        gy: &[f32],
        gx: &mut [f32],
    ) -> Result<(), KernelError> {
        let [oh, ow] = self.out_hw([h, w])?;
        check_len("the input", x.len(), planes * h * w)?;
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
            for (oy, &(y0, ylo, yhi)) in rows.iter().enumerate() {
                for (ox, &(x0, xlo, xhi)) in cols.iter().enumerate() {
                    let mut best = usize::MAX;
                    let mut top = f32::NEG_INFINITY;
                    for ki in ylo..yhi {
                        let at = (y0 + (ki * dh) as isize) as usize * w;
                        for kj in xlo..xhi {
                            let i = at + (x0 + (kj * dw) as isize) as usize;
                            let v = src[i];
                            if best == usize::MAX || v > top || (v.is_nan() && !top.is_nan()) {
                                best = i;
                                top = v;
                            }
                        }
                    }
                    if best != usize::MAX {
                        dst[best] += g[oy * ow + ox];
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
