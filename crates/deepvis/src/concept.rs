//! `deepvis concept`: a concept as a direction in a layer's channel space, fitted on examples
//! (photos, folders of them, a video's frames), scored on pictures with its map over each, and
//! tested for a class by TCAV.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use deepvis_concepts::{Cav, ConceptFile, Examples, Fit};
use deepvis_model::graph::Seed;
use deepvis_model::preprocess::Preprocessed;
use deepvis_model::{BackMode, Request};
use image::RgbImage;

use crate::Global;
use crate::common::{Loaded, load, log, save_image};

/// `deepvis concept`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Fits a concept on examples of it (`--pos`) against others (`--neg`): the direction in
    /// the layer's channel space that tells them apart, saved as JSON.
    Train(TrainArgs),
    /// A concept's score on each picture (the projection of its activations, averaged over
    /// the map, onto the concept), and with `--map` its score at every place of the map.
    Score(ScoreArgs),
    /// TCAV: the share of a class's pictures whose class score rises along the concept, and
    /// its significance against random concepts (Welch's two-sided t-test).
    Tcav(TcavArgs),
}

/// How a concept is fitted.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitArg {
    /// The normalised difference of the two sides' means (FastCAV).
    Mean,
    /// L2-regularised logistic regression.
    Logistic,
}

impl From<FitArg> for Fit {
    fn from(f: FitArg) -> Fit {
        match f {
            FitArg::Mean => Fit::Mean,
            FitArg::Logistic => Fit::Logistic,
        }
    }
}

/// Arguments of `deepvis concept train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The concept's examples: a photo, a video (every `--video-step`th frame) or a folder of
    /// them; give it again for more.
    #[arg(long, required = true, value_name = "PATH")]
    pos: Vec<PathBuf>,
    /// The others: photos, videos or folders, as `--pos`.
    #[arg(long, required = true, value_name = "PATH")]
    neg: Vec<PathBuf>,
    /// The layer (see `deepvis layers`).
    #[arg(long)]
    layer: String,
    /// How the direction is fitted.
    #[arg(long, value_enum, default_value = "mean")]
    fit: FitArg,
    /// The concept's name (default: the first `--pos` file's name).
    #[arg(long)]
    name: Option<String>,
    /// Read every Nth frame of a video.
    #[arg(long, default_value_t = 10, value_name = "N")]
    video_step: u64,
    /// The concept file to write.
    #[arg(short, long, value_name = "JSON")]
    output: PathBuf,
}

/// Arguments of `deepvis concept score`.
#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// The concept file.
    concept: PathBuf,
    /// The pictures (photos, or `VIDEO@SECONDS`).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Write the concept's map over the picture (one picture only): its score at every place
    /// of the layer's map, drawn over the network's crop (red: the concept's side).
    #[arg(long, value_name = "PNG")]
    map: Option<PathBuf>,
    /// One JSON object a picture.
    #[arg(long)]
    json: bool,
}

/// Arguments of `deepvis concept tcav`.
#[derive(clap::Args, Debug)]
pub struct TcavArgs {
    /// The concept file (it must keep its examples, as `concept train` writes it).
    concept: PathBuf,
    /// The class (a channel of the class scores, e.g. 967 for espresso).
    #[arg(long)]
    class: usize,
    /// Pictures of the class: a folder, a video or a photo.
    #[arg(long, value_name = "PATH")]
    images: PathBuf,
    /// How many concept CAVs (refitted on resamples) and random CAVs to compare.
    #[arg(long, default_value_t = 10, value_name = "N")]
    random: usize,
    /// Seed of the resamples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Read every Nth frame of a video.
    #[arg(long, default_value_t = 10, value_name = "N")]
    video_step: u64,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(g: &Global, c: Command) -> Result<ExitCode> {
    match c {
        Command::Train(a) => train(g, a),
        Command::Score(a) => score(g, a),
        Command::Tcav(a) => tcav(g, a),
    }
}

/// The pictures of a path: a photo, every `step`th frame of a video, or those of every photo
/// and video of a folder (searched as `topk` searches it), each with its name. A file that
/// cannot be read is skipped with a warning.
pub(crate) fn images(path: &Path, step: u64) -> Result<Vec<(String, image::DynamicImage)>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{} cannot be read", path.display()))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        crate::topk::list_images(path)?
            .into_iter()
            .map(|r| path.join(r))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let read = if crate::topk::is_clip(&f) {
            clip_frames(&f, step)
        } else {
            deepvis_model::preprocess::load_image(&f)
                .map(|img| vec![(f.display().to_string(), img)])
                .map_err(anyhow::Error::from)
        };
        match read {
            Ok(mut v) => out.append(&mut v),
            Err(e) => eprintln!("deepvis: warning: skipping {}: {e:#}", f.display()),
        }
    }
    Ok(out)
}

