//! A uniform sample of a stream (reservoir sampling, Vitter's algorithm R): the session's frames
//! that stand in for "others" when none were recorded.

use crate::rng::SplitMix64;

/// At most `cap` items of a stream, each item offered kept with the same chance.
#[derive(Clone, Debug)]
pub struct Reservoir<T> {
    cap: usize,
    seen: u64,
    items: Vec<T>,
    rng: SplitMix64,
}

impl<T> Reservoir<T> {
    /// An empty sample of at most `cap` items, its draws seeded by `seed`.
    pub fn new(cap: usize, seed: u64) -> Self {
        Reservoir {
            cap,
            seen: 0,
            items: Vec::new(),
            rng: SplitMix64::new(seed),
        }
    }

    /// Offers the stream's next item: kept while there is room, then in place of a random one
    /// with chance `cap / seen`.
    pub fn offer(&mut self, item: T) {
        self.seen += 1;
        if self.items.len() < self.cap {
            self.items.push(item);
            return;
        }
        let j = self.rng.next_u64() % self.seen;
        if let Some(slot) = usize::try_from(j).ok().and_then(|j| self.items.get_mut(j)) {
            *slot = item;
        }
    }

    /// The items kept.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// How many were offered.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_all_while_there_is_room_then_a_uniform_sample() {
        let mut r = Reservoir::new(10, 1);
        (0..5).for_each(|i| r.offer(i));
        assert_eq!(r.items(), &[0, 1, 2, 3, 4]);
        // 1000 items into 10 places, 2000 times: each item kept about 20 times in all
        let mut kept = vec![0u32; 1000];
        for seed in 0..2000 {
            let mut r = Reservoir::new(10, seed);
            (0..1000).for_each(|i| r.offer(i));
            assert_eq!((r.items().len(), r.seen()), (10, 1000));
            for &i in r.items() {
                kept[i] += 1;
            }
        }
        // the first and the last hundred as often as any: 2000 x 10 x 100 / 1000 = 2000 each
        let first: u32 = kept[..100].iter().sum();
        let last: u32 = kept[900..].iter().sum();
        for n in [first, last] {
            assert!((1700..=2300).contains(&n), "{first} {last}");
        }
    }
}
