//! 2-D convolution: im2col (skipped for a pointwise convolution) and one GEMM per image and
//! group, the bias added and the ReLU applied to the result in place. A patch is ordered
//! `(kh, kw, channel)` and the weights packed to match ([`Conv2d::pack`]): the order
//! burn-flex's convolution sums in, so each output value is bitwise burn's (and the
//! independent reference's), which decides the ties of the poolings' maxima as they do.

use gemm::Parallelism;
use rayon::prelude::*;

use crate::{KernelError, check_len, valid_range, window_hw};

/// The geometry of a 2-D convolution over `[N, C, H, W]` values, with weights
/// `[out_channels, in_channels / group, kh, kw]` (ONNX's and PyTorch's layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Groups (1: dense; `in_channels`: depthwise).
    pub group: usize,
    /// Kernel `[h, w]`.
    pub kernel: [usize; 2],
    /// Strides `[y, x]`.
    pub stride: [usize; 2],
    /// Dilations `[y, x]`.
    pub dilation: [usize; 2],
    /// Padding `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

/// A buffer the convolution reuses from call to call (the im2col matrix).
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) col: Vec<f32>,
}

/// Where a convolution writes: a channel range of a `[N, channels, H, W]` buffer.
#[derive(Debug)]
pub struct Output<'a> {
    /// The buffer, at least `N * channels * H * W` values.
    pub data: &'a mut [f32],
    /// Its channel count.
    pub channels: usize,
    /// The first of its channels this convolution writes.
    pub offset: usize,
}

impl Conv2d {
    fn check(&self) -> Result<(), KernelError> {
        let bad = self.kernel.contains(&0)
            || self.stride.contains(&0)
            || self.dilation.contains(&0)
            || self.group == 0
            || !self.in_channels.is_multiple_of(self.group)
            || !self.out_channels.is_multiple_of(self.group);
        match bad {
            true => Err(KernelError::Geometry(format!("{self:?}"))),
            false => Ok(()),
        }
    }

    /// The output `[h, w]` for an input of `[h, w]`.
    pub fn out_hw(&self, [h, w]: [usize; 2]) -> Result<[usize; 2], KernelError> {
        self.check()?;
        window_hw(
            self.kernel,
            self.stride,
            self.dilation,
            self.pads,
            false,
            [h, w],
        )
    }

    /// The weights, given `[out_channels, in_channels / group, kh, kw]` (ONNX's and
    /// PyTorch's layout), packed as [`run`](Self::run) and
    /// [`backward_input`](Self::backward_input) read them: `[out_channels, kh, kw, in / group]`.
    pub fn pack(&self, weight: &[f32]) -> Result<Vec<f32>, KernelError> {
        self.check()?;
        let cpg = self.in_channels / self.group;
        let [kh, kw] = self.kernel;
        let k = cpg * kh * kw;
        check_len("the weights", weight.len(), self.out_channels * k)?;
        let mut packed = vec![0.0f32; weight.len()];
        for (dst, src) in packed.chunks_mut(k).zip(weight.chunks(k)) {
            for c in 0..cpg {
                for i in 0..kh {
                    for j in 0..kw {
                        dst[(i * kw + j) * cpg + c] = src[(c * kh + i) * kw + j];
                    }
                }
            }
        }
        Ok(packed)
    }

