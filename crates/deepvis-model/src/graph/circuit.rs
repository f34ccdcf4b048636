//! The circuit under a unit, by weight: how strongly each channel of a lower value feeds a
//! unit through the path between them. The path's linear parts compose into one expanded
//! kernel per input channel (convolutions, through 1x1 squeeze and expand layers; channel
//! concatenations; residual sums, each branch added); its ReLUs and poolings are taken as
//! passing the channels through, as Olah et al.'s "expanded weights" do.

use std::collections::HashSet;

use super::{Graph, GraphError, Node, Op};

/// Where a walk back from a unit goes: to `from`, through the values `on_path`.
struct Walk<'a> {
    from: &'a str,
    on_path: HashSet<&'a str>,
}

/// A unit's expanded kernel over the channels of a lower value: `[channels, kh, kw]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expanded {
    /// The lower value's channels.
    pub channels: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// `channels * kh * kw` weights.
    pub kernel: Vec<f32>,
}

impl Expanded {
    /// Unit `unit` of `channels` channels itself: a 1x1 kernel, 1 at the unit.
    fn unit(channels: usize, unit: usize) -> Expanded {
        let mut kernel = vec![0.0; channels];
        if let Some(k) = kernel.get_mut(unit) {
            *k = 1.0;
        }
        Expanded {
            channels,
            kh: 1,
            kw: 1,
            kernel,
        }
    }

    /// Channel `c`'s kernel.
    pub fn slice(&self, c: usize) -> &[f32] {
        let n = self.kh * self.kw;
        &self.kernel[c * n..(c + 1) * n]
    }

    /// Channel `c`'s strength: its kernel's L2 norm, and its sum (the sign of its pull on the
    /// unit over a uniform input).
    pub fn strength(&self, c: usize) -> (f32, f32) {
        let s = self.slice(c);
        (
            s.iter().map(|v| v * v).sum::<f32>().sqrt(),
            s.iter().sum::<f32>(),
        )
    }

    /// The sum of two kernels over the same channels (the branches of a residual sum); the
    /// smaller centred in the larger.
    fn add(self, other: Expanded) -> Expanded {
        let (kh, kw) = (self.kh.max(other.kh), self.kw.max(other.kw));
        let mut out = vec![0.0; self.channels * kh * kw];
        for e in [&self, &other] {
            let (oy, ox) = ((kh - e.kh) / 2, (kw - e.kw) / 2);
            for c in 0..e.channels.min(self.channels) {
                for y in 0..e.kh {
                    for x in 0..e.kw {
                        out[(c * kh + oy + y) * kw + ox + x] += e.kernel[(c * e.kh + y) * e.kw + x];
                    }
                }
            }
        }
        Expanded {
            channels: self.channels,
            kh,
            kw,
            kernel: out,
        }
    }
}

impl Graph {
    /// Unit `unit` of value `to`'s expanded kernel over the channels of value `from` (a value
    /// upstream of it): the sum over every path from `from` to `to`. Errors: a path through
    /// an op that does not pass channels linearly (a product, a matrix multiplication, an
    /// attention), a grouped convolution, or two convolutions wider than 1x1 on one path (their
    /// composition would depend on strides and padding).
    pub fn expanded_kernel(
        &self,
        from: &str,
        to: &str,
        channels_to: usize,
        unit: usize,
    ) -> Result<Option<Expanded>, GraphError> {
        if unit >= channels_to {
            return Err(self.plain_error(to, format!("it has no unit {unit}")));
        }
        let walk = Walk {
            from,
            on_path: self.downstream(from),
        };
        self.expand_back(&walk, to, Expanded::unit(channels_to, unit))
    }

    /// Every value computed from `from` (itself included): the only ones a path back from a
    /// unit to `from` goes through.
    fn downstream<'a>(&'a self, from: &'a str) -> HashSet<&'a str> {
        let mut set = HashSet::from([from]);
        for n in &self.nodes {
            if n.inputs.iter().any(|i| set.contains(i.as_str())) {
                set.insert(n.output.as_str());
            }
        }
        set
    }

    fn plain_error(&self, value: &str, reason: String) -> GraphError {
        GraphError {
            graph: self.name.clone(),
            node: value.to_string(),
            op: "value".into(),
            reason,
        }
    }

