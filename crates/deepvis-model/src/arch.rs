//! What deepvis knows of a network without running it: for any network (built in or
//! loaded) its [`ModelInfo`]: the layer table with shapes, the
//! class-score layer, receptive fields and where a layer's pre-activation value comes from,
//! all read off its graph.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::graph::{Graph, HostTensor, Layout, Op, Shapes};
use crate::preprocess::{InputSpec, Normalization};
use deepvis_viz::{OutputHints, OutputKind};

use crate::tokens::TokenGrid;

/// A named layer and the shape of its output for one input size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's (node's) name.
    pub name: String,
    /// Its op (`Conv`, `Relu`, `MaxPool`, ...).
    pub kind: String,
    /// Channels (units for vector layers).
    pub channels: usize,
    /// Height of the output map (1 for vector layers).
    pub height: usize,
    /// Width of the output map (1 for vector layers).
    pub width: usize,
    /// Whether the layer is an activation, so its pre-activation value can be asked for.
    pub relu: bool,
    /// Whether it is a GELU's output (an `Op::Gelu`, or the exporter's
    /// `x * 0.5 * (1 + erf(x / sqrt 2))`): a transformer MLP's hidden units, the ones worth
    /// visualizing (Ghiasi et al. 2023).
    pub gelu: bool,
}

/// Where a layer's pre-activation value is read: `layer`'s input when `pre`, else `layer`
/// itself (a linear layer is its own pre-activation), averaged over the map when
/// `mean_map` (a global average pooling of an activation: SqueezeNet's class scores).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreSource {
    /// The node read.
    pub layer: String,
    /// Its pre-activation (input) rather than its output.
    pub pre: bool,
    /// Averaged over the map.
    pub mean_map: bool,
}

/// What deepvis knows of a network from its graph: names, shapes, fields, the class layer.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    name: String,
    /// How photos become its input.
    pub input: InputSpec,
    structure: Graph,
    /// The values held channels-last (shown, like the others, as `[N, C, H, W]`).
    layouts: std::collections::HashMap<String, Layout>,
    layers: Vec<LayerInfo>,
    logits: String,
    /// What the first graph output is, and the node that computes it.
    output: (OutputKind, String),
    /// The attention probabilities `[N, heads, T, T]` over the token sequence, block by
    /// block (the softmax nodes), and the sequence's grid; empty and `None` for a network
    /// without tokens.
    attention: (Vec<String>, Option<TokenGrid>),
    /// The values GELUs compute.
    gelus: std::collections::HashSet<String>,
    grid: String,
    min_input: usize,
}

/// A node's row of the layer table for the shapes of one input.
fn layer_info(n: &crate::graph::Node, shapes: &crate::graph::Shapes, layout: Layout) -> LayerInfo {
    let [_, c, h, w] = layout.nchw(shapes.get(&n.output).unwrap_or(&[]));
    LayerInfo {
        name: n.name.clone(),
        kind: n.op_type.clone(),
        channels: c,
        height: h,
        width: w,
        relu: n.op.is_activation(),
        gelu: false,
    }
}