    pub(crate) fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pads == [0; 4]
    }

    /// Convolves `x` (`[n, in_channels, h, w]`) with `weight` (packed by
    /// [`pack`](Self::pack)) and `bias`, applies ReLU when
    /// `relu`, and writes the `[n, out_channels, oh, ow]` result into `out`'s channels
    /// `offset..offset + out_channels`. Returns `[oh, ow]`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        x: &[f32],
        [n, h, w]: [usize; 3],
        weight: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
        out: Output<'_>,
        scratch: &mut Scratch,
    ) -> Result<[usize; 2], KernelError> {
        let [oh, ow] = self.out_hw([h, w])?;
        let (ohw, hw) = (oh * ow, h * w);
        let cpg = self.in_channels / self.group;
        let opg = self.out_channels / self.group;
        let k = cpg * self.kernel[0] * self.kernel[1];
        check_len("the input", x.len(), n * self.in_channels * hw)?;
        check_len("the weights", weight.len(), self.out_channels * k)?;
        if let Some(b) = bias {
            check_len("the bias", b.len(), self.out_channels)?;
        }
        if out.offset + self.out_channels > out.channels {
            return Err(KernelError::Geometry(format!(
                "channels {}..{} of a {}-channel output",
                out.offset,
                out.offset + self.out_channels,
                out.channels
            )));
        }
        check_len("the output", out.data.len(), n * out.channels * ohw)?;
        if ohw == 0 || opg == 0 {
            return Ok([oh, ow]);
        }
        if self.depthwise() {
            let stride = out.channels * ohw;
            let at = out.offset * ohw;
            self.run_depthwise(
                x,
                [n, h, w],
                [oh, ow],
                weight,
                bias,
                relu,
                &mut out.data[at..],
                stride,
            );
            return Ok([oh, ow]);
        }
        let tile = tile_width(k, ohw, rayon::current_num_threads());
        for b in 0..n {
            for g in 0..self.group {
                let xg = &x[(b * self.in_channels + g * cpg) * hw..][..cpg * hw];
                let at = (b * out.channels + out.offset + g * opg) * ohw;
                let dst = &mut out.data[at..at + opg * ohw];
                let job = Job {
                    conv: self,
                    x: xg,
                    hw: [h, w],
                    ohw: [oh, ow],
                    k,
                    lhs: &weight[g * opg * k..(g + 1) * opg * k],
                    bias: bias.map(|b| &b[g * opg..(g + 1) * opg]),
                    relu,
                    dst: Dst(dst.as_mut_ptr()),
                    rows: opg,
                };
                match ohw > tile {
                    // one column range per task, each task's patches and product in its cache
                    true => {
                        let tiles = ohw.div_ceil(tile);
                        (0..tiles)
                            .into_par_iter()
                            .for_each_init(Vec::new, |col, i| {
                                let c1 = ((i + 1) * tile).min(ohw);
                                job.columns(i * tile, c1, col, Parallelism::None)
                            })
                    }
                    // a small map: the GEMM shares out its own blocks
                    false => job.columns(0, ohw, &mut scratch.col, Parallelism::Rayon(0)),
                }
            }
        }
        Ok([oh, ow])
    }

    fn fill_patches(
        &self,
        x: &[f32],
        [h, w]: [usize; 2],
        [oh, ow]: [usize; 2],
        cols: (usize, usize),
        col: &mut Vec<f32>,
    ) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let (pt, pl) = (self.pads[0], self.pads[1]);
        let rows_n = x.len() / (h * w).max(1) * kh * kw;
        let len = cols.1 - cols.0;
        if col.len() < rows_n * len {
            col.resize(rows_n * len, 0.0);
        }
        for (r, row) in col[..rows_n * len].chunks_mut(len).enumerate() {
            let cpg = rows_n / (kh * kw);
            let (ki, kj, c) = (r / (kw * cpg), (r / cpg) % kw, r % cpg);
            let plane = &x[c * h * w..(c + 1) * h * w];
            let (y_lo, y_hi) = valid_range(oh, h, sh, ki * dh, pt);
            let (x_lo, x_hi) = valid_range(ow, w, sw, kj * dw, pl);
            let mut p = cols.0;
            while p < cols.1 {
                let (oy, ox0) = (p / ow, p % ow);
                let ox1 = (ow).min(ox0 + cols.1 - p);
                let dst = &mut row[p - cols.0..p - cols.0 + (ox1 - ox0)];
                p += ox1 - ox0;
                let (a, b) = (x_lo.clamp(ox0, ox1), x_hi.clamp(ox0, ox1));
                if oy < y_lo || oy >= y_hi || a >= b {
                    dst.fill(0.0);
                    continue;
                }
                let iy = oy * sh + ki * dh - pt;
                let src = &plane[iy * w..(iy + 1) * w];
                dst[..a - ox0].fill(0.0);
                dst[b - ox0..].fill(0.0);
                let ix0 = a * sw + kj * dw - pl;
                let span = &mut dst[a - ox0..b - ox0];
                match sw {
                    1 => span.copy_from_slice(&src[ix0..ix0 + span.len()]),
                    2 => strided::<2>(span, &src[ix0..]),
                    3 => strided::<3>(span, &src[ix0..]),
                    4 => strided::<4>(span, &src[ix0..]),
                    _ => {
                        for (j, d) in span.iter_mut().enumerate() {
                            *d = src[ix0 + j * sw];
                        }
                    }
                }
            }
        }
    }
}

