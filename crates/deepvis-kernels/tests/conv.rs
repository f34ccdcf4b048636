//! The convolution against its definition: geometries, groups, depthwise, a channel range of
//! a wider buffer, NaN through the ReLU, bad arguments as errors.

use deepvis_kernels::{Conv2d, KernelError, Output, Scratch};

/// The definition, one output value at a time.
fn naive(c: &Conv2d, x: &[f32], [n, h, w]: [usize; 3], wt: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    let [oh, ow] = c.out_hw([h, w]).unwrap();
    let (cpg, opg) = (c.in_channels / c.group, c.out_channels / c.group);
    let [kh, kw] = c.kernel;
    let mut out = vec![0.0; n * c.out_channels * oh * ow];
    for bi in 0..n {
        for o in 0..c.out_channels {
            let g = o / opg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = b.map_or(0.0, |b| b[o]) as f64;
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
                                let xi = ((bi * c.in_channels + g * cpg + ci) * h + iy as usize)
                                    * w
                                    + ix as usize;
                                let wi = ((o * cpg + ci) * kh + ki) * kw + kj;
                                s += x[xi] as f64 * wt[wi] as f64;
                            }
                        }
                    }
                    out[((bi * c.out_channels + o) * oh + oy) * ow + ox] = s as f32;
                }
            }
        }
    }
    out
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn agree(c: Conv2d, nhw: [usize; 3], relu: bool) {
    let [n, h, w] = nhw;
    let x = values(n * c.in_channels * h * w, 1);
    let wt = values(
        c.out_channels * c.in_channels / c.group * c.kernel[0] * c.kernel[1],
        2,
    );
    let b = values(c.out_channels, 3);
    let mut want = naive(&c, &x, nhw, &wt, Some(&b));
    if relu {
        want.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    let mut got = vec![f32::NAN; want.len()];
    let mut scratch = Scratch::default();
    let wt = c.pack(&wt).unwrap();
    let out = Output {
        data: &mut got,
        channels: c.out_channels,
        offset: 0,
    };
    c.run(&x, nhw, &wt, Some(&b), relu, out, &mut scratch)
        .unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() < 1e-4 * (1.0 + w.abs()),
            "{c:?} at {i}: {g} vs {w}"
        );
    }
}

fn conv(
    i: usize,
    o: usize,
    g: usize,
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    p: [usize; 4],
) -> Conv2d {
    Conv2d {
        in_channels: i,
        out_channels: o,
        group: g,
        kernel: k,
        stride: s,
        dilation: d,
        pads: p,
    }
}

#[test]
fn agrees_with_the_definition() {
    // SqueezeNet's first layer (7x7 stride 2), a fire expand (3x3 pad 1), a pointwise
    agree(
        conv(3, 8, 1, [7, 7], [2, 2], [1, 1], [0; 4]),
        [1, 31, 29],
        false,
    );
    agree(
        conv(16, 24, 1, [3, 3], [1, 1], [1, 1], [1; 4]),
        [2, 13, 13],
        true,
    );
    agree(
        conv(32, 20, 1, [1, 1], [1, 1], [1, 1], [0; 4]),
        [2, 9, 11],
        true,
    );
    // groups, depthwise, dilation, asymmetric padding, strides larger than the kernel
    agree(
        conv(8, 12, 4, [3, 3], [2, 1], [1, 1], [1, 0, 2, 1]),
        [1, 10, 9],
        false,
    );
    agree(
        conv(6, 6, 6, [3, 3], [1, 1], [2, 2], [2; 4]),
        [1, 8, 8],
        true,
    );
    agree(
        conv(4, 5, 1, [1, 1], [3, 3], [1, 1], [0, 0, 0, 0]),
        [1, 10, 10],
        false,
    );
    agree(
        conv(3, 4, 1, [2, 3], [1, 2], [1, 1], [0, 3, 1, 0]),
        [1, 5, 7],
        false,
    );
    // depthwise: strided with TF-SAME's asymmetric pads, a 5x5 over many planes
    agree(
        conv(8, 8, 8, [3, 3], [2, 2], [1, 1], [0, 0, 1, 1]),
        [2, 11, 10],
        true,
    );
    agree(
        conv(24, 24, 24, [5, 5], [1, 1], [1, 1], [2, 2, 2, 2]),
        [1, 30, 33],
        false,
    );
    // big enough to go through the thread pool
    agree(
        conv(16, 64, 1, [3, 3], [1, 1], [1, 1], [1; 4]),
        [1, 55, 55],
        true,
    );
}

#[test]
fn writes_a_channel_range_of_a_wider_buffer() {
    let c = conv(4, 3, 1, [3, 3], [1, 1], [1, 1], [1; 4]);
    let x = values(2 * 4 * 6 * 6, 4);
    let wt = values(3 * 4 * 9, 5);
    let want = naive(&c, &x, [2, 6, 6], &wt, None);
    let wt = c.pack(&wt).unwrap();
    let mut buf = vec![7.0; 2 * 8 * 36];
    let out = Output {
        data: &mut buf,
        channels: 8,
        offset: 5,
    };
    c.run(
        &x,
        [2, 6, 6],
        &wt,
        None,
        false,
        out,
        &mut Scratch::default(),
    )
    .unwrap();
    for b in 0..2 {
        for ch in 0..8 {
            let plane = &buf[(b * 8 + ch) * 36..][..36];
            match ch >= 5 {
                true => {
                    let want = &want[(b * 3 + ch - 5) * 36..][..36];
                    assert!(plane.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5));
                }
                false => assert!(plane.iter().all(|&v| v == 7.0)),
            }
        }
    }
}

#[test]
fn relu_keeps_nan_and_bad_arguments_are_errors() {
    let c = conv(1, 1, 1, [1, 1], [1, 1], [1, 1], [0; 4]);
    let mut out = vec![0.0; 3];
    let o = Output {
        data: &mut out,
        channels: 1,
        offset: 0,
    };
    c.run(
        &[f32::NAN, -2.0, 3.0],
        [1, 1, 3],
        &[1.0],
        None,
        true,
        o,
        &mut Scratch::default(),
    )
    .unwrap();
    assert!(out[0].is_nan());
    assert_eq!(&out[1..], &[0.0, 3.0]);

    let big = conv(1, 1, 1, [5, 5], [1, 1], [1, 1], [0; 4]);
    assert!(matches!(
        big.out_hw([3, 3]),
        Err(KernelError::DoesNotFit { .. })
    ));
    let zero = conv(1, 1, 1, [3, 3], [0, 1], [1, 1], [0; 4]);
    assert!(matches!(zero.out_hw([3, 3]), Err(KernelError::Geometry(_))));
    let groups = conv(3, 4, 2, [1, 1], [1, 1], [1, 1], [0; 4]);
    assert!(matches!(
        groups.out_hw([3, 3]),
        Err(KernelError::Geometry(_))
    ));
    let o = Output {
        data: &mut out,
        channels: 1,
        offset: 0,
    };
    let short = c.run(
        &[1.0],
        [1, 1, 3],
        &[1.0],
        None,
        false,
        o,
        &mut Scratch::default(),
    );
    assert!(matches!(
        short,
        Err(KernelError::Length {
            what: "the input",
            ..
        })
    ));
}
