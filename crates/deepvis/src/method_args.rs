//! The method's knobs on the command line (`optimize`, `search`): `--method`, the
//! parameterization, `--transforms`, `--adam` / `--sgd`, penalties.

use anyhow::Result;
use deepvis_model::ModelInfo;
use deepvis_optim::{Method, MethodKind, PenaltyKind, Transforms};

/// Arguments shared by `optimize` and `search`.
#[derive(clap::Args, Debug, Clone)]
pub struct MethodArgs {
    /// How the picture is made (its defaults: paper = the preset; fourier and maco = 512
    /// iterations of Adam with the wide transforms, the paper's regularizers off). Default for
    /// `optimize`: maco on SqueezeNet (the best measured on classes no one tuned on) and any
    /// network not the paper's, paper on AlexNet and CaffeNet; for `search` (the paper's
    /// hyperparameters): paper.
    #[arg(long, value_enum)]
    pub method: Option<MethodKind>,
    /// Random transforms: `wide` (the modern methods' default: pad 16, jitter 16, scale
    /// ±0.2, rotate ±15°), `standard` (lucent's: pad 12, jitter 8, scale ±0.1, rotate ±10°),
    /// `off`, or `NAME=V,...` with the names pad, jitter, scale, rotate (missing ones off).
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
    /// Adam with Nesterov momentum (NAdam, as MACO's authors run it); implies --adam.
    #[arg(long, conflicts_with = "sgd")]
    pub nadam: bool,
    /// Fourier: the frequency decay power (default 1).
    #[arg(long)]
    pub decay_power: Option<f64>,
    /// Fourier and MACO: keep the channels as they are instead of ImageNet's colour
    /// decorrelation.
    #[arg(long)]
    pub no_decorrelate: bool,
    /// Fourier and MACO: crops of a large canvas, as MACO's authors run it: `cpu` (a
    /// 448-pixel canvas, 4 crops per step at 45-55% of its side, noise 0.011), `authors`
    /// (1280 pixels, 6 crops at 20-25%, noise 0.011: slow on a CPU), `off`, or
    /// `SIDE[,crops=N][,scale=MIN-MAX][,noise=SD]` (the rest as `cpu`). The picture is the
    /// canvas; its transparency map is written beside it.
    #[arg(long, value_name = "SPEC")]
    pub canvas: Option<String>,
    /// Penalties on the picture: `NAME=W,...` with the names tv (total variation), l1 and l2
    /// (distance from grey), or `off`.
    #[arg(long, value_name = "SPEC")]
    pub penalty: Option<String>,
    /// Total-variation penalty weight (the same as `--penalty tv=W`).
    #[arg(long)]
    pub tv: Option<f64>,
    /// L1 penalty weight, distance from grey (the same as `--penalty l1=W`).
    #[arg(long)]
    pub l1: Option<f64>,
}

impl MethodArgs {
    /// The method asked for, else the network's default (`deepvis_optim::default_method`).
    pub fn kind(&self, info: &ModelInfo) -> MethodKind {
        self.method
            .unwrap_or_else(|| deepvis_optim::default_method(info))
    }

    /// The knobs of `kind` with the arguments applied.
    pub fn method(&self, kind: MethodKind) -> Result<Method> {
        let mut m = kind.method();
        if let Some(t) = &self.transforms {
            m.transforms =
                Transforms::parse(t).map_err(|e| anyhow::anyhow!("--transforms: {e}"))?;
        }
        if self.adam {
            m.adam = true;
        }
        if self.sgd {
            m.adam = false;
        }
        if self.nadam {
            m.adam = true;
            m.nesterov = true;
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
        if let Some(c) = &self.canvas {
            m.canvas =
                deepvis_optim::Canvas::parse(c).map_err(|e| anyhow::anyhow!("--canvas: {e}"))?;
        }
        if let Some(p) = &self.penalty {
            m.penalties
                .parse_into(p)
                .map_err(|e| anyhow::anyhow!("--penalty: {e}"))?;
        }
        for (kind, w) in [(PenaltyKind::Tv, self.tv), (PenaltyKind::L1, self.l1)] {
            if let Some(w) = w {
                *m.penalties.get_mut(kind) = w;
            }
        }
        m.validate().map_err(anyhow::Error::msg)?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        m: MethodArgs,
    }

    /// The method the arguments give on `info`'s network.
    fn kind_on(info: &ModelInfo, args: &[&str]) -> Result<MethodKind, clap::Error> {
        Cli::try_parse_from(std::iter::once(&"deepvis").chain(args)).map(|c| c.m.kind(info))
    }

    #[test]
    fn every_method_kind_is_taken_by_its_name() {
        // on the default SqueezeNet, whose measured best is MACO
        let squeezenet = deepvis_model::Arch::SqueezeNet1_0.info();
        let kind = |args: &[&str]| kind_on(&squeezenet, args);
        assert_eq!(kind(&[]).unwrap(), MethodKind::Maco);
        for k in MethodKind::ALL {
            assert_eq!(kind(&["--method", k.as_str()]).unwrap(), k);
        }
        assert!(kind(&["--method", "lucid"]).is_err());
    }

    #[test]
    fn a_network_that_is_not_the_papers_defaults_to_maco() {
        let path = deepvis_testdata::shared().join("models/ops/vit_mini.onnx");
        let (m, input) = deepvis_onnx::spec::open(&path, &Default::default()).unwrap();
        let vit = ModelInfo::new(&m.graph, "vit_mini.onnx", input.spec, None).unwrap();
        assert_eq!(kind_on(&vit, &[]).unwrap(), MethodKind::Maco);
        for k in MethodKind::ALL {
            assert_eq!(kind_on(&vit, &["--method", k.as_str()]).unwrap(), k);
        }
        for arch in deepvis_model::Arch::ALL {
            let want = deepvis_optim::default_method(&arch.info());
            assert_eq!(kind_on(&arch.info(), &[]).unwrap(), want);
        }
    }
}
