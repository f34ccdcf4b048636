//! Objectives by composition (lucent's `objectives`): a weighted sum of terms, each a unit (a
//! neuron at a position, a channel's mean, a class score; see [`Objective`]), a direction in a
//! layer's channel space, or the diversity of a run's images. Written as text:
//! `channel:fire9:12 + 0.5*neuron:conv10:207 - 0.1*diversity:fire5`.

use std::ops::Range;

use burn::prelude::*;
use deepvis_model::{ModelInfo, Net, Request, Taps};
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result, TermError};
use crate::objective::Objective;

/// One term of a goal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    /// A unit's value (excited or suppressed by its own sign).
    Unit(Objective),
    /// The cosine similarity of a layer's activation vector (over its channels) with
    /// `vector`, at one position or averaged over the map (lucent's `direction` and
    /// `direction_neuron`).
    Direction {
        /// The layer.
        layer: String,
        /// One value per channel.
        vector: Vec<f32>,
        /// Where on the map; None: the whole map's mean.
        at: Option<(usize, usize)>,
    },
    /// How much a run's images differ in a layer: minus the mean cosine similarity of their
    /// Gram matrices (lucent's `diversity`); 0 for a run of one image.
    Diversity {
        /// The layer.
        layer: String,
    },
}

impl Term {
    /// The direction of `layer`'s activation vector on the picture `x` (`[1, 3, s, s]`, the
    /// network's normalized input) at `at`, or the mean vector over its map: a picture of what
    /// the network sees there (lucent's `direction_neuron` / `direction`).
    pub fn direction_in(
        net: &Net,
        x: Tensor<4>,
        layer: &str,
        at: Option<(usize, usize)>,
    ) -> Result<Term> {
        let name = net.info().layer(layer)?.name;
        let taps = net.forward(x, &Request::layers(&[name.as_str()]))?;
        let a = taps.get(&name).cloned().ok_or_else(|| {
            OptimError::BadParam(format!("the forward pass did not return `{name}`"))
        })?;
        let [_, c, h, w] = a.dims();
        let v = match at {
            Some((y, x)) if y >= h || x >= w => {
                return Err(OptimError::BadParam(format!(
                    "position ({y}, {x}) is outside {name}'s {h}x{w} map"
                )));
            }
            Some((y, x)) => a.slice([0..1, 0..c, y..y + 1, x..x + 1]),
            None => a.slice([0..1, 0..c, 0..h, 0..w]).mean_dim(2).mean_dim(3),
        };
        let vector = deepvis_model::to_vec(v)?;
        if vector.iter().all(|v| *v == 0.0) {
            return Err(OptimError::BadParam(format!(
                "{name}'s activation vector is zero there: no direction to take"
            )));
        }
        Ok(Term::Direction {
            layer: name,
            vector,
            at,
        })
    }
}

/// A weighted sum of terms, maximized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "GoalRepr")]
pub struct Goal {
    /// `(weight, term)`.
    pub terms: Vec<(f32, Term)>,
}

/// A goal as saved, or a single objective as earlier versions saved it.
#[derive(Deserialize)]
#[serde(untagged)]
enum GoalRepr {
    Terms { terms: Vec<(f32, Term)> },
    Unit(Objective),
}

impl From<GoalRepr> for Goal {
    fn from(r: GoalRepr) -> Goal {
        match r {
            GoalRepr::Terms { terms } => Goal { terms },
            GoalRepr::Unit(o) => o.into(),
        }
    }
}

impl From<Objective> for Goal {
    fn from(o: Objective) -> Goal {
        Goal {
            terms: vec![(1.0, Term::Unit(o))],
        }
    }
}

/// A goal's value on a run's images, as `[1]` tensors.
pub struct Value {
    /// What the backward pass maximizes: unit and direction terms summed over the images
    /// (each image gets its own full gradient), plus the run's diversity.
    pub loss: Tensor<1>,
    /// What is reported: the terms averaged over the images, plus the diversity.
    pub report: Tensor<1>,
    /// The first unit term's post-ReLU activation on the first image (0 without one).
    pub act: Tensor<1>,
    /// 1 where the first unit term's unit is the argmax of its layer on the first image.
    pub is_max: Tensor<1>,
}

impl Goal {
    /// The first unit term (what the window's telemetry and pre-ReLU policy follow).
    pub fn primary(&self) -> Option<&Objective> {
        self.terms.iter().find_map(|(_, t)| match t {
            Term::Unit(o) => Some(o),
            _ => None,
        })
    }

    /// The layer of the first term (for reports).
    pub fn layer(&self) -> Option<&str> {
        self.terms.first().map(|(_, t)| match t {
            Term::Unit(o) => o.layer.as_str(),
            Term::Direction { layer, .. } | Term::Diversity { layer } => layer.as_str(),
        })
    }

