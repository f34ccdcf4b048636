use super::*;
use crate::SplitMix64;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn tcav_of_aligned_opposite_and_half_gradients() {
    let mut g = SplitMix64::new(11);
    let c = 16;
    // the direction: channel 0; every gradient has a random part orthogonal to it (channels
    // 1..) and a chosen part along it
    let mut d = vec![0.0f32; c];
    d[0] = 1.0;
    let grad = |g: &mut SplitMix64, along: f32| -> Vec<f32> {
        let mut v: Vec<f32> = (0..c).map(|_| g.next_normal() as f32 * 5.0).collect();
        v[0] = along;
        v
    };
    let up: Vec<Vec<f32>> = (0..20).map(|i| grad(&mut g, 0.1 + i as f32)).collect();
    let down: Vec<Vec<f32>> = (0..20).map(|i| grad(&mut g, -0.1 - i as f32)).collect();
    assert_eq!(tcav_score(&up, &d).unwrap(), 1.0);
    assert_eq!(tcav_score(&down, &d).unwrap(), 0.0);
    let half: Vec<Vec<f32>> = up[..10].iter().chain(&down[..10]).cloned().collect();
    assert_eq!(tcav_score(&half, &d).unwrap(), 0.5);
    // a rotated direction: the gradients along it, whatever else they hold
    let mut r = SplitMix64::new(12);
    let dir: Vec<f32> = {
        let v: Vec<f32> = (0..c).map(|_| r.next_normal() as f32).collect();
        let n = dot(&v, &v).sqrt() as f32;
        v.iter().map(|x| x / n).collect()
    };
    let along: Vec<Vec<f32>> = (1..=7)
        .map(|k| dir.iter().map(|x| x * k as f32).collect())
        .collect();
    assert_eq!(tcav_score(&along, &dir).unwrap(), 1.0);
    let against: Vec<f32> = dir.iter().map(|x| -x).collect();
    assert_eq!(tcav_score(&along, &against).unwrap(), 0.0);
}

#[test]
fn tcav_of_derivatives_and_its_errors() {
    assert_eq!(
        tcav_score_of_derivatives(&[1.0, -1.0, 0.0, 2.0]).unwrap(),
        0.5
    );
    assert!(matches!(
        tcav_score_of_derivatives(&[]),
        Err(Error::NoImages)
    ));
    let none: [Vec<f32>; 0] = [];
    assert!(matches!(tcav_score(&none, &[1.0]), Err(Error::NoImages)));
    let e = tcav_score(&[vec![1.0f32, 2.0], vec![1.0]], &[1.0, 0.0]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the gradient of image 1 has 1 values, expected 2"
    );
    assert!(matches!(
        tcav_score(&[[f32::NAN]], &[1.0]),
        Err(Error::NonFinite { .. })
    ));
}

#[test]
fn incomplete_beta_known_values() {
    for a in [0.5, 1.0, 2.5, 10.0, 150.0] {
        assert!(
            close(regularized_incomplete_beta(0.5, a, a), 0.5, 1e-12),
            "a = {a}"
        );
    }
    for x in [0.0, 0.01, 0.2, 0.5, 0.77, 0.999, 1.0] {
        assert!(close(regularized_incomplete_beta(x, 1.0, 1.0), x, 1e-12));
        for a in [0.3, 2.0, 7.5] {
            // I_x(a, 1) = x^a, I_x(1, b) = 1 - (1 - x)^b
            assert!(
                close(regularized_incomplete_beta(x, a, 1.0), x.powf(a), 1e-12),
                "{x} {a}"
            );
            let b = a;
            let want = 1.0 - (1.0 - x).powf(b);
            assert!(
                close(regularized_incomplete_beta(x, 1.0, b), want, 1e-12),
                "{x} {b}"
            );
        }
        // I_x(2, 2) = 3x^2 - 2x^3
        let want = 3.0 * x * x - 2.0 * x * x * x;
        assert!(
            close(regularized_incomplete_beta(x, 2.0, 2.0), want, 1e-12),
            "{x}"
        );
    }
    assert!(regularized_incomplete_beta(1.5, 1.0, 1.0).is_nan());
    assert!(regularized_incomplete_beta(0.5, 0.0, 1.0).is_nan());
}

