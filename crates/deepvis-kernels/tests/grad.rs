//! The max pooling's input gradient against its definition: each output's signal on the first
//! maximum of its window.

use deepvis_kernels::MaxPool2d;

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
        p.backward_input(&x, [planes, h, w], &gy, &mut gx)
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
