//! `cargo bench -p deepvis-kernels`: SqueezeNet's convolutions and poolings on this machine's
//! CPU, each beside the bare GEMM of the same size (the floor the convolution's patches, bias
//! and ReLU add to).

use std::time::Instant;

use deepvis_kernels::{Conv2d, MaxPool2d, Output, Scratch};
use gemm::Parallelism;

/// The best of `iters` runs, in milliseconds.
fn best(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn gemm_ms(m: usize, n: usize, k: usize) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    best(30, || {
        // SAFETY: `c` is `m x n`, `a` is `m x k`, `b` is `k x n`, all row-major and distinct.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::Rayon(0),
            )
        }
    })
}

fn conv(i: usize, o: usize, k: usize, s: usize, p: usize) -> Conv2d {
    Conv2d {
        in_channels: i,
        out_channels: o,
        group: 1,
        kernel: [k, k],
        stride: [s, s],
        dilation: [1, 1],
        pads: [p; 4],
    }
}

fn main() {
    println!(
        "{} threads; best of 30\n{:<22} {:>10} {:>10} {:>8} {:>8}",
        rayon::current_num_threads(),
        "convolution + ReLU",
        "ms",
        "GEMM ms",
        "ratio",
        "GFLOPS"
    );
    for (name, c, hw) in [
        ("conv1 7x7/2", conv(3, 96, 7, 2, 0), 227),
        ("fire4 squeeze 1x1", conv(256, 32, 1, 1, 0), 55),
        ("fire4 expand 1x1", conv(32, 128, 1, 1, 0), 55),
        ("fire4 expand 3x3", conv(32, 128, 3, 1, 1), 55),
        ("fire8 expand 3x3", conv(64, 256, 3, 1, 1), 27),
        ("conv10 1x1", conv(512, 1000, 1, 1, 0), 13),
    ] {
        let Ok([oh, ow]) = c.out_hw([hw, hw]) else {
            continue;
        };
        let k = c.in_channels * c.kernel[0] * c.kernel[1];
        let x = vec![0.5f32; c.in_channels * hw * hw];
        let w = vec![0.01f32; c.out_channels * k];
        let b = vec![-0.1f32; c.out_channels];
        let mut out = vec![0.0f32; c.out_channels * oh * ow];
        let mut scratch = Scratch::default();
        let ms = best(30, || {
            let dst = Output {
                data: &mut out,
                channels: c.out_channels,
                offset: 0,
            };
            let _ = c.run(&x, [1, hw, hw], &w, Some(&b), true, dst, &mut scratch);
        });
        let g = gemm_ms(c.out_channels, oh * ow, k);
        let flops = 2.0 * (c.out_channels * oh * ow * k) as f64;
        println!(
            "{name:<22} {ms:>10.3} {g:>10.3} {:>7.2}x {:>8.1}",
            ms / g,
            flops / ms / 1e6
        );
    }
    println!("\n{:<22} {:>10}", "max pooling 3x3/2", "ms");
    for (c, hw) in [(96, 111), (256, 55), (512, 27)] {
        let p = MaxPool2d {
            kernel: [3, 3],
            stride: [2, 2],
            dilation: [1, 1],
            pads: [0; 4],
            ceil: true,
        };
        let Ok([oh, ow]) = p.out_hw([hw, hw]) else {
            continue;
        };
        let x = vec![0.5f32; c * hw * hw];
        let mut out = vec![0.0f32; c * oh * ow];
        let ms = best(30, || {
            let _ = p.run(&x, [c, hw, hw], &mut out);
        });
        println!("{:<22} {ms:>10.3}", format!("{c}x{hw}x{hw}"));
    }
}
