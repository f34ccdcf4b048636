//! Attention rollout (Abnar & Zuidema 2020): how much each token's attention, followed down
//! through every block, comes from each input token. Per block the heads are averaged, the
//! residual path is added as `0.5 A + 0.5 I` and the rows renormalised to sum to one; the
//! blocks' matrices are multiplied from the first to the last, and one row of the product
//! (the CLS token's, or a patch's) is the map.

use crate::{Error, Result};

/// One block's attention probabilities `[1, heads, T, T]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    /// The values.
    pub values: Vec<f32>,
    /// Heads.
    pub heads: usize,
    /// Tokens.
    pub tokens: usize,
}

impl Attention {
    /// The heads' mean with the residual path: `0.5 mean_h(A) + 0.5 I`, rows renormalised.
    fn mixed(&self) -> Result<Vec<f64>> {
        let t = self.tokens;
        if self.values.len() != self.heads * t * t || self.heads == 0 {
            return Err(Error::Settings(format!(
                "an attention map of {} values is not {} heads of {t}x{t}",
                self.values.len(),
                self.heads
            )));
        }
        let mut m = vec![0.0f64; t * t];
        for head in self.values.chunks_exact(t * t) {
            for (acc, &v) in m.iter_mut().zip(head) {
                *acc += f64::from(v);
            }
        }
        let heads = self.heads as f64;
        for (i, row) in m.chunks_exact_mut(t).enumerate() {
            for v in row.iter_mut() {
                *v *= 0.5 / heads;
            }
            row[i] += 0.5;
            let sum: f64 = row.iter().sum();
            if sum > 0.0 && sum.is_finite() {
                for v in row.iter_mut() {
                    *v /= sum;
                }
            }
        }
        Ok(m)
    }
}

/// Row `query` of one block's attention: of head `head`, or the heads' mean.
pub fn attention_row(a: &Attention, head: Option<usize>, query: usize) -> Result<Vec<f32>> {
    let t = a.tokens;
    if a.values.len() != a.heads * t * t || query >= t {
        return Err(Error::Settings(format!(
            "token {query} of an attention map of {} values ({} heads of {t}x{t})",
            a.values.len(),
            a.heads
        )));
    }
    let heads: Vec<usize> = match head {
        Some(h) if h < a.heads => vec![h],
        Some(h) => {
            return Err(Error::Settings(format!(
                "head {h} is out of range: the block has {} heads",
                a.heads
            )));
        }
        None => (0..a.heads).collect(),
    };
    let mut row = vec![0f32; t];
    for h in &heads {
        let at = (h * t + query) * t;
        for (r, v) in row.iter_mut().zip(&a.values[at..at + t]) {
            *r += v / heads.len() as f32;
        }
    }
    Ok(row)
}