/// [`images`] as the network's input.
fn pictures(l: &Loaded, path: &Path, step: u64) -> Result<Vec<(String, Preprocessed)>> {
    Ok(images(path, step)?
        .into_iter()
        .map(|(name, img)| (name, l.info.input.apply(&img)))
        .collect())
}

/// Every `step`th frame of a clip, named `FILE@SECONDS`.
fn clip_frames(path: &Path, step: u64) -> Result<Vec<(String, image::DynamicImage)>> {
    let mut clip = deepvis_sources::video::open_clip(&deepvis_sources::Ffmpeg::from_env(), path)?;
    let info = clip.info().clone();
    let rel = path.display().to_string();
    let mut out = Vec::new();
    let mut n = 0;
    while n < info.frames {
        match clip.frame(n) {
            Ok(img) => out.push((
                deepvis_sources::video::frame_name(&rel, n, info.fps),
                image::DynamicImage::ImageRgb8(img),
            )),
            Err(_) if !out.is_empty() => break,
            Err(end) => bail!(
                "no frame could be decoded{}",
                end.error.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        }
        n += step.max(1);
    }
    Ok(out)
}

/// The layer's map on a picture: `[C, H, W]` values and the sizes.
fn layer_map(l: &Loaded, layer: &str, p: &Preprocessed) -> Result<(Vec<f32>, [usize; 3])> {
    let x = deepvis_model::tensor4(p.chw.clone(), p.dims(), &l.device.device)?;
    let mut taps = l.net.forward(x, &Request::layers(&[layer]))?;
    let t = taps
        .take(layer)
        .context("the forward pass did not return the layer")?;
    let [_, c, h, w] = t.dims();
    Ok((deepvis_model::to_vec(t)?, [c, h, w]))
}

/// The pooled activation vectors of every picture of `paths`.
fn vectors(l: &Loaded, layer: &str, paths: &[PathBuf], step: u64) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::new();
    for path in paths {
        for (_, p) in pictures(l, path, step)? {
            let (map, dims) = layer_map(l, layer, &p)?;
            out.push(deepvis_concepts::channel_means(&map, dims)?);
        }
    }
    Ok(out)
}

