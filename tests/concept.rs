//! End to end on the CPU with the shared photos and clip: `deepvis concept train | score |
//! tcav` (a concept of the espresso photo against the others scores the clip's espresso
//! frames above its other frames, draws its map, and gets a TCAV test) and `deepvis circuit`
//! (a fire9 unit's strongest pool8 inputs by weight and on a photo); bad input (an empty
//! recording, a concept of a layer the model lacks, a class or unit out of range, a circuit
//! through a softmax) is a clear error.

use std::path::Path;
use std::process::Command;

use deepvis_testdata::shared;

fn deepvis(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
        .args(["--backend", "cpu", "--quiet"])
        .args(args)
        .output()
        .expect("run deepvis");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn deepvis_ok(args: &[&str]) -> String {
    let (ok, out, err) = deepvis(args);
    assert!(ok, "deepvis {args:?} failed: {err}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Trains the espresso concept on fire9 into `out`.
fn train(out: &Path, fit: &str) {
    let img = shared().join("images");
    deepvis_ok(&[
        "concept",
        "train",
        "--pos",
        s(&img.join("coffee.png")),
        "--neg",
        s(&img.join("dog.jpg")),
        "--neg",
        s(&img.join("eagle.jpg")),
        "--neg",
        s(&img.join("giraffe.jpg")),
        "--layer",
        "fire9",
        "--fit",
        fit,
        "--name",
        "espresso",
        "-o",
        s(out),
    ]);
}

#[test]
fn a_concept_trained_on_a_photo_finds_its_frames_in_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let clip = shared().join("videos/three_photos.mp4");
    for fit in ["mean", "logistic"] {
        let c = dir.path().join(format!("espresso-{fit}.json"));
        train(&c, fit);
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&c).unwrap()).unwrap();
        assert_eq!(file["layer"], "fire9");
        assert_eq!(file["model"], "squeezenet1_0");
        assert_eq!(
            (file["positives"].as_u64(), file["negatives"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(file["direction"].as_array().unwrap().len(), 512);
        assert_eq!(file["examples"]["negative"].as_array().unwrap().len(), 3);
        // frames 0-15 are the eagle, 16-31 the espresso, 32-47 the dog (10 fps)
        let frames =
            ["0.5", "1.0", "2.0", "2.5", "3.5", "4.5"].map(|t| format!("{}@{t}", s(&clip)));
        let mut args = vec!["concept", "score", s(&c), "--json"];
        args.extend(frames.iter().map(String::as_str));
        let out = deepvis_ok(&args);
        let scores: Vec<f64> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["score"]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        assert_eq!(scores.len(), 6);
        let espresso = scores[2].min(scores[3]);
        let others = [scores[0], scores[1], scores[4], scores[5]];
        assert!(
            others.iter().all(|&o| o < espresso),
            "{fit}: the espresso frames score {scores:?}"
        );
    }
    // the map over a picture
    let c = dir.path().join("espresso-mean.json");
    let map = dir.path().join("map.png");
    deepvis_ok(&[
        "concept",
        "score",
        s(&c),
        s(&shared().join("images/coffee.png")),
        "--map",
        s(&map),
    ]);
    let img = image::open(&map).unwrap();
    assert_eq!((img.width(), img.height()), (227, 227));
    // TCAV for espresso over the clip's frames
    let out = deepvis_ok(&[
        "concept",
        "tcav",
        s(&c),
        "--class",
        "967",
        "--images",
        s(&clip),
        "--video-step",
        "4",
        "--random",
        "10",
        "--json",
    ]);
    let t: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(t["images"], 12);
    assert_eq!(t["label"], "espresso");
    assert_eq!(t["concept_scores"].as_array().unwrap().len(), 10);
    assert_eq!(t["random_scores"].as_array().unwrap().len(), 10);
    let (score, p) = (t["score"].as_f64().unwrap(), t["p"].as_f64().unwrap());
    assert!(
        (0.0..=1.0).contains(&score) && (0.0..=1.0).contains(&p),
        "{t}"
    );
}

#[test]
fn bad_concept_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = shared().join("images");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let c = dir.path().join("c.json");
    let (ok, _, err) = deepvis(&[
        "concept",
        "train",
        "--pos",
        s(&empty),
        "--neg",
        s(&img.join("dog.jpg")),
        "--layer",
        "fire9",
        "-o",
        s(&c),
    ]);
    assert!(!ok && err.contains("no picture of the concept"), "{err}");
    assert!(!c.exists());
    train(&c, "mean");
    let (ok, _, err) = deepvis(&[
        "concept",
        "tcav",
        s(&c),
        "--class",
        "5000",
        "--images",
        s(&img),
    ]);
    assert!(!ok && err.contains("--class 5000"), "{err}");
    // a concept of a layer this model does not have
    let text = std::fs::read_to_string(&c)
        .unwrap()
        .replace("\"fire9\"", "\"fire99\"");
    let other = dir.path().join("other.json");
    std::fs::write(&other, text).unwrap();
    let (ok, _, err) = deepvis(&["concept", "score", s(&other), s(&img.join("dog.jpg"))]);
    assert!(!ok && err.contains("fire99"), "{err}");
    // a file that is not a concept
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, b"{\"version\": 1, \"model\": 3").unwrap();
    let (ok, _, err) = deepvis(&["concept", "score", s(&junk), s(&img.join("dog.jpg"))]);
    assert!(!ok && err.contains("junk.json"), "{err}");
}

#[test]
fn a_units_circuit_lists_its_strongest_inputs_by_weight_and_on_a_picture() {
    let coffee = shared().join("images/coffee.png");
    let out = deepvis_ok(&[
        "circuit",
        "--layer",
        "fire9",
        "--unit",
        "300",
        "--top",
        "3",
        "--image",
        s(&coffee),
        "--json",
    ]);
    let c: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (c["below"].as_str(), c["unit"].as_u64()),
        (Some("pool8"), Some(300))
    );
    for side in ["by_weight", "on_picture"] {
        let pos = c[side]["positive"].as_array().unwrap();
        let neg = c[side]["negative"].as_array().unwrap();
        assert_eq!((pos.len(), neg.len()), (3, 3), "{side}");
        let v = |x: &serde_json::Value| x["value"].as_f64().unwrap();
        assert!(
            pos.windows(2).all(|w| v(&w[0]) >= v(&w[1])) && v(&pos[2]) > 0.0,
            "{c}"
        );
        assert!(
            neg.windows(2).all(|w| v(&w[0]) <= v(&w[1])) && v(&neg[2]) < 0.0,
            "{c}"
        );
        assert!(
            pos.iter()
                .chain(neg)
                .all(|i| i["channel"].as_u64().unwrap() < 512)
        );
    }
    assert!(c["by_weight"]["positive"][0]["norm"].as_f64().unwrap() > 0.0);
    // bad input: a unit out of range; a layer reached through a softmax has no circuit by
    // weight
    let (ok, _, err) = deepvis(&["circuit", "--layer", "fire9", "--unit", "512"]);
    assert!(!ok && err.contains("--unit 512"), "{err}");
    let (ok, _, err) = deepvis(&["circuit", "--layer", "prob", "--unit", "3"]);
    assert!(!ok && err.contains("linearly"), "{err}");
}

