//! `deepvis concepts discover`: the concepts a network finds in a class (CRAFT, Fel et al.
//! 2023): the layer's activations of crops of the class's pictures factorised by NMF into k
//! concepts, each with its most typical crops and its importance for the class.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use deepvis_concepts::{Nmf, NmfOptions};
use image::{DynamicImage, RgbImage};

use crate::Global;
use crate::common::{Loaded, load, log, save_image};

/// `deepvis concepts`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The concepts of a class: NMF of the layer's activations of crops of its pictures.
    Discover(DiscoverArgs),
}

/// Arguments of `deepvis concepts discover`.
#[derive(clap::Args, Debug)]
pub struct DiscoverArgs {
    /// The class (a channel of the class scores, e.g. 967 for espresso).
    #[arg(long)]
    class: usize,
    /// Pictures of the class: a folder, a video (every `--video-step`th frame) or a photo.
    #[arg(long, value_name = "PATH")]
    images: PathBuf,
    /// The layer (see `deepvis layers`).
    #[arg(long)]
    layer: String,
    /// How many concepts.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Crops per picture side: each picture gives the whole and an NxN grid of crops of half
    /// its side.
    #[arg(long, default_value_t = 3)]
    grid: u32,
    /// How many crops show each concept.
    #[arg(long, default_value_t = 6)]
    show: usize,
    /// Read every Nth frame of a video.
    #[arg(long, default_value_t = 10, value_name = "N")]
    video_step: u64,
    /// The folder of the concepts' montages (made if missing).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// One JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the command.
pub fn run(g: &Global, c: Command) -> Result<ExitCode> {
    match c {
        Command::Discover(a) => discover(g, a),
    }
}

/// One crop: its picture (the network's view of it), its pooled activations and the class
/// score's gradient with respect to them.
struct Crop {
    view: RgbImage,
    act: Vec<f32>,
    grad: Vec<f32>,
}

/// The crops of a picture: the whole, and a `grid` x `grid` of crops of half its side.
fn crops_of(img: &DynamicImage, grid: u32) -> Vec<DynamicImage> {
    let (w, h) = (img.width(), img.height());
    let mut out = vec![img.clone()];
    let (cw, ch) = ((w / 2).max(1), (h / 2).max(1));
    let steps = grid.max(1);
    for i in 0..steps {
        for j in 0..steps {
            let x = if steps == 1 {
                0
            } else {
                (w - cw) * j / (steps - 1)
            };
            let y = if steps == 1 {
                0
            } else {
                (h - ch) * i / (steps - 1)
            };
            out.push(img.crop_imm(x, y, cw, ch));
        }
    }
    out
}

/// A crop's pooled activations at `layer` and the gradient of class `class` with respect
/// to them (the map's gradient summed over its places).
fn read_crop(l: &Loaded, layer: &str, class: usize, img: &DynamicImage) -> Result<Crop> {
    let p = l.info.input.apply(img);
    let (act, grad) = crate::concept::class_gradient(l, layer, class, &p)?;
    Ok(Crop {
        view: p.crop,
        act,
        grad,
    })
}

/// One concept found.
#[derive(serde::Serialize)]
struct Found {
    concept: usize,
    /// The class score's drop when the concept's part is taken out of every crop, to first
    /// order (the gradient times the part), averaged over the crops.
    importance: f32,
    /// Its share of the crops' activation (the part's sum over the whole's).
    share: f32,
    /// Its most typical crops (largest presence first): the crop's number.
    typical: Vec<usize>,
    /// The montage of those crops.
    montage: String,
}

/// Concept `j` of the factorisation: its importance for the class, its share, and its most
/// typical crops, their montage written in `out`.
fn concept(
    j: usize,
    nmf: &Nmf,
    crops: &[Crop],
    show: usize,
    out: &std::path::Path,
) -> Result<Found> {
    let (n, c, k) = (nmf.n, nmf.c, nmf.k);
    let part = &nmf.h[j * c..(j + 1) * c];
    let presence: Vec<f32> = (0..n).map(|i| nmf.w[i * k + j]).collect();
    // first order: taking U[i, j] * H[j] out of crop i lowers its score by grad . that
    let importance = (0..n)
        .map(|i| {
            let d: f32 = crops[i].grad.iter().zip(part).map(|(g, h)| g * h).sum();
            presence[i] * d
        })
        .sum::<f32>()
        / n as f32;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| presence[y].total_cmp(&presence[x]).then(x.cmp(&y)));
    order.truncate(show.max(1));
    let tiles: Vec<RgbImage> = order
        .iter()
        .map(|&i| {
            image::imageops::resize(
                &crops[i].view,
                96,
                96,
                image::imageops::FilterType::Triangle,
            )
        })
        .collect();
    let name = format!("concept{j}.png");
    save_image(
        &deepvis_viz::montage(&tiles, tiles.len(), 2, [0, 0, 0]),
        &out.join(&name),
    )?;
    let total: f64 = nmf.w.iter().map(|&x| x as f64).sum::<f64>().max(1e-12);
    Ok(Found {
        concept: j,
        importance,
        share: (presence.iter().map(|&x| x as f64).sum::<f64>() / total) as f32,
        typical: order,
        montage: name,
    })
}

fn discover(g: &Global, a: DiscoverArgs) -> Result<ExitCode> {
    let l = load(g)?;
    let info = l.info.layer(&a.layer)?;
    let classes = l.info.layer(l.info.logits_layer())?.channels;
    if a.class >= classes {
        bail!(
            "--class {}: the model has classes 0 to {}",
            a.class,
            classes - 1
        );
    }
    let mut crops = Vec::new();
    for (_, img) in crate::concept::images(&a.images, a.video_step)? {
        for c in crops_of(&img, a.grid) {
            crops.push(read_crop(&l, &info.name, a.class, &c)?);
        }
    }
    if crops.is_empty() {
        bail!(
            "no picture of the class could be read from {}",
            a.images.display()
        );
    }
    let (n, c) = (crops.len(), info.channels);
    if a.k == 0 || a.k > n.min(c) {
        bail!("--k {}: between 1 and {} for {n} crops", a.k, n.min(c));
    }
    let v: Vec<f32> = crops.iter().flat_map(|k| k.act.iter().copied()).collect();
    let nmf = Nmf::fit(
        &v,
        n,
        c,
        &NmfOptions {
            k: a.k,
            ..NmfOptions::default()
        },
    )?;
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut found = Vec::new();
    for j in 0..a.k {
        found.push(concept(j, &nmf, &crops, a.show, &a.output)?);
    }
    found.sort_by(|x, y| y.importance.total_cmp(&x.importance));
    let label = deepvis_model::Labels::imagenet().name(a.class);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "class": a.class, "label": label, "layer": info.name, "crops": n,
                "relative_error": nmf.relative_error, "concepts": found,
            })
        );
    } else {
        println!(
            "{} concepts of class {} ({label}) on {} from {n} crops (NMF error {:.3}), most \
             important first:",
            a.k, a.class, info.name, nmf.relative_error
        );
        for f in &found {
            println!(
                "  concept {}: importance {:+.3}, {:.0}% of the activation; {}",
                f.concept,
                f.importance,
                f.share * 100.0,
                a.output.join(&f.montage).display()
            );
        }
    }
    log(
        g,
        format!("wrote {} montage(s) in {}", a.k, a.output.display()),
    );
    Ok(ExitCode::SUCCESS)
}