impl ModelInfo {
    /// Reads the information off `graph` (its constants' values are not kept). `grid` is the
    /// layer the window shows first (default: the last activation with a map of at least 7x7).
    pub fn new(
        graph: &Graph,
        name: &str,
        input: InputSpec,
        grid: Option<&str>,
    ) -> Result<ModelInfo> {
        let mut structure = graph.clone();
        for t in structure.constants.values_mut() {
            *t = HostTensor::placeholder(std::mem::take(&mut t.dims));
        }
        let size = input.size;
        let shapes = graph.shapes(1, size, size)?;
        graph.check_memory(
            &shapes,
            [1, graph.input_channels, size, size],
            crate::graph::budget::memory_budget(),
            false,
        )?;
        let mut info = ModelInfo {
            name: name.to_string(),
            input,
            layouts: structure.layouts(),
            structure,
            layers: Vec::new(),
            logits: String::new(),
            output: (OutputKind::Classes { count: 0 }, String::new()),
            attention: (Vec::new(), None),
            gelus: graph.gelu_outputs(),
            grid: String::new(),
            min_input: size,
        };
        info.layers = info.layers_from(&shapes)?;
        info.logits = info.find_logits()?;
        info.output = info.find_output(&shapes);
        info.attention = info.find_attention(&shapes);
        // a vision transformer: its last block's output (a residual sum of tokens)
        let block = info.last_block();
        info.grid = match (grid, block) {
            (Some(g), _) => info.resolve(g)?.to_string(),
            (None, Some(block)) => block,
            (None, None) => info
                .layers
                .iter()
                .rev()
                .find(|l| l.relu && l.height >= 7 && l.width >= 7)
                .or_else(|| info.layers.iter().rev().find(|l| l.height > 1))
                .or(info.layers.last())
                .map(|l| l.name.clone())
                .unwrap_or_default(),
        };
        // the smallest square input every node accepts
        let fits = |s: usize| info.structure.shapes(1, s, s).is_ok();
        if graph.input_hw.is_none() {
            let (mut lo, mut hi) = (1, size);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if fits(mid) { hi = mid } else { lo = mid + 1 }
            }
            info.min_input = lo;
        }
        Ok(info)
    }

    /// An info whose graph could not be read (only its name and input are usable).
    pub(crate) fn broken(name: &str, input: InputSpec, e: Error) -> ModelInfo {
        ModelInfo {
            name: format!("{name} ({e})"),
            input,
            structure: Graph::default(),
            layouts: Default::default(),
            layers: Vec::new(),
            logits: String::new(),
            output: (OutputKind::Classes { count: 0 }, String::new()),
            attention: (Vec::new(), None),
            gelus: Default::default(),
            grid: String::new(),
            min_input: input.size,
        }
    }

    /// Node `n`'s row of the layer table at the shapes `shapes`.
    fn row(&self, n: &crate::graph::Node, shapes: &Shapes) -> LayerInfo {
        LayerInfo {
            gelu: self.gelus.contains(&n.output),
            ..layer_info(n, shapes, self.layout(&n.output))
        }
    }

    /// How value `name` holds its channels.
    fn layout(&self, name: &str) -> Layout {
        self.layouts.get(name).copied().unwrap_or_default()
    }

    fn find_logits(&self) -> Result<String> {
        let g = &self.structure;
        let producer = |v: &str| g.nodes.iter().find(|n| n.output == v);
        for o in &g.outputs {
            if let Some(n) = producer(o)
                && matches!(n.op, Op::Softmax { .. })
                && let Some(p) = n.inputs.first().and_then(|i| producer(i))
            {
                return Ok(p.name.clone());
            }
        }
        g.outputs
            .first()
            .and_then(|o| producer(o))
            .or(g.nodes.last())
            .map(|n| n.name.clone())
            .ok_or_else(|| Error::BadInput(format!("{} has no nodes", self.name)))
    }

    /// What the first graph output is (read off its shape at the network's input size, its
    /// producer and its name) and the node that computes it.
    fn find_output(&self, shapes: &Shapes) -> (OutputKind, String) {
        let g = &self.structure;
        let Some((o, n)) = g
            .outputs
            .first()
            .and_then(|o| Some((o, g.nodes.iter().find(|n| &n.output == o)?)))
        else {
            return (OutputKind::Classes { count: 0 }, self.logits.clone());
        };
        let named = |s: &str| {
            let s = s.to_ascii_lowercase();
            ["logit", "prob", "score", "class", "pred"]
                .iter()
                .any(|w| s.contains(w))
        };
        let hints = OutputHints {
            scores: matches!(n.op, Op::Softmax { .. }) || named(o) || named(&n.name),
            labels: crate::Labels::imagenet().len(),
        };
        let dims = shapes.get(o).unwrap_or(&[]);
        (OutputKind::of(dims, hints), n.name.clone())
    }

    /// The softmax nodes whose output is attention over the token sequence
    /// (`[N, heads, T, T]`, T the sequence's tokens), in order, and the sequence's grid.
    fn find_attention(&self, shapes: &Shapes) -> (Vec<String>, Option<TokenGrid>) {
        // the blocks' sequence: the one with the leading tokens (the patches alone, before
        // the CLS token joins them, are a grid too), whatever the map's order
        let grid = self
            .layouts
            .values()
            .filter_map(|l| match l {
                Layout::Tokens(g) => Some(*g),
                _ => None,
            })
            .max_by_key(|g| (g.tokens(), g.lead, g.h, g.w));
        let Some(g) = grid else {
            return (Vec::new(), None);
        };
        let t = g.tokens();
        let layers = self
            .structure
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Softmax { .. }))
            .filter(|n| matches!(shapes.get(&n.output), Some(&[_, _, a, b]) if a == t && b == t))
            .map(|n| n.name.clone())
            .collect();
        (layers, grid)
    }

    /// The last residual sum over a sequence of tokens: a transformer's last block's output.
    fn last_block(&self) -> Option<String> {
        let g = &self.structure;
        self.layers
            .iter()
            .rev()
            .find(|l| {
                g.node_index(&l.name).is_some_and(|i| {
                    let n = &g.nodes[i];
                    matches!(n.op, Op::Add)
                        && matches!(self.layout(&n.output), Layout::Tokens(_))
                        && n.inputs.iter().all(|v| !g.constants.contains_key(v))
                })
            })
            .map(|l| l.name.clone())
    }

    /// The attention probabilities of each block, in order (none for a network without a
    /// sequence of tokens).
    pub fn attention_layers(&self) -> &[String] {
        &self.attention.0
    }

    /// The grid of the network's token sequences (`None` for a network without tokens).
    pub fn token_grid(&self) -> Option<TokenGrid> {
        self.attention.1
    }

    /// How layer `name`'s value lies over the image (its maps, channels-last, a sequence of
    /// tokens).
    pub fn layout_of(&self, name: &str) -> Layout {
        let g = &self.structure;
        match g.node_index(name) {
            Some(i) => self.layout(&g.nodes[i].output),
            None => Layout::default(),
        }
    }

    /// What the network's output is.
    pub fn output_kind(&self) -> OutputKind {
        self.output.0
    }

    /// The node that computes the network's (first) output.
    pub fn output_layer(&self) -> &str {
        &self.output.1
    }

    /// The network's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The input side photos are cropped to.
    pub fn input_size(&self) -> usize {
        self.input.size
    }

    /// The smallest input side the network accepts.
    pub fn min_input_size(&self) -> usize {
        self.min_input
    }

    /// The input normalization.
    pub fn norm(&self) -> Normalization {
        self.input.norm
    }

    /// The graph's structure (constants as shapes only).
    pub fn graph(&self) -> &Graph {
        &self.structure
    }

    /// The layer table at the network's own input size.
    pub fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The layer table for a square input of side `size`.
    pub fn layers_for(&self, size: usize) -> Result<Vec<LayerInfo>> {
        self.layers_from(&self.structure.shapes(1, size, size)?)
    }

    /// The layer table for the value shapes `shapes` (linear in the nodes: a lookup table,
    /// not a search per layer).
    fn layers_from(&self, shapes: &Shapes) -> Result<Vec<LayerInfo>> {
        let g = &self.structure;
        if g.layers.is_empty() {
            return Ok(g.nodes.iter().map(|n| self.row(n, shapes)).collect());
        }
        // as `Graph::node_index`: a node's name first, else a node's output
        let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(g.nodes.len());
        let mut by_output: HashMap<&str, usize> = HashMap::with_capacity(g.nodes.len());
        for (i, n) in g.nodes.iter().enumerate() {
            by_name.entry(&n.name).or_insert(i);
            by_output.entry(&n.output).or_insert(i);
        }
        g.layers
            .iter()
            .map(|name| {
                let i = by_name
                    .get(name.as_str())
                    .or_else(|| by_output.get(name.as_str()))
                    .ok_or_else(|| self.unknown(name))?;
                let n = &g.nodes[*i];
                Ok(self.row(n, shapes))
            })
            .collect()
    }

    fn unknown(&self, name: &str) -> Error {
        let known: Vec<&str> = self.layers.iter().map(|l| l.name.as_str()).collect();
        let mut known = known.join(", ");
        if known.len() > 400 {
            known.truncate(400);
            known.push_str(", ... (see `deepvis layers`)");
        }
        Error::UnknownLayer {
            model: self.name.clone(),
            name: name.to_string(),
            known,
        }
    }

    /// The canonical node name of `name` (`logits` names the class-score layer).
    pub fn resolve<'a>(&'a self, name: &'a str) -> Result<&'a str> {
        let name = if name == "logits" {
            self.logits.as_str()
        } else {
            name
        };
        let g = &self.structure;
        g.node_index(name)
            .map(|i| g.nodes[i].name.as_str())
            .ok_or_else(|| self.unknown(name))
    }

    /// The info of a named layer (any node) at the network's own input size.
    pub fn layer(&self, name: &str) -> Result<LayerInfo> {
        let name = self.resolve(name)?;
        if let Some(l) = self.layers.iter().find(|l| l.name == name) {
            return Ok(l.clone());
        }
        let g = &self.structure;
        let s = self.input.size;
        let shapes = g.shapes(1, s, s)?;
        let n = &g.nodes[g.node_index(name).ok_or_else(|| self.unknown(name))?];
        Ok(self.row(n, &shapes))
    }

    /// The layer whose units are the class scores (pre-softmax).
    pub fn logits_layer(&self) -> &str {
        &self.logits
    }

    /// The layer the window shows first.
    pub fn default_grid_layer(&self) -> &str {
        &self.grid
    }

    /// Where the pre-activation value of `layer` is read.
    pub fn pre_source(&self, layer: &str) -> Result<PreSource> {
        let name = self.resolve(layer)?;
        let g = &self.structure;
        let n = &g.nodes[g.node_index(name).ok_or_else(|| self.unknown(name))?];
        let producer = |v: &str| g.nodes.iter().find(|m| m.output == v);
        if n.op.is_activation() {
            return Ok(PreSource {
                layer: n.name.clone(),
                pre: true,
                mean_map: false,
            });
        }
        match &n.op {
            Op::GlobalAveragePool => {
                if let Some(a) = n
                    .inputs
                    .first()
                    .and_then(|i| producer(i))
                    .filter(|a| a.op.is_activation())
                {
                    return Ok(PreSource {
                        layer: a.name.clone(),
                        pre: true,
                        mean_map: true,
                    });
                }
            }
            Op::Conv { .. }
            | Op::Gemm { .. }
            | Op::MatMul
            | Op::Add
            | Op::Sub
            | Op::BatchNorm { .. } => {
                return Ok(PreSource {
                    layer: n.name.clone(),
                    pre: false,
                    mean_map: false,
                });
            }
            _ => {}
        }
        Err(Error::NoPreRelu(n.name.clone()))
    }

    /// The input pixels that unit `(y, x)` of `layer` can see for a square input of side
    /// `input`: through every convolution, pooling and pad below it, over every branch.
    /// Units of global layers (class scores, fully connected) see the whole input.
    pub fn receptive_field(&self, layer: &str, y: usize, x: usize, input: usize) -> Result<Region> {
        let name = self.resolve(layer)?;
        let shapes = self.structure.shapes(1, input, input)?;
        let info = self.layer(name)?;
        if info.height * info.width > 1 {
            info.check_unit(0, Some((y, x)))?;
        }
        Ok(self.structure.receptive_field(name, (y, x), &shapes)?)
    }

    /// [`ModelInfo::receptive_field`] as `[y0, x0, y1, x1]`, clamped to the input when `clamp`
    /// (else reaching into the padding); the whole input for a unit the layer does not have.
    pub fn field_bounds(
        &self,
        layer: &str,
        (y, x): (usize, usize),
        input: usize,
        clamp: bool,
    ) -> [i64; 4] {
        let r = self
            .receptive_field(layer, y, x, input)
            .unwrap_or(Region::whole(input));
        if clamp {
            r.clamped(input, input).bounds()
        } else {
            r.bounds()
        }
    }
}

