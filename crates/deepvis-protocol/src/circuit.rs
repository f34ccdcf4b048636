//! The circuit under the selected unit as the window shows it, and the small preferred images
//! (thumbnails) of the circuit's inputs and of the concepts.

use image::RgbImage;

/// What a thumbnail is the preferred image of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThumbOf {
    /// Channel `channel` of `layer`: its mean over the map.
    Unit {
        /// The layer's name.
        layer: String,
        /// The channel.
        channel: usize,
    },
    /// The concept fitted or loaded now (its direction in its layer's channel space).
    Concept,
    /// Part `n` of the frame's parts (NMF), as it stood when its picture started.
    Part(usize),
}

/// An input channel of the layer below and its pull on the unit.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitInput {
    /// The channel of the layer below.
    pub channel: usize,
    /// Its pull: the sum of its expanded kernel (by weight), or of its activation times the
    /// unit's gradient over the places (on the frame). Positive excites.
    pub value: f32,
    /// Its map on the current frame, grey (bright: active), scaled over the inputs shown.
    pub map: RgbImage,
}

/// The strongest inputs of each sign, strongest first.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CircuitSide {
    /// Those that excite the unit.
    pub excite: Vec<CircuitInput>,
    /// Those that inhibit it.
    pub inhibit: Vec<CircuitInput>,
}

/// The circuit of the selected unit on the current frame.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitView {
    /// The unit's layer.
    pub layer: String,
    /// The unit.
    pub unit: usize,
    /// The layer its inputs are channels of.
    pub below: String,
    /// By weight (the expanded kernel of the path); Err: why there is none (a path that is
    /// not linear, as through attention).
    pub by_weight: Result<CircuitSide, String>,
    /// On the current frame (activation times gradient).
    pub on_frame: CircuitSide,
}