#[test]
fn student_t_against_tables_and_closed_forms() {
    // two-sided 5% and 10% critical values of Student's t (any table, e.g. NIST/SEMATECH
    // e-Handbook 1.3.6.7.2): t(0.975, 10) = 2.228, t(0.95, 10) = 1.812, t(0.975, 20) = 2.086
    assert!(close(student_t_two_sided_p(2.228, 10.0), 0.05, 2e-4));
    assert!(close(student_t_two_sided_p(1.812, 10.0), 0.10, 2e-4));
    assert!(close(student_t_two_sided_p(2.086, 20.0), 0.05, 2e-4));
    assert!(close(student_t_two_sided_p(-2.086, 20.0), 0.05, 2e-4));
    // the same to more digits (t(0.975, 10) = 2.2281388520, t(0.95, 10) = 1.8124611228,
    // t(0.975, 20) = 2.0859634473)
    assert!(close(
        student_t_two_sided_p(2.228_138_852, 10.0),
        0.05,
        1e-8
    ));
    assert!(close(
        student_t_two_sided_p(1.812_461_122_8, 10.0),
        0.10,
        1e-8
    ));
    assert!(close(
        student_t_two_sided_p(2.085_963_447_3, 20.0),
        0.05,
        1e-8
    ));
    for t in [0.0f64, 0.3, 1.0, 2.5, 12.0] {
        // 1 df (Cauchy): p = 1 - 2 atan(|t|) / pi; 2 df: p = 1 - |t| / sqrt(2 + t^2)
        let cauchy = 1.0 - 2.0 * t.atan() / std::f64::consts::PI;
        assert!(close(student_t_two_sided_p(t, 1.0), cauchy, 1e-12), "{t}");
        let two = 1.0 - t / (2.0 + t * t).sqrt();
        assert!(close(student_t_two_sided_p(t, 2.0), two, 1e-12), "{t}");
        // 4 df: F(t) = 1/2 + 3/8 u (1 - u^2 / 12 ... ) with u = t / sqrt(1 + t^2 / 4):
        // p = 1 - 2 (F(t) - 1/2) = 1 - (3/4) (t/q) (1 - t^2 / (12 q^2)), q = sqrt(1 + t^2/4)
        let q = (1.0 + t * t / 4.0).sqrt();
        let four = 1.0 - 0.75 * (t / q) * (1.0 - t * t / (12.0 * q * q));
        assert!(close(student_t_two_sided_p(t, 4.0), four, 1e-12), "{t}");
    }
    assert_eq!(student_t_two_sided_p(f64::INFINITY, 3.0), 0.0);
    assert!(student_t_two_sided_p(1.0, 0.0).is_nan());
}

#[test]
fn welch_test_against_hand_computations() {
    // a = [1, 3], b = [4, 6]: means 2 and 5, variances 2 and 2, se = sqrt(2/2 + 2/2) = sqrt 2,
    // t = -3 / sqrt 2, df = (1 + 1)^2 / (1/1 + 1/1) = 2; p for 2 df: 1 - |t| / sqrt(2 + t^2)
    let r = significance(&[1.0, 3.0], &[4.0, 6.0]).unwrap();
    let t = -3.0 / 2f64.sqrt();
    assert!(close(r.t, t, 1e-12) && close(r.df, 2.0, 1e-12), "{r:?}");
    assert!(
        close(r.p, 1.0 - t.abs() / (2.0 + t * t).sqrt(), 1e-12),
        "{r:?}"
    );
    assert_eq!((r.concept_mean, r.random_mean), (2.0, 5.0));
    // unequal sizes and spreads: t and df by Welch's formulas, and p by Simpson's rule on
    // Student's density with math.gamma (200000 intervals), all in plain Python 3 apart from
    // this crate: means 0.805 and 0.57, t = 4.471798575348768, df = 8.471976574119214,
    // p = 0.00180215297251618
    let a = [0.82f32, 0.75, 0.91, 0.68, 0.79, 0.88];
    let b = [0.52f32, 0.61, 0.47, 0.55, 0.70];
    let r = significance(&a, &b).unwrap();
    // (f32 inputs: about 1e-7 relative)
    assert!(close(r.t, 4.471_798_575_348_768, 1e-5), "{r:?}");
    assert!(close(r.df, 8.471_976_574_119_214, 1e-5), "{r:?}");
    assert!(close(r.p, 0.001_802_152_972_516_18, 1e-7), "{r:?}");
    let swapped = significance(&b, &a).unwrap();
    assert!(close(swapped.t, -r.t, 1e-12) && close(swapped.p, r.p, 1e-15));
}

