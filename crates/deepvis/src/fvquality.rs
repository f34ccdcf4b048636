//! `deepvis fv-quality`: how good the class pictures of each method are, measured the way the
//! literature does. Each class is drawn with each method (as the atlas draws a picture: from
//! seeded noise, the method's defaults, the pre-ReLU fallback); then per method: the share of
//! pictures each judge (another network) puts the class first and in its top 5
//! (transferability), each judge's feature-space cosine to the class's real photos where a
//! folder of them is given (plausibility), the share of the picture's power at high
//! frequencies beside the photos', and the seconds per picture. A markdown table and JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use deepvis_model::{ModelInfo, Net, Request};
use deepvis_optim::spectrum::high_frequency_share;
use deepvis_optim::{Canvas, MethodKind};
use image::{DynamicImage, RgbImage};
use serde::Serialize;

use crate::Global;
use crate::common::{Loaded, load, log, save_image};
use crate::optimize::{Batch, Judge, unit_plan};

/// Where the high frequencies start, in cycles per pixel (half the Nyquist frequency).
pub const HIGH_FREQUENCY: f64 = 0.25;

/// Arguments of `deepvis fv-quality`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The classes (units of the class-score layer): `1,2,3` or `0-23`.
    #[arg(long, value_name = "LIST")]
    units: String,
    /// The methods, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "paper,fourier,maco")]
    methods: Vec<MethodKind>,
    /// The judges: ImageNet classifiers (ONNX files, or a built-in network's name),
    /// comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "MODEL,...")]
    judges: Vec<String>,
    /// Real photos of the classes: `DIR/CLASS/` (the class's number) holds each class's
    /// photos. Each judge's features of a picture are compared with the mean of theirs
    /// (plausibility); their high-frequency share is the photos' range.
    #[arg(long, value_name = "DIR")]
    real: Option<PathBuf>,
    /// Photos whose high-frequency share is the range to compare with (else `--real`'s).
    #[arg(long, value_name = "PATH")]
    photos: Option<PathBuf>,
    /// Iterations per picture (else each method's own).
    #[arg(long)]
    iters: Option<usize>,
    /// Fourier and MACO with crops of a large canvas (as `optimize --canvas`: `cpu`,
    /// `authors`, `off` or `SIDE[,crops=N][,scale=MIN-MAX][,noise=SD]`; else each method's
    /// own).
    #[arg(long, value_name = "SPEC", value_parser = parse_canvas)]
    canvas: Option<Canvas>,
    /// Seed of the start noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The folder for the pictures, `report.md` and `report.json`.
    #[arg(short, long)]
    output: PathBuf,
    /// Print the JSON report (else the markdown table).
    #[arg(long)]
    json: bool,
}

/// `--canvas SPEC`.
fn parse_canvas(spec: &str) -> std::result::Result<Canvas, String> {
    Canvas::parse(spec)
}

/// A judge, and the layer its features are read from (the one below its class scores).
struct Judging {
    name: String,
    judge: Judge,
    features: String,
    /// Per class, the mean of its real photos' features.
    real: Vec<(usize, Vec<f32>)>,
}

/// What a judge said of one picture.
#[derive(Serialize, Debug, Clone)]
pub struct Verdict {
    /// The judge.
    pub judge: String,
    /// The class's rank among its 1000 (1: its top class).
    pub rank: usize,
    /// Its top class.
    pub top: usize,
    /// The cosine of its features of the picture with the mean of the class's photos'.
    pub plausibility: Option<f32>,
}

/// One picture.
#[derive(Serialize, Debug, Clone)]
pub struct Picture {
    /// The class.
    pub class: usize,
    /// The method.
    pub method: MethodKind,
    /// The PNG, in the output folder.
    pub png: String,
    /// Its high-frequency share.
    pub high_frequency: f64,
    /// Seconds to make it.
    pub seconds: f64,
    /// Whether the pre-ReLU objective made it (its class was silent on the noise).
    pub pre_relu: bool,
    /// Each judge's verdict.
    pub verdicts: Vec<Verdict>,
}

