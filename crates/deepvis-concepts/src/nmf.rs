//! Non-negative matrix factorisation of a layer's activations, positions by channels, into
//! parts (`V ~ W H`), by Lee and Seung's multiplicative updates ("Algorithms for Non-negative
//! Matrix Factorization", NIPS 2000, the Frobenius updates), seeded and warm-startable.

use crate::{Error, Result, SplitMix64, first_non_finite};

/// The factorisation's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NmfOptions {
    /// The number of parts `k` (between 1 and `min(N, C)`).
    pub k: usize,
    /// At most this many iterations (one update of `W` and one of `H` each).
    pub max_iterations: usize,
    /// Stop when an iteration lowers the relative error `||V - W H||_F / ||V||_F` by less
    /// than this.
    pub tolerance: f64,
    /// The seed of the initial factors.
    pub seed: u64,
    /// Added to the updates' denominators (no division by 0).
    pub epsilon: f64,
}

impl Default for NmfOptions {
    fn default() -> Self {
        Self {
            k: 4,
            max_iterations: 500,
            tolerance: 1e-5,
            seed: 0,
            epsilon: 1e-10,
        }
    }
}

/// A factorisation `V ~ W H` of a non-negative `[N, C]` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Nmf {
    /// `[N, k]`, row-major: how much of each part each position holds.
    pub w: Vec<f32>,
    /// `[k, C]`, row-major: each part's channels.
    pub h: Vec<f32>,
    /// Rows of `V` (positions).
    pub n: usize,
    /// Columns of `V` (channels).
    pub c: usize,
    /// Parts.
    pub k: usize,
    /// `||V - W H||_F / ||V||_F`, with `V` after clamping.
    pub relative_error: f32,
    /// The iterations run.
    pub iterations: usize,
    /// How many values of the input were below 0 and taken as 0.
    pub clamped: usize,
    /// The settings it was made with.
    pub options: NmfOptions,
}

/// New rows scored against fixed parts: see [`Nmf::transform`].
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// `[N, k]`, row-major.
    pub w: Vec<f32>,
    /// `||V - W H||_F / ||V||_F`.
    pub relative_error: f32,
    /// The iterations run.
    pub iterations: usize,
    /// How many values of the input were below 0 and taken as 0.
    pub clamped: usize,
}

/// The input, checked and clamped, in `f64`.
struct Target {
    v: Vec<f64>,
    n: usize,
    c: usize,
    norm2: f64,
    mean: f64,
    clamped: usize,
}

impl Target {
    fn new(v: &[f32], n: usize, c: usize, k: usize) -> Result<Self> {
        if n == 0 || c == 0 {
            return Err(Error::Empty {
                what: format!("the {n} x {c} matrix to factorise"),
            });
        }
        let expected = n.saturating_mul(c);
        if v.len() != expected {
            return Err(Error::Length {
                what: format!("the {n} x {c} matrix to factorise"),
                expected,
                found: v.len(),
            });
        }
        if let Some(index) = first_non_finite(v) {
            return Err(Error::NonFinite {
                what: "the matrix to factorise".into(),
                index,
            });
        }
        if k == 0 || k > n.min(c) {
            return Err(Error::Rank { k, n, c });
        }
        let clamped = v.iter().filter(|&&x| x < 0.0).count();
        let v: Vec<f64> = v.iter().map(|&x| f64::from(x.max(0.0))).collect();
        let norm2: f64 = v.iter().map(|x| x * x).sum();
        if norm2 == 0.0 {
            return Err(Error::AllZero { n, c });
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Ok(Self {
            v,
            n,
            c,
            norm2,
            mean,
            clamped,
        })
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.v[i * self.c..(i + 1) * self.c]
    }
}

/// `a^T b` for `a: [n, p]` and `b: [n, q]`: `[p, q]`.
fn at_b(a: &[f64], b: &[f64], n: usize, p: usize, q: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; p * q];
    for i in 0..n {
        let (ar, br) = (&a[i * p..(i + 1) * p], &b[i * q..(i + 1) * q]);
        for (r, &x) in ar.iter().enumerate() {
            for (o, &y) in out[r * q..(r + 1) * q].iter_mut().zip(br) {
                *o += x * y;
            }
        }
    }
    out
}

/// `a b^T` for `a: [n, p]` and `b: [q, p]`: `[n, q]`.
fn a_bt(a: &[f64], b: &[f64], n: usize, p: usize, q: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n * q);
    for i in 0..n {
        let ar = &a[i * p..(i + 1) * p];
        for r in 0..q {
            out.push(
                ar.iter()
                    .zip(&b[r * p..(r + 1) * p])
                    .map(|(x, y)| x * y)
                    .sum(),
            );
        }
    }
    out
}

