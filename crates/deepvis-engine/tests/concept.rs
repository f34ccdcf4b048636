//! A concept taught to the worker as the window teaches it: frames of a clip gathered while
//! recording, a concept fitted on a photo against another, its score and map on each frame
//! after (higher on the concept's photo), saved, forgotten and loaded again.

mod common;
use common::{collect, error_with, weights};

use std::sync::Arc;
use std::time::Duration;

use deepvis_engine::{EngineConfig, EngineHandle, ModelLoader, spawn};
use deepvis_model::{Arch, BackendChoice};
use deepvis_protocol::{Command, ConceptFit, ConceptSide, Event, SourceSpec, ThumbOf};
use deepvis_testdata::shared;

fn engine(source: SourceSpec) -> EngineHandle {
    let mut c = EngineConfig::new(ModelLoader::builtin(Arch::SqueezeNet1_0, weights()), source);
    c.backend = BackendChoice::Cpu;
    c.grid_layer = Some("fire9".into());
    c.running = false;
    spawn(c, Arc::new(|| {}))
}

/// The examples' counts the worker says, once `done` holds of them (at most 60 s).
fn counts(h: &EngineHandle, done: impl Fn(usize, usize) -> bool) -> (usize, usize) {
    let mut last = (0, 0);
    collect(h, Duration::from_secs(60), |e| {
        if let Event::ConceptExamples {
            positives,
            negatives,
            ..
        } = e
        {
            last = (*positives, *negatives);
        }
        done(last.0, last.1)
    });
    last
}

/// The next concept score the worker sends after `SetSource(photo)`.
fn score_on(h: &EngineHandle, photo: &str) -> f32 {
    h.send(Command::SetSource(SourceSpec::Path(
        shared().join("images").join(photo),
    )));
    // the first score after the new photo's input
    let mut seen_input = false;
    let mut score = None;
    collect(h, Duration::from_secs(60), |e| {
        match e {
            Event::Input(_) => seen_input = true,
            Event::ConceptScore { score: s, overlay } if seen_input => {
                assert!(overlay.width() > 0);
                score = Some(*s);
            }
            _ => {}
        }
        score.is_some()
    });
    score.unwrap_or_else(|| panic!("no concept score on {photo}"))
}

#[test]
fn the_worker_records_fits_scores_saves_and_loads_a_concept() {
    // a clip: every frame shown while recording is gathered
    let h = engine(SourceSpec::Path(shared().join("videos/three_photos.gif")));
    collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::Grid { .. })
    });
    h.send(Command::ConceptRecord(Some(ConceptSide::Concept)));
    let (p, _) = counts(&h, |p, _| p >= 3);
    assert!(p >= 3, "frames of the clip gathered: {p}");
    h.send(Command::ConceptRecord(None));
    h.send(Command::ConceptClear);
    collect(&h, Duration::from_secs(10), |e| {
        matches!(e, Event::ConceptCleared)
    });
    // the espresso photo as the concept, the dog as the others
    h.send(Command::SetSource(SourceSpec::Path(
        shared().join("images/coffee.png"),
    )));
    collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::Input(_))
    });
    h.send(Command::ConceptRecord(Some(ConceptSide::Concept)));
    counts(&h, |p, _| p >= 1);
    h.send(Command::ConceptRecord(None));
    h.send(Command::SetSource(SourceSpec::Path(
        shared().join("images/dog.jpg"),
    )));
    collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::Input(_))
    });
    h.send(Command::ConceptRecord(Some(ConceptSide::Others)));
    counts(&h, |_, n| n >= 1);
    h.send(Command::ConceptRecord(None));
    h.send(Command::ConceptFit(ConceptFit::Logistic));
    let ready = collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::ConceptReady { .. })
    });
    assert!(
        ready.iter().any(|e| matches!(e,
            Event::ConceptReady { layer, fit: ConceptFit::Logistic, .. } if layer == "fire9")),
        "{ready:?}"
    );
    let (dog, coffee) = (score_on(&h, "dog.jpg"), score_on(&h, "coffee.png"));
    assert!(coffee > dog, "coffee {coffee}, dog {dog}");
    // saved, forgotten, loaded: the same scores
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("espresso.json");
    h.send(Command::ConceptSave(file.clone()));
    collect(&h, Duration::from_secs(10), |e| {
        matches!(e, Event::ConceptSaved(_))
    });
    assert!(file.is_file());
    h.send(Command::ConceptClear);
    h.send(Command::ConceptLoad(file));
    collect(&h, Duration::from_secs(10), |e| {
        matches!(e, Event::ConceptReady { .. })
    });
    let again = score_on(&h, "dog.jpg");
    assert!(
        (again - dog).abs() <= 1e-4 * dog.abs().max(1.0),
        "{again} vs {dog}"
    );
    // a file that is no concept is an error, and the concept stays
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, b"{}").unwrap();
    h.send(Command::ConceptLoad(junk));
    error_with(&h, "junk.json");
    h.shutdown();
}

