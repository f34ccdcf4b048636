//! What a network's output is (class scores, a map over the image, boxes, an embedding), read
//! off its shape, and what the user is shown of one output of each kind.

use std::fmt;

use image::GrayImage;

/// What a network's output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// Class scores `[N, K]` (or `[N, K, 1, 1]`): the top classes.
    Classes {
        /// How many classes.
        count: usize,
    },
    /// A map over the image `[N, C, H, W]` (a saliency map, a mask): drawn over the frame
    /// (several channels: their per-pixel maximum).
    Map {
        /// Its channels.
        channels: usize,
        /// Its height.
        height: usize,
        /// Its width.
        width: usize,
    },
    /// Boxes as YOLO-style detectors export them: per candidate `cx, cy, w, h` in input pixels
    /// then one score per class, `[N, A, 4 + C]` or `[N, 4 + C, A]`.
    Boxes {
        /// Candidates.
        candidates: usize,
        /// Classes.
        classes: usize,
        /// Whether a candidate's numbers are the last axis (`[N, A, 4 + C]`).
        per_row: bool,
    },
    /// A vector (an embedding `[N, D]`, or a sequence of tokens `[N, T, D]` read at its
    /// first token): its size and norm.
    Embedding {
        /// Its size.
        dim: usize,
    },
}

/// Why an output was read as it was: what its name and producer say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputHints {
    /// It comes out of a softmax, or is named like scores (`logits`, `prob`, `scores`,
    /// `class`).
    pub scores: bool,
    /// How many class names there are (ImageNet's 1000).
    pub labels: usize,
}

impl OutputKind {
    /// The kind of an output of dimensions `dims` (at the model's input size).
    pub fn of(dims: &[usize], hints: OutputHints) -> OutputKind {
        match *dims {
            [_, k] | [_, k, 1, 1] => match hints.scores || k == hints.labels {
                true => OutputKind::Classes { count: k },
                false => OutputKind::Embedding { dim: k },
            },
            [_, c, h, w] => OutputKind::Map {
                channels: c,
                height: h,
                width: w,
            },
            [_, a, b] => {
                let (small, large) = (a.min(b), a.max(b));
                // boxes: a few numbers (4 + classes) for each of many candidates; a sequence
                // of tokens has about as many tokens as channels
                if (5..=4 + 1000).contains(&small) && large >= 2 * small {
                    OutputKind::Boxes {
                        candidates: large,
                        classes: small - 4,
                        per_row: b == small,
                    }
                } else {
                    OutputKind::Embedding { dim: b }
                }
            }
            [k] => OutputKind::Classes { count: k },
            _ => OutputKind::Embedding {
                dim: dims.iter().skip(1).product(),
            },
        }
    }

    /// Its name for the user.
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Classes { .. } => "class scores",
            OutputKind::Map { .. } => "a map over the image",
            OutputKind::Boxes { .. } => "boxes",
            OutputKind::Embedding { .. } => "an embedding",
        }
    }
}

/// One box: where (input pixels, corners) and its strongest class.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Its strongest class.
    pub class: usize,
    /// That class's score.
    pub score: f32,
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
}

/// What the user is shown of an output that is not class scores (those are the top-5).
#[derive(Clone, Debug, PartialEq)]
pub enum OutputReading {
    /// A map over the image: its values scaled to 0..255 over `min..max`.
    Map {
        /// The picture.
        image: GrayImage,
        /// The smallest value.
        min: f32,
        /// The largest value.
        max: f32,
    },
    /// The strongest boxes, best first, overlapping ones dropped.
    Boxes(Vec<Detection>),
    /// A vector's size and norm.
    Embedding {
        /// Its size.
        dim: usize,
        /// Its Euclidean norm.
        norm: f32,
    },
}

/// Boxes kept at most.
pub const MAX_BOXES: usize = 10;
/// Two boxes overlapping more than this (intersection over union) are one: the weaker goes.
const NMS_IOU: f32 = 0.5;

/// Why an output could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputError {
    /// The values expected.
    pub want: usize,
    /// The values given.
    pub got: usize,
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the output has {} values where its shape says {}",
            self.got, self.want
        )
    }
}

impl std::error::Error for OutputError {}

