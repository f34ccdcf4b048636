//! `deepvis attribute`: a unit's attribution map on a photo by any method (gradient, deconv,
//! guided backprop, Grad-CAM, Grad-CAM++, occlusion, SmoothGrad, integrated gradients), all of
//! them as one montage, or the cascading-randomization sanity check of one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use deepvis_attribution::{AttrOptions, Attribution, Job, Method, Sanity, Target};
use deepvis_model::BackProjector;
use deepvis_protocol::Baseline;
use deepvis_viz::{BackFilter, ColorMap};
use image::RgbImage;

use crate::Global;
use crate::common::{UnitArgs, load, log, read_input};

/// `--cmap`: a colour map, or `None` for `auto` (diverging for signed maps, sequential for
/// magnitudes).
type AutoColorMap = Option<ColorMap>;

/// Parses `--cmap`: `auto` or a colour map's name.
fn auto_color_map() -> impl TypedValueParser<Value = AutoColorMap> {
    let names = std::iter::once("auto").chain(ColorMap::ALL.map(ColorMap::as_str));
    PossibleValuesParser::new(names).map(|s: String| ColorMap::from_name(&s))
}

/// Arguments of `deepvis attribute`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    on: UnitArgs,
    /// Explain the whole channel (the mean of its map) rather than one unit of it.
    #[arg(long, conflicts_with_all = ["y", "x", "token"])]
    whole_map: bool,
    /// The method.
    #[arg(long, value_enum, default_value = "gradcam")]
    method: Method,
    /// Every method, in one montage (the photo first).
    #[arg(long, conflicts_with = "sanity")]
    all: bool,
    /// Run the cascading-randomization sanity check of the method instead: the map again with
    /// the network's parametric layers re-initialised from the top, each compared with the
    /// original (Spearman rank correlation of absolute values, SSIM).
    #[arg(long)]
    sanity: bool,
    /// The sanity check randomizes at most this many parametric layers.
    #[arg(long, default_value_t = 64, value_name = "N")]
    sanity_layers: usize,
    /// The layer Grad-CAM explains the unit by (default: the last spatial layer below it).
    #[arg(long, value_name = "LAYER")]
    target_layer: Option<String>,
    /// Occlusion patch side, in input pixels.
    #[arg(long, default_value_t = 32)]
    patch: usize,
    /// Occlusion stride, in input pixels.
    #[arg(long, default_value_t = 16)]
    stride: usize,
    /// SmoothGrad samples.
    #[arg(long, default_value_t = 16)]
    samples: usize,
    /// SmoothGrad noise, as a fraction of the input's range.
    #[arg(long, default_value_t = 0.15)]
    noise: f32,
    /// SmoothGrad over guided backprop instead of the gradient.
    #[arg(long)]
    smooth_guided: bool,
    /// Integrated-gradients steps.
    #[arg(long, default_value_t = 32)]
    steps: usize,
    /// Integrated-gradients baseline.
    #[arg(long, value_enum, default_value = "black")]
    baseline: Baseline,
    /// Images per network pass for occlusion, SmoothGrad and integrated gradients.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Any method's setting by its name in the settings table, after the flags above
    /// (`--set ig.steps=64 --set smoothgrad.guided=on`; an unknown name lists the names).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// How to draw the map.
    #[arg(long, value_enum, default_value = "raw")]
    filter: BackFilter,
    /// Colour map: auto (diverging for signed maps, sequential for magnitudes), gray (the
    /// original toolbox's look; raw gradients in RGB), diverging (blue, white, red) or
    /// sequential (dark to bright).
    #[arg(long, default_value = "auto", value_parser = auto_color_map())]
    cmap: AutoColorMap,
    /// Blend the map over the photo with this opacity (0: the map alone).
    #[arg(long, default_value_t = 0.0, value_name = "ALPHA")]
    blend: f32,
    /// Where to write the picture (default: `<image stem>_<layer>_<unit>_<method>.png`).
    #[arg(short, long, value_name = "PNG")]
    output: Option<PathBuf>,
    /// Also write the map as tensor `attribution` (1xCxHxW, C = 3 or 1).
    #[arg(long, value_name = "SAFETENSORS")]
    raw: Option<PathBuf>,
    /// Print what was computed as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    fn options(&self) -> Result<AttrOptions> {
        let mut o = AttrOptions {
            target_layer: self.target_layer.clone(),
            batch: self.batch,
            ..AttrOptions::default()
        };
        o.occlusion.patch = self.patch;
        o.occlusion.stride = self.stride;
        o.smoothgrad.samples = self.samples;
        o.smoothgrad.noise = self.noise;
        o.smoothgrad.guided = self.smooth_guided;
        o.ig.steps = self.steps;
        o.ig.baseline = self.baseline;
        for assignment in &self.settings {
            o.set_text(assignment)
                .map_err(|e| anyhow::anyhow!("--set {assignment}: {e}"))?;
        }
        if let Err(e) = o.check() {
            bail!("{e}");
        }
        if !self.blend.is_finite() || !(0.0..=1.0).contains(&self.blend) {
            bail!("--blend is {}; it must be from 0 to 1", self.blend);
        }
        Ok(o)
    }

    fn cmap(&self, m: Method) -> ColorMap {
        match self.cmap {
            Some(c) => c,
            None if m.is_signed() => ColorMap::Diverging,
            None => ColorMap::Sequential,
        }
    }
}

