//! `deepvis fuzz`: the long run of the decoders' fuzzer, with counts per target.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use deepvis_fuzz::{Limit, Options, Target};

use crate::Global;
use crate::common::{log, project_root};

/// The targets `--target` names.
#[derive(Clone, Debug)]
pub struct Targets(Vec<Target>);

/// `--target`: `all`, or one target by its name.
fn parse_targets(name: &str) -> std::result::Result<Targets, String> {
    if name == "all" {
        return Ok(Targets(Target::ALL.to_vec()));
    }
    Target::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .map(|t| Targets(vec![t]))
        .ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!("no target `{name}`: use all, {}", names.join(", "))
        })
}

/// Arguments of `deepvis fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The decoder to fuzz (image, net, safetensors, input-tensor, pytorch, topk-index,
    /// topk-state, settings, animation, sidecar), or all of them one after the other.
    #[arg(long, value_name = "T|all", default_value = "all", value_parser = parse_targets)]
    target: Targets,
    /// Seconds per target.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// The random seed (the same seed gives the same cases).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A case running longer than this is a hang.
    #[arg(long, default_value_t = 5000)]
    case_timeout_ms: u64,
    /// The shared data folder holding the seed photos and weights (default: `../shared`
    /// beside the project).
    #[arg(long, value_name = "DIR")]
    shared: Option<PathBuf>,
    /// Write each panicking or hanging input here, to turn into a regression test.
    #[arg(long, value_name = "DIR")]
    save: Option<PathBuf>,
}

/// Runs the command: one line per target, and a failure if any case panicked or hung.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    if !(a.seconds.is_finite() && a.seconds > 0.0) {
        bail!("--seconds must be a positive number, not {}", a.seconds);
    }
    if a.case_timeout_ms == 0 {
        bail!("--case-timeout-ms must be at least 1");
    }
    let shared = a
        .shared
        .clone()
        .unwrap_or_else(|| project_root().join("../shared"));
    let opts = Options {
        seed: a.seed,
        limit: Limit::Time(Duration::from_secs_f64(a.seconds)),
        case_timeout: Duration::from_millis(a.case_timeout_ms),
        ..Options::default()
    };
    let mut bad = 0u64;
    println!(
        "target            cases  cases/s  accepted   errors  panics  hangs  overruns  seconds"
    );
    for target in a.targets() {
        let seeds = target
            .seeds(&shared)
            .with_context(|| format!("the seeds of {}", target.name()))?;
        log(
            g,
            format!(
                "fuzz: {} from {} seed(s) for {} s",
                target.name(),
                seeds.len(),
                a.seconds
            ),
        );
        let r = deepvis_fuzz::fuzz(target, &seeds, &opts)?;
        println!(
            "{:<16} {:>6} {:>8.0} {:>9} {:>8} {:>7} {:>6} {:>9} {:>8.1}",
            target.name(),
            r.cases,
            r.per_second(),
            r.accepted,
            r.errors,
            r.panics,
            r.hangs,
            r.overruns,
            r.elapsed.as_secs_f64()
        );
        for (name, why) in &r.seeds_refused {
            log(g, format!("warning: the seed {name} is refused: {why}"));
        }
        for f in &r.findings {
            eprintln!(
                "deepvis: {} case {} ({} bytes): {}",
                target.name(),
                f.case,
                f.input.len(),
                f.message
            );
            if let Some(dir) = &a.save {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let p = dir.join(format!("{}-{}-{}.bin", target.name(), a.seed, f.case));
                deepvis_topk::write_atomic(&p, &f.input)?;
                eprintln!("deepvis: saved as {}", p.display());
            }
        }
        bad += r.panics + r.hangs + r.overruns;
    }
    if bad > 0 {
        eprintln!("deepvis: error: {bad} case(s) panicked, hung or overran the memory budget");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

impl Args {
    fn targets(&self) -> Vec<Target> {
        self.target.0.clone()
    }
}
