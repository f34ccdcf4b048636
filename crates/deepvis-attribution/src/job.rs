//! One attribution, computed a batch of network passes at a time.

use burn::prelude::*;
use deepvis_model::graph::Seed;
use deepvis_model::rng::Rng;
use deepvis_model::{ModelInfo, Net, Request, tensor4, to_vec};

use crate::{AttrOptions, Attribution, Baseline, Error, Method, Result, Target};

/// An attribution under way. [`Job::step`] runs one batch of network passes (the whole map
/// for the one-pass methods), so a caller can interleave it with other work and show
/// [`Job::progress`].
#[derive(Debug)]
pub struct Job {
    method: Method,
    layer: String,
    channel: usize,
    /// The input, `[1, C, H, W]`, on the network's device.
    input: Tensor<4>,
    /// The same values on the host (read back only for the methods of many passes, which
    /// build their batches there; empty for the one-pass methods).
    x: Vec<f32>,
    dims: [usize; 4],
    batch: usize,
    passes: usize,
    state: State,
    done: Option<Attribution>,
}

/// The unit as resolved on the clean input: where, and its value there.
#[derive(Clone, Copy, Debug)]
struct Probe {
    seed: Seed,
    value: f32,
    pos: Option<(usize, usize)>,
}

#[derive(Debug)]
enum State {
    /// One forward and backward: the back-projections and Grad-CAM.
    Once { seed: Seed, cam: Option<String> },
    /// Occlusion sensitivity.
    Occlusion(Occlusion),
    /// SmoothGrad.
    Smooth(Smooth),
    /// Integrated gradients.
    Ig(Ig),
    /// Attention rollout: one forward with every block's attention.
    Rollout { seed: Seed },
}

/// Occlusion: patch positions `(y, x)` still to try, and the drops so far.
#[derive(Debug)]
struct Occlusion {
    probe: Probe,
    patch: usize,
    places: Vec<(usize, usize)>,
    drops: Vec<f32>,
}

/// SmoothGrad: noisy copies still to take.
#[derive(Debug)]
struct Smooth {
    probe: Probe,
    rule: Method,
    sigma: f32,
    rng: Rng,
    total: usize,
    taken: usize,
    acc: Vec<f64>,
}

/// Integrated gradients: path points still to visit.
#[derive(Debug)]
struct Ig {
    probe: Probe,
    baseline: Vec<f32>,
    baseline_value: f32,
    /// The points asked for (refinement goes to at most IG_REFINE times as many).
    asked: usize,
    steps: usize,
    taken: usize,
    acc: Vec<f64>,
}

/// Integrated gradients' own error bound: the map's sum may miss f(x) - f(baseline) by this
/// share of it before the path is taken again with twice the points.
pub const IG_TOLERANCE: f64 = 0.01;

/// The most points integrated gradients refines to.
pub const IG_MAX_STEPS: usize = 512;

/// Integrated gradients refines to at most this many times the points asked for (two
/// doublings: at most 7 times the passes).
pub const IG_REFINE: usize = 4;

/// The layer Grad-CAM explains a unit of `layer` by when none is chosen: the last layer of
/// the table before it with a spatial map (the layer itself when none is before it).
pub fn default_cam_layer(info: &ModelInfo, layer: &str) -> Result<String> {
    let name = info.resolve(layer)?;
    let layers = info.layers();
    let idx = layers.iter().position(|l| l.name == name).unwrap_or(0);
    layers[..idx]
        .iter()
        .rev()
        .chain(layers.get(idx))
        .find(|l| l.height * l.width > 1)
        .map(|l| l.name.clone())
        .ok_or_else(|| Error::NoCamLayer(name.to_string()))
}