/// `concept train`.
fn train(g: &Global, a: TrainArgs) -> Result<ExitCode> {
    let l = load(g)?;
    let info = l.info.layer(&a.layer)?;
    let pos = vectors(&l, &info.name, &a.pos, a.video_step)?;
    let neg = vectors(&l, &info.name, &a.neg, a.video_step)?;
    if pos.is_empty() {
        bail!("no picture of the concept could be read from --pos");
    }
    if neg.is_empty() {
        bail!("no other picture could be read from --neg");
    }
    let cav = Cav::fit(a.fit.into(), &pos, &neg)?;
    let name = a.name.clone().unwrap_or_else(|| {
        a.pos[0]
            .file_stem()
            .map_or_else(|| "concept".into(), |s| s.to_string_lossy().into_owned())
    });
    let sha = crate::optimize::model_file(g).map(|f| f.sha256);
    let file =
        ConceptFile::new(&cav, &name, l.info.name(), sha, &info.name).with_examples(Examples {
            positive: pos,
            negative: neg,
        });
    file.save(&a.output)?;
    log(
        g,
        format!(
            "concept {name:?} on {} of {}: {} examples against {}, {} fit, {:.0}% of them on \
             their side; wrote {}",
            info.name,
            l.info.name(),
            cav.positives,
            cav.negatives,
            cav.fit.as_str(),
            cav.train_accuracy * 100.0,
            a.output.display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// A concept file, checked against the loaded model.
fn concept_for(l: &Loaded, path: &Path) -> Result<ConceptFile> {
    let c = ConceptFile::load(path)?;
    let info = l
        .info
        .layer(&c.layer)
        .with_context(|| format!("the concept {:?} is of layer {}", c.name, c.layer))?;
    c.check(l.info.name(), &info.name, info.channels)?;
    Ok(c)
}

/// `concept score`.
fn score(g: &Global, a: ScoreArgs) -> Result<ExitCode> {
    if a.map.is_some() && a.images.len() != 1 {
        bail!("--map draws one picture's map: give one picture");
    }
    let l = load(g)?;
    let c = concept_for(&l, &a.concept)?;
    let cav = c.cav();
    let mut failed = 0;
    for path in &a.images {
        let r = crate::common::read_picture(path, None).and_then(|img| {
            let p = l.info.input.apply(&img);
            let (map, dims) = layer_map(&l, &c.layer, &p)?;
            let s = cav.score(&deepvis_concepts::channel_means(&map, dims)?)?;
            if let Some(out) = &a.map {
                let m = cav.map(&map, dims[0], dims[1], dims[2])?;
                save_image(&map_image(&m, dims, &p.crop)?, out)?;
            }
            Ok(s)
        });
        match r {
            Ok(s) if a.json => println!(
                "{}",
                serde_json::json!({"image": path, "concept": c.name, "score": s})
            ),
            Ok(s) => println!("{}\t{s:.4}", path.display()),
            Err(e) => {
                failed += 1;
                eprintln!("deepvis: {}: {e:#}", path.display());
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A concept's map over a picture: the score at every place, red the concept's side, blue
/// the other, over the crop.
fn map_image(m: &[f32], [_, h, w]: [usize; 3], crop: &RgbImage) -> Result<RgbImage> {
    deepvis_viz::diverging_overlay(m, h, w, crop, 0.6).context("the map has the wrong size")
}

/// The layer's activations on a picture and the class score's gradient with respect to them
/// (one backward pass): each channel's mean activation over the places, and its gradient
/// summed over them.
pub(crate) fn class_gradient(
    l: &Loaded,
    layer: &str,
    class: usize,
    p: &Preprocessed,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let x = deepvis_model::tensor4(p.chw.clone(), p.dims(), &l.device.device)?;
    let logits = l.info.logits_layer().to_string();
    let b = l
        .net
        .graph()
        .backward(x, &logits, class, Seed::Mean, BackMode::Grad, Some(layer))?;
    let (act, grad) = b
        .captured
        .with_context(|| format!("no gradient at {layer}: is it below {logits}?"))?;
    let [_, c, h, w] = act.dims();
    let dims = [c, h, w];
    let act = deepvis_concepts::channel_means(&deepvis_model::to_vec(act)?, dims)?;
    let grad = deepvis_concepts::channel_means(&deepvis_model::to_vec(grad)?, dims)?;
    // a mean times the places: the sum
    let places = (h * w) as f32;
    Ok((act, grad.into_iter().map(|g| g * places).collect()))
}

/// `concept tcav`.
fn tcav(g: &Global, a: TcavArgs) -> Result<ExitCode> {
    let l = load(g)?;
    let c = concept_for(&l, &a.concept)?;
    let classes = l.info.layer(l.info.logits_layer())?.channels;
    if a.class >= classes {
        bail!(
            "--class {}: the model has classes 0 to {}",
            a.class,
            classes - 1
        );
    }
    if c.examples.positive.is_empty() {
        bail!(
            "{} keeps no examples to fit it again on: train it again with this version",
            a.concept.display()
        );
    }
    let mut grads = Vec::new();
    for (_, p) in pictures(&l, &a.images, a.video_step)? {
        grads.push(class_gradient(&l, &c.layer, a.class, &p)?.1);
    }
    if grads.is_empty() {
        bail!(
            "no picture of the class could be read from {}",
            a.images.display()
        );
    }
    let t = deepvis_concepts::tcav_test(
        &c.examples.positive,
        &c.examples.negative,
        c.fit,
        &grads,
        a.random,
        a.seed,
    )?;
    let own = deepvis_concepts::tcav_score(&grads, &c.direction)?;
    let label = deepvis_model::Labels::imagenet().name(a.class);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "concept": c.name, "class": a.class, "label": label, "images": grads.len(),
                "score": own, "concept_scores": t.concept_scores,
                "random_scores": t.random_scores, "t": t.test.t, "df": t.test.df,
                "p": t.test.p,
            })
        );
    } else {
        println!(
            "TCAV of {:?} for class {} ({label}) over {} picture(s): {:.2} (refitted: mean \
             {:.2}; random concepts: mean {:.2}); t = {:.2}, p = {:.3}{}",
            c.name,
            a.class,
            grads.len(),
            own,
            t.test.concept_mean,
            t.test.random_mean,
            t.test.t,
            t.test.p,
            if t.test.p < 0.05 {
                ""
            } else {
                " (not significant)"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
