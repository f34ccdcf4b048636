//! The max pooling against its definition, with padding and Caffe's ceil mode.

use deepvis_kernels::{KernelError, MaxPool2d};

/// The definition, one output at a time.
fn naive(p: &MaxPool2d, x: &[f32], [n, h, w]: [usize; 3]) -> Vec<f32> {
    let [oh, ow] = p.out_hw([h, w]).unwrap();
    let mut out = Vec::new();
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = f32::NEG_INFINITY;
                for ki in 0..p.kernel[0] {
                    for kj in 0..p.kernel[1] {
                        let iy =
                            (oy * p.stride[0] + ki * p.dilation[0]) as isize - p.pads[0] as isize;
                        let ix =
                            (ox * p.stride[1] + kj * p.dilation[1]) as isize - p.pads[1] as isize;
                        if iy >= 0 && ix >= 0 && iy < h as isize && ix < w as isize {
                            m = m.max(x[(b * h + iy as usize) * w + ix as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

#[test]
fn agrees_with_the_definition() {
    let x: Vec<f32> = (0..3 * 23 * 19)
        .map(|i| ((i * 7919) % 1013) as f32 - 500.0)
        .collect();
    for (k, s, d, pads, ceil) in [
        ([3, 3], [2, 2], [1, 1], [0; 4], true),
        ([3, 3], [2, 2], [1, 1], [0; 4], false),
        ([2, 3], [1, 2], [1, 1], [1, 0, 0, 2], false),
        ([3, 2], [3, 1], [2, 2], [2, 1, 1, 1], true),
        ([5, 5], [1, 1], [1, 1], [2; 4], false),
        ([1, 1], [2, 2], [1, 1], [0; 4], false),
    ] {
        let p = MaxPool2d {
            kernel: k,
            stride: s,
            dilation: d,
            pads,
            ceil,
        };
        let want = naive(&p, &x, [3, 23, 19]);
        let mut got = vec![0.0; want.len()];
        p.run(&x, [3, 23, 19], &mut got).unwrap();
        assert_eq!(got, want, "{p:?}");
    }
}

#[test]
fn caffe_ceil_mode_and_padding() {
    // 5x5 ramp, 3x3 stride 2 ceil: Caffe's SqueezeNet pooling gives 2x2 windows at the
    // edge that still start inside the input
    let x: Vec<f32> = (0..25).map(|v| v as f32).collect();
    let p = MaxPool2d {
        kernel: [3, 3],
        stride: [2, 2],
        dilation: [1, 1],
        pads: [0; 4],
        ceil: true,
    };
    let mut out = vec![0.0; 4];
    assert_eq!(p.run(&x, [1, 5, 5], &mut out).unwrap(), [2, 2]);
    assert_eq!(out, vec![12.0, 14.0, 22.0, 24.0]);
    let x6: Vec<f32> = (0..36).map(|v| v as f32).collect();
    let mut out = vec![0.0; 9];
    assert_eq!(p.run(&x6, [1, 6, 6], &mut out).unwrap(), [3, 3]);
    assert_eq!(
        out,
        vec![14.0, 16.0, 17.0, 26.0, 28.0, 29.0, 32.0, 34.0, 35.0]
    );
    // padding never wins, even over negative values
    let neg: Vec<f32> = (0..9).map(|v| -(v as f32) - 1.0).collect();
    let padded = MaxPool2d {
        kernel: [3, 3],
        stride: [1, 1],
        dilation: [1, 1],
        pads: [1; 4],
        ceil: false,
    };
    let mut out = vec![0.0; 9];
    padded.run(&neg, [1, 3, 3], &mut out).unwrap();
    assert_eq!(
        out,
        vec![-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -4.0, -4.0, -5.0]
    );
    // NaN shows
    let mut nan = neg.clone();
    nan[4] = f32::NAN;
    padded.run(&nan, [1, 3, 3], &mut out).unwrap();
    assert!(out.iter().all(|v| v.is_nan()));
    assert!(matches!(
        p.out_hw([2, 2]),
        Err(KernelError::DoesNotFit { .. })
    ));
}