    /// With a diversity term of `weight` on `layer` added.
    pub fn with_diversity(mut self, weight: f32, layer: &str) -> Goal {
        self.terms.push((
            weight,
            Term::Diversity {
                layer: layer.to_string(),
            },
        ));
        self
    }

    /// Checks every term against the model.
    pub fn validate(&self, arch: &ModelInfo) -> Result<()> {
        if self.terms.is_empty() {
            return Err(OptimError::BadParam("an objective needs a term".into()));
        }
        for (w, t) in &self.terms {
            if !w.is_finite() {
                return Err(OptimError::BadParam(format!("a term's weight is {w}")));
            }
            match t {
                Term::Unit(o) => {
                    o.validate(arch)?;
                }
                Term::Direction { layer, vector, at } => {
                    let info = arch.layer(layer)?;
                    if vector.len() != info.channels {
                        return Err(OptimError::BadParam(format!(
                            "a direction in {layer} needs {} values, not {}",
                            info.channels,
                            vector.len()
                        )));
                    }
                    if vector.iter().any(|v| !v.is_finite()) {
                        return Err(OptimError::BadParam(format!(
                            "the direction in {layer} holds a non-finite value"
                        )));
                    }
                    if vector.iter().all(|v| *v == 0.0) {
                        return Err(OptimError::BadParam(format!(
                            "the direction in {layer} is zero: the activation there was zero"
                        )));
                    }
                    if let Some((y, x)) = at {
                        info.check_unit(0, Some((*y, *x)))?;
                    }
                }
                Term::Diversity { layer } => {
                    arch.layer(layer)?;
                }
            }
        }
        Ok(())
    }

    /// What the forward pass must return.
    pub fn request(&self, arch: &ModelInfo, req: &mut Request) -> Result<()> {
        for (_, t) in &self.terms {
            match t {
                Term::Unit(o) => o.request(arch, req)?,
                Term::Direction { layer, .. } | Term::Diversity { layer } => {
                    req.layers.push(arch.layer(layer)?.name);
                }
            }
        }
        Ok(())
    }

    /// The value on batch items `items` (one run's images).
    pub fn evaluate(&self, arch: &ModelInfo, taps: &Taps, items: Range<usize>) -> Result<Value> {
        let m = items.len() as f32;
        let mut loss: Option<Tensor<1>> = None;
        let mut report: Option<Tensor<1>> = None;
        let mut tel: Option<(Tensor<1>, Tensor<1>)> = None;
        let add = |acc: &mut Option<Tensor<1>>, t: Tensor<1>| {
            *acc = Some(match acc.take() {
                Some(a) => a + t,
                None => t,
            });
        };
        for (w, t) in &self.terms {
            let w = *w as f64;
            match t {
                Term::Unit(o) => {
                    for item in items.clone() {
                        let (value, act, is_max) = o.evaluate(arch, taps, item)?;
                        let signed = value * (o.sign as f64 * w);
                        add(&mut loss, signed.clone());
                        add(&mut report, signed / m as f64);
                        if tel.is_none() {
                            tel = Some((act, is_max));
                        }
                    }
                }
                Term::Direction { layer, vector, at } => {
                    let sims = direction(arch, taps, layer, vector, *at, items.clone())?;
                    let total = sims.sum() * w;
                    add(&mut report, total.clone() / m as f64);
                    add(&mut loss, total);
                }
                Term::Diversity { layer } => {
                    let d = diversity(arch, taps, layer, items.clone())? * w;
                    add(&mut report, d.clone());
                    add(&mut loss, d);
                }
            }
        }
        let (Some(loss), Some(report)) = (loss, report) else {
            return Err(OptimError::BadParam("an objective needs a term".into()));
        };
        let device = loss.device();
        let (act, is_max) = tel.unwrap_or_else(|| {
            (
                Tensor::<1>::zeros([1], &device),
                Tensor::<1>::zeros([1], &device),
            )
        });
        Ok(Value {
            loss,
            report,
            act,
            is_max,
        })
    }

