//! Attribution maps of one unit on one input: the back-projections (gradient, deconv, guided
//! backprop), Grad-CAM and Grad-CAM++, occlusion sensitivity, SmoothGrad and integrated
//! gradients, attention rollout, each a resumable [`Job`] that runs a batch of network passes
//! per step; and the cascading-randomization sanity check ([`Sanity`]).

mod job;
pub mod rollout;
mod sanity;

pub use job::{
    IG_MAX_STEPS, IG_REFINE, IG_TOLERANCE, Job, default_cam_layer, gauss_legendre, grad_cam,
    grad_cam_pp,
};
pub use sanity::{Sanity, SanityPoint, importance};

use deepvis_model::graph::Seed;
pub use deepvis_protocol::{AttrOptions, BackMode as Method, Baseline};

/// What goes wrong computing an attribution.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The network could not run (unknown layer, unit out of range, bad input...).
    #[error(transparent)]
    Model(#[from] deepvis_model::Error),
    /// A setting is out of range.
    #[error("{0}")]
    Settings(String),
    /// The method is [`Method::Off`].
    #[error("no attribution method is selected")]
    Off,
    /// An input batch of more than one image.
    #[error("an attribution explains one image at a time; got a batch of {0}")]
    Batch(usize),
    /// No layer at or below the unit's has a spatial map for Grad-CAM.
    #[error("no layer at or below `{0}` has a spatial map for Grad-CAM to explain it by")]
    NoCamLayer(String),
    /// The network's forward pass did not return a layer asked for.
    #[error("the network returned no `{0}`")]
    NoOutput(String),
    /// A Grad-CAM map could not be brought to the input's size.
    #[error("cannot upsample the map")]
    Upsample,
    /// A layer with no node in the network's graph.
    #[error("no node `{0}`")]
    NoNode(String),
    /// Attention rollout on a network without attention over a sequence of patch tokens.
    #[error(
        "attention rollout follows a vision transformer's attention: {0} has no attention over \
         patch tokens"
    )]
    NoAttention(String),
    /// No learned parameters feed the layer, so the sanity check has nothing to randomize.
    #[error("no learned parameters feed `{0}`: nothing to randomize")]
    NothingToRandomize(String),
}

/// The methods that apply to the network of `info`, in the compare view's order: every one,
/// but attention rollout only on a network with attention over patch tokens.
pub fn methods_for(info: &deepvis_model::ModelInfo) -> Vec<Method> {
    Method::METHODS
        .iter()
        .copied()
        .filter(|m| *m != Method::Rollout || !info.attention_layers().is_empty())
        .collect()
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The unit an attribution explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Its layer (a name of the model's layer table).
    pub layer: String,
    /// Its channel (the class index on the class-score layer).
    pub channel: usize,
    /// Where on the channel's map: a position, the peak on the input, or the whole map.
    pub seed: Seed,
}

impl Target {
    /// Unit `channel` of `layer` at `pos`, or where its map peaks when `pos` is `None`.
    pub fn unit(layer: &str, channel: usize, pos: Option<(usize, usize)>) -> Target {
        Target {
            layer: layer.to_string(),
            channel,
            seed: match pos {
                Some((y, x)) => Seed::At(y, x),
                None => Seed::Peak,
            },
        }
    }
}

/// An attribution map of a unit on an input.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribution {
    /// The method.
    pub method: Method,
    /// Planar `channels x height x width` values, at the input's resolution, in the model's
    /// input space (channel order as the network takes it).
    pub map: Vec<f32>,
    /// 3 for maps over the input's channels (gradients), 1 for maps over places (Grad-CAM,
    /// occlusion).
    pub channels: usize,
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// The unit's value on the input.
    pub value: f32,
    /// The position explained (`None` for vector layers and whole-map targets).
    pub pos: Option<(usize, usize)>,
    /// The layer Grad-CAM explained the unit by.
    pub cam_layer: Option<String>,
    /// Integrated gradients: the unit's value on the baseline.
    pub baseline_value: Option<f32>,
    /// Network passes (forward, or forward and backward) it took, in images.
    pub passes: usize,
}

impl Attribution {
    /// One importance per pixel: the absolute value summed over channels.
    pub fn importance(&self) -> Vec<f32> {
        importance(&self.map, self.channels, self.height * self.width)
    }

    /// The sum of every value (for integrated gradients: what completeness compares with
    /// `value - baseline_value`).
    pub fn total(&self) -> f64 {
        self.map.iter().map(|&v| v as f64).sum()
    }
}
