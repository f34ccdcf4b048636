//! CPU kernels of the forward pass, on plain slices: convolution as im2col and a packed GEMM
//! (the `gemm` crate, AVX-512 where the CPU has it) with the bias and ReLU fused, writing into
//! a channel range of a caller's buffer (so a concatenation costs nothing); max pooling and its
//! input gradient.

mod conv;
mod depthwise;
mod grad;
mod pool;

pub use conv::{Conv2d, Output, Scratch};
pub use pool::MaxPool2d;

/// One channel plane's window geometry (a max pooling's, a depthwise convolution's).
pub(crate) struct Plane {
    pub(crate) kernel: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) dilation: [usize; 2],
    /// `[top, left]`.
    pub(crate) pads: [usize; 2],
    pub(crate) input: [usize; 2],
    pub(crate) output: [usize; 2],
}

/// Why a kernel refused its arguments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KernelError {
    /// A zero kernel, stride or dilation, or a group count that does not divide the channels.
    #[error("bad geometry: {0}")]
    Geometry(String),
    /// The window does not fit the (padded) input.
    #[error("a {kernel:?} window does not fit a {h}x{w} input with padding {pads:?}")]
    DoesNotFit {
        /// Kernel `[h, w]` (dilated).
        kernel: [usize; 2],
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
        /// Padding `[top, left, bottom, right]`.
        pads: [usize; 4],
    },
    /// A slice is not as long as the geometry needs.
    #[error("{what} holds {got} values, {want} needed")]
    Length {
        /// Which slice.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length needed.
        want: usize,
    },
}

/// The output size of a window along one axis (`None` when it does not fit).
pub(crate) fn out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad: (usize, usize),
    ceil: bool,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + pad.0 + pad.1;
    if padded < span {
        return None;
    }
    let steps = padded - span;
    let mut n = match ceil {
        true => steps.div_ceil(stride),
        false => steps / stride,
    } + 1;
    // ceil mode: the last window must start inside the input or its left padding
    if ceil && (n - 1) * stride >= input + pad.0 {
        n -= 1;
    }
    Some(n)
}

/// The output `[h, w]` of a window (kernel, strides, dilations, pads `[top, left, bottom,
/// right]`, ceil mode) over an `[h, w]` input, or why it does not fit.
pub(crate) fn window_hw(
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [usize; 4],
    ceil: bool,
    [h, w]: [usize; 2],
) -> Result<[usize; 2], KernelError> {
    let fit =
        |i: usize, input: usize, pad| out_size(input, kernel[i], stride[i], dilation[i], pad, ceil);
    match (fit(0, h, (pads[0], pads[2])), fit(1, w, (pads[1], pads[3]))) {
        (Some(oh), Some(ow)) => Ok([oh, ow]),
        _ => Err(KernelError::DoesNotFit {
            kernel: [0, 1].map(|i| dilation[i] * (kernel[i] - 1) + 1),
            h,
            w,
            pads,
        }),
    }
}

pub(crate) fn check_len(what: &'static str, got: usize, want: usize) -> Result<(), KernelError> {
    match got >= want {
        true => Ok(()),
        false => Err(KernelError::Length { what, got, want }),
    }
}

/// The range `lo..hi` of output positions along one axis whose input position
/// `o * stride + offset - pad` falls inside `0..input`.
pub(crate) fn valid_range(
    out: usize,
    input: usize,
    stride: usize,
    offset: usize,
    pad: usize,
) -> (usize, usize) {
    // o * stride + offset >= pad  and  o * stride + offset < pad + input
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    let hi = match (pad + input).checked_sub(offset) {
        Some(lim) if lim > 0 => (lim - 1) / stride + 1,
        _ => 0,
    };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}
