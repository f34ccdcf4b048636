//! Sequences of tokens read as grids: a value `[N, T, D]` whose T tokens are `lead` leading
//! ones (CLS, registers) and then an `h x w` grid of patches row by row, as vision
//! transformers keep them, is shown like a convolution's map (D channels of `h x w`); the
//! grid is found from the patch embedding (the first convolution whose stride is its kernel).
//! A model's sidecar may say instead how many leading tokens there are and how large a patch
//! is ([`TokenSpec`], kept in the graph and checked at load by [`Graph::check_tokens`]).

use std::collections::{HashMap, HashSet};

use crate::graph::{Graph, Op, Shapes};

/// The most leading tokens a sequence may have (a CLS token and registers).
pub const MAX_LEAD: usize = 16;

/// How a sequence of tokens lies over the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenGrid {
    /// Leading tokens (CLS, registers), before the patches.
    pub lead: usize,
    /// Rows of patches.
    pub h: usize,
    /// Columns of patches.
    pub w: usize,
}

impl TokenGrid {
    /// How many tokens the sequence holds.
    pub fn tokens(self) -> usize {
        self.lead + self.h * self.w
    }

    /// The grid a sequence of `t` tokens follows over patches of `h x w` (`lead`: the leading
    /// tokens when known, else what the count leaves, at most [`MAX_LEAD`]; the patches alone,
    /// before the leading tokens join them, fit either way); `None` when the count does not
    /// fit.
    pub fn fit(t: usize, (h, w): (usize, usize), lead: Option<usize>) -> Option<TokenGrid> {
        let patches = h * w;
        let k = t.checked_sub(patches)?;
        let ok = match lead {
            Some(l) => l == k || k == 0,
            None => k <= MAX_LEAD,
        };
        (ok && patches > 1).then_some(TokenGrid { lead: k, h, w })
    }
}

/// Where a token of a sequence lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAt {
    /// The `k`-th leading token (CLS, a register).
    Leading(usize),
    /// A patch token, at row `y` and column `x` of the patch grid.
    Patch {
        /// Row.
        y: usize,
        /// Column.
        x: usize,
    },
}

impl TokenGrid {
    /// Where token `i` lies (`i` counts every token, the leading ones first, as the model's
    /// tensor orders them); `None` past the last one.
    pub fn token(self, i: usize) -> Option<TokenAt> {
        match i.checked_sub(self.lead) {
            None => Some(TokenAt::Leading(i)),
            Some(p) if p < self.h * self.w => Some(TokenAt::Patch {
                y: p / self.w,
                x: p % self.w,
            }),
            Some(_) => None,
        }
    }
}

/// How a model's sequences of tokens split, as its sidecar says; a field left out is found
/// from the graph (the leading tokens: what the count leaves beside the patches, at most
/// [`MAX_LEAD`]; the patch: the patch embedding's stride).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenSpec {
    /// Leading tokens (CLS, registers) before the patches.
    pub lead: Option<usize>,
    /// The side of a patch in input pixels: the grid is the input's `H / patch x W / patch`.
    pub patch: Option<usize>,
}

impl TokenSpec {
    /// Whether it says anything (else every split is found from the graph).
    pub fn is_set(self) -> bool {
        self != TokenSpec::default()
    }
}

/// Why a token grid asked for (a sidecar's) does not fit the model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The model has no patch embedding to read the grid from.
    #[error(
        "no patch embedding (a convolution whose stride equals its kernel) gives the grid: \
         give the patch size too"
    )]
    NoPatches,
    /// A patch size that gives no grid over the input.
    #[error("a patch of {patch} pixels makes no grid of patches over the {h}x{w} input")]
    BadPatch {
        /// The patch side asked for.
        patch: usize,
        /// Input height.
        h: usize,
        /// Input width.
        w: usize,
    },
    /// No value holds the tokens the grid asks for.
    #[error(
        "no value is a sequence of {} leading tokens and {h}x{w} patches ({}); the model's \
         [N, T, D] values have T in {found:?}",
        lead.map_or(format!("at most {MAX_LEAD}"), |l| l.to_string()),
        lead.map_or(format!("{} to {} tokens", h * w, h * w + MAX_LEAD), |l| format!("{} tokens", l + h * w)),
    )]
    NoSuchTokens {
        /// Leading tokens asked for (`None`: any count up to [`MAX_LEAD`]).
        lead: Option<usize>,
        /// Patch rows.
        h: usize,
        /// Patch columns.
        w: usize,
        /// The token counts of the model's `[N, T, D]` values, smallest first.
        found: Vec<usize>,
    },
}

impl Graph {
    /// The patch grid `(h, w)` at the value shapes `shapes`: the map of the first convolution
    /// whose stride equals its kernel (larger than one pixel), as vision transformers embed
    /// their patches.
    /// A sidecar's patch size ([`TokenSpec::patch`]) gives the grid instead: the input's
    /// sides divided by it.
    pub fn patch_grid(&self, shapes: &Shapes) -> Option<(usize, usize)> {
        if let Some(p) = self.tokens.patch {
            return match shapes.get(&self.input)? {
                &[_, _, h, w] if p > 0 && h / p * (w / p) > 1 => Some((h / p, w / p)),
                _ => None,
            };
        }
        self.nodes.iter().find_map(|n| {
            let Op::Conv { window, .. } = &n.op else {
                return None;
            };
            let w = self.constants.get(n.inputs.get(1)?)?;
            let kernel = [*w.dims.get(2)?, *w.dims.get(3)?];
            if window.strides != kernel || kernel.iter().all(|&k| k <= 1) {
                return None;
            }
            match shapes.get(&n.output)? {
                &[_, _, h, w] => Some((h, w)),
                _ => None,
            }
        })
    }