/// Row `query` of the rollout of `blocks` (in the network's order, first block first): for
/// each input token, how much of `query`'s final representation flows from it.
pub fn rollout(blocks: &[Attention], query: usize) -> Result<Vec<f32>> {
    let t = blocks.first().map(|b| b.tokens).ok_or_else(|| {
        Error::Settings("attention rollout needs attention maps: the model has none".into())
    })?;
    if blocks.iter().any(|b| b.tokens != t) {
        return Err(Error::Settings(
            "the attention maps differ in their number of tokens".into(),
        ));
    }
    if query >= t {
        return Err(Error::Settings(format!(
            "token {query} is out of range: the sequence has {t} tokens"
        )));
    }
    // R = A_L ... A_1; its row q is e_q A_L ... A_1, taken from the left: one vector times a
    // matrix per block rather than matrix products
    let mut row = vec![0.0f64; t];
    row[query] = 1.0;
    for block in blocks.iter().rev() {
        let a = block.mixed()?;
        let mut next = vec![0.0f64; t];
        for (i, &r) in row.iter().enumerate() {
            if r == 0.0 {
                continue;
            }
            for (n, &v) in next.iter_mut().zip(&a[i * t..(i + 1) * t]) {
                *n += r * v;
            }
        }
        row = next;
    }
    Ok(row.into_iter().map(|v| v as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a` times `b`, both `t x t`.
    fn matmul(a: &[f64], b: &[f64], t: usize) -> Vec<f64> {
        let mut c = vec![0.0; t * t];
        for i in 0..t {
            for k in 0..t {
                for j in 0..t {
                    c[i * t + j] += a[i * t + k] * b[k * t + j];
                }
            }
        }
        c
    }

    #[test]
    fn two_blocks_by_hand() {
        // 3 tokens, 2 heads; block 1 and block 2 as a user would write them
        let b1 = Attention {
            values: vec![
                0.2, 0.3, 0.5, 0.1, 0.8, 0.1, 0.6, 0.2, 0.2, // head 0
                0.4, 0.4, 0.2, 0.3, 0.3, 0.4, 0.0, 0.5, 0.5, // head 1
            ],
            heads: 2,
            tokens: 3,
        };
        let b2 = Attention {
            values: vec![
                1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.2, 0.2, 0.6, // head 0
                0.0, 1.0, 0.0, 0.5, 0.0, 0.5, 0.3, 0.3, 0.4, // head 1
            ],
            heads: 2,
            tokens: 3,
        };
        // by hand: the heads' mean, half of it plus half the identity (rows already sum to 1)
        let hand = |m: [f64; 9]| -> Vec<f64> {
            (0..9)
                .map(|k| 0.5 * m[k] + if k % 4 == 0 { 0.5 } else { 0.0 })
                .collect()
        };
        let a1 = hand([0.3, 0.35, 0.35, 0.2, 0.55, 0.25, 0.3, 0.35, 0.35]);
        let a2 = hand([0.5, 0.5, 0.0, 0.5, 0.25, 0.25, 0.25, 0.25, 0.5]);
        let r = matmul(&a2, &a1, 3);
        for q in 0..3 {
            let got = rollout(&[b1.clone(), b2.clone()], q).unwrap();
            for j in 0..3 {
                assert!(
                    (f64::from(got[j]) - r[q * 3 + j]).abs() < 1e-6,
                    "row {q}: {got:?} vs {:?}",
                    &r[q * 3..q * 3 + 3]
                );
            }
            // each row of the rollout is a distribution over the input tokens
            let sum: f32 = got.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn a_row_of_one_head_or_of_their_mean() {
        let a = Attention {
            values: vec![0.2, 0.8, 0.6, 0.4, 1.0, 0.0, 0.0, 1.0],
            heads: 2,
            tokens: 2,
        };
        assert_eq!(attention_row(&a, Some(0), 1).unwrap(), vec![0.6, 0.4]);
        assert_eq!(attention_row(&a, Some(1), 0).unwrap(), vec![1.0, 0.0]);
        assert_eq!(attention_row(&a, None, 0).unwrap(), vec![0.6, 0.4]);
        assert!(attention_row(&a, Some(2), 0).is_err());
        assert!(attention_row(&a, None, 2).is_err());
    }

    #[test]
    fn rows_are_renormalised_and_bad_maps_refused() {
        // rows that do not sum to one (a masked softmax) are renormalised after the identity
        let b = Attention {
            values: vec![0.5, 0.0, 0.0, 0.0],
            heads: 1,
            tokens: 2,
        };
        let got = rollout(&[b], 1).unwrap();
        assert_eq!(got, vec![0.0, 1.0]);
        let b = Attention {
            values: vec![1.0, 0.0, 0.0, 0.0],
            heads: 1,
            tokens: 2,
        };
        let got = rollout(std::slice::from_ref(&b), 0).unwrap();
        assert_eq!(got, vec![1.0, 0.0]);
        assert!(rollout(&[], 0).is_err());
        assert!(rollout(std::slice::from_ref(&b), 2).is_err());
        let bad = Attention {
            values: vec![1.0; 3],
            heads: 1,
            tokens: 2,
        };
        assert!(rollout(&[bad], 0).is_err());
    }
}