/// A rectangle of input pixels, half-open: rows `y0..y1`, columns `x0..x1`. It may reach past
/// the image into the zero padding (negative or too large coordinates); see [`Region::clamped`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First row.
    pub y0: i64,
    /// First column.
    pub x0: i64,
    /// One past the last row.
    pub y1: i64,
    /// One past the last column.
    pub x1: i64,
}

impl Region {
    /// Height in pixels (0 when empty).
    pub fn height(&self) -> i64 {
        (self.y1 - self.y0).max(0)
    }

    /// Width in pixels (0 when empty).
    pub fn width(&self) -> i64 {
        (self.x1 - self.x0).max(0)
    }

    /// The part inside an image of `h` x `w` pixels (empty when it lies wholly in the padding).
    pub fn clamped(&self, h: usize, w: usize) -> Region {
        let (h, w) = (h as i64, w as i64);
        let y0 = self.y0.clamp(0, h);
        let x0 = self.x0.clamp(0, w);
        Region {
            y0,
            x0,
            y1: self.y1.clamp(y0, h),
            x1: self.x1.clamp(x0, w),
        }
    }

    /// Whether it holds no pixel.
    pub fn is_empty(&self) -> bool {
        self.height() == 0 || self.width() == 0
    }

    /// The whole of a square input of side `n`.
    pub fn whole(n: usize) -> Region {
        let n = n as i64;
        Region {
            y0: 0,
            x0: 0,
            y1: n,
            x1: n,
        }
    }

    /// `[y0, x0, y1, x1]`.
    pub fn bounds(&self) -> [i64; 4] {
        [self.y0, self.x0, self.y1, self.x1]
    }
}

impl LayerInfo {
    /// Checks that channel `channel` (and, for maps, position `(y, x)`) exists in this layer.
    pub fn check_unit(&self, channel: usize, pos: Option<(usize, usize)>) -> Result<()> {
        if channel >= self.channels {
            return Err(Error::UnitOutOfRange {
                layer: self.name.clone(),
                what: format!("channel {channel}"),
                limit: format!(
                    "it has {} channels, 0..={}",
                    self.channels,
                    self.channels.saturating_sub(1)
                ),
            });
        }
        if let Some((y, x)) = pos
            && (y >= self.height || x >= self.width)
        {
            return Err(Error::UnitOutOfRange {
                layer: self.name.clone(),
                what: format!("position (y {y}, x {x})"),
                limit: format!("its map is {}x{}", self.height, self.width),
            });
        }
        Ok(())
    }

    /// The centre of the map, `(h / 2, w / 2)`.
    pub fn centre(&self) -> (usize, usize) {
        (self.height / 2, self.width / 2)
    }
}