/// A method's figures over its pictures.
#[derive(Serialize, Debug, Clone)]
pub struct MethodRow {
    /// The method.
    pub method: MethodKind,
    /// Pictures made.
    pub pictures: usize,
    /// Per judge: (name, top-1 share, top-5 share, mean plausibility where known).
    pub judges: Vec<(String, f64, f64, Option<f64>)>,
    /// The median high-frequency share.
    pub median_high_frequency: f64,
    /// Mean seconds per picture.
    pub seconds_per_picture: f64,
}

/// The whole report.
#[derive(Serialize, Debug)]
pub struct Report {
    /// The network drawn.
    pub model: String,
    /// The classes.
    pub classes: Vec<usize>,
    /// Iterations per picture, where given.
    pub iters: Option<usize>,
    /// The canvas of Fourier and MACO, where given (`SIDE,crops=N,scale=MIN-MAX,noise=SD`).
    pub canvas: Option<String>,
    /// The cut-off of the high frequencies, cycles per pixel.
    pub high_frequency_cutoff: f64,
    /// The photos' high-frequency shares: (min, median, max), where photos were given.
    pub photos_high_frequency: Option<(f64, f64, f64)>,
    /// Per method.
    pub methods: Vec<MethodRow>,
    /// Every picture.
    pub pictures: Vec<Picture>,
}

/// The median of `v` (0 for none).
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The cosine of two vectors (0 where one is zero).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na > 0.0 && nb > 0.0 {
        dot / (na * nb)
    } else {
        0.0
    }
}

/// A picture as the judge reads a file of it: its own preprocessing.
fn judge_input(net: &Net, img: &RgbImage, device: &Device) -> Result<Tensor<4>> {
    let p = net
        .info()
        .input
        .apply(&DynamicImage::ImageRgb8(img.clone()));
    let dims = p.dims();
    Ok(deepvis_model::tensor4(p.chw, dims, device)?)
}

/// The judge's probabilities of `img`.
fn probabilities(net: &Net, img: &RgbImage, device: &Device) -> Result<Vec<f32>> {
    let x = judge_input(net, img, device)?;
    Ok(deepvis_model::to_vec(net.probabilities(x)?)?)
}

/// The judge's features of `img`: its layer `layer`, averaged over the map.
fn features(net: &Net, layer: &str, img: &RgbImage, device: &Device) -> Result<Vec<f32>> {
    let x = judge_input(net, img, device)?;
    let t = net
        .forward(x, &Request::layers(&[layer]))?
        .take(layer)
        .with_context(|| format!("the judge did not compute {layer}"))?;
    let [_, c, h, w] = t.dims();
    let v = deepvis_model::to_vec(t)?;
    Ok(deepvis_concepts::channel_means(&v, [c, h, w])?)
}

/// The photos of `path` as the network crops them.
fn photos(info: &ModelInfo, path: &Path) -> Result<Vec<RgbImage>> {
    Ok(crate::concept::images(path, 10)?
        .into_iter()
        .map(|(_, img)| info.input.apply(&img).crop)
        .collect())
}

/// Loads a judge, and the mean features of the real photos of each class that has them.
fn judging(
    g: &Global,
    model: &str,
    device: &Device,
    from: &ModelInfo,
    real: Option<&Path>,
    classes: &[usize],
) -> Result<Judging> {
    let judge = Judge::load(g, model, device).with_context(|| format!("judge {model}"))?;
    let info = judge.net.info().clone();
    let features_layer = deepvis_model::circuit::layer_below(&info, info.logits_layer())?;
    let mut means = Vec::new();
    for &c in classes {
        let Some(dir) = real.map(|r| r.join(c.to_string())).filter(|d| d.exists()) else {
            continue;
        };
        let mut sum: Vec<f32> = Vec::new();
        let pics = photos(from, &dir)?;
        for p in &pics {
            let f = features(&judge.net, &features_layer, p, device)?;
            sum.resize(f.len(), 0.0);
            sum.iter_mut().zip(&f).for_each(|(s, v)| *s += v);
        }
        if !pics.is_empty() {
            means.push((c, sum.iter().map(|v| v / pics.len() as f32).collect()));
        }
    }
    Ok(Judging {
        name: info.name().to_string(),
        judge,
        features: features_layer,
        real: means,
    })
}

