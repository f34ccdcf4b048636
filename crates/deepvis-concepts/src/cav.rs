//! A concept's direction in a layer's channel space (a CAV, Kim et al. 2018) from positive and
//! negative activation vectors: the mean difference (FastCAV) or an L2-regularised logistic
//! regression.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, dot, first_non_finite};

/// How a CAV is fitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// The normalised difference of the class means (FastCAV); no bias.
    #[default]
    Mean,
    /// An L2-regularised logistic regression (weights and bias), by Newton's method.
    Logistic,
}

impl Fit {
    /// Every fit, in the order offered.
    pub const ALL: [Fit; 2] = [Fit::Mean, Fit::Logistic];

    /// The fit's name, as written in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Fit::Mean => "mean",
            Fit::Logistic => "logistic",
        }
    }

    /// The fit named `s` (`mean` or `logistic`).
    pub fn parse(s: &str) -> Result<Fit> {
        Fit::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| Error::UnknownFit(s.to_string()))
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Fit> {
        Fit::parse(s)
    }
}

/// The logistic regression's settings (the mean fit has none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// The L2 penalty `lambda / 2 * |w|^2` added to the mean log-loss, on the standardised
    /// weights (not on the bias).
    pub l2: f64,
    /// At most this many Newton steps.
    pub max_iterations: usize,
    /// Stop when every component of the objective's gradient is at most this.
    pub tolerance: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            l2: 1e-2,
            max_iterations: 50,
            tolerance: 1e-8,
        }
    }
}

/// A concept activation vector: a unit direction in a layer's channel space.
#[derive(Clone, Debug, PartialEq)]
pub struct Cav {
    /// The unit-length direction, one value per channel.
    pub direction: Vec<f32>,
    /// Added to the projection: the logistic regression's bias in the units of the unit
    /// direction (a score above 0 is on the concept's side); 0 for the mean fit.
    pub bias: f32,
    /// How it was fitted.
    pub fit: Fit,
    /// How many positive examples it was fitted on.
    pub positives: usize,
    /// How many negative examples it was fitted on.
    pub negatives: usize,
    /// The share of the training examples on their own side: of the decision boundary (score
    /// 0) for the logistic fit, of the midpoint between the two classes' mean projections for
    /// the mean fit.
    pub train_accuracy: f32,
}

/// The examples, checked: every row `c` finite values; `labels[i]` is whether row `i` is a
/// positive.
struct Examples<'a> {
    rows: Vec<&'a [f32]>,
    labels: Vec<bool>,
    c: usize,
    positives: usize,
}

impl<'a> Examples<'a> {
    fn gather<P: AsRef<[f32]>, N: AsRef<[f32]>>(
        positives: &'a [P],
        negatives: &'a [N],
    ) -> Result<Self> {
        if positives.is_empty() {
            return Err(Error::NoPositives);
        }
        if negatives.is_empty() {
            return Err(Error::NoNegatives);
        }
        let c = positives[0].as_ref().len();
        if c == 0 {
            return Err(Error::Empty {
                what: "positive example 0".into(),
            });
        }
        let mut rows = Vec::with_capacity(positives.len() + negatives.len());
        let mut labels = Vec::with_capacity(rows.capacity());
        let named = positives
            .iter()
            .map(|p| (p.as_ref(), true))
            .chain(negatives.iter().map(|n| (n.as_ref(), false)));
        for (i, (row, label)) in named.enumerate() {
            let what = || {
                let (kind, index) = if label {
                    ("positive", i)
                } else {
                    ("negative", i - positives.len())
                };
                format!("{kind} example {index}")
            };
            if row.len() != c {
                return Err(Error::Length {
                    what: what(),
                    expected: c,
                    found: row.len(),
                });
            }
            if let Some(index) = first_non_finite(row) {
                return Err(Error::NonFinite {
                    what: what(),
                    index,
                });
            }
            rows.push(row);
            labels.push(label);
        }
        if rows.iter().all(|r| *r == rows[0]) {
            return Err(Error::NoDirection("every example is the same vector"));
        }
        Ok(Self {
            rows,
            labels,
            c,
            positives: positives.len(),
        })
    }

    fn negatives(&self) -> usize {
        self.rows.len() - self.positives
    }