/// `a b` for `a: [n, p]` and `b: [p, q]`: `[n, q]`.
fn a_b(a: &[f64], b: &[f64], n: usize, p: usize, q: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; n * q];
    for i in 0..n {
        let o = &mut out[i * q..(i + 1) * q];
        for (r, &x) in a[i * p..(i + 1) * p].iter().enumerate() {
            for (o, &y) in o.iter_mut().zip(&b[r * q..(r + 1) * q]) {
                *o += x * y;
            }
        }
    }
    out
}

/// `x <- x * numer / (denom + eps)`, elementwise.
fn multiply_update(x: &mut [f64], numer: &[f64], denom: &[f64], eps: f64) {
    for ((x, n), d) in x.iter_mut().zip(numer).zip(denom) {
        *x *= n / (d + eps);
    }
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The factors while they are fitted, and the fit's loop.
struct Fitting<'a> {
    target: &'a Target,
    k: usize,
    w: Vec<f64>,
    h: Vec<f64>,
    options: NmfOptions,
}

impl Fitting<'_> {
    /// One update of `W` (with `H` fixed, through `V H^T` and `H H^T`); the squared error when
    /// `H` is not updated after it.
    fn update_w(&mut self, v_ht: &[f64], h_ht: &[f64]) -> f64 {
        let (n, k) = (self.target.n, self.k);
        let denom = a_b(&self.w, h_ht, n, k, k);
        multiply_update(&mut self.w, v_ht, &denom, self.options.epsilon);
        let w_tw = at_b(&self.w, &self.w, n, k, k);
        // ||V - W H||^2 = ||V||^2 - 2 <W, V H^T> + <W^T W, H H^T>
        self.target.norm2 - 2.0 * dot64(&self.w, v_ht) + dot64(&w_tw, h_ht)
    }

    /// One update of `H` (with `W` fixed); the squared error after it.
    fn update_h(&mut self) -> f64 {
        let (n, c, k) = (self.target.n, self.target.c, self.k);
        let w_tv = at_b(&self.w, &self.target.v, n, k, c);
        let w_tw = at_b(&self.w, &self.w, n, k, k);
        let denom = a_b(&w_tw, &self.h, k, k, c);
        multiply_update(&mut self.h, &w_tv, &denom, self.options.epsilon);
        let h_ht = a_bt(&self.h, &self.h, k, c, k);
        self.target.norm2 - 2.0 * dot64(&self.h, &w_tv) + dot64(&w_tw, &h_ht)
    }

    fn relative(&self, err2: f64) -> f64 {
        (err2.max(0.0) / self.target.norm2).sqrt()
    }

    /// Whether an iteration that took the relative error from `before` to `after` should be
    /// the last.
    fn stalled(&self, before: f64, after: f64) -> bool {
        before.is_finite() && before - after <= self.options.tolerance
    }

    /// Updates `W` then `H` until the error stalls or the cap; the iterations run.
    fn run(&mut self) -> usize {
        let (n, c, k) = (self.target.n, self.target.c, self.k);
        let mut before = f64::INFINITY;
        for it in 1..=self.options.max_iterations {
            let v_ht = a_bt(&self.target.v, &self.h, n, c, k);
            let h_ht = a_bt(&self.h, &self.h, k, c, k);
            self.update_w(&v_ht, &h_ht);
            let err2 = self.update_h();
            let after = self.relative(err2);
            if self.stalled(before, after) {
                return it;
            }
            before = after;
        }
        self.options.max_iterations
    }

    /// Updates `W` only (`H` fixed) until the error stalls or the cap; the iterations run.
    fn run_w_only(&mut self) -> usize {
        let (n, c, k) = (self.target.n, self.target.c, self.k);
        let v_ht = a_bt(&self.target.v, &self.h, n, c, k);
        let h_ht = a_bt(&self.h, &self.h, k, c, k);
        let mut before = f64::INFINITY;
        for it in 1..=self.options.max_iterations {
            let err2 = self.update_w(&v_ht, &h_ht);
            let after = self.relative(err2);
            if self.stalled(before, after) {
                return it;
            }
            before = after;
        }
        self.options.max_iterations
    }

    /// `||V - W H||_F / ||V||_F`, computed directly.
    fn exact_relative_error(&self) -> f64 {
        let (n, c, k) = (self.target.n, self.target.c, self.k);
        let wh = a_b(&self.w, &self.h, n, k, c);
        let err2: f64 = (0..n)
            .flat_map(|i| self.target.row(i).iter().zip(&wh[i * c..(i + 1) * c]))
            .map(|(v, r)| (v - r) * (v - r))
            .sum();
        (err2 / self.target.norm2).sqrt()
    }
}