/// The output columns one task computes: about 256 KiB of patches at most, at least 64
/// columns, and enough tasks to give each thread two or more; in whole vectors of 16.
fn tile_width(k: usize, ohw: usize, threads: usize) -> usize {
    let cache = ((64 * 1024) / k.max(1)).clamp(64, 2048);
    let share = ohw.div_ceil(2 * threads.max(1)).max(64);
    cache.min(share).div_ceil(16) * 16
}

/// The output pointer, shared by tasks that write disjoint column ranges of it.
#[derive(Clone, Copy)]
struct Dst(*mut f32);
// SAFETY: the tasks of one convolution write disjoint column ranges of the rows behind it.
unsafe impl Send for Dst {}
unsafe impl Sync for Dst {}

/// One image and group of a convolution.
struct Job<'a> {
    conv: &'a Conv2d,
    x: &'a [f32],
    hw: [usize; 2],
    ohw: [usize; 2],
    k: usize,
    lhs: &'a [f32],
    bias: Option<&'a [f32]>,
    relu: bool,
    /// `rows x (oh * ow)` row-major.
    dst: Dst,
    rows: usize,
}

impl Job<'_> {
    /// Computes output columns `c0..c1` of every row: bias, product, ReLU.
    fn columns(&self, c0: usize, c1: usize, col: &mut Vec<f32>, par: Parallelism) {
        let n = self.ohw[0] * self.ohw[1];
        let len = c1 - c0;
        if len == 0 {
            return;
        }
        // SAFETY: rows are `n` apart and this task owns columns c0..c1 of each of them.
        let row =
            |r: usize| unsafe { std::slice::from_raw_parts_mut(self.dst.0.add(r * n + c0), len) };
        let (rhs, rhs_rs): (&[f32], usize) = match self.conv.pointwise() {
            true => (&self.x[c0..], n),
            false => {
                self.conv
                    .fill_patches(self.x, self.hw, self.ohw, (c0, c1), col);
                (&col[..self.k * len], len)
            }
        };
        if self.k == 0 {
            (0..self.rows).for_each(|r| row(r).fill(0.0));
        } else {
            // SAFETY: `dst` is `rows x n` row-major (columns c0..c1 taken), `lhs` is
            // `rows x k` row-major and `rhs` is `k x len` with rows `rhs_rs` apart, all within
            // the lengths `run` checked; `dst` overlaps neither operand.
            unsafe {
                gemm::gemm(
                    self.rows,
                    len,
                    self.k,
                    self.dst.0.add(c0),
                    1,
                    n as isize,
                    false,
                    self.lhs.as_ptr(),
                    1,
                    self.k as isize,
                    rhs.as_ptr(),
                    1,
                    rhs_rs as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                );
            }
        }
        // the bias and the ReLU in one pass over the columns, still in this core's cache
        for r in 0..self.rows {
            let b = self.bias.map_or(0.0, |b| b[r]);
            match (self.relu, self.bias.is_some()) {
                (false, false) => {}
                (false, true) => row(r).iter_mut().for_each(|v| *v += b),
                // NaN stays NaN (`max` would hide it)
                (true, _) => row(r).iter_mut().for_each(|v| {
                    let y = *v + b;
                    *v = if y < 0.0 { 0.0 } else { y };
                }),
            }
        }
    }
}

impl Conv2d {}

/// `dst[j] = src[j * S]`, in a shape the compiler turns into vector shuffles.
#[inline]
fn strided<const S: usize>(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    let whole = (src.len() / S).min(n);
    for (d, c) in dst.iter_mut().zip(src.chunks_exact(S)) {
        *d = c[0];
    }
    for (j, d) in dst.iter_mut().enumerate().take(n).skip(whole) {
        *d = src[j * S];
    }
}