#[test]
fn the_frames_parts_come_each_frame_and_one_becomes_the_concept() {
    let h = engine(SourceSpec::Path(shared().join("images/coffee.png")));
    collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::Input(_))
    });
    h.send(Command::ConceptParts(Some(0)));
    error_with(&h, "between 1 and 8");
    h.send(Command::ConceptParts(Some(3)));
    let mut parts = None;
    collect(&h, Duration::from_secs(60), |e| {
        if let Event::ConceptParts {
            overlay,
            colors,
            shares,
            error,
        } = e
        {
            parts = Some((overlay.dimensions(), colors.len(), shares.clone(), *error));
        }
        parts.is_some()
    });
    let (dims, colors, shares, error) = parts.expect("the frame's parts");
    assert_eq!((dims, colors), ((227, 227), 3));
    assert!(
        (shares.iter().sum::<f32>() - 1.0).abs() < 1e-3,
        "{shares:?}"
    );
    assert!((0.0..1.0).contains(&error), "{error}");
    h.send(Command::ConceptFromPart(5));
    error_with(&h, "part 5");
    h.send(Command::ConceptFromPart(1));
    let mut ready = false;
    let e = collect(&h, Duration::from_secs(60), |e| {
        ready |= matches!(e, Event::ConceptReady { name, .. } if name == "part 1");
        ready && matches!(e, Event::ConceptScore { .. })
    });
    assert!(ready, "{e:?}");
    h.shutdown();
}

#[test]
fn thumbnails_and_the_circuit_refuse_what_is_not_there() {
    let h = engine(SourceSpec::Path(shared().join("images/coffee.png")));
    collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::Input(_))
    });
    h.send(Command::Thumbnail(ThumbOf::Part(9)));
    error_with(&h, "no part 9");
    h.send(Command::Thumbnail(ThumbOf::Concept));
    error_with(&h, "no concept yet");
    h.send(Command::Thumbnail(ThumbOf::Unit {
        layer: "fire9".into(),
        channel: 9999,
    }));
    error_with(&h, "9999");
    // the first layer has no layer below: said once, then nothing more
    h.send(Command::SelectLayer("conv1".into()));
    h.send(Command::SelectUnit(3));
    h.send(Command::Circuit(Some(4)));
    error_with(&h, "first layer");
    let later = collect(&h, Duration::from_secs(3), |_| false);
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, Event::Error(f) if f.message.contains("first layer"))),
        "said again: {later:?}"
    );
    // a unit thumbnail comes back as it forms, the size of the network's input
    h.send(Command::Thumbnail(ThumbOf::Unit {
        layer: "fire2".into(),
        channel: 5,
    }));
    let mut image = None;
    collect(&h, Duration::from_secs(120), |e| {
        if let Event::Thumbnail {
            of: ThumbOf::Unit { layer, channel: 5 },
            image: i,
            ..
        } = e
            && layer == "fire2"
        {
            image = Some(i.dimensions());
        }
        image.is_some()
    });
    assert_eq!(image, Some((227, 227)));
    h.shutdown();
}

#[test]
fn with_no_others_recorded_the_sessions_other_frames_stand_in() {
    let h = engine(SourceSpec::Path(shared().join("images/coffee.png")));
    collect(&h, Duration::from_secs(60), |e| {
        matches!(e, Event::Grid { .. })
    });
    h.send(Command::ConceptRecord(Some(ConceptSide::Concept)));
    counts(&h, |p, _| p >= 1);
    h.send(Command::ConceptRecord(None));
    // the only frame so far is the concept's: nothing stands in for others
    h.send(Command::ConceptFit(ConceptFit::Mean));
    error_with(&h, "no others yet");
    // the dog shown, not recorded: it stands in
    h.send(Command::SetSource(SourceSpec::Path(
        shared().join("images/dog.jpg"),
    )));
    let mut seen_input = false;
    collect(&h, Duration::from_secs(60), |e| {
        seen_input |= matches!(e, Event::Input(_));
        seen_input && matches!(e, Event::Grid { .. })
    });
    h.send(Command::ConceptFit(ConceptFit::Mean));
    let e = collect(&h, Duration::from_secs(30), |e| {
        matches!(e, Event::ConceptReady { .. } | Event::Error(_))
    });
    assert!(
        e.iter().any(|e| matches!(e, Event::ConceptReady { .. })),
        "{e:?}"
    );
    let (dog, coffee) = (score_on(&h, "dog.jpg"), score_on(&h, "coffee.png"));
    assert!(coffee > dog, "coffee {coffee}, dog {dog}");
    h.shutdown();
}
