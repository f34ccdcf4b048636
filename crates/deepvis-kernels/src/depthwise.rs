//! Depthwise convolution (one input channel to one output channel, MobileNet's and
//! EfficientNet's) and its input gradient: direct loops, a few channel planes per task, each
//! row accumulated weight by weight in the core's cache; AVX2 where the CPU has it.

use rayon::prelude::*;

use crate::{Conv2d, Plane, valid_range};

impl Conv2d {
    /// Whether each output channel reads its own input channel alone.
    pub(crate) fn depthwise(&self) -> bool {
        self.group > 1 && self.group == self.in_channels && self.group == self.out_channels
    }

    /// One plane's geometry for `[h, w]` inputs and `[oh, ow]` outputs, each kernel column's
    /// valid output columns, and how many planes a task takes (a few: small maps, 14x14,
    /// would spend more on the tasks than on them).
    fn planes(&self, input: [usize; 2], output: [usize; 2]) -> (Plane, Vec<(usize, usize)>, usize) {
        let plane = Plane {
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pads: [self.pads[0], self.pads[1]],
            input,
            output,
        };
        let cols = (0..self.kernel[1])
            .map(|kj| {
                let offset = kj * self.dilation[1];
                valid_range(output[1], input[1], self.stride[1], offset, self.pads[1])
            })
            .collect();
        let c = self.in_channels;
        let per_task = (c / (4 * rayon::current_num_threads()).max(1)).clamp(1, 64);
        (plane, cols, per_task)
    }

    /// The depthwise convolution of `x` (`[n, c, h, w]`) into `dst` (`n` runs of `c` output
    /// planes, `stride` values apart from image to image), with the bias and the ReLU.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_depthwise(
        &self,
        x: &[f32],
        [n, h, w]: [usize; 3],
        [oh, ow]: [usize; 2],
        weight: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
        dst: &mut [f32],
        stride: usize,
    ) {
        let c = self.in_channels;
        let (hw, ohw) = (h * w, oh * ow);
        let kk = self.kernel[0] * self.kernel[1];
        let (geo, cols, per_task) = self.planes([h, w], [oh, ow]);
        let avx = avx2();
        for b in 0..n {
            let out = &mut dst[b * stride..b * stride + c * ohw];
            out.par_chunks_mut(ohw * per_task)
                .enumerate()
                .for_each(|(t, planes)| {
                    for (i, plane) in planes.chunks_mut(ohw).enumerate() {
                        let ch = t * per_task + i;
                        let src = &x[(b * c + ch) * hw..(b * c + ch + 1) * hw];
                        let wt = &weight[ch * kk..(ch + 1) * kk];
                        let b0 = bias.map(|b| b[ch]);
                        match avx {
                            // SAFETY: the CPU has AVX2 (checked at run time).
                            #[cfg(target_arch = "x86_64")]
                            true => unsafe { geo.run_avx2(src, wt, b0, relu, &cols, plane) },
                            _ => geo.run(src, wt, b0, relu, &cols, plane),
                        }
                    }
                });
        }
    }
}

impl Conv2d {
    /// The depthwise convolution's input gradient: `gy` (`[n, c, oh, ow]`) back through the
    /// weights into `gx` (`[n, c, h, w]`, overwritten).
    pub(crate) fn backward_depthwise(
        &self,
        gy: &[f32],
        [n, h, w]: [usize; 3],
        [oh, ow]: [usize; 2],
        weight: &[f32],
        gx: &mut [f32],
    ) {
        let c = self.in_channels;
        let (hw, ohw) = (h * w, oh * ow);
        let kk = self.kernel[0] * self.kernel[1];
        let (geo, cols, per_task) = self.planes([h, w], [oh, ow]);
        gx[..n * c * hw]
            .par_chunks_mut(hw * per_task)
            .enumerate()
            .for_each(|(t, planes)| {
                for (i, plane) in planes.chunks_mut(hw).enumerate() {
                    let p = t * per_task + i;
                    let ch = p % c;
                    let g = &gy[p * ohw..(p + 1) * ohw];
                    geo.back(g, &weight[ch * kk..(ch + 1) * kk], &cols, plane);
                }
            });
    }
}

/// Whether the CPU has AVX2 (checked once).
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

impl Plane {
    /// One plane's input gradient: each output row's signal through each weight to the input
    /// row it read.
    fn back(&self, gy: &[f32], wt: &[f32], cols: &[(usize, usize)], gx: &mut [f32]) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let [pt, pl] = self.pads;
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        gx.fill(0.0);
        for (oy, row) in gy.chunks(ow).enumerate().take(oh) {
            for ki in 0..kh {
                let iy = (oy * sh + ki * dh) as isize - pt as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let line = &mut gx[iy as usize * w..(iy as usize + 1) * w];
                for (kj, &(lo, hi)) in cols.iter().enumerate().take(kw) {
                    if lo >= hi {
                        continue;
                    }
                    let a = wt[ki * kw + kj];
                    let ix0 = lo * sw + kj * dw - pl;
                    for (j, g) in row[lo..hi].iter().enumerate() {
                        line[ix0 + j * sw] += a * g;
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(
        &self,
        src: &[f32],
        wt: &[f32],
        bias: Option<f32>,
        relu: bool,
        cols: &[(usize, usize)],
        out: &mut [f32],
    ) {
        self.run(src, wt, bias, relu, cols, out)
    }

    /// One plane: each weight's shifted input row added, output row by output row (`cols`:
    /// each kernel column's valid output columns), then the bias; the ReLU last (NaN stays
    /// NaN).
    #[inline(always)]
    fn run(
        &self,
        src: &[f32],
        wt: &[f32],
        bias: Option<f32>,
        relu: bool,
        cols: &[(usize, usize)],
        out: &mut [f32],
    ) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let [pt, pl] = self.pads;
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        for (oy, row) in out.chunks_mut(ow).enumerate().take(oh) {
            // from zero, the bias last: burn's order, so the values are burn's to the bit
            row.fill(0.0);
            for ki in 0..kh {
                let iy = (oy * sh + ki * dh) as isize - pt as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let line = &src[iy as usize * w..(iy as usize + 1) * w];
                for (kj, &(lo, hi)) in cols.iter().enumerate() {
                    if lo >= hi {
                        continue;
                    }
                    let a = wt[ki * kw + kj];
                    let ix0 = lo * sw + kj * dw - pl;
                    let d = &mut row[lo..hi];
                    match sw {
                        1 => {
                            for (d, s) in d.iter_mut().zip(&line[ix0..ix0 + (hi - lo)]) {
                                *d += s * a;
                            }
                        }
                        _ => {
                            for (j, d) in d.iter_mut().enumerate() {
                                *d += line[ix0 + j * sw] * a;
                            }
                        }
                    }
                }
            }
            if let Some(b) = bias {
                row.iter_mut().for_each(|v| *v += b);
            }
            if relu {
                for v in row.iter_mut() {
                    *v = if *v < 0.0 { 0.0 } else { *v };
                }
            }
        }
    }
}
