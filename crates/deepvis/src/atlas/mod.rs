//! `deepvis atlas`: every unit of a layer as a static web site (a model page, a page per
//! layer, a page per unit with its preferred images, their sidecars, its top-9 crops and their
//! back-projections, its statistics and top classes); resumable, sharded like `topk`.

mod record;
mod site;
mod unit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use deepvis_optim::MethodKind;
use deepvis_topk::{ScanState, Shard};

use crate::Global;
use crate::common::{Loaded, load, log};
use record::AtlasSpec;

/// Arguments of `deepvis atlas`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    /// `atlas merge`: the parts of a sharded atlas into one site.
    #[command(subcommand)]
    merge: Option<Sub>,
    /// A layer to map (see `deepvis layers`); give it again for more layers.
    #[arg(long, required = true)]
    layer: Vec<String>,
    /// The units of each layer: `0-31`, `5`, `0-7,12` (default: all of them).
    #[arg(long, value_name = "RANGE")]
    units: Option<String>,
    /// A folder of photos and videos: each unit's top-9 crops, their back-projections and its
    /// statistics over it (the scan is kept in the site and resumed).
    #[arg(long, value_name = "DIR", conflicts_with = "topk")]
    folder: Option<PathBuf>,
    /// The top-k index folder `deepvis topk` made of the layer, instead of scanning a folder.
    #[arg(long, value_name = "INDEX")]
    topk: Option<PathBuf>,
    /// The methods of the preferred images, in order (paper, fourier, maco).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [MethodKind::Paper, MethodKind::Maco])]
    methods: Vec<MethodKind>,
    /// Iterations of each picture (default: each method's own).
    #[arg(long)]
    iters: Option<usize>,
    /// Seed of the start noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Crops per unit.
    #[arg(long, default_value_t = 9)]
    k: usize,
    /// Side of each crop, in pixels.
    #[arg(long, default_value_t = 96)]
    tile: u32,
    /// Make only part I of N of the units (a stable split by layer and unit: every machine
    /// agrees); `atlas merge` joins the N sites into the one a single run gives.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Make at most this many units in this run (the same command goes on with the rest).
    #[arg(long)]
    limit: Option<usize>,
    /// Print `progress DONE TOTAL SECONDS_LEFT` lines on stdout (for the window).
    #[arg(long, hide = true)]
    progress_lines: bool,
    /// The site's folder (made if missing; an atlas there of the same settings goes on).
    #[arg(short, long, value_name = "SITE", required = true)]
    output: Option<PathBuf>,
}

/// `atlas`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Joins the sites of the N parts of an atlas (`atlas --shard I/N`) into the site one run
    /// gives, file for file. Needs no model.
    Merge(MergeArgs),
}

/// Arguments of `deepvis atlas merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The merged site's folder.
    #[arg(short, long, value_name = "SITE")]
    output: PathBuf,
    /// The parts' sites (each part 0..N of one N, once).
    #[arg(required = true, value_name = "PART_SITE")]
    parts: Vec<PathBuf>,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string())
}

/// Reads `0-31`, `5`, `0-7,12` into sorted, distinct units below `channels`.
pub fn parse_units(text: &str, channels: usize) -> Result<Vec<usize>> {
    let mut out = std::collections::BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |v: &str| {
            v.trim()
                .parse::<usize>()
                .with_context(|| format!("--units {text}: `{v}` is no unit number"))
        };
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if a > b {
            bail!("--units {text}: `{part}` runs backwards");
        }
        if b >= channels {
            bail!("--units {text}: the layer has units 0 to {}", channels - 1);
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        bail!("--units {text}: no unit");
    }
    Ok(out.into_iter().collect())
}

/// Which part of N a layer's unit belongs to: the split `topk` uses, of `LAYER/UNIT`.
pub fn shard_of(layer: &str, unit: usize, count: usize) -> usize {
    deepvis_topk::shard_of(&format!("{layer}/{unit}"), count)
}

/// The atlas's own files in the site, beside the pages.
pub const DATA: &str = "data";

/// The folder of a layer's scan inside the site.
fn scan_dir(site: &Path, layer: &str) -> PathBuf {
    site.join(DATA)
        .join(format!("scan-{}", deepvis_topk::safe_file_name(layer)))
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    if let Some(Sub::Merge(m)) = a.merge {
        return merge(g, m);
    }
    let Some(site) = a.output.clone() else {
        bail!("give -o SITE (or `deepvis atlas merge -o SITE PART...`)");
    };
    if site.exists() && !site.is_dir() {
        bail!("{} is a file, not a folder for the site", site.display());
    }
    if a.k == 0 || a.k > 100 {
        bail!("--k must be 1..=100, got {}", a.k);
    }
    if a.methods.is_empty() {
        bail!("--methods: give at least one method");
    }
    let l = load(g)?;
    // every layer, unit range and folder checked before anything is written
    let mut jobs = Vec::new();
    for name in &a.layer {
        let info = l.info.layer(name)?;
        let units = match &a.units {
            Some(t) => parse_units(t, info.channels)?,
            None => (0..info.channels).collect(),
        };
        let units: Vec<usize> = units
            .into_iter()
            .filter(|&u| {
                a.shard
                    .is_none_or(|s| shard_of(&info.name, u, s.count) == s.index)
            })
            .collect();
        jobs.push((info.name, units));
    }
    let source = unit::Source::check(a.folder.as_deref(), a.topk.as_deref(), &a.layer)?;
    // the model file is hashed once: the spec and every picture's sidecar name it
    let model_file = crate::optimize::model_file(g);
    let sha = model_file.as_ref().map(|f| f.sha256.clone());
    let spec = AtlasSpec::new(&l, &a, source.folder(), sha)?;
    let work = Work {
        jobs: &jobs,
        source: &source,
        model_file,
    };
    let created = !site.exists();
    let result = build(g, &l, &a, &spec, &site, &work);
    if result.is_err() && created && !record::has_units(&site) {
        // nothing of this run is worth keeping: no half-written site is left behind
        let _ = std::fs::remove_dir_all(&site);
    }
    result
}

