//! Random transforms (lucent's `transform`), each defined once here: its name, its knob (label,
//! range, tip) and its random draw as an affine map. The window's sliders, the command line's
//! `--transforms NAME=V,...`, the sidecars and the optimizer all read this table, so adding a
//! transform is a variant of [`TransformKind`] and its arms below; the optimizer composes the
//! draws of an image into one map and resamples the image once (differentiably).
//!
//! A map takes a point of the picture to a point of the network's input, in `(y, x)` pixel
//! coordinates (`y` down); rotations are counter-clockwise on screen.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One random transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransformKind {
    /// A grey frame around the image, the padded image shrunk back to the input's size
    /// (lucent's `pad(12)`).
    Pad,
    /// A random shift of up to this many pixels each way, before and (half as much) after the
    /// scaling and rotation (lucent's `jitter(8)` ... `jitter(4)`).
    Jitter,
    /// A random scale in `1 ± s` (lucent: 0.1).
    Scale,
    /// A random rotation of up to this many degrees each way (lucent: 10).
    Rotate,
}

/// What the window, the command line and validation know of a transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformSpec {
    /// The name on the command line and in sidecars.
    pub name: &'static str,
    /// The slider's text.
    pub label: &'static str,
    /// The slider's unit suffix.
    pub suffix: &'static str,
    /// The tip.
    pub help: &'static str,
    /// The slider's upper end.
    pub slider_max: f64,
    /// The largest valid value (0 is off).
    pub max: f64,
    /// Whole pixels only.
    pub integer: bool,
}

impl TransformKind {
    /// Every transform, in the order they are composed (lucent's).
    pub const ALL: [TransformKind; 4] = [
        TransformKind::Pad,
        TransformKind::Jitter,
        TransformKind::Scale,
        TransformKind::Rotate,
    ];

    /// The names, in [`TransformKind::ALL`]'s order.
    pub const NAMES: [&'static str; 4] = ["pad", "jitter", "scale", "rotate"];

    /// Its knob.
    pub fn spec(self) -> TransformSpec {
        match self {
            TransformKind::Pad => TransformSpec {
                name: "pad",
                label: "pad",
                suffix: " px",
                help: "a grey frame this many pixels wide",
                slider_max: 32.0,
                max: 64.0,
                integer: true,
            },
            TransformKind::Jitter => TransformSpec {
                name: "jitter",
                label: "jitter",
                suffix: " px",
                help: "random shifts of up to this many pixels each way",
                slider_max: 32.0,
                max: 64.0,
                integer: true,
            },
            TransformKind::Scale => TransformSpec {
                name: "scale",
                label: "scale ±",
                suffix: "",
                help: "random scaling by 1 ± this",
                slider_max: 0.5,
                max: 0.85,
                integer: false,
            },
            TransformKind::Rotate => TransformSpec {
                name: "rotate",
                label: "rotate",
                suffix: "°",
                help: "random rotation of up to this many degrees each way",
                slider_max: 45.0,
                max: 180.0,
                integer: false,
            },
        }
    }

    /// Its draw before the others' second parts, for a `size x size` input at knob value `v`
    /// (> 0), taking uniform numbers in `0..1` from `u`.
    fn draw(self, v: f64, size: usize, u: &mut dyn FnMut() -> f64) -> Affine {
        match self {
            // the padded picture shrunk back to the input's size
            TransformKind::Pad => Affine::scale(size as f64 / (size as f64 + 2.0 * v), size),
            TransformKind::Jitter => Affine::jitter(v as u32, u),
            TransformKind::Scale => Affine::scale(1.0 + v * (2.0 * u() - 1.0), size),
            TransformKind::Rotate => Affine::rotate(v * (2.0 * u() - 1.0), size),
        }
    }

    /// Its second part, after every transform's first (identity for most).
    fn draw_after(self, v: f64, _size: usize, u: &mut dyn FnMut() -> f64) -> Affine {
        match self {
            TransformKind::Jitter => Affine::jitter(v as u32 / 2, u),
            TransformKind::Pad | TransformKind::Scale | TransformKind::Rotate => Affine::IDENTITY,
        }
    }

    /// Its place in [`TransformKind::ALL`] (the declaration order).
    fn index(self) -> usize {
        self as usize
    }

    /// The transform named `name`.
    pub fn from_name(name: &str) -> Option<TransformKind> {
        TransformKind::ALL
            .into_iter()
            .find(|k| k.spec().name == name)
    }
}

/// The transforms' knob values (each off at 0), applied to the image before each forward pass
/// with a fresh draw per image and step, so that the picture must work wherever it lands.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Transforms {
    values: [f64; TransformKind::ALL.len()],
}

