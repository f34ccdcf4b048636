//! The method's knobs on the command line (`optimize`, `search`): `--method`, the
//! parameterization, `--transforms`, `--adam` / `--sgd`, penalties.

use anyhow::{Result, bail};
use deepvis_optim::{Method, MethodKind, Transforms};

/// The three methods.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodChoice {
    /// Yosinski et al. 2015: pixels, the preset's regularizers, SGD.
    Paper,
    /// Lucid/lucent: decorrelated Fourier parameterization, transforms, Adam.
    Fourier,
    /// Fel et al. 2023: the spectrum's phase under a natural-image magnitude.
    Maco,
}

impl MethodChoice {
    /// The protocol's kind.
    pub fn kind(self) -> MethodKind {
        match self {
            MethodChoice::Paper => MethodKind::Paper,
            MethodChoice::Fourier => MethodKind::Fourier,
            MethodChoice::Maco => MethodKind::Maco,
        }
    }
}

/// Arguments shared by `optimize` and `search`.
#[derive(clap::Args, Debug, Clone)]
pub struct MethodArgs {
    /// How the picture is made (its defaults: paper = the preset; fourier and maco = 512
    /// iterations of Adam with the wide transforms, the paper's regularizers off).
    #[arg(long, value_enum, default_value_t = MethodChoice::Paper)]
    pub method: MethodChoice,
    /// Random transforms: `wide` (the modern methods' default: pad 16, jitter 16, scale
    /// ±0.2, rotate ±15°), `standard` (lucent's: pad 12, jitter 8, scale ±0.1, rotate ±10°),
    /// `off`, or `pad=P,jitter=J,scale=S,rotate=DEG` (missing ones off).
    #[arg(long, value_name = "SPEC")]
    pub transforms: Option<String>,
    /// Update with Adam (at --adam-lr).
    #[arg(long, conflicts_with = "sgd")]
    pub adam: bool,
    /// Update with the paper's SGD and its learning-rate policy.
    #[arg(long)]
    pub sgd: bool,
    /// Adam's learning rate (default: the method's).
    #[arg(long)]
    pub adam_lr: Option<f64>,
    /// Fourier: the frequency decay power (default 1).
    #[arg(long)]
    pub decay_power: Option<f64>,
    /// Fourier and MACO: keep the channels as they are instead of ImageNet's colour
    /// decorrelation.
    #[arg(long)]
    pub no_decorrelate: bool,
    /// Total-variation penalty weight.
    #[arg(long)]
    pub tv: Option<f64>,
    /// L1 penalty weight (distance from grey).
    #[arg(long)]
    pub l1: Option<f64>,
}

/// Parses `--transforms`.
pub fn parse_transforms(spec: &str) -> Result<Transforms> {
    match spec {
        "standard" => return Ok(Transforms::STANDARD),
        "wide" => return Ok(Transforms::WIDE),
        "off" | "none" => return Ok(Transforms::OFF),
        _ => {}
    }
    let mut t = Transforms::OFF;
    for part in spec.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            bail!("--transforms {spec}: `{part}` is not NAME=VALUE (or use standard / off)");
        };
        let num = |v: &str| -> Result<f64> {
            v.trim()
                .parse::<f64>()
                .map_err(|_| anyhow::anyhow!("--transforms {spec}: `{v}` is not a number"))
        };
        match k.trim() {
            "pad" => t.pad = num(v)? as u32,
            "jitter" => t.jitter = num(v)? as u32,
            "scale" => t.scale = num(v)?,
            "rotate" => t.rotate = num(v)?,
            other => bail!("--transforms {spec}: `{other}`: use pad, jitter, scale or rotate"),
        }
    }
    t.validate().map_err(anyhow::Error::msg)?;
    Ok(t)
}

impl MethodArgs {
    /// The knobs of `kind` with the arguments applied.
    pub fn method(&self, kind: MethodKind) -> Result<Method> {
        let mut m = kind.method();
        if let Some(t) = &self.transforms {
            m.transforms = parse_transforms(t)?;
        }
        if self.adam {
            m.adam = true;
        }
        if self.sgd {
            m.adam = false;
        }
        if let Some(v) = self.adam_lr {
            m.adam_lr = v;
        }
        if let Some(v) = self.decay_power {
            m.decay_power = v;
        }
        if self.no_decorrelate {
            m.decorrelate = false;
        }
        if let Some(v) = self.tv {
            m.tv = v;
        }
        if let Some(v) = self.l1 {
            m.l1 = v;
        }
        m.validate().map_err(anyhow::Error::msg)?;
        Ok(m)
    }
}