/// The unit's value on each sample of `out` (`[N, C, H, W]`), with `seed` resolved (the peak
/// on the first sample).
fn unit_values(
    out: Tensor<4>,
    layer: &str,
    channel: usize,
    seed: Seed,
) -> Result<(Vec<f32>, Probe)> {
    let [n, c, h, w] = out.dims();
    if channel >= c {
        return Err(deepvis_model::Error::UnitOutOfRange {
            layer: layer.to_string(),
            what: format!("channel {channel}"),
            limit: format!("it has {c} channels, 0..={}", c.saturating_sub(1)),
        }
        .into());
    }
    let plane = h * w;
    let maps = to_vec(out.narrow(1, channel, 1))?;
    let spatial = plane > 1;
    let at = match seed {
        Seed::Mean => None,
        _ if !spatial => Some((0, 0)),
        Seed::At(y, x) if y < h && x < w => Some((y, x)),
        Seed::At(y, x) => {
            return Err(deepvis_model::Error::UnitOutOfRange {
                layer: layer.to_string(),
                what: format!("position (y {y}, x {x})"),
                limit: format!("its map is {h}x{w}"),
            }
            .into());
        }
        Seed::Peak => {
            let mut best = (0, f32::NEG_INFINITY);
            for (i, &v) in maps[..plane].iter().enumerate() {
                if v > best.1 {
                    best = (i, v);
                }
            }
            Some((best.0 / w, best.0 % w))
        }
    };
    let values = (0..n)
        .map(|s| {
            let map = &maps[s * plane..(s + 1) * plane];
            match at {
                Some((y, x)) => map[y * w + x],
                None => map.iter().sum::<f32>() / plane as f32,
            }
        })
        .collect::<Vec<f32>>();
    let seed = match at {
        Some((y, x)) => Seed::At(y, x),
        None => Seed::Mean,
    };
    let probe = Probe {
        seed,
        value: values.first().copied().unwrap_or(0.0),
        pos: at.filter(|_| spatial),
    };
    Ok((values, probe))
}

/// The unit's values on a batch of inputs `t` (`[N, C, H, W]`).
fn forward_values(
    net: &Net,
    t: Tensor<4>,
    layer: &str,
    channel: usize,
    seed: Seed,
) -> Result<(Vec<f32>, Probe)> {
    let mut taps = net.forward(t, &Request::layers(&[layer]))?;
    let out = taps
        .take(layer)
        .ok_or_else(|| Error::NoOutput(layer.to_string()))?;
    unit_values(out, layer, channel, seed)
}

/// The positions `0, stride, ...` of a window of `patch` along `n`, the last one flush with the
/// end.
fn places(n: usize, patch: usize, stride: usize) -> Vec<usize> {
    let last = n - patch;
    let mut v: Vec<usize> = (0..=last).step_by(stride).collect();
    if v.last() != Some(&last) {
        v.push(last);
    }
    v
}

/// The unit's probes on the clean input (and, for integrated gradients, the baseline) as a
/// job starts: one forward each, counted.
struct Prober<'a> {
    net: &'a Net,
    layer: &'a str,
    channel: usize,
    dims: [usize; 4],
    device: Device,
    passes: usize,
}

impl Prober<'_> {
    /// The unit on the image `data`, where `seed` says.
    fn probe(&mut self, data: Vec<f32>, seed: Seed) -> Result<Probe> {
        self.passes += 1;
        let t = tensor4(data, self.dims, &self.device)?;
        forward_values(self.net, t, self.layer, self.channel, seed).map(|r| r.1)
    }
}

/// What a step of a method reads of its job, and its count of passes.
struct Pass<'a> {
    net: &'a Net,
    method: Method,
    layer: &'a str,
    channel: usize,
    /// The input on the host (the methods of many passes).
    x: &'a [f32],
    dims: [usize; 4],
    batch: usize,
    device: Device,
    passes: &'a mut usize,
}