impl Transforms {
    /// None at all.
    pub const OFF: Transforms = Transforms {
        values: [0.0; TransformKind::ALL.len()],
    };

    /// lucent's `standard_transforms`: pad 12, jitter 8, scale ±0.1, rotate ±10°.
    pub const STANDARD: Transforms = Transforms {
        values: [12.0, 8.0, 0.1, 10.0],
    };

    /// Wider ranges, tuned for SqueezeNet with the judge (`scripts/judge-table.sh`): pad 16,
    /// jitter 16, scale ±0.2, rotate ±15°; pictures that must survive larger moves are
    /// recognised more often by a second network.
    pub const WIDE: Transforms = Transforms {
        values: [16.0, 16.0, 0.2, 15.0],
    };

    /// The knob of `kind`.
    pub fn get(&self, kind: TransformKind) -> f64 {
        self.values[kind.index()]
    }

    /// The knob of `kind`, for a slider.
    pub fn get_mut(&mut self, kind: TransformKind) -> &mut f64 {
        &mut self.values[kind.index()]
    }

    /// `self` with `kind` set to `v`.
    pub fn with(mut self, kind: TransformKind, v: f64) -> Transforms {
        *self.get_mut(kind) = v;
        self
    }

    /// Whether any transform is on.
    pub fn any(&self) -> bool {
        self.values.iter().any(|v| *v != 0.0)
    }

    /// Checks each value against its range.
    pub fn validate(&self) -> Result<(), String> {
        for kind in TransformKind::ALL {
            let s = kind.spec();
            let v = self.get(kind);
            if !v.is_finite() || !(0.0..=s.max).contains(&v) {
                return Err(format!(
                    "{} is {v}; it must lie in 0..={}{}",
                    s.name, s.max, s.suffix
                ));
            }
            if s.integer && v.fract() != 0.0 {
                return Err(format!("{} is {v}; it must be whole pixels", s.name));
            }
        }
        Ok(())
    }

    /// Parses `wide`, `standard`, `off` or `NAME=V,NAME=V,...` (names from the table, the
    /// missing ones off).
    pub fn parse(spec: &str) -> Result<Transforms, String> {
        match spec.trim() {
            "standard" => return Ok(Transforms::STANDARD),
            "wide" => return Ok(Transforms::WIDE),
            "off" | "none" => return Ok(Transforms::OFF),
            _ => {}
        }
        let names = TransformKind::NAMES.join(", ");
        let mut t = Transforms::OFF;
        for part in spec.split(',') {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "transforms {spec}: `{part}` is not NAME=VALUE (names: {names}; or wide, \
                     standard, off)"
                ));
            };
            let kind = TransformKind::from_name(k.trim())
                .ok_or_else(|| format!("transforms {spec}: `{}`: use {names}", k.trim()))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("transforms {spec}: `{}` is not a number", v.trim()))?;
            *t.get_mut(kind) = v;
        }
        t.validate()?;
        Ok(t)
    }

    /// One random draw for a `size x size` input, taking uniform numbers in `0..1` from `u`:
    /// each transform that is on, in the table's order, then the second parts.
    pub fn draw(&self, size: usize, u: &mut dyn FnMut() -> f64) -> Affine {
        let mut a = Affine::IDENTITY;
        for kind in TransformKind::ALL {
            let v = self.get(kind);
            if v > 0.0 {
                a = a.then(kind.draw(v, size, u));
            }
        }
        for kind in TransformKind::ALL {
            let v = self.get(kind);
            if v > 0.0 {
                a = a.then(kind.draw_after(v, size, u));
            }
        }
        a
    }
}