#[test]
fn welch_test_edge_cases() {
    let same = significance(&[0.5, 0.5, 0.5], &[0.5, 0.5]).unwrap();
    assert_eq!((same.t, same.p), (0.0, 1.0));
    let apart = significance(&[0.9, 0.9], &[0.5, 0.5, 0.5]).unwrap();
    assert_eq!(apart.p, 0.0);
    assert!(apart.t.is_infinite() && apart.t > 0.0);
    // one side without spread: df is the other side's n - 1
    let one = significance(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0, 3.0]).unwrap();
    assert!(close(one.df, 3.0, 1e-12), "{one:?}");
    let e = significance(&[0.5], &[0.1, 0.2]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the t-test needs at least 2 concept scores, got 1"
    );
    let e = significance(&[0.5, 0.6], &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the t-test needs at least 2 random scores, got 0"
    );
    assert!(matches!(
        significance(&[0.5, f32::NAN], &[0.1, 0.2]),
        Err(Error::NonFinite { .. })
    ));
}

/// `n` vectors of `c` channels: noise, plus `k` times channel 0.
fn planted(g: &mut SplitMix64, n: usize, c: usize, k: f32) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..c).map(|_| g.next_normal() as f32).collect();
            v[0] += k;
            v
        })
        .collect()
}

#[test]
fn tcav_test_finds_a_concept_the_class_rises_along_and_not_one_it_falls_along() {
    let mut g = SplitMix64::new(5);
    let c = 12;
    let pos = planted(&mut g, 30, c, 4.0);
    let neg = planted(&mut g, 40, c, 0.0);
    // the class's score rises along channel 0 on every image (its other channels random)
    let rising = planted(&mut g, 25, c, 0.0)
        .into_iter()
        .map(|mut v| {
            v[0] = 2.0 + v[0].abs();
            v
        })
        .collect::<Vec<_>>();
    for fit in [Fit::Mean, Fit::Logistic] {
        let t = tcav_test(&pos, &neg, fit, &rising, 10, 3).unwrap();
        assert_eq!(t.concept_scores.len(), 10, "{fit:?}");
        // (the logistic fit's direction leans a little on the noise channels too)
        assert!(t.test.concept_mean >= 0.9, "{fit:?}: {t:?}");
        // random halves of the negatives point anywhere: their scores are spread, lower
        assert!(
            t.test.random_mean < 0.8 && t.test.p < 0.05,
            "{fit:?}: {t:?}"
        );
        // the same inputs give the same test
        assert_eq!(tcav_test(&pos, &neg, fit, &rising, 10, 3).unwrap(), t);
    }
    let falling: Vec<Vec<f32>> = rising
        .iter()
        .map(|v| v.iter().map(|x| -x).collect())
        .collect();
    let t = tcav_test(&pos, &neg, Fit::Mean, &falling, 10, 3).unwrap();
    assert!(t.concept_scores.iter().all(|&s| s == 0.0), "{t:?}");
    assert!(matches!(
        tcav_test(&pos, &neg[..1], Fit::Mean, &rising, 10, 3),
        Err(Error::TooFewNegatives(1))
    ));
    assert!(tcav_test(&pos, &neg, Fit::Mean, &rising, 1, 3).is_err());
    assert!(matches!(
        tcav_test(&pos, &neg, Fit::Mean, &[], 10, 3),
        Err(Error::NoImages)
    ));
}