    /// Parses `TERM (+|- [WEIGHT*]TERM)*`, each term one of `neuron:LAYER:CH[@Y,X]`,
    /// `neuron-pre:LAYER:CH[@Y,X]` (the value before the layer's ReLU), `channel:LAYER:CH`,
    /// `class:N` (the class score) and `diversity:LAYER`.
    pub fn parse(text: &str, arch: &ModelInfo) -> Result<Goal> {
        let bad = |source: TermError| OptimError::BadObjective {
            text: text.to_string(),
            source: Box::new(source),
        };
        let mut terms = Vec::new();
        let mut sign = 1.0f32;
        let mut rest = text.trim();
        loop {
            // the next term runs to the next top-level + or -
            let end = rest
                .char_indices()
                .skip(1)
                .find(|&(i, ch)| {
                    (ch == '+' || ch == '-')
                        && rest[..i].ends_with(' ')
                        && rest[i + 1..].starts_with(' ')
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            let piece = rest[..end].trim();
            let (weight, body) = match piece.split_once('*') {
                Some((w, b)) => (
                    w.trim()
                        .parse::<f32>()
                        .map_err(|_| bad(TermError::Weight(w.to_string())))?,
                    b.trim(),
                ),
                None => (1.0, piece),
            };
            terms.push((sign * weight, Self::term(body, arch).map_err(&bad)?));
            if end == rest.len() {
                break;
            }
            sign = if rest[end..].starts_with('-') {
                -1.0
            } else {
                1.0
            };
            rest = rest[end + 1..].trim();
        }
        let goal = Goal { terms };
        goal.validate(arch)?;
        Ok(goal)
    }

    fn term(body: &str, arch: &ModelInfo) -> std::result::Result<Term, TermError> {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| TermError::Number(s.to_string()))
        };
        let parts: Vec<&str> = body.split(':').collect();
        match parts.as_slice() {
            ["class", n] => Ok(Term::Unit(Objective::class(arch, num(n)?)?)),
            ["channel", layer, ch] => {
                Ok(Term::Unit(Objective::channel_mean(arch, layer, num(ch)?)?))
            }
            [kind @ ("neuron" | "neuron-pre"), layer, rest] => {
                let (ch, pos) = match rest.split_once('@') {
                    Some((c, p)) => {
                        let (y, x) = p
                            .split_once(',')
                            .ok_or_else(|| TermError::Position(p.to_string()))?;
                        (c, Some((num(y)?, num(x)?)))
                    }
                    None => (*rest, None),
                };
                let pre = *kind == "neuron-pre";
                Ok(Term::Unit(Objective::new(
                    arch,
                    layer,
                    num(ch)?,
                    pos,
                    pre,
                    1.0,
                )?))
            }
            ["diversity", layer] => Ok(Term::Diversity {
                layer: arch.layer(layer)?.name,
            }),
            _ => Err(TermError::Unknown(body.to_string())),
        }
    }

    /// The unit term, if the goal is exactly one unit of weight 1.
    pub fn as_unit(&self) -> Option<&Objective> {
        match self.terms.as_slice() {
            [(w, Term::Unit(o))] if *w == 1.0 => Some(o),
            _ => None,
        }
    }
}

fn layer_items(taps: &Taps, layer: &str, items: Range<usize>) -> Result<Tensor<4>> {
    let t = taps
        .get(layer)
        .ok_or_else(|| OptimError::BadParam(format!("the forward pass did not return `{layer}`")))?
        .clone();
    let [_, c, h, w] = t.dims();
    Ok(t.slice([items, 0..c, 0..h, 0..w]))
}

/// Each image's cosine similarity with `vector` (`[m]`).
fn direction(
    arch: &ModelInfo,
    taps: &Taps,
    layer: &str,
    vector: &[f32],
    at: Option<(usize, usize)>,
    items: Range<usize>,
) -> Result<Tensor<1>> {
    let name = arch.layer(layer)?.name;
    let a = layer_items(taps, &name, items)?;
    let [m, c, _, _] = a.dims();
    let a = match at {
        Some((y, x)) => a.slice([0..m, 0..c, y..y + 1, x..x + 1]),
        None => a,
    };
    let [_, _, h2, w2] = a.dims();
    let norm = vector
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let unit: Vec<f32> = vector.iter().map(|v| (*v as f64 / norm) as f32).collect();
    let v = Tensor::<1>::from_floats(unit.as_slice(), &a.device())
        .reshape([1, c, 1, 1])
        .expand([m, c, h2, w2]);
    let dot = (a.clone() * v).sum_dim(1);
    let len = (a.powi_scalar(2).sum_dim(1) + 1e-12).sqrt();
    Ok((dot / len).mean_dim(2).mean_dim(3).reshape([m]))
}

/// Minus the mean cosine similarity between the Gram matrices of the images (`[1]`).
fn diversity(arch: &ModelInfo, taps: &Taps, layer: &str, items: Range<usize>) -> Result<Tensor<1>> {
    let name = arch.layer(layer)?.name;
    let a = layer_items(taps, &name, items)?;
    let [m, c, h, w] = a.dims();
    if m < 2 {
        return Ok(Tensor::<1>::zeros([1], &a.device()));
    }
    let f = a.reshape([m, c, h * w]);
    let gram = f.clone().matmul(f.swap_dims(1, 2)).reshape([m, c * c]);
    let len = (gram.clone().powi_scalar(2).sum_dim(1) + 1e-12).sqrt();
    let g = gram / len;
    // sum over i != j of <g_i, g_j> = |sum_i g_i|^2 - sum_i |g_i|^2
    let all = g.clone().sum_dim(0).powi_scalar(2).sum();
    let own = g.powi_scalar(2).sum();
    Ok(((all - own) / -(m as f64)).reshape([1]))
}
