//! The quick fuzzing run: every target, a few hundred seeded cases each, no panic, no hang,
//! and every seed accepted as it is (so the mutations start from inputs that reach deep).

use std::time::Duration;

use deepvis_fuzz::{Limit, Options, Target, fuzz};

#[test]
fn every_decoder_survives_a_few_hundred_mutated_files() {
    let shared = deepvis_testdata::shared();
    let mut failures = Vec::new();
    for target in Target::ALL {
        let seeds = target.seeds(&shared).unwrap();
        let cases = match target {
            // the photos are big: fewer cases keep the test short
            Target::Image | Target::Safetensors => 300,
            _ => 600,
        };
        let opts = Options {
            seed: 13,
            limit: Limit::Cases(cases),
            case_timeout: Duration::from_secs(10),
            ..Options::default()
        };
        let r = fuzz(target, &seeds, &opts).unwrap();
        eprintln!(
            "{}: {} cases ({:.0}/s), {} accepted, {} errors, {} panics, {} hangs, {} overruns",
            target.name(),
            r.cases,
            r.per_second(),
            r.accepted,
            r.errors,
            r.panics,
            r.hangs,
            r.overruns
        );
        assert_eq!(r.cases, cases);
        assert!(
            r.seeds_refused.is_empty(),
            "{}: {:?}",
            target.name(),
            r.seeds_refused
        );
        assert!(r.errors > 0, "{}: no mutation was refused", target.name());
        for f in &r.findings {
            failures.push(format!(
                "{} case {}: {} (input of {} bytes)",
                target.name(),
                f.case,
                f.message,
                f.input.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
