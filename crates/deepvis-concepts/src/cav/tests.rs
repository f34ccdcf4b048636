use super::*;
use crate::SplitMix64;

fn normal_vec(g: &mut SplitMix64, c: usize) -> Vec<f32> {
    (0..c).map(|_| g.next_normal() as f32).collect()
}

fn unit_vec(g: &mut SplitMix64, c: usize) -> Vec<f32> {
    let v = normal_vec(g, c);
    let n = dot(&v, &v).sqrt() as f32;
    v.iter().map(|x| x / n).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

/// 64 channels; positives = noise + 2 d, negatives = noise, 500 of each.
fn planted(seed: u64) -> (Vec<f32>, Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut g = SplitMix64::new(seed);
    let c = 64;
    let d = unit_vec(&mut g, c);
    let pos = (0..500)
        .map(|_| {
            let mut v = normal_vec(&mut g, c);
            v.iter_mut().zip(&d).for_each(|(x, d)| *x += 2.0 * d);
            v
        })
        .collect();
    let neg = (0..500).map(|_| normal_vec(&mut g, c)).collect();
    (d, pos, neg)
}

#[test]
fn both_fits_recover_a_planted_direction() {
    for seed in [1, 2, 3] {
        let (d, pos, neg) = planted(seed);
        for fit in Fit::ALL {
            let cav = Cav::fit(fit, &pos, &neg).unwrap();
            let cos = cosine(&cav.direction, &d);
            assert!(cos > 0.9, "{fit} seed {seed}: cosine {cos}");
            assert!((dot(&cav.direction, &cav.direction) - 1.0).abs() < 1e-5);
            assert_eq!((cav.positives, cav.negatives, cav.fit), (500, 500, fit));
            // a 2-sigma shift: about 84% of each class on its side
            assert!(cav.train_accuracy > 0.75, "{fit}: {}", cav.train_accuracy);
        }
    }
}

#[test]
fn a_random_direction_is_not_recovered() {
    // the planted test's measure can fail: an unrelated direction has a small cosine
    let (_, pos, neg) = planted(1);
    let mut g = SplitMix64::new(99);
    let other = unit_vec(&mut g, 64);
    let cav = Cav::fit(Fit::Mean, &pos, &neg).unwrap();
    assert!(cosine(&cav.direction, &other).abs() < 0.5);
}

#[test]
fn logistic_separates_separable_data() {
    let mut g = SplitMix64::new(5);
    let c = 10;
    let normal = unit_vec(&mut g, c);
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    while pos.len() + neg.len() < 300 {
        let x = normal_vec(&mut g, c);
        let m = dot(&x, &normal);
        if m > 0.3 {
            pos.push(x);
        } else if m < -0.3 {
            neg.push(x);
        }
    }
    let cav = Cav::fit(Fit::Logistic, &pos, &neg).unwrap();
    assert_eq!(cav.train_accuracy, 1.0);
    assert!(pos.iter().all(|x| cav.score(x).unwrap() > 0.0));
    assert!(neg.iter().all(|x| cav.score(x).unwrap() < 0.0));
    assert!(cosine(&cav.direction, &normal) > 0.9);
}

#[test]
fn logistic_in_one_dimension_has_the_right_signs() {
    let hi = [[2.0f32], [3.0], [4.0]];
    let lo = [[-1.0f32], [0.0], [1.0]];
    let up = Cav::fit(Fit::Logistic, &hi, &lo).unwrap();
    assert_eq!(up.direction, vec![1.0]);
    assert!(up.bias < 0.0, "{}", up.bias);
    // symmetric classes: the boundary is halfway, at 1.5
    assert!(up.score(&[1.5]).unwrap().abs() < 1e-3);
    assert_eq!(up.train_accuracy, 1.0);
    let down = Cav::fit(Fit::Logistic, &lo, &hi).unwrap();
    assert_eq!(down.direction, vec![-1.0]);
    assert!(down.bias > 0.0, "{}", down.bias);
    assert!(down.score(&[0.0]).unwrap() > 0.0 && down.score(&[3.0]).unwrap() < 0.0);
}

#[test]
fn the_mean_fit_is_the_normalised_mean_difference() {
    let pos = [[4.0f32, 1.0], [2.0, 3.0]]; // mean (3, 2)
    let neg = [[0.0f32, -1.0], [0.0, 1.0]]; // mean (0, 0)
    let cav = Cav::fit(Fit::Mean, &pos, &neg).unwrap();
    let n = 13f32.sqrt();
    assert!((cav.direction[0] - 3.0 / n).abs() < 1e-6);
    assert!((cav.direction[1] - 2.0 / n).abs() < 1e-6);
    assert_eq!(cav.bias, 0.0);
    assert_eq!(cav.train_accuracy, 1.0);
}

#[test]
fn score_and_map_project_onto_the_direction() {
    let cav = Cav {
        direction: vec![0.6, 0.8],
        bias: -1.0,
        fit: Fit::Logistic,
        positives: 1,
        negatives: 1,
        train_accuracy: 1.0,
    };
    assert!((cav.score(&[1.0, 2.0]).unwrap() - (0.6 + 1.6 - 1.0)).abs() < 1e-6);
    // [C = 2, H = 1, W = 3]: channel 0 then channel 1
    let acts = [1.0f32, 0.0, 2.0, 2.0, 1.0, -1.0];
    let map = cav.map(&acts, 2, 1, 3).unwrap();
    let expected = [0.6 + 1.6 - 1.0, 0.8 - 1.0, 1.2 - 0.8 - 1.0];
    for (m, e) in map.iter().zip(expected) {
        assert!((m - e).abs() < 1e-6, "{map:?}");
    }
    assert!(matches!(
        cav.score(&[1.0]),
        Err(Error::Length {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(cav.map(&acts, 3, 1, 2), Err(Error::Length { .. })));
    assert!(matches!(
        cav.map(&acts, 2, 2, 2),
        Err(Error::Length {
            expected: 8,
            found: 6,
            ..
        })
    ));
    assert!(cav.map(&acts, 2, usize::MAX, 2).is_err());
}

#[test]
fn bad_examples_are_clear_errors() {
    let one = [[1.0f32, 2.0]];
    let none: [[f32; 2]; 0] = [];
    assert!(matches!(
        Cav::fit(Fit::Mean, &none, &one),
        Err(Error::NoPositives)
    ));
    assert!(matches!(
        Cav::fit(Fit::Logistic, &one, &none),
        Err(Error::NoNegatives)
    ));
    let ragged = vec![vec![0.0f32, 1.0], vec![0.0, 1.0, 2.0]];
    let e = Cav::fit(Fit::Mean, &one, &ragged).unwrap_err();
    assert_eq!(e.to_string(), "negative example 1 has 3 values, expected 2");
    let nan = [[0.0f32, f32::NAN]];
    let e = Cav::fit(Fit::Mean, &nan, &one).unwrap_err();
    assert!(
        e.to_string().contains("positive example 0") && e.to_string().contains("index 1"),
        "{e}"
    );
    for fit in Fit::ALL {
        let e = Cav::fit(fit, &one, &one).unwrap_err();
        assert!(e.to_string().contains("same vector"), "{e}");
    }
    let pos = [[1.0f32, 0.0], [-1.0, 0.0]];
    let neg = [[0.0f32, 1.0], [0.0, -1.0]];
    let e = Cav::fit(Fit::Mean, &pos, &neg).unwrap_err();
    assert!(e.to_string().contains("same mean"), "{e}");
    let empty: [[f32; 0]; 1] = [[]];
    assert!(matches!(
        Cav::fit(Fit::Mean, &empty, &empty),
        Err(Error::Empty { .. })
    ));
}

#[test]
fn fit_names_roundtrip() {
    for fit in Fit::ALL {
        assert_eq!(Fit::parse(fit.as_str()).unwrap(), fit);
        assert_eq!(fit.to_string().parse::<Fit>().unwrap(), fit);
        let json = serde_json::to_string(&fit).unwrap();
        assert_eq!(json, format!("\"{}\"", fit.as_str()));
        assert_eq!(serde_json::from_str::<Fit>(&json).unwrap(), fit);
    }
    assert_eq!(Fit::Mean.as_str(), "mean");
    assert_eq!(Fit::Logistic.as_str(), "logistic");
    assert!(matches!(Fit::parse("Mean"), Err(Error::UnknownFit(_))));
}