impl OutputKind {
    /// How many values one image's output holds.
    pub fn len(self) -> usize {
        match self {
            OutputKind::Classes { count } => count,
            OutputKind::Map {
                channels,
                height,
                width,
            } => channels * height * width,
            OutputKind::Boxes {
                candidates,
                classes,
                ..
            } => candidates * (4 + classes),
            OutputKind::Embedding { dim } => dim,
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Reads one image's output (`data`: its values in the output's own order; for an
    /// embedding read off tokens, the first token's come first). Class scores read as `None`:
    /// their top-5 is the probabilities'.
    pub fn read(self, data: &[f32]) -> Result<Option<OutputReading>, OutputError> {
        if data.len() < self.len() {
            return Err(OutputError {
                want: self.len(),
                got: data.len(),
            });
        }
        Ok(match self {
            OutputKind::Classes { .. } => None,
            OutputKind::Map {
                channels,
                height,
                width,
            } => Some(read_map(data, channels, height, width)),
            OutputKind::Boxes {
                candidates,
                classes,
                per_row,
            } => Some(OutputReading::Boxes(read_boxes(
                data, candidates, classes, per_row,
            ))),
            OutputKind::Embedding { dim } => Some(OutputReading::Embedding {
                dim,
                norm: data[..dim]
                    .iter()
                    .map(|v| f64::from(*v).powi(2))
                    .sum::<f64>()
                    .sqrt() as f32,
            }),
        })
    }
}

/// The per-pixel maximum over the channels, scaled to 0..255 over its range (non-finite values
/// read as the smallest).
fn read_map(data: &[f32], channels: usize, height: usize, width: usize) -> OutputReading {
    let plane = height * width;
    let values: Vec<f32> = (0..plane)
        .map(|i| {
            (0..channels)
                .map(|c| data[c * plane + i])
                .filter(|v| v.is_finite())
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .collect();
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let min = finite.clone().fold(f32::INFINITY, f32::min);
    let max = finite.fold(f32::NEG_INFINITY, f32::max);
    let (min, max) = if min <= max { (min, max) } else { (0.0, 0.0) };
    let span = max - min;
    let pixels = values
        .iter()
        .map(|&v| match v.is_finite() && span > 0.0 {
            true => (((v - min) / span) * 255.0).round().clamp(0.0, 255.0) as u8,
            false => 0,
        })
        .collect();
    let image = GrayImage::from_raw(width as u32, height as u32, pixels)
        .unwrap_or_else(|| GrayImage::new(width as u32, height as u32));
    OutputReading::Map { image, min, max }
}

/// The strongest boxes after dropping those that overlap a stronger one.
fn read_boxes(data: &[f32], candidates: usize, classes: usize, per_row: bool) -> Vec<Detection> {
    let stride = 4 + classes;
    let at = |a: usize, k: usize| match per_row {
        true => data[a * stride + k],
        false => data[k * candidates + a],
    };
    let mut all: Vec<Detection> = (0..candidates)
        .filter_map(|a| {
            let (class, score) = (0..classes)
                .map(|c| (c, at(a, 4 + c)))
                .filter(|(_, s)| s.is_finite())
                .max_by(|x, y| x.1.total_cmp(&y.1))?;
            let (cx, cy, w, h) = (at(a, 0), at(a, 1), at(a, 2).abs(), at(a, 3).abs());
            [cx, cy, w, h]
                .iter()
                .all(|v| v.is_finite())
                .then_some(Detection {
                    class,
                    score,
                    x0: cx - w / 2.0,
                    y0: cy - h / 2.0,
                    x1: cx + w / 2.0,
                    y1: cy + h / 2.0,
                })
        })
        .collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in all {
        if kept.len() == MAX_BOXES {
            break;
        }
        if kept
            .iter()
            .all(|k| k.class != d.class || iou(k, &d) <= NMS_IOU)
        {
            kept.push(d);
        }
    }
    kept
}

/// Intersection over union of two boxes.
fn iou(a: &Detection, b: &Detection) -> f32 {
    let w = (a.x1.min(b.x1) - a.x0.max(b.x0)).max(0.0);
    let h = (a.y1.min(b.y1) - a.y0.max(b.y0)).max(0.0);
    let inter = w * h;
    let area = |d: &Detection| (d.x1 - d.x0).max(0.0) * (d.y1 - d.y0).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_off_the_shape() {
        let none = OutputHints::default();
        let imagenet = OutputHints {
            scores: false,
            labels: 1000,
        };
        let scores = OutputHints {
            scores: true,
            labels: 1000,
        };
        assert_eq!(
            OutputKind::of(&[1, 1000], imagenet),
            OutputKind::Classes { count: 1000 }
        );
        assert_eq!(
            OutputKind::of(&[1, 1000, 1, 1], none),
            OutputKind::Embedding { dim: 1000 }
        );
        assert_eq!(
            OutputKind::of(&[1, 10], scores),
            OutputKind::Classes { count: 10 }
        );
        assert_eq!(
            OutputKind::of(&[1, 512], imagenet),
            OutputKind::Embedding { dim: 512 }
        );
        assert_eq!(
            OutputKind::of(&[1, 1, 224, 224], imagenet),
            OutputKind::Map {
                channels: 1,
                height: 224,
                width: 224
            }
        );
        // detect_mini's [1, 320, 7] and YOLOv8's [1, 84, 8400]
        assert_eq!(
            OutputKind::of(&[1, 320, 7], imagenet),
            OutputKind::Boxes {
                candidates: 320,
                classes: 3,
                per_row: true
            }
        );
        assert_eq!(
            OutputKind::of(&[1, 84, 8400], imagenet),
            OutputKind::Boxes {
                candidates: 8400,
                classes: 80,
                per_row: false
            }
        );
        // a ViT's tokens are no boxes
        assert_eq!(
            OutputKind::of(&[1, 257, 384], imagenet),
            OutputKind::Embedding { dim: 384 }
        );
    }

    #[test]
    fn a_map_is_scaled_over_its_range() {
        let kind = OutputKind::Map {
            channels: 1,
            height: 2,
            width: 2,
        };
        let Ok(Some(OutputReading::Map { image, min, max })) = kind.read(&[0.5, 1.0, 0.0, 0.25])
        else {
            panic!("a map")
        };
        assert_eq!((min, max), (0.0, 1.0));
        assert_eq!(image.as_raw(), &vec![128, 255, 0, 64]);
        // a constant map is black, not a division by zero
        let Ok(Some(OutputReading::Map { image, .. })) = kind.read(&[3.0; 4]) else {
            panic!("a map")
        };
        assert_eq!(image.as_raw(), &vec![0; 4]);
        assert!(kind.read(&[1.0]).is_err());
    }

    #[test]
    fn boxes_are_the_strongest_without_overlaps() {
        // [1, 4 candidates, 4 + 2 classes]: cx, cy, w, h, score0, score1
        let rows = [
            [10.0, 10.0, 4.0, 4.0, 0.9, 0.1],
            [10.5, 10.0, 4.0, 4.0, 0.8, 0.1], // overlaps the first, same class: dropped
            [10.5, 10.0, 4.0, 4.0, 0.1, 0.7], // overlaps, another class: kept
            [30.0, 30.0, 2.0, 6.0, 0.2, 0.3],
        ];
        let data: Vec<f32> = rows.iter().flatten().copied().collect();
        let kind = OutputKind::Boxes {
            candidates: 4,
            classes: 2,
            per_row: true,
        };
        let Ok(Some(OutputReading::Boxes(b))) = kind.read(&data) else {
            panic!("boxes")
        };
        let got: Vec<(usize, f32)> = b.iter().map(|d| (d.class, d.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.7), (1, 0.3)]);
        assert_eq!((b[0].x0, b[0].y0, b[0].x1, b[0].y1), (8.0, 8.0, 12.0, 12.0));
        assert_eq!(
            (b[2].x0, b[2].y0, b[2].x1, b[2].y1),
            (29.0, 27.0, 31.0, 33.0)
        );
        // the same candidates as [1, 6, 4] (channels first) read the same
        let transposed: Vec<f32> = (0..6)
            .flat_map(|k| rows.iter().map(move |r| r[k]))
            .collect();
        let kind = OutputKind::Boxes {
            candidates: 4,
            classes: 2,
            per_row: false,
        };
        assert_eq!(kind.read(&transposed), Ok(Some(OutputReading::Boxes(b))));
    }

    #[test]
    fn an_embedding_reads_as_its_norm() {
        let kind = OutputKind::Embedding { dim: 2 };
        assert_eq!(
            kind.read(&[3.0, 4.0, 100.0]),
            Ok(Some(OutputReading::Embedding { dim: 2, norm: 5.0 }))
        );
    }
}
