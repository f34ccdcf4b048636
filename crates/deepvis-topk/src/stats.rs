//! A channel's activation statistics over a folder: how many images, how many left it silent,
//! the mean of its maximum and of its mean, its largest value and a histogram of its maximum
//! per image. Sums are kept in fixed point, so that parts of a folder merged in any order give
//! the very numbers one pass gives.

use serde::{Deserialize, Serialize};

/// Fixed-point scale of the sums (2^20: a millionth of a unit).
const FIXED: f64 = (1u64 << 20) as f64;

/// The histogram's bins: one for the images where the channel is silent (its maximum at most
/// 0), then one below 2^-7, one per power of two from 2^-7 to 2^10, and one from 2^11 on (a
/// Caffe network's units reach the hundreds).
pub const BINS: usize = 21;
/// The lowest power of two with a bin of its own.
const LOW_POW: i32 = -7;

/// One channel's statistics over the images read so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStats {
    /// Images read.
    pub images: u64,
    /// Images on which the channel's maximum is at most 0.
    pub silent: u64,
    /// The sum of the per-image maxima, in fixed point (2^-20).
    sum_max: i64,
    /// The sum of the per-image means, in fixed point (2^-20).
    sum_mean: i64,
    /// The largest value seen, in fixed point (None before the first image).
    top: Option<i64>,
    /// Images per bin of their maximum (see [`bin_edges`]).
    pub hist: Vec<u64>,
}

fn fixed(v: f32) -> i64 {
    if v.is_finite() {
        (v as f64 * FIXED).round().clamp(-9.0e15, 9.0e15) as i64
    } else if v > 0.0 {
        9_000_000_000_000_000
    } else {
        -9_000_000_000_000_000
    }
}

/// The bin of a per-image maximum.
pub fn bin_of(max: f32) -> usize {
    if max.is_nan() || max <= 0.0 {
        return 0;
    }
    let p = max.log2().floor() as i64;
    (p - LOW_POW as i64 + 2).clamp(1, BINS as i64 - 1) as usize
}

/// The lower edge of each bin but the first (the silent one): bin 1 holds everything above 0
/// and below 2^-7, bin `i` from 2^(i-9) up, the last everything from 2^11 on.
pub fn bin_edges() -> Vec<f32> {
    (1..BINS)
        .map(|i| {
            if i == 1 {
                0.0
            } else {
                2f32.powi(i as i32 - 2 + LOW_POW)
            }
        })
        .collect()
}

impl ChannelStats {
    /// Counts one image: the channel's maximum and mean on it.
    pub fn add(&mut self, max: f32, mean: f32) {
        if self.hist.len() != BINS {
            self.hist = vec![0; BINS];
        }
        self.images += 1;
        if max.is_nan() || max <= 0.0 {
            self.silent += 1;
        }
        self.sum_max = self.sum_max.saturating_add(fixed(max));
        self.sum_mean = self.sum_mean.saturating_add(fixed(mean));
        let m = fixed(max);
        self.top = Some(self.top.map_or(m, |t| t.max(m)));
        self.hist[bin_of(max)] += 1;
    }

    /// Adds the statistics of other images.
    pub fn merge(&mut self, other: &ChannelStats) {
        if other.images == 0 {
            return;
        }
        if self.hist.len() != BINS {
            self.hist = vec![0; BINS];
        }
        self.images += other.images;
        self.silent += other.silent;
        self.sum_max = self.sum_max.saturating_add(other.sum_max);
        self.sum_mean = self.sum_mean.saturating_add(other.sum_mean);
        self.top = match (self.top, other.top) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // (a histogram of other bins, from another version, is not added bin by bin)
        if other.hist.len() == BINS {
            for (h, o) in self.hist.iter_mut().zip(&other.hist) {
                *h += o;
            }
        }
    }

    /// The mean over the images of the channel's maximum (0 before any image).
    pub fn mean_max(&self) -> f64 {
        self.per_image(self.sum_max)
    }

    /// The mean over the images of the channel's mean.
    pub fn mean_mean(&self) -> f64 {
        self.per_image(self.sum_mean)
    }

    /// The largest value seen (0 before any image).
    pub fn max(&self) -> f64 {
        self.top.map_or(0.0, |t| t as f64 / FIXED)
    }

    /// The share of the images that left the channel silent.
    pub fn silent_share(&self) -> f64 {
        if self.images == 0 {
            0.0
        } else {
            self.silent as f64 / self.images as f64
        }
    }

    fn per_image(&self, sum: i64) -> f64 {
        if self.images == 0 {
            0.0
        } else {
            sum as f64 / FIXED / self.images as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_powers_of_two() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(-3.0), 0);
        assert_eq!(bin_of(f32::NAN), 0);
        assert_eq!(bin_of(1e-9), 1);
        let edges = bin_edges();
        assert_eq!(edges.len(), BINS - 1);
        // each edge lands in its own bin, and just below it in the one before
        for (i, &e) in edges.iter().enumerate().skip(1) {
            assert_eq!(bin_of(e), i + 1, "edge {e}");
            assert_eq!(bin_of(e * 0.999), i, "below {e}");
        }
        assert_eq!(bin_of(1.0), 9);
        assert_eq!(bin_of(1e9), BINS - 1);
    }

    #[test]
    fn the_numbers_of_a_hand_count() {
        let mut s = ChannelStats::default();
        s.add(2.0, 0.5);
        s.add(0.0, 0.0);
        s.add(6.0, 1.0);
        assert_eq!(s.images, 3);
        assert_eq!(s.silent, 1);
        assert!((s.mean_max() - 8.0 / 3.0).abs() < 1e-6);
        assert!((s.mean_mean() - 0.5).abs() < 1e-6);
        assert_eq!(s.max(), 6.0);
        assert!((s.silent_share() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.hist.iter().sum::<u64>(), 3);
        assert_eq!(s.hist[0], 1);
    }

    #[test]
    fn parts_merged_in_any_order_equal_one_pass() {
        let values: Vec<(f32, f32)> = (0..40)
            .map(|i| ((i as f32 * 0.731).sin() * 7.0, (i as f32 * 0.37).cos()))
            .collect();
        let mut whole = ChannelStats::default();
        for &(m, a) in &values {
            whole.add(m, a);
        }
        let mut parts = vec![ChannelStats::default(); 3];
        for (i, &(m, a)) in values.iter().enumerate() {
            parts[(i * 7) % 3].add(m, a);
        }
        let mut merged = ChannelStats::default();
        for p in parts.iter().rev() {
            merged.merge(p);
        }
        assert_eq!(merged, whole);
    }
}
