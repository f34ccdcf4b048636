use super::*;

/// `W0 [50, 3]` and `H0 [3, 20]`, non-negative (about a third of each at 0), and `V = W0 H0`.
fn low_rank(seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (n, c, k) = (50, 20, 3);
    let mut g = SplitMix64::new(seed);
    let mut draw = |len: usize| -> Vec<f64> {
        (0..len)
            .map(|_| {
                let u = g.next_f64();
                if u < 0.3 { 0.0 } else { u }
            })
            .collect()
    };
    let w0 = draw(n * k);
    let h0 = draw(k * c);
    let v = a_b(&w0, &h0, n, k, c);
    (to_f32(&v), to_f32(&w0), to_f32(&h0))
}

fn relative_distance(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let n: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (d / n).sqrt()
}

fn options(k: usize) -> NmfOptions {
    NmfOptions {
        k,
        max_iterations: 5000,
        tolerance: 1e-6,
        seed: 3,
        ..NmfOptions::default()
    }
}

#[test]
fn a_rank_3_matrix_is_reconstructed() {
    for seed in [1, 2] {
        let (v, _, _) = low_rank(seed);
        let nmf = Nmf::fit(&v, 50, 20, &options(3)).unwrap();
        assert!(
            nmf.relative_error < 0.05,
            "seed {seed}: {}",
            nmf.relative_error
        );
        assert_eq!((nmf.w.len(), nmf.h.len(), nmf.clamped), (150, 60, 0));
        assert!(
            nmf.w
                .iter()
                .chain(&nmf.h)
                .all(|&x| x >= 0.0 && x.is_finite())
        );
        // the reported error is the reconstruction's
        let back = nmf.reconstruction().unwrap();
        let direct = relative_distance(&back, &v);
        assert!(
            (direct - f64::from(nmf.relative_error)).abs() < 1e-4,
            "{direct}"
        );
        // and k = 1 cannot do it: the measure can fail
        let one = Nmf::fit(&v, 50, 20, &options(1)).unwrap();
        assert!(one.relative_error > 0.1, "{}", one.relative_error);
    }
}

#[test]
fn the_fit_is_deterministic() {
    let (v, _, _) = low_rank(1);
    let a = Nmf::fit(&v, 50, 20, &options(3)).unwrap();
    let b = Nmf::fit(&v, 50, 20, &options(3)).unwrap();
    assert_eq!(a, b);
    let other = Nmf::fit(
        &v,
        50,
        20,
        &NmfOptions {
            seed: 4,
            ..options(3)
        },
    )
    .unwrap();
    assert_ne!(a.w, other.w);
}

#[test]
fn a_warm_start_converges_faster_to_the_same_error() {
    let (v, _, _) = low_rank(1);
    let cold = Nmf::fit(&v, 50, 20, &options(3)).unwrap();
    let warm = Nmf::fit_warm(
        &v,
        50,
        20,
        &cold.h,
        &NmfOptions {
            seed: 9,
            ..options(3)
        },
    )
    .unwrap();
    assert!(
        // (here 200 against 995)
        2 * warm.iterations < cold.iterations,
        "{} vs {}",
        warm.iterations,
        cold.iterations
    );
    assert!(
        (warm.relative_error - cold.relative_error).abs() < 1e-3,
        "{} vs {}",
        warm.relative_error,
        cold.relative_error
    );
    let again = cold.refit(&v, 50).unwrap();
    assert!(again.iterations < cold.iterations);
    assert!(again.relative_error < 0.05);
    // an all-zero H starts cold
    let zero = Nmf::fit_warm(&v, 50, 20, &[0.0; 60], &options(3)).unwrap();
    assert_eq!(zero, cold);
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    crate::dot(a, b) / (crate::dot(a, a) * crate::dot(b, b)).sqrt()
}