    /// The values holding tokens at `shapes`, with their grid: every rank-3 value
    /// `[N, T, D]` whose T tokens are leading ones and the patch grid (`lead`: their count when
    /// known, as a sidecar says). Empty when the model has no patch embedding.
    pub fn token_grids(&self, shapes: &Shapes, lead: Option<usize>) -> HashMap<String, TokenGrid> {
        let Some(patches) = self.patch_grid(shapes) else {
            return HashMap::new();
        };
        self.nodes
            .iter()
            .filter_map(|n| match shapes.get(&n.output)? {
                &[_, t, _] => Some((n.output.clone(), TokenGrid::fit(t, patches, lead)?)),
                _ => None,
            })
            .collect()
    }

    /// The values GELUs compute: an `Op::Gelu`'s output, or the last product of the
    /// exporter's `x * 0.5 * (1 + erf(x / sqrt 2))` (an `Erf`, the `Add` of one, the product
    /// with `x`, and the product by one half when it comes after).
    pub fn gelu_outputs(&self) -> HashSet<String> {
        let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for v in &n.inputs {
                readers.entry(v.as_str()).or_default().push(i);
            }
        }
        let only = |v: &str, op: fn(&Op) -> bool| -> Option<usize> {
            match readers.get(v).map(Vec::as_slice) {
                Some(&[i]) if op(&self.nodes[i].op) => Some(i),
                _ => None,
            }
        };
        let is_add = |o: &Op| matches!(o, Op::Add);
        let is_mul = |o: &Op| matches!(o, Op::Mul);
        self.nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::Gelu { .. } => Some(n.output.clone()),
                Op::Erf => {
                    let add = only(&n.output, is_add)?;
                    let times_x = only(&self.nodes[add].output, is_mul)?;
                    let out = &self.nodes[times_x].output;
                    // the product by one half, when it comes last
                    let half = only(out, is_mul).filter(|&h| {
                        self.nodes[h]
                            .inputs
                            .iter()
                            .any(|i| self.constants.contains_key(i))
                    });
                    Some(half.map_or(out, |h| &self.nodes[h].output).clone())
                }
                _ => None,
            })
            .collect()
    }

    /// Checks that the split the graph's [`TokenSpec`] asks for (a sidecar's) fits some value
    /// at `shapes`: the patch size makes a grid over the input, and some `[N, T, D]` value
    /// holds the leading tokens and that grid. Nothing asked: nothing to check.
    pub fn check_tokens(&self, shapes: &Shapes) -> Result<(), TokenError> {
        if !self.tokens.is_set() {
            return Ok(());
        }
        let Some((h, w)) = self.patch_grid(shapes) else {
            return Err(match (self.tokens.patch, shapes.get(&self.input)) {
                (Some(patch), Some(&[_, _, h, w])) => TokenError::BadPatch { patch, h, w },
                _ => TokenError::NoPatches,
            });
        };
        let grids = self.token_grids(shapes, self.tokens.lead);
        if grids
            .values()
            .any(|g| self.tokens.lead.is_none_or(|l| g.lead == l))
        {
            return Ok(());
        }
        let mut found: Vec<usize> = self
            .nodes
            .iter()
            .filter_map(|n| match shapes.get(&n.output)? {
                &[_, t, _] => Some(t),
                _ => None,
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        Err(TokenError::NoSuchTokens {
            lead: self.tokens.lead,
            h,
            w,
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_fits_the_grid_with_its_leading_tokens() {
        // vit_s_focus at 224: CLS + 16x16; vit_mini: CLS + 2 registers + 8x8
        assert_eq!(
            TokenGrid::fit(257, (16, 16), None),
            Some(TokenGrid {
                lead: 1,
                h: 16,
                w: 16
            })
        );
        assert_eq!(TokenGrid::fit(67, (8, 8), None).map(|g| g.lead), Some(3));
        assert_eq!(
            TokenGrid::fit(67, (8, 8), Some(3)).map(|g| g.tokens()),
            Some(67)
        );
        // told otherwise, or too few, or too many leading tokens
        assert_eq!(TokenGrid::fit(67, (8, 8), Some(1)), None);
        assert_eq!(TokenGrid::fit(60, (8, 8), None), None);
        assert_eq!(TokenGrid::fit(64 + MAX_LEAD + 1, (8, 8), None), None);
        // a channel count is no sequence of tokens: 384 channels over 256 patches
        assert_eq!(TokenGrid::fit(384, (16, 16), None), None);
    }

    #[test]
    fn a_token_is_a_leading_one_or_a_patch_row_by_row() {
        let g = TokenGrid {
            lead: 3,
            h: 8,
            w: 8,
        };
        assert_eq!(g.token(0), Some(TokenAt::Leading(0)));
        assert_eq!(g.token(2), Some(TokenAt::Leading(2)));
        assert_eq!(g.token(3), Some(TokenAt::Patch { y: 0, x: 0 }));
        assert_eq!(g.token(3 + 8 + 5), Some(TokenAt::Patch { y: 1, x: 5 }));
        assert_eq!(g.token(66), Some(TokenAt::Patch { y: 7, x: 7 }));
        assert_eq!(g.token(67), None);
        // no leading tokens, a grid wider than high
        let g = TokenGrid {
            lead: 0,
            h: 2,
            w: 3,
        };
        assert_eq!(g.token(4), Some(TokenAt::Patch { y: 1, x: 1 }));
        assert_eq!(g.token(6), None);
    }
}