impl std::fmt::Display for Transforms {
    /// `pad=16,jitter=16,scale=0.2,rotate=15` (the ones on), or `off`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.any() {
            return f.write_str("off");
        }
        let parts: Vec<String> = TransformKind::ALL
            .into_iter()
            .filter(|k| self.get(*k) != 0.0)
            .map(|k| format!("{}={}", k.spec().name, self.get(k)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

// Stored as a struct with one field per transform (`{"pad": 16, "jitter": 16, ...}`), as
// earlier versions wrote it; a missing field is off, an unknown one is ignored.
impl Serialize for Transforms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::named::serialize(s, "Transforms", &TransformKind::NAMES, &self.values)
    }
}

impl<'de> Deserialize<'de> for Transforms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Transforms, D::Error> {
        let v = crate::named::deserialize(d, "Transforms", &TransformKind::NAMES)?;
        let mut out = Transforms::OFF;
        out.values.copy_from_slice(&v);
        Ok(out)
    }
}

/// `q = m u + t`: a point `u` of the picture lands at `q`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// The linear part, `(y, x)` rows and columns.
    pub m: [[f64; 2]; 2],
    /// The translation.
    pub t: [f64; 2],
}

impl Affine {
    /// Nothing moves.
    pub const IDENTITY: Affine = Affine {
        m: [[1.0, 0.0], [0.0, 1.0]],
        t: [0.0, 0.0],
    };

    /// A shift by `(dy, dx)` pixels.
    pub fn shift(dy: f64, dx: f64) -> Affine {
        Affine {
            t: [dy, dx],
            ..Affine::IDENTITY
        }
    }

    /// A random whole-pixel shift of up to `r` each way (identity at 0, drawing nothing).
    pub fn jitter(r: u32, u: &mut dyn FnMut() -> f64) -> Affine {
        if r == 0 {
            return Affine::IDENTITY;
        }
        let mut d = || (u() * (2 * r + 1) as f64).floor() - r as f64;
        let (dy, dx) = (d(), d());
        Affine::shift(dy, dx)
    }

    /// `m` about the centre of a `size x size` picture.
    fn about_centre(m: [[f64; 2]; 2], size: usize) -> Affine {
        let c = (size as f64 - 1.0) / 2.0;
        // q = c + m (u - c) = m u + (c - m c)
        let t = [
            c - (m[0][0] * c + m[0][1] * c),
            c - (m[1][0] * c + m[1][1] * c),
        ];
        Affine { m, t }
    }

    /// Scaling by `s` about the centre.
    pub fn scale(s: f64, size: usize) -> Affine {
        Affine::about_centre([[s, 0.0], [0.0, s]], size)
    }

    /// Rotation by `degrees` counter-clockwise on screen, about the centre.
    pub fn rotate(degrees: f64, size: usize) -> Affine {
        let (s, c) = degrees.to_radians().sin_cos();
        Affine::about_centre([[c, -s], [s, c]], size)
    }

    /// `self`, then `next`.
    pub fn then(self, next: Affine) -> Affine {
        let (a, b) = (next.m, self.m);
        let m = [
            [
                a[0][0] * b[0][0] + a[0][1] * b[1][0],
                a[0][0] * b[0][1] + a[0][1] * b[1][1],
            ],
            [
                a[1][0] * b[0][0] + a[1][1] * b[1][0],
                a[1][0] * b[0][1] + a[1][1] * b[1][1],
            ],
        ];
        let t = [
            a[0][0] * self.t[0] + a[0][1] * self.t[1] + next.t[0],
            a[1][0] * self.t[0] + a[1][1] * self.t[1] + next.t[1],
        ];
        Affine { m, t }
    }

    /// The picture's point that lands at `q`.
    pub fn source(&self, q: [f64; 2]) -> [f64; 2] {
        let m = self.m;
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let (dy, dx) = (q[0] - self.t[0], q[1] - self.t[1]);
        [
            (m[1][1] * dy - m[0][1] * dx) / det,
            (-m[1][0] * dy + m[0][0] * dx) / det,
        ]
    }
}