    /// The mean of the rows of one class.
    fn class_mean(&self, label: bool) -> Vec<f64> {
        let mut sum = vec![0.0f64; self.c];
        let mut count = 0usize;
        for (row, _) in self
            .rows
            .iter()
            .zip(&self.labels)
            .filter(|(_, l)| **l == label)
        {
            for (s, &x) in sum.iter_mut().zip(row.iter()) {
                *s += f64::from(x);
            }
            count += 1;
        }
        sum.iter().map(|s| s / count as f64).collect()
    }

    /// The share of rows whose prediction (`true`: positive) is their label.
    fn accuracy(&self, predict: impl Fn(&[f32]) -> bool) -> f32 {
        let right = self
            .rows
            .iter()
            .zip(&self.labels)
            .filter(|(row, label)| predict(row) == **label)
            .count();
        (right as f64 / self.rows.len() as f64) as f32
    }
}

impl Cav {
    /// Fits a CAV with the default [`FitOptions`]: see [`Cav::fit_with`].
    pub fn fit<P: AsRef<[f32]>, N: AsRef<[f32]>>(
        fit: Fit,
        positives: &[P],
        negatives: &[N],
    ) -> Result<Cav> {
        Cav::fit_with(fit, positives, negatives, &FitOptions::default())
    }

    /// Fits a CAV on `positives` (activation vectors of the concept, `C` channels each) against
    /// `negatives`. Errors: no positives, no negatives, vectors of different lengths, a value
    /// that is not finite, every vector the same or no direction found.
    pub fn fit_with<P: AsRef<[f32]>, N: AsRef<[f32]>>(
        fit: Fit,
        positives: &[P],
        negatives: &[N],
        options: &FitOptions,
    ) -> Result<Cav> {
        let examples = Examples::gather(positives, negatives)?;
        match fit {
            Fit::Mean => fit_mean(&examples),
            Fit::Logistic => fit_logistic(&examples, options),
        }
    }

    /// How many channels the direction has.
    pub fn channels(&self) -> usize {
        self.direction.len()
    }

    /// The projection of `act` (one activation vector) onto the direction, plus the bias.
    pub fn score(&self, act: &[f32]) -> Result<f32> {
        if act.len() != self.direction.len() {
            return Err(Error::Length {
                what: "the activation vector".into(),
                expected: self.direction.len(),
                found: act.len(),
            });
        }
        Ok((dot(&self.direction, act) + f64::from(self.bias)) as f32)
    }

    /// The score at every position of a `[C, H, W]` map: a `[H, W]` map, row-major.
    pub fn map(&self, acts: &[f32], c: usize, h: usize, w: usize) -> Result<Vec<f32>> {
        if c != self.direction.len() {
            return Err(Error::Length {
                what: "the map's channel axis".into(),
                expected: self.direction.len(),
                found: c,
            });
        }
        let hw = h.checked_mul(w);
        let expected = hw.and_then(|hw| hw.checked_mul(c));
        let (Some(hw), Some(expected)) = (hw, expected) else {
            return Err(Error::Length {
                what: format!("a {c} x {h} x {w} map"),
                expected: usize::MAX,
                found: acts.len(),
            });
        };
        if acts.len() != expected {
            return Err(Error::Length {
                what: format!("the {c} x {h} x {w} map"),
                expected,
                found: acts.len(),
            });
        }
        let mut sum = vec![f64::from(self.bias); hw];
        for (plane, &d) in acts.chunks_exact(hw.max(1)).zip(&self.direction) {
            let d = f64::from(d);
            for (s, &a) in sum.iter_mut().zip(plane) {
                *s += d * f64::from(a);
            }
        }
        Ok(sum.into_iter().map(|s| s as f32).collect())
    }
}

/// The unit vector of `v` as `f32`, or `None` when its length is 0 or not finite.
fn unit(v: &[f64]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    (norm > 0.0 && norm.is_finite()).then(|| v.iter().map(|x| (x / norm) as f32).collect())
}

/// FastCAV: the normalised difference of the class means.
fn fit_mean(ex: &Examples<'_>) -> Result<Cav> {
    let pos = ex.class_mean(true);
    let neg = ex.class_mean(false);
    let diff: Vec<f64> = pos.iter().zip(&neg).map(|(p, n)| p - n).collect();
    let direction = unit(&diff).ok_or(Error::NoDirection(
        "the positive and negative examples have the same mean",
    ))?;
    let project = |m: &[f64]| -> f64 {
        direction
            .iter()
            .zip(m)
            .map(|(&d, x)| f64::from(d) * x)
            .sum()
    };
    let threshold = (project(&pos) + project(&neg)) / 2.0;
    let train_accuracy = ex.accuracy(|row| dot(&direction, row) > threshold);
    Ok(Cav {
        direction,
        bias: 0.0,
        fit: Fit::Mean,
        positives: ex.positives,
        negatives: ex.negatives(),
        train_accuracy,
    })
}

