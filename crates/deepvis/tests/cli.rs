//! The `deepvis` binary end to end on the CPU: classify, activations, layers, optimize and
//! search on the shared photos and weights, and clear errors for bad input.

use std::path::PathBuf;
use std::process::Command;

fn shared() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../../shared");
    assert!(
        p.join("images").is_dir(),
        "shared data missing at {}",
        p.display()
    );
    p
}

fn deepvis(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .env(
            "DEEPVIS_ROOT",
            PathBuf::from(
                std::env::var("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
            )
            .join("../.."),
        )
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

#[test]
fn classify_json_gives_the_expected_top5_and_reports_bad_files() {
    let img = shared().join("images");
    let (ok, out, _) = deepvis(&[
        "classify",
        "--json",
        img.join("coffee.png").to_str().unwrap(),
        img.join("eagle.jpg").to_str().unwrap(),
    ]);
    assert!(ok);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["top5"][0]["index"], 967);
    assert_eq!(lines[0]["top5"][0]["label"], "espresso");
    let p = lines[0]["top5"][0]["prob"].as_f64().unwrap();
    assert!((p - 0.722).abs() < 0.02, "{p}");
    assert_eq!(lines[1]["top5"][0]["index"], 21);
    assert_eq!(lines[0]["top5"].as_array().unwrap().len(), 5);

    let (ok, out, _) = deepvis(&[
        "classify",
        "--json",
        img.join("README.md").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(out.contains("\"error\""), "{out}");
}

#[test]
fn activations_writes_a_grid_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("g.png");
    let (ok, out, err) = deepvis(&[
        "activations",
        shared().join("images/dog.jpg").to_str().unwrap(),
        "--layer",
        "fire9",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["shape"], serde_json::json!([512, 13, 13]));
    assert_eq!(v["channels"].as_array().unwrap().len(), 512);
    let img = image::open(&png).unwrap();
    // 23 x 23 tiles of 13 px with 1-px separators
    assert_eq!((img.width(), img.height()), (23 * 13 + 22, 23 * 13 + 22));
    let (ok, _, err) = deepvis(&["activations", "x.jpg", "--layer", "fire10"]);
    assert!(!ok && err.contains("fire10"), "{err}");
}

#[test]
fn layers_lists_alexnet_without_weights() {
    let (ok, out, _) = deepvis(&["--model", "alexnet", "layers", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let conv5 = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "conv5")
        .unwrap();
    assert_eq!(
        (conv5["channels"].as_u64(), conv5["height"].as_u64()),
        (Some(256), Some(13))
    );
}

#[test]
fn optimize_writes_an_image_and_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("o.png");
    let x0 = shared().join("reference/am_steps_flamingo_p3.safetensors");
    let (ok, out, err) = deepvis(&[
        "optimize",
        "--layer",
        "pool10",
        "--unit",
        "130",
        "--preset",
        "3",
        "--init",
        x0.to_str().unwrap(),
        "--iters",
        "10",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stop"], "zero_grad");
    assert_eq!(v["iterations"], 2);
    assert!(png.is_file() && dir.path().join("o.json").is_file());
    let (ok, _, err) = deepvis(&[
        "optimize",
        "--layer",
        "pool10",
        "--unit",
        "1000",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("1000"), "{err}");
    let (ok, _, err) = deepvis(&[
        "optimize", "--layer", "pool10", "--unit", "1", "--decay", "NaN",
    ]);
    assert!(!ok && err.contains("decay"), "{err}");
}

#[test]
fn search_writes_rows_resumes_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |shard: &str| {
        let (ok, _, err) = deepvis(&[
            "search", "--layer", "pool10", "--units", "207,130", "--trials", "3", "--iters", "2",
            "--shard", shard, "-o", d,
        ]);
        assert!(ok, "{err}");
        std::fs::read_to_string(dir.path().join("trials.tsv")).unwrap()
    };
    let t = run("0/2"); // trials 0 and 2
    assert_eq!(t.lines().count(), 1 + 4, "{t}");
    let t = run("0/2"); // resumed: nothing new
    assert_eq!(t.lines().count(), 1 + 4, "{t}");
    let t = run("1/2"); // trial 1
    assert_eq!(t.lines().count(), 1 + 6, "{t}");
    assert!(dir.path().join("unit207_sheet.png").is_file());
    assert!(dir.path().join("unit130/trial00001.png").is_file());
}