/// Draws class `class` with method `m`: the picture, whether the pre-ReLU goal made it, and
/// the seconds it took.
fn draw(
    g: &Global,
    l: &Loaded,
    class: usize,
    m: MethodKind,
    a: &Args,
) -> Result<(RgbImage, bool, f64)> {
    let t0 = Instant::now();
    let plan = unit_plan(
        &l.info,
        l.info.logits_layer(),
        class,
        m,
        None,
        a.iters,
        a.seed,
    )?;
    let mut plan = plan;
    if let (Some(c), true) = (a.canvas, m != MethodKind::Paper) {
        plan.config.method.canvas = c;
    }
    let mut batch = Batch::new(l, vec![plan])?;
    batch.optimize(g, true)?;
    if let Some(nothing) = batch.empty_runs()? {
        bail!("class {class} with {}: no picture: {nothing}", m.as_str());
    }
    let id = batch.ids[0];
    let pre_relu = batch.before_relu(id)?;
    let param = batch.opt.config(id)?.method.param;
    let img = deepvis_engine::export::look(&batch.opt.best_image(id)?, &l.info, param)
        .map_err(anyhow::Error::msg)?;
    Ok((img, pre_relu, t0.elapsed().as_secs_f64()))
}

/// What each judge says of a picture of `class`.
fn verdicts(j: &[Judging], img: &RgbImage, class: usize, device: &Device) -> Result<Vec<Verdict>> {
    let mut out = Vec::new();
    for judging in j {
        let probs = probabilities(&judging.judge.net, img, device)?;
        let p = *probs.get(class).context("the judge has no such class")?;
        let top = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        let plausibility = match judging.real.iter().find(|(c, _)| *c == class) {
            Some((_, mean)) => Some(cosine(
                &features(&judging.judge.net, &judging.features, img, device)?,
                mean,
            )),
            None => None,
        };
        out.push(Verdict {
            judge: judging.name.clone(),
            rank: 1 + probs.iter().filter(|&&q| q > p).count(),
            top,
            plausibility,
        });
    }
    Ok(out)
}

/// The figures of each method over its pictures.
fn rows(methods: &[MethodKind], pictures: &[Picture], judges: &[Judging]) -> Vec<MethodRow> {
    methods
        .iter()
        .map(|&m| {
            let mine: Vec<&Picture> = pictures.iter().filter(|p| p.method == m).collect();
            let n = mine.len().max(1) as f64;
            let judges = judges
                .iter()
                .enumerate()
                .map(|(k, j)| {
                    let ranks = mine
                        .iter()
                        .filter_map(|p| p.verdicts.get(k))
                        .map(|v| v.rank);
                    let top1 = ranks.clone().filter(|&r| r == 1).count() as f64 / n;
                    let top5 = ranks.filter(|&r| r <= 5).count() as f64 / n;
                    let pl: Vec<f64> = mine
                        .iter()
                        .filter_map(|p| p.verdicts.get(k)?.plausibility)
                        .map(f64::from)
                        .collect();
                    let pl = (!pl.is_empty()).then(|| pl.iter().sum::<f64>() / pl.len() as f64);
                    (j.name.clone(), top1, top5, pl)
                })
                .collect();
            MethodRow {
                method: m,
                pictures: mine.len(),
                judges,
                median_high_frequency: median(mine.iter().map(|p| p.high_frequency).collect()),
                seconds_per_picture: mine.iter().map(|p| p.seconds).sum::<f64>() / n,
            }
        })
        .collect()
}