/// What a run makes: each layer's units, where their top images come from, and the model file
/// the sidecars name.
struct Work<'a> {
    jobs: &'a [(String, Vec<usize>)],
    source: &'a unit::Source,
    model_file: Option<deepvis_optim::recipe::ModelFile>,
}

/// Makes the site: the spec checked against an earlier run's, each layer's scan, every unit
/// not yet made, then the pages.
fn build(
    g: &Global,
    l: &Loaded,
    a: &Args,
    spec: &AtlasSpec,
    site: &Path,
    work: &Work,
) -> Result<ExitCode> {
    let (jobs, source) = (work.jobs, work.source);
    std::fs::create_dir_all(site).with_context(|| format!("creating {}", site.display()))?;
    spec.resume(site)?;
    let mut scans: Vec<Option<ScanState>> = Vec::new();
    for (layer, _) in jobs {
        scans.push(source.scan(g, l, layer, &scan_dir(site, layer), a.k)?);
    }
    let todo: Vec<(usize, usize)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(j, (layer, units))| {
            units
                .iter()
                .filter(move |&&u| !record::done(site, layer, u))
                .map(move |&u| (j, u))
        })
        .collect();
    let total: usize = jobs.iter().map(|j| j.1.len()).sum();
    let quota = a.limit.unwrap_or(usize::MAX).min(todo.len());
    log(
        g,
        format!(
            "atlas: {total} unit(s), {} already made, {quota} to make now ({} picture(s) each)",
            total - todo.len(),
            spec.methods.len()
        ),
    );
    let maker = unit::Maker {
        g,
        l,
        spec,
        site,
        back: source.back(),
        model_file: work.model_file.clone(),
    };
    let bar = progress_bar(g, a.progress_lines, quota);
    if a.progress_lines {
        println!("progress 0 {quota} -");
    }
    let t0 = Instant::now();
    let mut failed = Vec::new();
    for (n, &(j, u)) in todo[..quota].iter().enumerate() {
        let (layer, _) = &jobs[j];
        bar.set_message(format!("{layer} unit {u}"));
        let rec = maker.make(layer, u, scans[j].as_ref())?;
        failed.extend(rec.failures());
        bar.inc(1);
        if a.progress_lines {
            let done = n + 1;
            let per = t0.elapsed().as_secs_f64() / done as f64;
            println!("progress {done} {quota} {:.0}", per * (quota - done) as f64);
        }
    }
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if quota > 0 {
        log(
            g,
            format!(
                "atlas: made {quota} unit(s) in {secs:.1} s ({:.1} s a unit)",
                secs / quota as f64
            ),
        );
    }
    let pages = site::write(site, spec)?;
    log(
        g,
        format!(
            "atlas: wrote {pages} page(s); open {}",
            site.join("index.html").display()
        ),
    );
    if quota < todo.len() {
        log(
            g,
            format!(
                "atlas: {} unit(s) left for the next run (the same command goes on)",
                todo.len() - quota
            ),
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} picture(s) could not be made (their pages say so): {}",
            failed.len(),
            failed.join("; ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The bar over the units of this run, with the time left.
fn progress_bar(g: &Global, lines: bool, len: usize) -> indicatif::ProgressBar {
    if g.quiet || lines {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "atlas [{elapsed_precise}] {wide_bar} {pos}/{len} units, {eta} left  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// `atlas merge`: the parts' units and scans copied into one site, its pages written.
fn merge(g: &Global, m: MergeArgs) -> Result<ExitCode> {
    if m.output.exists() && !m.output.is_dir() {
        bail!(
            "{} is a file, not a folder for the site",
            m.output.display()
        );
    }
    let mut specs = Vec::new();
    for p in &m.parts {
        let s = AtlasSpec::load(p)?
            .with_context(|| format!("{} holds no atlas (no atlas.json)", p.display()))?;
        specs.push(s);
    }
    let whole = AtlasSpec::merged(&specs)?;
    std::fs::create_dir_all(&m.output)
        .with_context(|| format!("creating {}", m.output.display()))?;
    whole.resume(&m.output)?;
    let mut units = 0;
    for p in &m.parts {
        units += record::copy_part(p, &m.output)?;
    }
    let pages = site::write(&m.output, &whole)?;
    log(
        g,
        format!(
            "atlas merge: {} part(s), {units} unit(s), {pages} page(s) in {}",
            m.parts.len(),
            m.output.display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ranges() {
        assert_eq!(parse_units("0-3", 10).ok(), Some(vec![0, 1, 2, 3]));
        assert_eq!(parse_units("5, 1-2,2", 10).ok(), Some(vec![1, 2, 5]));
        assert!(parse_units("3-1", 10).is_err());
        assert!(parse_units("0-10", 10).is_err());
        assert!(parse_units("x", 10).is_err());
        assert!(parse_units("", 10).is_err());
    }

    #[test]
    fn every_unit_lands_in_exactly_one_part() {
        for u in 0..64 {
            let p = shard_of("fire9/concat", u, 3);
            assert!(p < 3);
            assert_eq!(p, shard_of("fire9/concat", u, 3));
        }
        let parts: std::collections::BTreeSet<usize> =
            (0..64).map(|u| shard_of("fire9", u, 3)).collect();
        assert_eq!(parts.len(), 3, "64 units spread over the 3 parts");
    }
}
