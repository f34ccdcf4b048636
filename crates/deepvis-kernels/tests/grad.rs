//! The input gradients against their definitions: the max pooling's, each output's signal on
//! the first maximum of its window; the convolution's, each output's signal through each
//! weight back to the pixel it read (and the adjoint identity).

use deepvis_kernels::{Conv2d, MaxPool2d, Output, Scratch};

/// Deterministic values in -1..1 (a small LCG), some of them repeated when `levels` is set.
fn values(n: usize, seed: u64, levels: Option<u32>) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((s >> 33) as f64 / (1u64 << 31) as f64) as f32 * 2.0 - 1.0;
            match levels {
                Some(l) => (u * l as f32).round() / l as f32,
                None => u,
            }
        })
        .collect()
}

#[test]
fn the_poolings_input_gradient_goes_to_each_windows_first_maximum() {
    let pools = [
        // SqueezeNet's: 3x3, stride 2, Caffe's ceil mode (the last window cut short)
        (
            MaxPool2d {
                kernel: [3, 3],
                stride: [2, 2],
                dilation: [1, 1],
                pads: [0; 4],
                ceil: true,
            },
            [3, 12, 14],
        ),
        // padded, dilated, overlapping windows
        (
            MaxPool2d {
                kernel: [2, 3],
                stride: [1, 2],
                dilation: [2, 1],
                pads: [1, 1, 0, 1],
                ceil: false,
            },
            [2, 9, 8],
        ),
    ];
    for (k, (p, [planes, h, w])) in pools.into_iter().enumerate() {
        let [oh, ow] = p.out_hw([h, w]).expect("geometry");
        // few levels: ties inside windows (ReLU outputs are often 0 together)
        let x = values(planes * h * w, 7 + k as u64, Some(2));
        let gy = values(planes * oh * ow, 11 + k as u64, None);
        let mut want = vec![0.0f32; planes * h * w];
        for c in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(usize, f32)> = None;
                    for ki in 0..p.kernel[0] {
                        for kj in 0..p.kernel[1] {
                            let iy = (oy * p.stride[0] + ki * p.dilation[0]) as isize
                                - p.pads[0] as isize;
                            let ix = (ox * p.stride[1] + kj * p.dilation[1]) as isize
                                - p.pads[1] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let i = (c * h + iy as usize) * w + ix as usize;
                            if best.is_none_or(|(_, m)| x[i] > m) {
                                best = Some((i, x[i]));
                            }
                        }
                    }
                    let (i, _) = best.expect("every window holds an input");
                    want[i] += gy[(c * oh + oy) * ow + ox];
                }
            }
        }
        let mut gx = vec![3.0f32; planes * h * w];
        let mut y = vec![0f32; planes * oh * ow];
        p.run(&x, [planes, h, w], &mut y).expect("the pooling");
        p.backward_input(&x, &y, [planes, h, w], &gy, &mut gx)
            .expect("the gradient");
        let worst = gx
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-6, "case {k}: off by {worst}");
        // every output's signal lands once
        let (sg, sy) = (gx.iter().sum::<f32>(), gy.iter().sum::<f32>());
        assert!((sg - sy).abs() < 1e-3, "{sg} vs {sy}");
    }
}