#[test]
fn parts_keep_their_order_across_warm_started_frames() {
    // a "video": the same scene with a little noise each frame; each frame warm-started from
    // the last one's parts keeps part r as part r
    let (v, _, _) = low_rank(1);
    let first = Nmf::fit(&v, 50, 20, &options(3)).unwrap();
    let mut g = SplitMix64::new(21);
    let mut last = first.clone();
    for _ in 0..5 {
        let frame: Vec<f32> = v
            .iter()
            .map(|&x| (x + 0.02 * g.next_f64() as f32).max(0.0))
            .collect();
        let next = last.refit(&frame, 50).unwrap();
        assert!(next.relative_error < 0.05, "{}", next.relative_error);
        for r in 0..3 {
            let (a, b) = (
                &first.h[r * 20..(r + 1) * 20],
                &next.h[r * 20..(r + 1) * 20],
            );
            assert!(cosine(a, b) > 0.99, "part {r}: {}", cosine(a, b));
        }
        last = next;
    }
}

#[test]
fn transform_with_the_true_parts_recovers_the_matrix() {
    let (v, w0, h0) = low_rank(2);
    let known = Nmf {
        w: w0,
        h: h0,
        n: 50,
        c: 20,
        k: 3,
        relative_error: 0.0,
        iterations: 0,
        clamped: 0,
        options: options(3),
    };
    let t = known.transform(&v, 50).unwrap();
    assert!(t.relative_error < 0.01, "{}", t.relative_error);
    let back = Nmf {
        w: t.w.clone(),
        ..known.clone()
    }
    .reconstruction()
    .unwrap();
    assert!(relative_distance(&back, &v) < 0.01);
    // a few rows (fewer than k) against the same parts
    let t2 = known.transform(&v[..40], 2).unwrap();
    assert_eq!(t2.w.len(), 6);
    assert!(t2.relative_error < 0.05, "{}", t2.relative_error);
    // a broken H is an error, not a panic
    let broken = Nmf {
        h: vec![1.0; 5],
        ..known
    };
    assert!(matches!(
        broken.transform(&v, 50),
        Err(Error::Length { .. })
    ));
    assert!(broken.reconstruction().is_err());
}

#[test]
fn negative_values_are_clamped_and_counted() {
    let (mut v, _, _) = low_rank(1);
    v[0] = -1.0;
    v[7] = -0.5;
    v[8] = -0.0; // not below 0
    let nmf = Nmf::fit(&v, 50, 20, &options(3)).unwrap();
    assert_eq!(nmf.clamped, 2);
    assert_eq!(nmf.transform(&v, 50).unwrap().clamped, 2);
}

#[test]
fn bad_input_is_a_clear_error() {
    let (v, _, _) = low_rank(1);
    let e = Nmf::fit(&v, 50, 20, &options(0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "NMF with k = 0 parts of a 50 x 20 matrix: k must be between 1 and 20"
    );
    assert!(matches!(
        Nmf::fit(&v, 50, 20, &options(21)),
        Err(Error::Rank { k: 21, .. })
    ));
    assert!(matches!(
        Nmf::fit(&v[..40], 2, 20, &options(3)),
        Err(Error::Rank { .. })
    ));
    assert!(matches!(
        Nmf::fit(&[], 0, 20, &options(3)),
        Err(Error::Empty { .. })
    ));
    assert!(matches!(
        Nmf::fit(&v, 50, 19, &options(3)),
        Err(Error::Length { .. })
    ));
    let mut nan = v.clone();
    nan[5] = f32::INFINITY;
    assert!(matches!(
        Nmf::fit(&nan, 50, 20, &options(3)),
        Err(Error::NonFinite { index: 5, .. })
    ));
    assert!(matches!(
        Nmf::fit(&[-1.0; 6], 2, 3, &options(1)),
        Err(Error::AllZero { .. })
    ));
    let e = Nmf::fit_warm(&v, 50, 20, &[1.0; 59], &options(3)).unwrap_err();
    assert!(e.to_string().contains("previous parts"), "{e}");
    let mut neg = vec![1.0f32; 60];
    neg[3] = -1.0;
    assert!(matches!(
        Nmf::fit_warm(&v, 50, 20, &neg, &options(3)),
        Err(Error::Negative { index: 3, .. })
    ));
}
