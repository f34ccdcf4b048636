//! 2-D max pooling, one channel plane per task.

use rayon::prelude::*;

use crate::{KernelError, Plane, check_len, window_hw};

/// The geometry of a 2-D max pooling over `[N, C, H, W]` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window `[h, w]`.
    pub kernel: [usize; 2],
    /// Strides `[y, x]`.
    pub stride: [usize; 2],
    /// Dilations `[y, x]`.
    pub dilation: [usize; 2],
    /// Padding `[top, left, bottom, right]` (never part of a maximum).
    pub pads: [usize; 4],
    /// Ceil-mode output size (Caffe's pooling).
    pub ceil: bool,
}

impl MaxPool2d {
    /// The output `[h, w]` for an input of `[h, w]`.
    pub fn out_hw(&self, [h, w]: [usize; 2]) -> Result<[usize; 2], KernelError> {
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return Err(KernelError::Geometry(format!("{self:?}")));
        }
        window_hw(
            self.kernel,
            self.stride,
            self.dilation,
            self.pads,
            self.ceil,
            [h, w],
        )
    }

    /// Pools `x` (`[planes, h, w]`, planes = N * C) into `out` (`[planes, oh, ow]`); a window
    /// holding a NaN gives NaN. Returns `[oh, ow]`.
    pub fn run(
        &self,
        x: &[f32],
        [planes, h, w]: [usize; 3],
        out: &mut [f32],
    ) -> Result<[usize; 2], KernelError> {
        let [oh, ow] = self.out_hw([h, w])?;
        check_len("the input", x.len(), planes * h * w)?;
        check_len("the output", out.len(), planes * oh * ow)?;
        if oh * ow == 0 || h * w == 0 {
            out[..planes * oh * ow].fill(f32::NEG_INFINITY);
            return Ok([oh, ow]);
        }
        let geo = Plane {
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pads: [self.pads[0], self.pads[1]],
            input: [h, w],
            output: [oh, ow],
        };
        let plane = |src: &[f32], dst: &mut [f32]| {
            let mut rows = vec![f32::NEG_INFINITY; h * ow];
            geo.plane(src, dst, &mut rows);
        };
        let src = &x[..planes * h * w];
        let dst = &mut out[..planes * oh * ow];
        match planes * oh * ow >= 1 << 14 {
            true => dst
                .par_chunks_mut(oh * ow)
                .zip(src.par_chunks(h * w))
                .for_each(|(d, s)| plane(s, d)),
            false => dst
                .chunks_mut(oh * ow)
                .zip(src.chunks(h * w))
                .for_each(|(d, s)| plane(s, d)),
        }
        Ok([oh, ow])
    }
}

/// The maximum of two values, NaN from either side winning.
#[inline(always)]
fn max_nan(a: f32, b: f32) -> f32 {
    if b > a || b.is_nan() { b } else { a }
}

/// One plane's pooling, separably: each input row pooled along x into `rows` (`[h, ow]`),
/// then each output row the maximum of its window's rows. The windows wholly inside a row
/// go through contiguous, vectorizable loops; those reaching into the padding one by one.
impl Plane {
    fn plane(&self, src: &[f32], dst: &mut [f32], rows: &mut [f32]) {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let [pt, pl] = self.pads;
        let span = dw * (kw - 1) + 1;
        // g[s] = max over the window starting at input column s, for windows inside the row
        let inner = (w + 1).saturating_sub(span);
        let mut g = vec![0.0f32; inner];
        for (r, out) in src.chunks(w).zip(rows.chunks_mut(ow)) {
            if inner > 0 {
                g.copy_from_slice(&r[..inner]);
                for kj in 1..kw {
                    for (m, &v) in g.iter_mut().zip(&r[kj * dw..kj * dw + inner]) {
                        *m = max_nan(*m, v);
                    }
                }
            }
            for (ox, o) in out.iter_mut().enumerate() {
                let start = (ox * sw) as isize - pl as isize;
                *o = match start >= 0 && (start as usize) < inner {
                    true => g[start as usize],
                    false => (0..kw)
                        .map(|kj| start + (kj * dw) as isize)
                        .filter(|&i| i >= 0 && (i as usize) < w)
                        .fold(f32::NEG_INFINITY, |m, i| max_nan(m, r[i as usize])),
                };
            }
        }
        for (oy, out) in dst.chunks_mut(ow).enumerate().take(oh) {
            out.fill(f32::NEG_INFINITY);
            for ki in 0..kh {
                let iy = (oy * sh + ki * dh) as isize - pt as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let row = &rows[iy as usize * ow..(iy as usize + 1) * ow];
                for (m, &v) in out.iter_mut().zip(row) {
                    *m = max_nan(*m, v);
                }
            }
        }
    }
}