impl Pass<'_> {
    /// The gradient of the unit (at `seed`, by `rule`) on each of `n` images `data`.
    fn grads(&self, data: Vec<f32>, n: usize, seed: Seed, rule: Method) -> Result<Vec<f32>> {
        let [_, c, h, w] = self.dims;
        let t = tensor4(data, [n, c, h, w], &self.device)?;
        let b = self
            .net
            .graph()
            .backward(t, self.layer, self.channel, seed, rule, None)?;
        Ok(to_vec(b.grad)?)
    }

    /// The finished map (`channels` planes at the input's size) of the unit `probe` found.
    fn finished(&self, map: Vec<f32>, channels: usize, probe: Option<Probe>) -> Attribution {
        let [_, _, h, w] = self.dims;
        Attribution {
            method: self.method,
            map,
            channels,
            height: h,
            width: w,
            value: probe.map_or(0.0, |p| p.value),
            pos: probe.and_then(|p| p.pos),
            cam_layer: None,
            baseline_value: None,
            passes: 0,
        }
    }

    /// The one-pass methods: the back-projection of the unit at `seed` on `input`, or its
    /// Grad-CAM by layer `cam`.
    fn once(&mut self, input: &Tensor<4>, seed: Seed, cam: Option<&str>) -> Result<Attribution> {
        let [_, c, h, w] = self.dims;
        // the backward pass applies the method's rule at each ReLU
        let b = self.net.graph().backward(
            input.clone(),
            self.layer,
            self.channel,
            seed,
            self.method,
            cam,
        )?;
        *self.passes += 1;
        let probe = Probe {
            seed,
            value: b.values.first().copied().unwrap_or(0.0),
            pos: b.pos,
        };
        let mut a = match b.captured {
            None => self.finished(to_vec(b.grad)?, c, Some(probe)),
            Some((act, grad)) => {
                let [_, k, ch, cw] = act.dims();
                let act = to_vec(act)?;
                let grad = to_vec(grad)?;
                let cam_map = match self.method {
                    Method::GradCamPp => grad_cam_pp(&act, &grad, k, ch * cw),
                    _ => grad_cam(&act, &grad, k, ch * cw),
                };
                let up = deepvis_viz::upsample_bilinear(&cam_map, ch, cw, h, w)
                    .ok_or(Error::Upsample)?;
                self.finished(up, 1, Some(probe))
            }
        };
        a.cam_layer = cam.map(str::to_string);
        Ok(a)
    }
}