#[test]
fn concepts_discover_factorises_a_classs_crops_into_concepts() {
    let dir = tempfile::tempdir().unwrap();
    let coffee = shared().join("images/coffee.png");
    let out = deepvis_ok(&[
        "concepts",
        "discover",
        "--class",
        "967",
        "--images",
        s(&coffee),
        "--layer",
        "fire9",
        "--k",
        "3",
        "-o",
        s(dir.path()),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["crops"].as_u64(), v["label"].as_str()),
        (Some(10), Some("espresso"))
    );
    let concepts = v["concepts"].as_array().unwrap();
    assert_eq!(concepts.len(), 3);
    let importance: Vec<f64> = concepts
        .iter()
        .map(|c| c["importance"].as_f64().unwrap())
        .collect();
    assert!(
        importance.windows(2).all(|w| w[0] >= w[1]),
        "most important first: {v}"
    );
    let shares: f64 = concepts.iter().map(|c| c["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-3, "the shares sum to 1: {shares}");
    for c in concepts {
        assert_eq!(c["typical"].as_array().unwrap().len(), 6);
        let m = image::open(dir.path().join(c["montage"].as_str().unwrap())).unwrap();
        assert!(m.width() > m.height(), "a row of crops");
    }
    assert!(v["relative_error"].as_f64().unwrap() < 1.0);
    let (ok, _, err) = deepvis(&[
        "concepts",
        "discover",
        "--class",
        "967",
        "--images",
        s(&coffee),
        "--layer",
        "fire9",
        "--k",
        "0",
        "-o",
        s(dir.path()),
    ]);
    assert!(!ok && err.contains("--k 0"), "{err}");
}
