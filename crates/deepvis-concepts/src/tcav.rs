//! TCAV (Kim et al. 2018, "Interpretability Beyond Feature Attribution: Quantitative Testing
//! with Concept Activation Vectors"): the share of a class's images whose class score rises
//! along a concept, and its significance against random concepts by Welch's t-test.

use crate::{Cav, Error, Fit, Result, SplitMix64, dot, first_non_finite};

/// The TCAV score: the share of images whose class score's gradient with respect to the
/// layer (`grads[i]`, one `C`-vector per image, e.g. summed over positions) has a positive dot
/// product with `direction`. Errors: no images, a gradient of another length, a value that is
/// not finite.
pub fn tcav_score<G: AsRef<[f32]>>(grads: &[G], direction: &[f32]) -> Result<f32> {
    if let Some(index) = first_non_finite(direction) {
        return Err(Error::NonFinite {
            what: "the direction".into(),
            index,
        });
    }
    let mut derivatives = Vec::with_capacity(grads.len());
    for (i, g) in grads.iter().enumerate() {
        let g = g.as_ref();
        if g.len() != direction.len() {
            return Err(Error::Length {
                what: format!("the gradient of image {i}"),
                expected: direction.len(),
                found: g.len(),
            });
        }
        if let Some(index) = first_non_finite(g) {
            return Err(Error::NonFinite {
                what: format!("the gradient of image {i}"),
                index,
            });
        }
        derivatives.push(dot(g, direction) as f32);
    }
    tcav_score_of_derivatives(&derivatives)
}

/// The TCAV score from the directional derivatives themselves (one per image): the share that
/// is above 0 (a derivative of exactly 0 does not count as a rise).
pub fn tcav_score_of_derivatives(derivatives: &[f32]) -> Result<f32> {
    if derivatives.is_empty() {
        return Err(Error::NoImages);
    }
    if let Some(index) = first_non_finite(derivatives) {
        return Err(Error::NonFinite {
            what: "the directional derivatives".into(),
            index,
        });
    }
    let rising = derivatives.iter().filter(|&&d| d > 0.0).count();
    Ok((rising as f64 / derivatives.len() as f64) as f32)
}

/// A two-sided Welch t-test of the concept's TCAV scores against the random concepts'.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TTest {
    /// Welch's t: the difference of the means over its standard error (concept minus random);
    /// infinite when both sides have no spread and different means.
    pub t: f64,
    /// The Welch-Satterthwaite degrees of freedom (`n1 + n2 - 2` when neither side has any
    /// spread).
    pub df: f64,
    /// The two-sided p-value from Student's t distribution.
    pub p: f64,
    /// The mean of the concept's scores.
    pub concept_mean: f64,
    /// The mean of the random concepts' scores.
    pub random_mean: f64,
}

/// Mean and unbiased variance.
fn mean_var(x: &[f32]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var)
}

fn checked_side(x: &[f32], side: &'static str) -> Result<()> {
    if x.len() < 2 {
        return Err(Error::TooFewScores {
            side,
            found: x.len(),
        });
    }
    match first_non_finite(x) {
        Some(index) => Err(Error::NonFinite {
            what: format!("the {side} scores"),
            index,
        }),
        None => Ok(()),
    }
}

/// Welch's two-sided t-test between the TCAV scores of the concept's CAVs (one per random
/// negative set) and those of random CAVs (random against random); at least 2 scores each.
/// When neither side has any spread, `p` is 1 for equal means and 0 otherwise.
pub fn significance(concept_scores: &[f32], random_scores: &[f32]) -> Result<TTest> {
    checked_side(concept_scores, "concept")?;
    checked_side(random_scores, "random")?;
    let (n1, n2) = (concept_scores.len() as f64, random_scores.len() as f64);
    let (m1, v1) = mean_var(concept_scores);
    let (m2, v2) = mean_var(random_scores);
    let (s1, s2) = (v1 / n1, v2 / n2);
    let se2 = s1 + s2;
    let diff = m1 - m2;
    let (t, df, p) = if se2 > 0.0 {
        let t = diff / se2.sqrt();
        let df = se2 * se2 / (s1 * s1 / (n1 - 1.0) + s2 * s2 / (n2 - 1.0));
        (t, df, student_t_two_sided_p(t, df))
    } else if diff == 0.0 {
        (0.0, n1 + n2 - 2.0, 1.0)
    } else {
        (diff.signum() * f64::INFINITY, n1 + n2 - 2.0, 0.0)
    };
    Ok(TTest {
        t,
        df,
        p,
        concept_mean: m1,
        random_mean: m2,
    })
}