impl Pass<'_> {
    /// Attention rollout: every block's attention in one forward pass, followed down from the
    /// query token (the unit's patch on a token layer, else the CLS token; without one, the
    /// tokens' mean), its patches as a map brought to the input's size.
    fn rollout(&mut self, input: &Tensor<4>, seed: Seed) -> Result<Attribution> {
        let info = self.net.info();
        let grid = info
            .token_grid()
            .ok_or_else(|| Error::NoAttention(info.name().to_string()))?;
        let blocks = info.attention_layers().to_vec();
        let mut asked: Vec<&str> = blocks.iter().map(String::as_str).collect();
        asked.push(self.layer);
        let mut taps = self.net.forward(input.clone(), &Request::layers(&asked))?;
        *self.passes += 1;
        let out = taps
            .take(self.layer)
            .ok_or_else(|| Error::NoOutput(self.layer.to_string()))?;
        let (values, probe) = unit_values(out, self.layer, self.channel, seed)?;
        let maps = blocks
            .iter()
            .map(|b| {
                let t = taps.take(b).ok_or_else(|| Error::NoOutput(b.clone()))?;
                let [_, heads, tokens, _] = t.dims();
                Ok(crate::rollout::Attention {
                    values: to_vec(t.narrow(0, 0, 1))?,
                    heads,
                    tokens,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let on_tokens = matches!(
            info.layout_of(self.layer),
            deepvis_model::graph::Layout::Tokens(_)
        );
        let queries: Vec<usize> = match (on_tokens, probe.pos) {
            (true, Some((y, x))) => vec![grid.lead + y * grid.w + x],
            _ if grid.lead > 0 => vec![0],
            _ => (0..grid.tokens()).collect(),
        };
        let mut row = vec![0f32; grid.tokens()];
        for &q in &queries {
            for (r, v) in row.iter_mut().zip(crate::rollout::rollout(&maps, q)?) {
                *r += v / queries.len() as f32;
            }
        }
        let [_, _, h, w] = self.dims;
        let patches = &row[grid.lead..];
        let up =
            deepvis_viz::upsample_bilinear(patches, grid.h, grid.w, h, w).ok_or(Error::Upsample)?;
        let probe = Probe {
            seed,
            value: values.first().copied().unwrap_or(probe.value),
            pos: probe.pos,
        };
        Ok(self.finished(up, 1, Some(probe)))
    }
}

impl Occlusion {
    /// Every place of a patch of `opts`' size and stride on an `[h, w]` input, the unit probed
    /// on the clean input `x`.
    fn start(
        prober: &mut Prober<'_>,
        x: &[f32],
        seed: Seed,
        opts: &AttrOptions,
        [h, w]: [usize; 2],
    ) -> Result<Occlusion> {
        let o = opts.occlusion;
        let patch = o.patch.min(h).min(w);
        let ys = places(h, patch, o.stride);
        let xs = places(w, patch, o.stride);
        let places = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| (y, x)))
            .collect();
        Ok(Occlusion {
            probe: prober.probe(x.to_vec(), seed)?,
            patch,
            places,
            drops: Vec::new(),
        })
    }

    /// The next batch of occluded copies; the map once every place is tried.
    fn step(&mut self, pass: &mut Pass<'_>) -> Result<Option<Attribution>> {
        let [_, c, h, w] = pass.dims;
        let plane = h * w;
        let patch = self.patch;
        let start = self.drops.len();
        let end = (start + pass.batch).min(self.places.len());
        let n = end - start;
        let mut data = Vec::with_capacity(n * pass.x.len());
        for &(py, px) in &self.places[start..end] {
            let mut img = pass.x.to_vec();
            for ch in 0..c {
                for y in py..py + patch {
                    let row = ch * plane + y * w;
                    img[row + px..row + px + patch].fill(0.0);
                }
            }
            data.extend(img);
        }
        let t = tensor4(data, [n, c, h, w], &pass.device)?;
        let (vals, _) = forward_values(pass.net, t, pass.layer, pass.channel, self.probe.seed)?;
        *pass.passes += n;
        self.drops.extend(vals.iter().map(|v| self.probe.value - v));
        Ok((self.drops.len() == self.places.len()).then(|| {
            let mut sum = vec![0f32; plane];
            let mut count = vec![0u32; plane];
            for (&(py, px), &d) in self.places.iter().zip(self.drops.iter()) {
                for y in py..py + patch {
                    for x in px..px + patch {
                        sum[y * w + x] += d;
                        count[y * w + x] += 1;
                    }
                }
            }
            let map = sum
                .iter()
                .zip(&count)
                .map(|(&s, &k)| if k > 0 { s / k as f32 } else { 0.0 })
                .collect();
            pass.finished(map, 1, Some(self.probe))
        }))
    }
}

impl Smooth {
    /// `opts`' noisy copies of `x`, the unit probed on the clean input.
    fn start(prober: &mut Prober<'_>, x: &[f32], seed: Seed, opts: &AttrOptions) -> Result<Smooth> {
        let s = opts.smoothgrad;
        let (lo, hi) = deepvis_viz::finite_range(x);
        Ok(Smooth {
            probe: prober.probe(x.to_vec(), seed)?,
            rule: if s.guided {
                Method::Guided
            } else {
                Method::Grad
            },
            sigma: s.noise * (hi - lo),
            rng: Rng::new(s.seed),
            total: s.samples,
            taken: 0,
            acc: vec![0.0; x.len()],
        })
    }

    /// The next batch of noisy copies; the mean gradient once all are taken.
    fn step(&mut self, pass: &mut Pass<'_>) -> Result<Option<Attribution>> {
        let c = pass.dims[1];
        let n = pass.batch.min(self.total - self.taken);
        let mut data = Vec::with_capacity(n * pass.x.len());
        for _ in 0..n {
            data.extend(
                pass.x
                    .iter()
                    .map(|&v| v + self.sigma * self.rng.normal() as f32),
            );
        }
        let g = pass.grads(data, n, self.probe.seed, self.rule)?;
        *pass.passes += n;
        for s in g.chunks(self.acc.len()) {
            for (a, &v) in self.acc.iter_mut().zip(s) {
                *a += v as f64;
            }
        }
        self.taken += n;
        Ok((self.taken == self.total).then(|| {
            let map = self
                .acc
                .iter()
                .map(|&a| (a / self.total as f64) as f32)
                .collect();
            pass.finished(map, c, Some(self.probe))
        }))
    }
}

impl Ig {
    /// The path from `opts`' baseline to `x` (`[c, h, w]`), the unit probed on both ends.
    fn start(
        prober: &mut Prober<'_>,
        x: &[f32],
        (seed, info): (Seed, &ModelInfo),
        opts: &AttrOptions,
        [c, h, w]: [usize; 3],
    ) -> Result<Ig> {
        let baseline: Vec<f32> = match opts.ig.baseline {
            Baseline::Black => {
                let norm = info.norm();
                (0..c)
                    .flat_map(|ch| {
                        let v = (0.0 - norm.mean[ch % 3]) / norm.std[ch % 3];
                        std::iter::repeat_n(v, h * w)
                    })
                    .collect()
            }
            Baseline::Blur => {
                let sigma = h.max(w) as f32 / 10.0;
                x.chunks(h * w)
                    .flat_map(|p| deepvis_viz::blur_plane(p, h, w, sigma))
                    .collect()
            }
        };
        let probed = prober.probe(x.to_vec(), seed)?;
        let baseline_value = prober.probe(baseline.clone(), probed.seed)?.value;
        Ok(Ig {
            probe: probed,
            baseline,
            baseline_value,
            asked: opts.ig.steps,
            steps: opts.ig.steps,
            taken: 0,
            acc: vec![0.0; x.len()],
        })
    }

    /// The next batch of path points; the map once the path is done and the map sums to
    /// f(x) - f(baseline) closely enough (else the path again with twice the points).
    fn step(&mut self, pass: &mut Pass<'_>) -> Result<Option<Attribution>> {
        let c = pass.dims[1];
        let n = pass.batch.min(self.steps - self.taken);
        let (nodes, weights) = gauss_legendre(self.steps);
        let mut data = Vec::with_capacity(n * pass.x.len());
        for &a in &nodes[self.taken..self.taken + n] {
            let a = a as f32;
            data.extend(
                pass.x
                    .iter()
                    .zip(self.baseline.iter())
                    .map(|(&x, &b)| b + a * (x - b)),
            );
        }
        let g = pass.grads(data, n, self.probe.seed, Method::Grad)?;
        *pass.passes += n;
        for (s, &wk) in g
            .chunks(self.acc.len())
            .zip(&weights[self.taken..self.taken + n])
        {
            for (a, &v) in self.acc.iter_mut().zip(s) {
                *a += wk * v as f64;
            }
        }
        self.taken += n;
        if self.taken < self.steps {
            return Ok(None);
        }
        let map: Vec<f32> = self
            .acc
            .iter()
            .zip(pass.x.iter().zip(self.baseline.iter()))
            .map(|(&a, (&x, &b))| ((x - b) as f64 * a) as f32)
            .collect();
        // the rule checks itself: the map must sum to f(x) - f(baseline); when it misses by
        // more than IG_TOLERANCE (kinks of ReLUs along the path), the path is taken again with
        // twice the points, up to IG_REFINE times the points asked for and IG_MAX_STEPS
        let total: f64 = map.iter().map(|&v| v as f64).sum();
        let diff = self.probe.value as f64 - self.baseline_value as f64;
        let gap = (total - diff).abs();
        let most = (self.asked * IG_REFINE).min(IG_MAX_STEPS);
        if gap > IG_TOLERANCE * diff.abs() && self.steps * 2 <= most {
            self.steps *= 2;
            self.taken = 0;
            self.acc.iter_mut().for_each(|a| *a = 0.0);
            Ok(None)
        } else {
            let mut a = pass.finished(map, c, Some(self.probe));
            a.baseline_value = Some(self.baseline_value);
            Ok(Some(a))
        }
    }
}

impl Job {
    /// Starts `method` for `target` on `input` (`[1, C, H, W]` on `net`'s device, which must
    /// have autodiff for the gradient methods). Settings and the target are checked here; the
    /// methods of many passes probe the unit on the clean input now (one forward).
    pub fn new(
        net: &Net,
        input: Tensor<4>,
        target: &Target,
        method: Method,
        opts: &AttrOptions,
    ) -> Result<Job> {
        opts.check().map_err(Error::Settings)?;
        net.check_input(input.dims())?;
        let dims = input.dims();
        if dims[0] != 1 {
            return Err(Error::Batch(dims[0]));
        }
        let info = net.info();
        let layer = info.resolve(&target.layer)?.to_string();
        let x = match method.is_slow() {
            true => to_vec(input.clone())?,
            false => Vec::new(),
        };
        let [_, c, h, w] = dims;
        let channel = target.channel;
        let mut prober = Prober {
            net,
            layer: &layer,
            channel,
            dims,
            device: input.device(),
            passes: 0,
        };
        let seed = target.seed;
        let state = match method {
            Method::Off => return Err(Error::Off),
            Method::Grad | Method::Deconv | Method::Guided => State::Once { seed, cam: None },
            Method::GradCam | Method::GradCamPp => {
                let cam = match &opts.target_layer {
                    Some(l) => info.resolve(l)?.to_string(),
                    None => default_cam_layer(info, &layer)?,
                };
                State::Once {
                    seed,
                    cam: Some(cam),
                }
            }
            Method::Occlusion => {
                State::Occlusion(Occlusion::start(&mut prober, &x, seed, opts, [h, w])?)
            }
            Method::SmoothGrad => State::Smooth(Smooth::start(&mut prober, &x, seed, opts)?),
            Method::Ig => State::Ig(Ig::start(&mut prober, &x, (seed, info), opts, [c, h, w])?),
            Method::Rollout if info.attention_layers().is_empty() => {
                return Err(Error::NoAttention(info.name().to_string()));
            }
            Method::Rollout => State::Rollout { seed },
        };
        let passes = prober.passes;
        Ok(Job {
            method,
            layer,
            channel,
            input,
            x,
            dims,
            batch: opts.batch,
            passes,
            state,
            done: None,
        })
    }

    /// Runs `method` to the end.
    pub fn run(
        net: &Net,
        input: Tensor<4>,
        target: &Target,
        method: Method,
        opts: &AttrOptions,
    ) -> Result<Attribution> {
        let mut job = Job::new(net, input, target, method, opts)?;
        while !job.step(net)? {}
        job.take().ok_or(Error::Off)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// `(done, total)` in network passes of the method's main loop.
    pub fn progress(&self) -> (usize, usize) {
        match &self.state {
            _ if self.done.is_some() => (1, 1),
            State::Once { .. } | State::Rollout { .. } => (0, 1),
            State::Occlusion(o) => (o.drops.len(), o.places.len()),
            State::Smooth(s) => (s.taken, s.total),
            State::Ig(ig) => (ig.taken, ig.steps),
        }
    }

    /// Whether the map is ready.
    pub fn is_done(&self) -> bool {
        self.done.is_some()
    }

    /// The finished map.
    pub fn result(&self) -> Option<&Attribution> {
        self.done.as_ref()
    }

    /// Takes the finished map.
    pub fn take(self) -> Option<Attribution> {
        self.done
    }

    /// Runs the next batch of passes on `net` (the network the job started with, or one of
    /// the same structure); returns whether the map is ready.
    pub fn step(&mut self, net: &Net) -> Result<bool> {
        if self.done.is_some() {
            return Ok(true);
        }
        let mut pass = Pass {
            net,
            method: self.method,
            layer: &self.layer,
            channel: self.channel,
            x: &self.x,
            dims: self.dims,
            batch: self.batch,
            device: self.input.device(),
            passes: &mut self.passes,
        };
        let result = match &mut self.state {
            State::Once { seed, cam } => Some(pass.once(&self.input, *seed, cam.as_deref())?),
            State::Occlusion(o) => o.step(&mut pass)?,
            State::Smooth(s) => s.step(&mut pass)?,
            State::Ig(ig) => ig.step(&mut pass)?,
            State::Rollout { seed } => Some(pass.rollout(&self.input, *seed)?),
        };
        if let Some(mut a) = result {
            a.passes = self.passes;
            self.done = Some(a);
        }
        Ok(self.done.is_some())
    }
}

/// Grad-CAM: the layer's maps weighted by their mean gradient, summed, rectified.
/// `act` and `grad` hold `k` maps of `plane` values each.
pub fn grad_cam(act: &[f32], grad: &[f32], k: usize, plane: usize) -> Vec<f32> {
    let mut cam = vec![0f32; plane];
    for ch in 0..k {
        let g = &grad[ch * plane..(ch + 1) * plane];
        let weight = g.iter().sum::<f32>() / plane as f32;
        for (c, &a) in cam.iter_mut().zip(&act[ch * plane..(ch + 1) * plane]) {
            *c += weight * a;
        }
    }
    cam.iter().map(|v| v.max(0.0)).collect()
}

/// Grad-CAM++: each map weighted by its positive gradients, each scaled by
/// `g^2 / (2 g^2 + sum(A) g^3)` (the closed form of Chattopadhay et al. with an exponential
/// score), summed, rectified.
pub fn grad_cam_pp(act: &[f32], grad: &[f32], k: usize, plane: usize) -> Vec<f32> {
    let mut cam = vec![0f32; plane];
    for ch in 0..k {
        let a = &act[ch * plane..(ch + 1) * plane];
        let g = &grad[ch * plane..(ch + 1) * plane];
        let sum_a: f32 = a.iter().sum();
        let weight: f32 = g
            .iter()
            .map(|&gi| {
                if gi == 0.0 {
                    return 0.0;
                }
                let g2 = gi * gi;
                let alpha = g2 / (2.0 * g2 + sum_a * g2 * gi + 1e-7);
                alpha * gi.max(0.0)
            })
            .sum();
        for (c, &ai) in cam.iter_mut().zip(a) {
            *c += weight * ai;
        }
    }
    cam.iter().map(|v| v.max(0.0)).collect()
}

/// The `n`-point Gauss-Legendre rule on `[0, 1]`: nodes (ascending) and weights (summing to
/// 1), the roots of the Legendre polynomial found by Newton's method.
pub fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        // Tricomi's first guess for root i (descending on [-1, 1])
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            // P_n(z) and P_n'(z) by the three-term recurrence
            let (mut p0, mut p1) = (1.0, z);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * z * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let pn = if n == 1 { z } else { p1 };
            let pm = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (z * pn - pm) / (z * z - 1.0);
            if n == 1 {
                dp = 1.0;
            }
            let dz = pn / dp;
            z -= dz;
            if dz.abs() < 1e-15 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - z * z) * dp * dp);
        // map [-1, 1] to [0, 1]: x = (1 - z) / 2 ascending, weight w / 2
        nodes[i] = (1.0 - z) / 2.0;
        weights[i] = w / 2.0;
        nodes[n - 1 - i] = (1.0 + z) / 2.0;
        weights[n - 1 - i] = w / 2.0;
    }
    (nodes, weights)
}