/// The convolution's input gradient by its definition: each output's signal times each weight,
/// added to the pixel that weight read (padding reads nothing).
fn conv_backward_naive(c: &Conv2d, gy: &[f32], [n, h, w]: [usize; 3], wt: &[f32]) -> Vec<f64> {
    let [oh, ow] = c.out_hw([h, w]).unwrap();
    let (cpg, opg) = (c.in_channels / c.group, c.out_channels / c.group);
    let [kh, kw] = c.kernel;
    let mut gx = vec![0f64; n * c.in_channels * h * w];
    for b in 0..n {
        for o in 0..c.out_channels {
            let g = o / opg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let s = gy[((b * c.out_channels + o) * oh + oy) * ow + ox] as f64;
                    for ci in 0..cpg {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (oy * c.stride[0] + ki * c.dilation[0]) as isize
                                    - c.pads[0] as isize;
                                let ix = (ox * c.stride[1] + kj * c.dilation[1]) as isize
                                    - c.pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let at = ((b * c.in_channels + g * cpg + ci) * h + iy as usize) * w
                                    + ix as usize;
                                gx[at] += s * wt[((o * cpg + ci) * kh + ki) * kw + kj] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    gx
}

#[test]
fn the_convolutions_input_gradient_is_its_transpose() {
    let conv = |i, o, g, k, s, d, p| Conv2d {
        in_channels: i,
        out_channels: o,
        group: g,
        kernel: k,
        stride: s,
        dilation: d,
        pads: p,
    };
    let cases = [
        // SqueezeNet's first layer (7x7 stride 2), a fire expand (3x3 pad 1), a pointwise
        (conv(3, 8, 1, [7, 7], [2, 2], [1, 1], [0; 4]), [1, 31, 29]),
        (conv(16, 24, 1, [3, 3], [1, 1], [1, 1], [1; 4]), [2, 13, 13]),
        (conv(32, 20, 1, [1, 1], [1, 1], [1, 1], [0; 4]), [2, 9, 11]),
        // groups, depthwise with dilation, asymmetric padding, strides beyond the kernel
        (
            conv(8, 12, 4, [3, 3], [2, 1], [1, 1], [1, 0, 2, 1]),
            [1, 10, 9],
        ),
        (conv(6, 6, 6, [3, 3], [1, 1], [2, 2], [2; 4]), [1, 8, 8]),
        (conv(4, 5, 1, [1, 1], [3, 3], [1, 1], [0; 4]), [1, 10, 10]),
        (
            conv(3, 4, 1, [2, 3], [1, 2], [1, 1], [0, 3, 1, 0]),
            [1, 5, 7],
        ),
        // depthwise, strided with TF-SAME pads; a 5x5 over many planes
        (
            conv(8, 8, 8, [3, 3], [2, 2], [1, 1], [0, 0, 1, 1]),
            [2, 11, 10],
        ),
        (
            conv(24, 24, 24, [5, 5], [1, 1], [1, 1], [2; 4]),
            [1, 14, 14],
        ),
        // big enough for the thread pool and the GEMM's own threads
        (conv(64, 96, 1, [3, 3], [1, 1], [1, 1], [1; 4]), [1, 40, 40]),
    ];
    for (c, [n, h, w]) in cases {
        let [oh, ow] = c.out_hw([h, w]).unwrap();
        let k = c.in_channels / c.group * c.kernel[0] * c.kernel[1];
        let wt = values(c.out_channels * k, 2, None);
        let gy = values(n * c.out_channels * oh * ow, 3, None);
        let x = values(n * c.in_channels * h * w, 4, None);
        let packed = c.pack(&wt).unwrap();
        let mut gx = vec![f32::NAN; n * c.in_channels * h * w];
        let mut scratch = Scratch::default();
        c.backward_input(&gy, [n, h, w], &packed, &mut gx, &mut scratch)
            .unwrap();
        let want = conv_backward_naive(&c, &gy, [n, h, w], &wt);
        for (i, (g, v)) in gx.iter().zip(&want).enumerate() {
            assert!(
                (*g as f64 - v).abs() <= 1e-4 * (1.0 + v.abs()),
                "{c:?} at {i}: {g} against {v}"
            );
        }
        // the adjoint: <conv(x), gy> = <x, gx>
        let mut y = vec![0f32; n * c.out_channels * oh * ow];
        let out = Output {
            data: &mut y,
            channels: c.out_channels,
            offset: 0,
        };
        c.run(&x, [n, h, w], &packed, None, false, out, &mut scratch)
            .unwrap();
        let lhs: f64 = y.iter().zip(&gy).map(|(a, b)| *a as f64 * *b as f64).sum();
        let rhs: f64 = x.iter().zip(&gx).map(|(a, b)| *a as f64 * *b as f64).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-4 * (1.0 + lhs.abs()),
            "{c:?}: {lhs} against {rhs}"
        );
    }
    // a signal of the wrong length is an error, not a panic
    let c = conv(2, 3, 1, [3, 3], [1, 1], [1, 1], [1; 4]);
    let mut gx = vec![0f32; 2 * 16];
    let short = c.backward_input(
        &[0.0; 5],
        [1, 4, 4],
        &[0.0; 54],
        &mut gx,
        &mut Scratch::default(),
    );
    assert!(matches!(
        short,
        Err(deepvis_kernels::KernelError::Length { .. })
    ));
}

#[test]
fn a_window_holding_nan_sends_its_signal_to_its_first_nan() {
    let p = MaxPool2d {
        kernel: [2, 2],
        stride: [2, 2],
        dilation: [1, 1],
        pads: [0; 4],
        ceil: false,
    };
    // two windows: [1, NaN / 5, NaN] and [3, 2 / 9, 9]
    let x = [1.0, f32::NAN, 3.0, 2.0, 5.0, f32::NAN, 9.0, 9.0];
    let mut y = [0f32; 2];
    p.run(&x, [1, 2, 4], &mut y).expect("the pooling");
    assert!(y[0].is_nan());
    assert_eq!(y[1], 9.0);
    let mut gx = [7f32; 8];
    p.backward_input(&x, &y, [1, 2, 4], &[1.0, 2.0], &mut gx)
        .expect("the gradient");
    // the first NaN in row order, the first of the two nines
    assert_eq!(gx, [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
}