    /// The node that makes `value`.
    fn producer(&self, value: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.output == value)
    }

    /// `k` (a kernel over `value`'s channels) carried back to `from`; None where no path
    /// leads there.
    fn expand_back(
        &self,
        walk: &Walk,
        value: &str,
        k: Expanded,
    ) -> Result<Option<Expanded>, GraphError> {
        if value == walk.from {
            return Ok(Some(k));
        }
        if !walk.on_path.contains(value) {
            return Ok(None);
        }
        let from = walk;
        let Some(node) = self.producer(value) else {
            // the graph's input or a constant: not on a path from `from`
            return Ok(None);
        };
        let data = |i: usize| node.inputs.get(i).map(String::as_str).unwrap_or_default();
        match &node.op {
            Op::Relu | Op::LeakyRelu { .. } | Op::Clip { .. } | Op::MaxPool(_) => {
                self.expand_back(from, data(0), k)
            }
            Op::AveragePool { .. } | Op::GlobalAveragePool | Op::Lrn { .. } => {
                self.expand_back(from, data(0), k)
            }
            Op::BatchNorm { epsilon } => {
                let scale = self.batch_norm_scale(node, *epsilon)?;
                let mut k = k;
                let n = k.kh * k.kw;
                for (c, s) in scale.iter().enumerate().take(k.channels) {
                    for v in &mut k.kernel[c * n..(c + 1) * n] {
                        *v *= s;
                    }
                }
                self.expand_back(from, data(0), k)
            }
            Op::Add => {
                let mut sum: Option<Expanded> = None;
                for input in &node.inputs {
                    if let Some(e) = self.expand_back(from, input, k.clone())? {
                        sum = Some(match sum {
                            Some(s) => s.add(e),
                            None => e,
                        });
                    }
                }
                Ok(sum)
            }
            Op::Concat { axis } if *axis == 1 || *axis == -3 => self.expand_concat(from, node, k),
            Op::Conv { group, .. } => {
                if *group != 1 {
                    return Err(self.error(node, "a grouped convolution on the path"));
                }
                let back = self.through_conv(node, &k)?;
                self.expand_back(from, data(0), back)
            }
            _ => Err(self.error(
                node,
                "this op does not pass channels on linearly: no circuit by weight through it",
            )),
        }
    }

    /// The per-channel scale of an inference batch normalization (`scale / sqrt(var + eps)`).
    fn batch_norm_scale(&self, node: &Node, epsilon: f32) -> Result<Vec<f32>, GraphError> {
        let get = |i: usize| {
            node.inputs
                .get(i)
                .and_then(|n| self.constants.get(n))
                .map(|t| t.data.clone())
                .ok_or_else(|| self.error(node, "its parameters are not constants"))
        };
        let (scale, var) = (get(1)?, get(4)?);
        Ok(scale
            .iter()
            .zip(&var)
            .map(|(s, v)| s / (v + epsilon).sqrt())
            .collect())
    }

    /// A kernel over a channel concatenation split among its parts.
    fn expand_concat(
        &self,
        from: &Walk,
        node: &Node,
        k: Expanded,
    ) -> Result<Option<Expanded>, GraphError> {
        let n = k.kh * k.kw;
        let mut offset = 0;
        let mut sum: Option<Expanded> = None;
        for input in &node.inputs {
            let c = self.value_channels(input).ok_or_else(|| {
                self.error(node, format!("the channels of {input} are not known"))
            })?;
            if offset + c > k.channels {
                return Err(self.error(node, "its parts hold more channels than it"));
            }
            let part = Expanded {
                channels: c,
                kh: k.kh,
                kw: k.kw,
                kernel: k.kernel[offset * n..(offset + c) * n].to_vec(),
            };
            offset += c;
            if part.kernel.iter().all(|v| *v == 0.0) {
                continue; // the unit draws nothing from this part
            }
            if let Some(e) = self.expand_back(from, input, part)? {
                sum = Some(match sum {
                    Some(s) => s.add(e),
                    None => e,
                });
            }
        }
        Ok(sum)
    }

    /// The channels of a value: a convolution's output channels, through the ops that keep
    /// them, or a concatenation's sum.
    fn value_channels(&self, value: &str) -> Option<usize> {
        let node = self.producer(value)?;
        match &node.op {
            Op::Conv { .. } => self
                .constants
                .get(node.inputs.get(1)?)
                .and_then(|w| w.dims.first().copied()),
            Op::Concat { .. } => node
                .inputs
                .iter()
                .map(|i| self.value_channels(i))
                .sum::<Option<usize>>(),
            _ => self.value_channels(node.inputs.first()?),
        }
    }

    /// `k` (over a convolution's output channels) carried through it: over its input
    /// channels, the kernels composed (one of them must be 1x1).
    fn through_conv(&self, node: &Node, k: &Expanded) -> Result<Expanded, GraphError> {
        let w = node
            .inputs
            .get(1)
            .and_then(|n| self.constants.get(n))
            .ok_or_else(|| self.error(node, "its weights are not a constant"))?;
        let [o, i, wh, ww] = match w.dims[..] {
            [o, i, h, w] => [o, i, h, w],
            _ => return Err(self.error(node, "its weights are not 4-d")),
        };
        if o != k.channels {
            return Err(self.error(
                node,
                format!(
                    "{o} output channels where the unit's kernel has {}",
                    k.channels
                ),
            ));
        }
        if (k.kh > 1 || k.kw > 1) && (wh > 1 || ww > 1) {
            return Err(self.error(
                node,
                "a second convolution wider than 1x1 on the path: the expanded weights go \
                 through 1x1 layers only",
            ));
        }
        let (kh, kw) = (k.kh.max(wh), k.kw.max(ww));
        let mut out = vec![0.0f32; i * kh * kw];
        let kn = k.kh * k.kw;
        for oc in 0..o {
            let ks = &k.kernel[oc * kn..(oc + 1) * kn];
            if ks.iter().all(|v| *v == 0.0) {
                continue;
            }
            for ic in 0..i {
                let wsl = &w.data[(oc * i + ic) * wh * ww..(oc * i + ic + 1) * wh * ww];
                let dst = &mut out[ic * kh * kw..(ic + 1) * kh * kw];
                if kn == 1 {
                    for (d, wv) in dst.iter_mut().zip(wsl) {
                        *d += ks[0] * wv;
                    }
                } else {
                    for (d, kv) in dst.iter_mut().zip(ks) {
                        *d += kv * wsl[0];
                    }
                }
            }
        }
        Ok(Expanded {
            channels: i,
            kh,
            kw,
            kernel: out,
        })
    }
}