/// The report as a markdown table.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "{} classes of {} ({}), {}\n\n",
        r.classes.len(),
        r.model,
        r.classes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
        r.iters.map_or_else(
            || "each method's iterations".into(),
            |n| format!("{n} iterations")
        )
    );
    if let Some(c) = &r.canvas {
        s.insert_str(s.len() - 2, &format!(", Fourier and MACO on a canvas {c}"));
    }
    let judges: Vec<&str> = r
        .methods
        .first()
        .map(|m| m.judges.iter().map(|j| j.0.as_str()).collect())
        .unwrap_or_default();
    s.push_str("| method | pictures |");
    for j in &judges {
        s.push_str(&format!(" {j} top-1 | {j} top-5 | {j} plausibility |"));
    }
    s.push_str(" median high-frequency share | s / picture |\n|---|---|");
    s.push_str(&"---|---|---|".repeat(judges.len()));
    s.push_str("---|---|\n");
    for m in &r.methods {
        s.push_str(&format!("| {} | {} |", m.method.as_str(), m.pictures));
        for (_, t1, t5, pl) in &m.judges {
            let pl = pl.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
            s.push_str(&format!(
                " {:.0}% | {:.0}% | {pl} |",
                t1 * 100.0,
                t5 * 100.0
            ));
        }
        s.push_str(&format!(
            " {:.3} | {:.1} |\n",
            m.median_high_frequency, m.seconds_per_picture
        ));
    }
    if let Some((lo, mid, hi)) = r.photos_high_frequency {
        s.push_str(&format!(
            "\nThe photos' high-frequency share (above {} cycles per pixel): {lo:.3} to {hi:.3}, \
             median {mid:.3}.\n",
            r.high_frequency_cutoff
        ));
    }
    s
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    let l = load(g)?;
    let logits = l.info.layer(l.info.logits_layer())?;
    let classes = crate::atlas::parse_units(&a.units, logits.channels)?;
    if a.methods.is_empty() {
        bail!("--methods: give at least one");
    }
    for (flag, p) in [("--real", &a.real), ("--photos", &a.photos)] {
        if let Some(p) = p.as_ref().filter(|p| !p.exists()) {
            bail!("{flag} {}: no such file or folder", p.display());
        }
    }
    let device = l.device.device.clone();
    let judges = a
        .judges
        .iter()
        .map(|m| judging(g, m, &device, &l.info, a.real.as_deref(), &classes))
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("cannot make {}", a.output.display()))?;
    let photos_path = a.photos.as_deref().or(a.real.as_deref());
    let photos_hf = match photos_path {
        Some(p) => {
            let shares: Vec<f64> = photos(&l.info, p)?
                .iter()
                .map(|img| high_frequency_share(img, HIGH_FREQUENCY))
                .collect();
            let lo = shares.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (!shares.is_empty()).then(|| (lo, median(shares.clone()), hi))
        }
        None => None,
    };
    let mut pictures = Vec::new();
    for &class in &classes {
        for &m in &a.methods {
            let (img, pre_relu, seconds) = draw(g, &l, class, m, &a)?;
            let png = format!("c{class:04}-{}.png", m.as_str());
            save_image(&img, &a.output.join(&png))?;
            let verdicts = verdicts(&judges, &img, class, &device)?;
            log(
                g,
                format!(
                    "class {class} with {}: {:.1} s; ranks {}",
                    m.as_str(),
                    seconds,
                    verdicts
                        .iter()
                        .map(|v| format!("{} {}", v.judge, v.rank))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            pictures.push(Picture {
                class,
                method: m,
                png,
                high_frequency: high_frequency_share(&img, HIGH_FREQUENCY),
                seconds,
                pre_relu,
                verdicts,
            });
        }
    }
    let report = Report {
        model: l.info.name().to_string(),
        classes,
        iters: a.iters,
        canvas: a.canvas.map(|c| c.to_string()),
        high_frequency_cutoff: HIGH_FREQUENCY,
        photos_high_frequency: photos_hf,
        methods: rows(&a.methods, &pictures, &judges),
        pictures,
    };
    let md = markdown(&report);
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(a.output.join("report.md"), &md)?;
    std::fs::write(a.output.join("report.json"), &json)?;
    if a.json {
        println!("{json}");
    } else {
        print!("{md}");
    }
    Ok(ExitCode::SUCCESS)
}
