//! The grid layer's activity over time: each channel's maximum frame by frame for the last
//! [`HISTORY_SECS`] seconds, which channels have stayed silent all session, and the orders the
//! grid can be sorted in. Plain data, no drawing.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Seconds of history kept (the sparkline's span).
pub const HISTORY_SECS: f64 = 30.0;

/// A channel whose maximum never rises above this is silent.
pub const SILENT_BELOW: f32 = 1e-6;

/// How the grid orders its tiles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortMode {
    /// By channel index, as the network numbers them.
    #[default]
    Channel,
    /// The most active on the current frame first.
    Now,
    /// The highest mean maximum over the recent seconds first.
    Recent,
}

impl SortMode {
    /// Every mode, in the picker's order.
    pub const ALL: [SortMode; 3] = [SortMode::Channel, SortMode::Now, SortMode::Recent];

    /// The mode in words.
    pub fn label(self) -> &'static str {
        match self {
            SortMode::Channel => "channel index",
            SortMode::Now => "activation now",
            SortMode::Recent => "mean of the last seconds",
        }
    }
}

/// The history of one layer's per-channel maxima.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    layer: String,
    /// (seconds, maxima) of every frame of the last [`HISTORY_SECS`], oldest first.
    frames: VecDeque<(f64, Vec<f32>)>,
    /// Whether each channel has been above [`SILENT_BELOW`] on any frame of the session.
    ever_active: Vec<bool>,
    /// Frames seen since the layer was shown.
    seen: usize,
}

impl Activity {
    /// Records a frame of `layer` at `t` seconds; a new layer (or channel count) starts over.
    pub fn push(&mut self, layer: &str, t: f64, maxima: &[f32]) {
        if layer != self.layer || maxima.len() != self.ever_active.len() {
            *self = Activity {
                layer: layer.to_string(),
                ever_active: vec![false; maxima.len()],
                ..Activity::default()
            };
        }
        for (a, &m) in self.ever_active.iter_mut().zip(maxima) {
            // a NaN maximum is not activity
            *a |= m > SILENT_BELOW;
        }
        self.frames.push_back((t, maxima.to_vec()));
        while self
            .frames
            .front()
            .is_some_and(|(t0, _)| t - t0 > HISTORY_SECS)
        {
            self.frames.pop_front();
        }
        self.seen += 1;
    }

    /// The layer the history is of.
    pub fn layer(&self) -> &str {
        &self.layer
    }

    /// Frames seen since the layer was shown.
    pub fn frames_seen(&self) -> usize {
        self.seen
    }

    /// The newest frame's maxima.
    pub fn current(&self) -> Option<&[f32]> {
        self.frames.back().map(|(_, m)| m.as_slice())
    }

    /// Each channel's mean maximum over the frames of the last `secs` seconds (NaN ignored).
    pub fn mean_over(&self, secs: f64) -> Vec<f32> {
        let n = self.ever_active.len();
        let Some(&(now, _)) = self.frames.back() else {
            return vec![0.0; n];
        };
        let mut sum = vec![0.0f64; n];
        let mut count = vec![0usize; n];
        for (t, m) in self.frames.iter().rev() {
            if now - t > secs {
                break;
            }
            for (c, &v) in m.iter().enumerate() {
                if v.is_finite() {
                    sum[c] += v as f64;
                    count[c] += 1;
                }
            }
        }
        sum.iter()
            .zip(&count)
            .map(|(s, &k)| if k > 0 { (s / k as f64) as f32 } else { 0.0 })
            .collect()
    }

    /// Channel `c`'s mean maximum over the frames of the last `secs` seconds (NaN ignored).
    pub fn mean_of(&self, c: usize, secs: f64) -> f32 {
        let Some(&(now, _)) = self.frames.back() else {
            return 0.0;
        };
        let (sum, n) = self
            .frames
            .iter()
            .rev()
            .take_while(|(t, _)| now - t <= secs)
            .filter_map(|(_, m)| m.get(c).copied().filter(|v| v.is_finite()))
            .fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
        if n > 0 { (sum / n as f64) as f32 } else { 0.0 }
    }

    /// Whether channel `c` has been silent on every frame since the layer was shown.
    pub fn silent(&self, c: usize) -> bool {
        self.seen > 0 && self.ever_active.get(c).is_some_and(|a| !a)
    }

    /// How many channels have been silent all along.
    pub fn silent_count(&self) -> usize {
        match self.seen {
            0 => 0,
            _ => self.ever_active.iter().filter(|a| !**a).count(),
        }
    }

    /// Channel `c`'s maximum on each kept frame as (seconds before the newest frame, value),
    /// oldest first: the sparkline.
    pub fn series(&self, c: usize) -> Vec<[f64; 2]> {
        let Some(&(now, _)) = self.frames.back() else {
            return Vec::new();
        };
        self.frames
            .iter()
            .filter_map(|(t, m)| m.get(c).map(|&v| [t - now, v as f64]))
            .collect()
    }

    /// The channels in the order `mode` shows them (`recent_secs` for [`SortMode::Recent`]);
    /// ties and NaNs keep the index order.
    pub fn order(&self, mode: SortMode, recent_secs: f64, channels: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..channels).collect();
        let key: Vec<f32> = match mode {
            SortMode::Channel => return idx,
            SortMode::Now => self.current().map(<[f32]>::to_vec).unwrap_or_default(),
            SortMode::Recent => self.mean_over(recent_secs),
        };
        let k = |c: usize| {
            key.get(c)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(f32::NEG_INFINITY)
        };
        idx.sort_by(|&a, &b| k(b).total_cmp(&k(a)).then(a.cmp(&b)));
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_silences_and_series() {
        let mut a = Activity::default();
        a.push("fire9", 0.0, &[1.0, 0.0, 5.0, f32::NAN]);
        a.push("fire9", 1.0, &[4.0, 0.0, 1.0, 2.0]);
        assert_eq!(a.order(SortMode::Channel, 10.0, 4), vec![0, 1, 2, 3]);
        assert_eq!(a.order(SortMode::Now, 10.0, 4), vec![0, 3, 2, 1]);
        // means: 2.5, 0, 3, 2 (the NaN frame ignored)
        assert_eq!(a.order(SortMode::Recent, 10.0, 4), vec![2, 0, 3, 1]);
        // only the newest frame within 0.5 s
        assert_eq!(a.order(SortMode::Recent, 0.5, 4), vec![0, 3, 2, 1]);
        assert_eq!(
            (a.mean_of(0, 10.0), a.mean_of(3, 10.0), a.mean_of(3, 0.5)),
            (2.5, 2.0, 2.0)
        );
        assert!(a.silent(1) && !a.silent(0) && !a.silent(3));
        assert_eq!(a.silent_count(), 1);
        assert_eq!(a.series(2), vec![[-1.0, 5.0], [0.0, 1.0]]);
        // frames older than the history fall out; a new layer starts over
        a.push("fire9", 40.0, &[0.0, 0.0, 0.0, 0.0]);
        assert_eq!(a.series(0).len(), 1);
        assert_eq!(a.frames_seen(), 3);
        assert!(!a.silent(0));
        a.push("conv1", 41.0, &[0.0; 2]);
        assert_eq!(
            (a.layer(), a.frames_seen(), a.silent_count()),
            ("conv1", 1, 2)
        );
    }
}