/// The two-sided p-value `P(|T| >= |t|)` of Student's t distribution with `df` degrees of
/// freedom: `I_{df / (df + t^2)}(df / 2, 1 / 2)`. NaN when `df <= 0` or an input is NaN.
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)
}

/// The natural logarithm of the gamma function for `x > 0`: Lanczos' approximation with
/// `g = 7` and 9 coefficients (the widely published set; relative error about 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x)
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The continued fraction of the incomplete beta function, evaluated by the modified Lentz
/// method: `betacf` of Press, Teukolsky, Vetterling and Flannery, *Numerical Recipes in C*,
/// 2nd ed., section 6.4 (eq. 6.4.5), in `f64` with a tighter tolerance.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const MAX_ITERATIONS: usize = 10_000;
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_ITERATIONS {
        let m = m as f64;
        let m2 = 2.0 * m;
        // the even step
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        h *= d * c;
        // the odd step
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + aa * d);
        c = guard(1.0 + aa / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function `I_x(a, b)` for `a, b > 0` and `0 <= x <= 1`
/// (`betai`, *Numerical Recipes in C*, 2nd ed., section 6.4: the continued fraction where it
/// converges fast, else through the symmetry `I_x(a, b) = 1 - I_{1-x}(b, a)`). NaN outside that
/// domain.
pub fn regularized_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if !(a > 0.0 && b > 0.0 && (0.0..=1.0).contains(&x)) || a.is_infinite() || b.is_infinite() {
        return f64::NAN;
    }
    if x == 0.0 || x == 1.0 {
        return x;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// A TCAV test: the concept's TCAV scores and those of random concepts, and the t-test
/// between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Tcav {
    /// The TCAV score of each concept CAV (fitted on a resample of the positives against a
    /// random half of the negatives).
    pub concept_scores: Vec<f32>,
    /// The TCAV score of each random CAV (one random half of the negatives against the other).
    pub random_scores: Vec<f32>,
    /// Welch's t-test between the two.
    pub test: TTest,
}

/// A random sample of `k` distinct indices of `0..n` (a partial Fisher-Yates shuffle).
fn sample(rng: &mut SplitMix64, n: usize, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(k.min(n));
    idx
}

/// TCAV as Kim et al. test it: `runs` concept CAVs, each fitted (by `fit`) on a bootstrap
/// resample of `positives` against a random half of `negatives`, and `runs` random CAVs, each
/// one random half of the negatives against the other half; each scored on the class's
/// gradients (`grads`, one `C`-vector per image), and the two sets of scores compared by
/// Welch's two-sided t-test. Seeded: the same inputs give the same result. A resample that
/// cannot be fitted (every vector the same) is left out; at least 2 of each must remain.
/// Errors: fewer than 2 runs, fewer than 2 negatives, no positives, no images.
pub fn tcav_test(
    positives: &[Vec<f32>],
    negatives: &[Vec<f32>],
    fit: Fit,
    grads: &[Vec<f32>],
    runs: usize,
    seed: u64,
) -> Result<Tcav> {
    if runs < 2 {
        return Err(Error::TooFewScores {
            side: "random",
            found: runs,
        });
    }
    if positives.is_empty() {
        return Err(Error::NoPositives);
    }
    if negatives.len() < 2 {
        return Err(Error::TooFewNegatives(negatives.len()));
    }
    if grads.is_empty() {
        return Err(Error::NoImages);
    }
    let mut rng = SplitMix64::new(seed);
    let half = negatives.len() / 2;
    let mut concept_scores = Vec::new();
    let mut random_scores = Vec::new();
    for _ in 0..runs {
        let pos: Vec<&Vec<f32>> = (0..positives.len())
            .map(|_| &positives[(rng.next_u64() % positives.len() as u64) as usize])
            .collect();
        let neg: Vec<&Vec<f32>> = sample(&mut rng, negatives.len(), half.max(1))
            .into_iter()
            .map(|i| &negatives[i])
            .collect();
        if let Ok(cav) = Cav::fit(fit, &pos, &neg) {
            concept_scores.push(tcav_score(grads, &cav.direction)?);
        }
        let order = sample(&mut rng, negatives.len(), negatives.len());
        let (a, b) = order.split_at(half);
        let a: Vec<&Vec<f32>> = a.iter().map(|&i| &negatives[i]).collect();
        let b: Vec<&Vec<f32>> = b.iter().map(|&i| &negatives[i]).collect();
        if let Ok(cav) = Cav::fit(fit, &a, &b) {
            random_scores.push(tcav_score(grads, &cav.direction)?);
        }
    }
    let test = significance(&concept_scores, &random_scores)?;
    Ok(Tcav {
        concept_scores,
        random_scores,
        test,
    })
}

#[cfg(test)]
mod tests;
