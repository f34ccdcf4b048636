//! The cascading-randomization sanity check of Adebayo et al. (2018): the same map recomputed
//! with the network's learned parameters re-initialised layer by layer from the top, each
//! compared with the original. A map that stays similar shows the image, not the network.

use burn::prelude::*;
use deepvis_model::Net;

use crate::{AttrOptions, Attribution, Error, Job, Method, Result, Target};

/// One map of the cascade and how like the original it is.
#[derive(Clone, Debug, PartialEq)]
pub struct SanityPoint {
    /// The lowest node randomized so far (every parametric node above it is too).
    pub node: String,
    /// How many parametric nodes are randomized.
    pub randomized: usize,
    /// Spearman rank correlation of the per-pixel importances (absolute values) with the
    /// original's (0 when either map is constant).
    pub spearman: f32,
    /// Structural similarity of the per-pixel importances with the original's.
    pub ssim: f32,
}

/// The per-pixel importance of a planar map: the absolute value summed over channels.
pub fn importance(map: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    (0..plane)
        .map(|i| {
            (0..channels)
                .map(|c| map.get(c * plane + i).map_or(0.0, |v| v.abs()))
                .filter(|v| v.is_finite())
                .sum()
        })
        .collect()
}

/// A cascade under way: [`Sanity::step`] advances the current map by one batch of passes.
#[derive(Debug)]
pub struct Sanity {
    method: Method,
    target: Target,
    opts: AttrOptions,
    input: Tensor<4>,
    base: Net,
    seed: u64,
    /// The parametric nodes that can change the unit, top first.
    nodes: Vec<String>,
    /// The network of the map being computed, and how many nodes it has randomized.
    net: Net,
    randomized: usize,
    job: Job,
    original: Option<Attribution>,
    points: Vec<SanityPoint>,
}

impl Sanity {
    /// Starts the cascade for `method` on `target`, randomizing at most `max_nodes` of the
    /// parametric nodes below the unit (top first), with noise from `seed`.
    pub fn new(
        net: &Net,
        input: Tensor<4>,
        target: &Target,
        method: Method,
        opts: &AttrOptions,
        max_nodes: usize,
        seed: u64,
    ) -> Result<Sanity> {
        let info = net.info();
        let layer = info.resolve(&target.layer)?;
        let g = net.graph().graph();
        let top = g
            .node_index(layer)
            .ok_or_else(|| Error::NoNode(layer.to_string()))?;
        let mut nodes: Vec<String> = g
            .parametric_nodes()
            .into_iter()
            .filter(|n| g.node_index(n).is_some_and(|i| i <= top))
            .map(str::to_string)
            .collect();
        nodes.reverse();
        nodes.truncate(max_nodes);
        if nodes.is_empty() {
            return Err(Error::NothingToRandomize(layer.to_string()));
        }
        let job = Job::new(net, input.clone(), target, method, opts)?;
        Ok(Sanity {
            method,
            target: target.clone(),
            opts: opts.clone(),
            input,
            base: net.clone(),
            seed,
            nodes,
            net: net.clone(),
            randomized: 0,
            job,
            original: None,
            points: Vec::new(),
        })
    }

    /// The nodes the cascade randomizes, top first.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The map on the trained network, once computed.
    pub fn original(&self) -> Option<&Attribution> {
        self.original.as_ref()
    }

    /// The comparisons so far.
    pub fn points(&self) -> &[SanityPoint] {
        &self.points
    }

    /// The map being computed and its progress `(done, total)` in passes.
    pub fn current(&self) -> (Method, (usize, usize)) {
        (self.method, self.job.progress())
    }

    /// `(maps done, maps in all)`: the original and one per randomized node.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.points.len() + usize::from(self.original.is_some()),
            self.nodes.len() + 1,
        )
    }

    /// Whether every map is done.
    pub fn is_done(&self) -> bool {
        self.points.len() == self.nodes.len()
    }

    /// Runs one batch of passes of the current map; when it finishes, compares it and starts
    /// the next. Returns whether the cascade is done.
    pub fn step(&mut self) -> Result<bool> {
        if self.is_done() {
            return Ok(true);
        }
        if !self.job.step(&self.net)? {
            return Ok(false);
        }
        let map = self.job.result().cloned().ok_or(Error::Off)?;
        match &self.original {
            None => self.original = Some(map),
            Some(orig) => {
                let plane = orig.height * orig.width;
                let a = orig.importance();
                let b = importance(&map.map, map.channels, plane);
                self.points.push(SanityPoint {
                    node: self.nodes[self.randomized - 1].clone(),
                    randomized: self.randomized,
                    spearman: deepvis_viz::spearman(&a, &b).unwrap_or(0.0),
                    ssim: deepvis_viz::ssim(&a, &b, orig.height, orig.width).unwrap_or(0.0),
                });
            }
        }
        if self.is_done() {
            return Ok(true);
        }
        self.randomized += 1;
        let names: Vec<&str> = self.nodes[..self.randomized]
            .iter()
            .map(String::as_str)
            .collect();
        self.net = self.base.randomized(&names, self.seed)?;
        // the unit where it was on the trained network
        let mut target = self.target.clone();
        if let Some(o) = &self.original
            && let Some((y, x)) = o.pos
        {
            target.seed = deepvis_model::graph::Seed::At(y, x);
        }
        self.job = Job::new(
            &self.net,
            self.input.clone(),
            &target,
            self.method,
            &self.opts,
        )?;
        Ok(false)
    }

    /// Runs the whole cascade.
    pub fn run(mut self) -> Result<Sanity> {
        while !self.step()? {}
        Ok(self)
    }
}