/// `len` seeded values uniform in `(0, 2 mean]`: positive (a multiplicative update never moves
/// a 0), of mean `mean`.
fn positive_uniform(rng: &mut SplitMix64, len: usize, mean: f64) -> Vec<f64> {
    (0..len).map(|_| 2.0 * mean * rng.next_open_f64()).collect()
}

/// Solves `g x = b` for a `k x k` matrix `g` (row-major) and `m` right-hand sides `b`
/// (`[k, m]`, row-major) by Gaussian elimination with partial pivoting; `None` when `g` is
/// singular.
fn solve(mut g: Vec<f64>, mut b: Vec<f64>, k: usize, m: usize) -> Option<Vec<f64>> {
    for col in 0..k {
        let pivot =
            (col..k).max_by(|&i, &j| g[i * k + col].abs().total_cmp(&g[j * k + col].abs()))?;
        if g[pivot * k + col].abs() <= f64::MIN_POSITIVE {
            return None;
        }
        for j in 0..k {
            g.swap(col * k + j, pivot * k + j);
        }
        for j in 0..m {
            b.swap(col * m + j, pivot * m + j);
        }
        for row in col + 1..k {
            let f = g[row * k + col] / g[col * k + col];
            for j in col..k {
                g[row * k + j] -= f * g[col * k + j];
            }
            for j in 0..m {
                b[row * m + j] -= f * b[col * m + j];
            }
        }
    }
    for col in (0..k).rev() {
        for j in 0..m {
            let mut x = b[col * m + j];
            for r in col + 1..k {
                x -= g[col * k + r] * b[r * m + j];
            }
            b[col * m + j] = x / g[col * k + col];
        }
    }
    b.iter().all(|x| x.is_finite()).then_some(b)
}

/// A start for `W` when `H` is known: the least-squares `W = V H^T (H H^T)^-1` (a small ridge
/// keeps it solvable), its values below a thousandth of its positive mean raised to that (a
/// multiplicative update never moves a 0); seeded uniform values scaled to `H` when the
/// system is singular or nothing is positive.
fn w_for_fixed_h(target: &Target, h: &[f64], k: usize, seed: u64) -> Vec<f64> {
    let (n, c) = (target.n, target.c);
    let mut h_ht = a_bt(h, h, k, c, k);
    let ridge = 1e-9 * (0..k).map(|i| h_ht[i * k + i]).sum::<f64>() / k as f64;
    (0..k).for_each(|i| h_ht[i * k + i] += ridge);
    // (H H^T) W^T = H V^T: the right-hand sides are the columns of V H^T
    let h_vt = a_bt(h, &target.v, k, c, n);
    if let Some(w_t) = solve(h_ht, h_vt, k, n) {
        let positive: Vec<f64> = w_t.iter().copied().filter(|&x| x > 0.0).collect();
        if !positive.is_empty() {
            let floor = 1e-3 * positive.iter().sum::<f64>() / positive.len() as f64;
            return (0..n * k)
                .map(|idx| w_t[(idx % k) * n + idx / k].max(floor))
                .collect();
        }
    }
    let h_mean = (h.iter().sum::<f64>() / h.len().max(1) as f64).max(f64::MIN_POSITIVE);
    // E[(W H)_ij] = k E[W] mean(H) = mean(V)
    positive_uniform(
        &mut SplitMix64::new(seed),
        n * k,
        target.mean / (k as f64 * h_mean),
    )
}

