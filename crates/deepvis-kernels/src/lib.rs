//! CPU kernels of the inference forward pass, on plain slices: convolution as im2col and a
//! packed GEMM (the `gemm` crate, AVX-512 where the CPU has it) with the bias and ReLU fused,
//! writing into a channel range of a caller's buffer (so a concatenation costs nothing).

mod conv;
mod pool;

pub use conv::{Conv2d, Output, Scratch};
pub use pool::MaxPool2d;

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