/// The examples standardised per channel (mean 0, standard deviation 1; a constant channel
/// becomes 0), in `f64`, with the means and the scales that undo it.
struct Standardised {
    z: Vec<f64>,
    y: Vec<f64>,
    n: usize,
    c: usize,
    mean: Vec<f64>,
    /// `1 / sd`, or 0 for a constant channel.
    inv_sd: Vec<f64>,
}

impl Standardised {
    fn new(ex: &Examples<'_>) -> Self {
        let (n, c) = (ex.rows.len(), ex.c);
        let mut mean = vec![0.0f64; c];
        for row in &ex.rows {
            for (m, &x) in mean.iter_mut().zip(row.iter()) {
                *m += f64::from(x) / n as f64;
            }
        }
        let mut var = vec![0.0f64; c];
        for row in &ex.rows {
            for ((v, &x), m) in var.iter_mut().zip(row.iter()).zip(&mean) {
                let d = f64::from(x) - m;
                *v += d * d / n as f64;
            }
        }
        let inv_sd: Vec<f64> = var
            .iter()
            .map(|&v| if v > 0.0 { 1.0 / v.sqrt() } else { 0.0 })
            .collect();
        let mut z = Vec::with_capacity(n * c);
        for row in &ex.rows {
            z.extend(
                row.iter()
                    .zip(&mean)
                    .zip(&inv_sd)
                    .map(|((&x, m), s)| (f64::from(x) - m) * s),
            );
        }
        let y = ex.labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        Self {
            z,
            y,
            n,
            c,
            mean,
            inv_sd,
        }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.z[i * self.c..(i + 1) * self.c]
    }

    /// The margins `w . z_i + b` of every row; `theta` is `[w, b]`.
    fn margins(&self, theta: &[f64]) -> Vec<f64> {
        let (w, b) = theta.split_at(self.c);
        (0..self.n)
            .map(|i| self.row(i).iter().zip(w).map(|(z, w)| z * w).sum::<f64>() + b[0])
            .collect()
    }

    /// `Z^T r / n` and `sum(r) / n`: the data term of a gradient or a Hessian product.
    fn back(&self, r: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0f64; self.c + 1];
        for (i, &ri) in r.iter().enumerate() {
            for (o, z) in out.iter_mut().zip(self.row(i)) {
                *o += z * ri;
            }
            out[self.c] += ri;
        }
        out.iter_mut().for_each(|o| *o /= self.n as f64);
        out
    }
}

/// `log(1 + e^m)` without overflow.
fn softplus(m: f64) -> f64 {
    if m > 0.0 {
        m + (-m).exp().ln_1p()
    } else {
        m.exp().ln_1p()
    }
}

fn sigmoid(m: f64) -> f64 {
    if m >= 0.0 {
        1.0 / (1.0 + (-m).exp())
    } else {
        let e = m.exp();
        e / (1.0 + e)
    }
}

/// The penalised mean log-loss of the logistic regression on standardised data, by Newton's
/// method with conjugate-gradient steps (matrix-free: the Hessian is never formed, so a
/// layer of thousands of channels costs `O(n C)` per product) and a backtracking line search.
struct Logistic<'a> {
    data: &'a Standardised,
    l2: f64,
}