/// A previous `H` checked (`[k, C]`, finite, non-negative) and lifted off 0: entries at 0 get a
/// thousandth of its mean so that they can grow back. `None` when it is all 0.
fn warm_h(h: &[f32], k: usize, c: usize) -> Result<Option<Vec<f64>>> {
    let what = || format!("the previous parts H ({k} x {c})");
    if h.len() != k * c {
        return Err(Error::Length {
            what: what(),
            expected: k * c,
            found: h.len(),
        });
    }
    if let Some(index) = first_non_finite(h) {
        return Err(Error::NonFinite {
            what: what(),
            index,
        });
    }
    if let Some(index) = h.iter().position(|&x| x < 0.0) {
        return Err(Error::Negative {
            what: what(),
            index,
        });
    }
    let mean = h.iter().map(|&x| f64::from(x)).sum::<f64>() / h.len() as f64;
    if mean <= 0.0 {
        return Ok(None);
    }
    let floor = 1e-3 * mean;
    Ok(Some(h.iter().map(|&x| f64::from(x).max(floor)).collect()))
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl Nmf {
    /// Factorises the `[n, c]` matrix `v` (row-major) into `options.k` parts from a seeded
    /// start. Values below 0 are taken as 0 (and counted). Errors: an empty matrix, a length
    /// that is not `n * c`, a value that is not finite, `k` = 0 or above `min(n, c)`, every
    /// value 0 or below.
    pub fn fit(v: &[f32], n: usize, c: usize, options: &NmfOptions) -> Result<Nmf> {
        let target = Target::new(v, n, c, options.k)?;
        let k = options.k;
        let mut rng = SplitMix64::new(options.seed);
        let scale = (target.mean / k as f64).sqrt();
        let w = positive_uniform(&mut rng, n * k, scale);
        let h = positive_uniform(&mut rng, k * c, scale);
        Ok(Self::finish(Fitting {
            target: &target,
            k,
            w,
            h,
            options: *options,
        }))
    }

    /// As [`Nmf::fit`], warm-started from `h`, the parts of a previous fit (`[options.k, c]`,
    /// e.g. the last frame's): only `W` starts afresh (the least-squares fit to `h`, clamped
    /// positive), `H` is updated from there. An all-zero `h` starts cold.
    pub fn fit_warm(v: &[f32], n: usize, c: usize, h: &[f32], options: &NmfOptions) -> Result<Nmf> {
        let target = Target::new(v, n, c, options.k)?;
        let k = options.k;
        let Some(h) = warm_h(h, k, c)? else {
            return Nmf::fit(v, n, c, options);
        };
        let w = w_for_fixed_h(&target, &h, k, options.seed);
        Ok(Self::finish(Fitting {
            target: &target,
            k,
            w,
            h,
            options: *options,
        }))
    }

    /// As [`Nmf::fit_warm`] from this factorisation's parts and settings, on a new `[n, C]`
    /// matrix with the same channels.
    pub fn refit(&self, v: &[f32], n: usize) -> Result<Nmf> {
        Nmf::fit_warm(v, n, self.c, &self.h, &self.options)
    }

    fn finish(mut fitting: Fitting<'_>) -> Nmf {
        let iterations = fitting.run();
        let relative_error = fitting.exact_relative_error() as f32;
        let target = fitting.target;
        Nmf {
            w: to_f32(&fitting.w),
            h: to_f32(&fitting.h),
            n: target.n,
            c: target.c,
            k: fitting.k,
            relative_error,
            iterations,
            clamped: target.clamped,
            options: fitting.options,
        }
    }

    /// Fits `W` for new rows `v` (`[n, C]`, e.g. a new frame's positions) with this
    /// factorisation's `H` fixed: how much of each known part each row holds. The same checks
    /// and clamping as [`Nmf::fit`]; `n` may be below `k`.
    pub fn transform(&self, v: &[f32], n: usize) -> Result<Transform> {
        let h = self.checked_h()?;
        // the rank check is the fit's (k <= min(N, C)) for this H, not for the new rows
        let target = Target::new(v, n, self.c, 1)?;
        let w = w_for_fixed_h(&target, &h, self.k, self.options.seed);
        let mut fitting = Fitting {
            target: &target,
            k: self.k,
            w,
            h,
            options: self.options,
        };
        let iterations = fitting.run_w_only();
        Ok(Transform {
            relative_error: fitting.exact_relative_error() as f32,
            w: to_f32(&fitting.w),
            iterations,
            clamped: target.clamped,
        })
    }

    /// This factorisation's `H` in `f64`, checked against its `k` and `c` (the fields are
    /// public, so they may have been changed).
    fn checked_h(&self) -> Result<Vec<f64>> {
        let expected = self.k.saturating_mul(self.c);
        if self.k == 0 || self.h.len() != expected {
            return Err(Error::Length {
                what: format!("the parts H ({} x {})", self.k, self.c),
                expected,
                found: self.h.len(),
            });
        }
        Ok(self.h.iter().map(|&x| f64::from(x)).collect())
    }

    /// `W H`, `[N, C]` row-major. An error when the factors do not have the shapes `n`, `k`
    /// and `c` say.
    pub fn reconstruction(&self) -> Result<Vec<f32>> {
        let h = self.checked_h()?;
        let expected = self.n.saturating_mul(self.k);
        if self.w.len() != expected {
            return Err(Error::Length {
                what: format!("the weights W ({} x {})", self.n, self.k),
                expected,
                found: self.w.len(),
            });
        }
        let w: Vec<f64> = self.w.iter().map(|&x| f64::from(x)).collect();
        Ok(to_f32(&a_b(&w, &h, self.n, self.k, self.c)))
    }
}

#[cfg(test)]
mod tests;
