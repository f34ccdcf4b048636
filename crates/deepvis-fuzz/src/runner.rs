//! Running a target's cases on a worker thread, each under `catch_unwind` and a time limit.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::mutate::{Rng, fix_png_crcs, mutate};
use crate::targets::{Seed, Target};
use crate::{Error, Result};

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// This many cases (the unmutated seeds first, then mutations).
    Cases(u64),
    /// Until this much time has passed.
    Time(Duration),
}

/// How to run a target.
#[derive(Clone, Debug)]
pub struct Options {
    /// The random seed: the same seed gives the same cases.
    pub seed: u64,
    /// When to stop.
    pub limit: Limit,
    /// A case running longer is a hang.
    pub case_timeout: Duration,
    /// After this many hangs the target stops (each leaves a thread behind).
    pub max_hangs: usize,
    /// Findings kept with their input (every one is counted).
    pub keep: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0,
            limit: Limit::Cases(1000),
            case_timeout: Duration::from_secs(5),
            max_hangs: 3,
            keep: 10,
        }
    }
}

/// A case that panicked or hung.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Its number in the run (the same seed and options give it again).
    pub case: u64,
    /// The panic's message and place, or how long the case ran.
    pub message: String,
    /// The input.
    pub input: Vec<u8>,
}

/// What a run found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The target.
    pub target: Target,
    /// Cases run.
    pub cases: u64,
    /// Cases the decoder accepted.
    pub accepted: u64,
    /// Cases the decoder refused with an error (expected of most mutations).
    pub errors: u64,
    /// The unmutated seeds the decoder refused (names and messages): each should be accepted.
    pub seeds_refused: Vec<(String, String)>,
    /// Cases that panicked.
    pub panics: u64,
    /// Cases over the time limit.
    pub hangs: u64,
    /// Cases that took more memory than their budget allowed (the structural target
    /// measures it).
    pub overruns: u64,
    /// The first panics and hangs, with their inputs.
    pub findings: Vec<Finding>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Cases per second.
    pub fn per_second(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Whether the decoder neither panicked, hung nor overran its memory budget.
    pub fn clean(&self) -> bool {
        self.panics == 0 && self.hangs == 0 && self.overruns == 0
    }
}

thread_local! {
    /// Set on fuzzing workers: their panics are recorded here instead of printed.
    static LAST_PANIC: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records a fuzzing worker's panic with its place and
/// leaves every other thread's panics to the hook that was there before.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = LAST_PANIC.with(|p| {
                let mut p = p.borrow_mut();
                match p.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic without a message".into());
                        let at = info
                            .location()
                            .map(|l| format!(" at {}:{}", l.file(), l.line()))
                            .unwrap_or_default();
                        *slot = Some(format!("{msg}{at}"));
                        true
                    }
                    None => false,
                }
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

enum Outcome {
    Accepted,
    Refused(String),
    Panicked(String),
    Overran(String),
}

/// A thread that runs cases of one target, one at a time.
struct Worker {
    cases: Sender<Vec<u8>>,
    outcomes: Receiver<Outcome>,
}

impl Worker {
    fn spawn(target: Target) -> Result<Worker> {
        let (tx_case, rx_case) = mpsc::channel::<Vec<u8>>();
        let (tx_out, rx_out) = mpsc::channel();
        let scratch = tempfile::tempdir().map_err(Error::Scratch)?;
        std::thread::Builder::new()
            .name(format!("fuzz-{}", target.name()))
            .spawn(move || {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(None));
                for bytes in rx_case {
                    let r = catch_unwind(AssertUnwindSafe(|| target.run(&bytes, scratch.path())));
                    let outcome = match r {
                        Ok(Ok(())) => Outcome::Accepted,
                        Ok(Err(e @ crate::targets::Refusal::Overrun(_))) => {
                            Outcome::Overran(e.to_string())
                        }
                        Ok(Err(e)) => Outcome::Refused(e.to_string()),
                        Err(_) => Outcome::Panicked(
                            LAST_PANIC
                                .with(|p| p.borrow_mut().as_mut().and_then(Option::take))
                                .unwrap_or_else(|| "a panic".into()),
                        ),
                    };
                    if tx_out.send(outcome).is_err() {
                        break;
                    }
                }
            })
            .map_err(Error::Spawn)?;
        Ok(Worker {
            cases: tx_case,
            outcomes: rx_out,
        })
    }
}

/// Runs `target` on its `seeds` (each unmutated first, then mutations of them) as `opts`
/// says. A panic is caught and counted; a case over the time limit is counted as a hang and
/// its worker abandoned (it is left to finish on its own; after `max_hangs` the run stops).
pub fn fuzz(target: Target, seeds: &[Seed], opts: &Options) -> Result<Report> {
    if seeds.is_empty() {
        return Err(Error::NoSeeds(target.name()));
    }
    install_hook();
    let t0 = Instant::now();
    let mut rng = Rng::new(opts.seed ^ (target as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut worker = Worker::spawn(target)?;
    let mut r = Report {
        target,
        cases: 0,
        accepted: 0,
        errors: 0,
        seeds_refused: Vec::new(),
        panics: 0,
        hangs: 0,
        overruns: 0,
        findings: Vec::new(),
        elapsed: Duration::ZERO,
    };
    loop {
        let more = match opts.limit {
            Limit::Cases(n) => r.cases < n,
            Limit::Time(d) => t0.elapsed() < d,
        };
        if !more || r.hangs as usize >= opts.max_hangs.max(1) {
            break;
        }
        let case = r.cases;
        let is_seed = (case as usize) < seeds.len();
        let input = if is_seed {
            seeds[case as usize].bytes.clone()
        } else if target == Target::OnnxStructure {
            let seed = &seeds[rng.below(seeds.len())].bytes;
            crate::structure::mutate(&mut rng, seed)
        } else {
            let mut d = seeds[rng.below(seeds.len())].bytes.clone();
            let other = &seeds[rng.below(seeds.len())].bytes;
            mutate(&mut rng, &mut d, other);
            if target == Target::Image && rng.one_in(2) {
                fix_png_crcs(&mut d);
            }
            d
        };
        r.cases += 1;
        let started = Instant::now();
        // a worker that ended (it cannot, short of a panic escaping catch_unwind) is replaced
        if worker.cases.send(input.clone()).is_err() {
            worker = Worker::spawn(target)?;
            let _ = worker.cases.send(input.clone());
        }
        let finding = match worker.outcomes.recv_timeout(opts.case_timeout) {
            Ok(Outcome::Accepted) => {
                r.accepted += 1;
                None
            }
            Ok(Outcome::Refused(msg)) => {
                r.errors += 1;
                if is_seed {
                    r.seeds_refused
                        .push((seeds[case as usize].name.clone(), msg));
                }
                None
            }
            Ok(Outcome::Panicked(message)) => {
                r.panics += 1;
                Some(message)
            }
            Ok(Outcome::Overran(message)) => {
                r.overruns += 1;
                Some(message)
            }
            Err(RecvTimeoutError::Timeout) => {
                r.hangs += 1;
                worker = Worker::spawn(target)?;
                Some(format!(
                    "still running after {} ms",
                    started.elapsed().as_millis()
                ))
            }
            Err(RecvTimeoutError::Disconnected) => {
                r.panics += 1;
                worker = Worker::spawn(target)?;
                Some("the worker thread ended".into())
            }
        };
        if let Some(message) = finding
            && r.findings.len() < opts.keep
        {
            r.findings.push(Finding {
                case,
                message,
                input,
            });
        }
    }
    r.elapsed = t0.elapsed();
    Ok(r)
}