impl Logistic<'_> {
    fn objective(&self, theta: &[f64]) -> f64 {
        let m = self.data.margins(theta);
        let loss: f64 = m
            .iter()
            .zip(&self.data.y)
            .map(|(&m, &y)| softplus(m) - y * m)
            .sum::<f64>()
            / self.data.n as f64;
        let w = &theta[..self.data.c];
        loss + 0.5 * self.l2 * w.iter().map(|w| w * w).sum::<f64>()
    }

    /// The gradient and the curvature weights `p (1 - p)` at `theta`.
    fn gradient(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let m = self.data.margins(theta);
        let p: Vec<f64> = m.iter().map(|&m| sigmoid(m)).collect();
        let r: Vec<f64> = p.iter().zip(&self.data.y).map(|(p, y)| p - y).collect();
        let mut g = self.data.back(&r);
        for (g, w) in g.iter_mut().zip(&theta[..self.data.c]) {
            *g += self.l2 * w;
        }
        (g, p.iter().map(|p| p * (1.0 - p)).collect())
    }

    /// The Hessian times `v`; a tiny ridge on the bias keeps it definite when every
    /// probability has saturated.
    fn hessian_times(&self, s: &[f64], v: &[f64]) -> Vec<f64> {
        let u: Vec<f64> = self.data.margins(v);
        let su: Vec<f64> = u.iter().zip(s).map(|(u, s)| u * s).collect();
        let mut out = self.data.back(&su);
        let c = self.data.c;
        for (o, v) in out[..c].iter_mut().zip(&v[..c]) {
            *o += self.l2 * v;
        }
        out[c] += 1e-10 * v[c];
        out
    }

    /// Solves `H x = -g` approximately by conjugate gradients from 0 (every iterate is a
    /// descent direction).
    fn newton_step(&self, g: &[f64], s: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0f64; g.len()];
        let mut r: Vec<f64> = g.iter().map(|g| -g).collect();
        let mut p = r.clone();
        let norm2 = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        let mut rr = norm2(&r);
        let stop = rr * 1e-20;
        for _ in 0..(2 * g.len()).min(500) {
            if rr <= stop {
                break;
            }
            let hp = self.hessian_times(s, &p);
            let php: f64 = p.iter().zip(&hp).map(|(a, b)| a * b).sum();
            if php <= 0.0 || !php.is_finite() {
                break;
            }
            let alpha = rr / php;
            x.iter_mut().zip(&p).for_each(|(x, p)| *x += alpha * p);
            r.iter_mut().zip(&hp).for_each(|(r, h)| *r -= alpha * h);
            let rr_new = norm2(&r);
            let beta = rr_new / rr;
            p.iter_mut().zip(&r).for_each(|(p, r)| *p = r + beta * *p);
            rr = rr_new;
        }
        x
    }

    /// Backtracking (Armijo) along `step`; the new point, or `None` when no step decreases the
    /// objective.
    fn line_search(
        &self,
        theta: &[f64],
        f: f64,
        g: &[f64],
        step: &[f64],
    ) -> Option<(Vec<f64>, f64)> {
        let slope: f64 = g.iter().zip(step).map(|(g, s)| g * s).sum();
        if slope >= 0.0 {
            return None;
        }
        let mut t = 1.0;
        for _ in 0..40 {
            let next: Vec<f64> = theta.iter().zip(step).map(|(x, s)| x + t * s).collect();
            let fnext = self.objective(&next);
            if fnext <= f + 1e-4 * t * slope {
                return Some((next, fnext));
            }
            t *= 0.5;
        }
        None
    }

    /// The minimiser `[w, b]` (standardised space).
    fn solve(&self, options: &FitOptions) -> Vec<f64> {
        let mut theta = vec![0.0f64; self.data.c + 1];
        let mut f = self.objective(&theta);
        for _ in 0..options.max_iterations {
            let (g, s) = self.gradient(&theta);
            if g.iter().all(|g| g.abs() <= options.tolerance) {
                break;
            }
            let step = self.newton_step(&g, &s);
            match self.line_search(&theta, f, &g, &step) {
                Some((next, fnext)) => (theta, f) = (next, fnext),
                None => break,
            }
        }
        theta
    }
}

/// The L2-regularised logistic regression, its direction mapped back to the original channels.
fn fit_logistic(ex: &Examples<'_>, options: &FitOptions) -> Result<Cav> {
    let data = Standardised::new(ex);
    let theta = Logistic {
        data: &data,
        l2: options.l2.max(0.0),
    }
    .solve(options);
    let (w, b) = theta.split_at(data.c);
    // w . (x - mean) * inv_sd + b = v . x + (b - v . mean), with v = w * inv_sd
    let v: Vec<f64> = w.iter().zip(&data.inv_sd).map(|(w, s)| w * s).collect();
    let bias = b[0] - v.iter().zip(&data.mean).map(|(v, m)| v * m).sum::<f64>();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let direction = unit(&v).ok_or(Error::NoDirection(
        "the logistic regression found no weight (every channel constant?)",
    ))?;
    let bias = (bias / norm) as f32;
    let train_accuracy = ex.accuracy(|row| dot(&direction, row) + f64::from(bias) > 0.0);
    Ok(Cav {
        direction,
        bias,
        fit: Fit::Logistic,
        positives: ex.positives,
        negatives: ex.negatives(),
        train_accuracy,
    })
}

#[cfg(test)]
mod tests;