/// A map drawn as the arguments say, over `photo` when blending.
fn draw(a: &Args, m: &Attribution, order: [usize; 3], photo: &RgbImage) -> Result<RgbImage> {
    let img = deepvis_viz::attribution_image(
        &m.map,
        m.channels,
        m.height,
        m.width,
        order,
        a.filter,
        a.cmap(m.method),
    )
    .context("the map has the wrong size")?;
    Ok(match a.blend > 0.0 {
        true => deepvis_viz::blend(photo, &img, a.blend).unwrap_or(img),
        false => img,
    })
}

fn summary(m: &Attribution, ms: f64) -> serde_json::Value {
    serde_json::json!({
        "method": m.method.as_str(), "value": m.value, "ms": ms, "passes": m.passes,
        "y": m.pos.map(|p| p.0), "x": m.pos.map(|p| p.1), "channels": m.channels,
        "cam_layer": m.cam_layer, "baseline_value": m.baseline_value, "sum": m.total(),
        "nonzero": m.map.iter().filter(|v| **v != 0.0).count(),
    })
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let opts = a.options()?;
    let l = load(g)?;
    let info = l.info.layer(&a.on.layer)?;
    let pos = a.on.position(&l.info)?;
    info.check_unit(a.on.unit, pos.filter(|_| info.height * info.width > 1))?;
    let input = read_input(&a.on.image, a.on.tensor.as_deref(), a.on.frame, &l)?;
    let [_, _, h, w] = input.tensor.dims();
    let norm = l.info.norm();
    let photo = norm.invert(
        &deepvis_model::to_vec(input.tensor.clone())?,
        w as u32,
        h as u32,
    )?;
    let net = BackProjector::new(l.net, &l.device.device).net().clone();
    let target = match a.whole_map {
        true => Target {
            layer: info.name.clone(),
            channel: a.on.unit,
            seed: deepvis_model::graph::Seed::Mean,
        },
        false => Target::unit(&info.name, a.on.unit, pos),
    };
    if a.sanity {
        return sanity(g, &a, &net, input.tensor, &target, &opts);
    }
    let methods: Vec<Method> = match a.all {
        true => deepvis_attribution::methods_for(net.info()),
        false => vec![a.method],
    };
    let mut maps = Vec::new();
    let mut report = Vec::new();
    for m in methods {
        let t0 = Instant::now();
        let map = Job::run(&net, input.tensor.clone(), &target, m, &opts)
            .with_context(|| format!("{} of {} unit {}", m.title(), info.name, a.on.unit))?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        log(
            g,
            format!(
                "{} of {} unit {}{} (value {:.4}): {} pass{} in {ms:.0} ms{}",
                m.title(),
                info.name,
                a.on.unit,
                map.pos
                    .map(|(y, x)| format!(" at (y {y}, x {x})"))
                    .unwrap_or_default(),
                map.value,
                map.passes,
                if map.passes == 1 { "" } else { "es" },
                map.cam_layer
                    .as_ref()
                    .map(|c| format!(", explained by {c}"))
                    .unwrap_or_default()
            ),
        );
        report.push(summary(&map, ms));
        maps.push(map);
    }
    let out = a.output.clone().unwrap_or_else(|| {
        let what = if a.all { "all" } else { a.method.as_str() };
        a.on.default_png(&info.name, what)
    });
    let img = match a.all {
        true => {
            let mut tiles = vec![photo.clone()];
            for m in &maps {
                tiles.push(draw(&a, m, norm.order, &photo)?);
            }
            deepvis_viz::montage(&tiles, 3, 4, [0, 0, 0])
        }
        false => draw(&a, &maps[0], norm.order, &photo)?,
    };
    crate::common::save_image(&img, &out)?;
    if let (Some(r), Some(m)) = (&a.raw, maps.first()) {
        crate::common::save_tensor(
            r,
            "attribution",
            &[1, m.channels, m.height, m.width],
            &m.map,
        )?;
    }
    log(g, format!("wrote {}", out.display()));
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "image": a.on.image, "layer": info.name, "unit": a.on.unit, "png": out,
                "raw": a.raw, "filter": a.filter.as_str(), "maps": report,
                "montage": a.all.then(|| ["input"].into_iter()
                    .chain(maps.iter().map(|m| m.method.as_str())).collect::<Vec<_>>()),
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sanity(
    g: &Global,
    a: &Args,
    net: &deepvis_model::Net,
    x: burn::prelude::Tensor<4>,
    target: &Target,
    opts: &AttrOptions,
) -> Result<ExitCode> {
    let m = a.method;
    let t0 = Instant::now();
    let s = Sanity::new(net, x, target, m, opts, a.sanity_layers, 0)?.run()?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    log(
        g,
        format!(
            "sanity check of {} on {} unit {}: {} maps in {ms:.0} ms",
            m.title(),
            target.layer,
            target.channel,
            s.points().len() + 1
        ),
    );
    if !a.json {
        println!("randomized  down to                 spearman   ssim");
        for p in s.points() {
            println!(
                "{:>10}  {:<24} {:>8.3} {:>6.3}",
                p.randomized, p.node, p.spearman, p.ssim
            );
        }
    } else {
        let steps: Vec<_> = s
            .points()
            .iter()
            .map(|p| {
                serde_json::json!({"randomized": p.randomized, "node": p.node,
                    "spearman": p.spearman, "ssim": p.ssim})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "image": a.on.image, "layer": target.layer, "unit": target.channel,
                "method": m.as_str(), "steps": steps, "ms": ms,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: Args,
    }

    fn parse(extra: &[&str]) -> Args {
        let base = ["deepvis", "photo.png", "--layer", "fire9", "--unit", "0"];
        Cli::try_parse_from(base.iter().chain(extra))
            .map(|c| c.a)
            .unwrap()
    }

    #[test]
    fn any_setting_is_taken_by_its_name_after_the_flags() {
        let o = parse(&[
            "--steps",
            "8",
            "--set",
            "ig.steps=64",
            "--set",
            "ig.baseline=blur",
        ])
        .options()
        .unwrap();
        assert_eq!((o.ig.steps, o.ig.baseline), (64, Baseline::Blur));
        let o = parse(&[
            "--set",
            "smoothgrad.guided=on",
            "--set",
            "occlusion.patch=9",
        ])
        .options()
        .unwrap();
        assert!(o.smoothgrad.guided);
        assert_eq!(o.occlusion.patch, 9);
        for (bad, says) in [
            ("ig.stepz=3", "ig.steps"),
            ("ig.steps=many", "whole number"),
            ("ig.steps=0", "1 to"),
            ("smoothgrad.noise=nan", "a number"),
            ("ig.baseline=white", "black or blur"),
            ("batch", "NAME=VALUE"),
        ] {
            let e = parse(&["--set", bad]).options().unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn every_method_filter_and_baseline_is_taken_by_its_name() {
        assert_eq!(parse(&[]).method, Method::GradCam);
        for &m in Method::METHODS {
            assert_eq!(parse(&["--method", m.as_str()]).method, m);
        }
        for f in BackFilter::ALL {
            assert_eq!(parse(&["--filter", f.as_str()]).filter, f);
        }
        for b in Baseline::ALL {
            assert_eq!(parse(&["--baseline", b.as_str()]).baseline, b);
        }
        let base = ["deepvis", "photo.png", "--layer", "fire9", "--unit", "0"];
        for bad in [
            ["--method", "off"],
            ["--filter", "sharpen"],
            ["--cmap", "rainbow"],
        ] {
            assert!(
                Cli::try_parse_from(base.iter().chain(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cmap_is_auto_or_a_colour_map() {
        let a = parse(&[]);
        assert_eq!(a.cmap, None);
        assert_eq!(a.cmap(Method::Grad), ColorMap::Diverging);
        assert_eq!(a.cmap(Method::GradCam), ColorMap::Sequential);
        for c in ColorMap::ALL {
            let a = parse(&["--cmap", c.as_str()]);
            assert_eq!((a.cmap, a.cmap(Method::GradCam)), (Some(c), c));
        }
    }
}
