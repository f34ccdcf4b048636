//! End to end: the `deepvis` binary on the CPU (classify, activations, layers, optimize,
//! search, backprop, attribute, topk, ONNX models, weights with no shared folder) on the shared
//! photos and weights, and clear errors for bad input. (Top-level `tests/`, run as a test of
//! the `deepvis` crate.)

use std::process::Command;

use deepvis_testdata::shared;

/// Runs deepvis, which must succeed; its standard output.
fn deepvis_ok(args: &[&str]) -> String {
    let (ok, out, err) = deepvis(args);
    assert!(ok, "deepvis {args:?} failed: {err}");
    out
}

/// The one JSON object a command printed.
fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap()
}

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
    let out = deepvis_ok(&[
        "activations",
        shared().join("images/dog.jpg").to_str().unwrap(),
        "--layer",
        "fire9",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
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
    let v = json(&out);
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
    let out = deepvis_ok(&[
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
    let v = json(&out);
    // the flamingo falls silent at iteration 2: the run goes on with its value before the
    // ReLU, as the window's does, to its last iteration
    assert_eq!(v["stop"], "max_iter");
    assert_eq!(v["iterations"], 10);
    assert_eq!(v["pre_relu"], true);
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

/// The spread of a picture's pixel values (0: one flat colour).
fn pixel_spread(png: &std::path::Path) -> f64 {
    let img = image::open(png).unwrap().to_rgb8();
    let v: Vec<f64> = img.as_raw().iter().map(|&b| b as f64).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn a_silent_unit_gets_a_picture_before_its_relu_and_nothing_is_a_failure() {
    // the peacock is silent on Fourier's start image: the run goes on before the ReLU
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("peacock.png");
    let out = deepvis_ok(&[
        "optimize",
        "--layer",
        "pool10",
        "--unit",
        "84",
        "--method",
        "fourier",
        "--iters",
        "12",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(
        (v["pre_relu"].as_bool(), v["iterations"].as_u64()),
        (Some(true), Some(12))
    );
    assert!(pixel_spread(&png) > 5.0, "a flat picture");
    // a pooling unit has no value before a ReLU: silent on the noise, it is an error, and
    // no file is written
    let pool = dir.path().join("pool.png");
    let (ok, _, err) = deepvis(&[
        "optimize",
        "--layer",
        "pool8",
        "--unit",
        "0",
        "--iters",
        "3",
        "-o",
        pool.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("no picture") && err.contains("silent"),
        "{err}"
    );
    assert!(!pool.exists() && !dir.path().join("pool.json").exists());
}

#[test]
fn optimize_runs_the_methods_several_units_diversity_and_a_judge() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("m.png");
    optimize_methods_units_and_judge(&png);
    optimize_composition_and_its_replay(dir.path(), &png);
    optimize_direction_from_a_photo(dir.path(), &png);
    optimize_refuses_bad_knobs(&png);
    optimize_on_a_canvas_and_its_replay(dir.path());
}

/// MACO on crops of a canvas: the picture is the canvas, its transparency map is written
/// beside it (RGBA, the picture's colours), and the sidecar makes both again.
fn optimize_on_a_canvas_and_its_replay(dir: &std::path::Path) {
    let png = dir.join("canvas.png");
    deepvis_ok(&[
        "optimize",
        "--layer",
        "pool10",
        "--unit",
        "950",
        "--method",
        "maco",
        "--canvas",
        "300,crops=2,scale=0.5-0.6",
        "--iters",
        "3",
        "-o",
        png.to_str().unwrap(),
    ]);
    let picture = image::open(&png).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (300, 300));
    let seen = image::open(dir.join("canvas.transparency.png")).unwrap();
    assert!(matches!(seen, image::DynamicImage::ImageRgba8(_)));
    let seen = seen.to_rgba8();
    assert_eq!(seen.dimensions(), (300, 300));
    assert!(
        seen.pixels()
            .zip(picture.pixels())
            .all(|(a, p)| a.0[..3] == p.0)
    );
    let alpha: Vec<u8> = seen.pixels().map(|p| p.0[3]).collect();
    assert!(
        alpha.contains(&255) && alpha.contains(&0),
        "where the crops fell and not"
    );
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("canvas.json")).unwrap()).unwrap();
    assert_eq!(side["runs"][0]["method"]["canvas"]["side"], 300);
    assert_eq!(side["runs"][0]["method"]["canvas"]["crops"], 2);
    let again = dir.join("canvas-again.png");
    deepvis_ok(&[
        "optimize",
        "--from",
        dir.join("canvas.json").to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(picture, image::open(&again).unwrap().to_rgb8());
    assert_eq!(
        seen,
        image::open(dir.join("canvas-again.transparency.png"))
            .unwrap()
            .to_rgba8()
    );
}

/// Two units, the three methods each, in one batch; each picture judged by EfficientNet.
fn optimize_methods_units_and_judge(png: &std::path::Path) {
    let out = deepvis_ok(&[
        "optimize",
        "--layer",
        "pool10",
        "--units",
        "130,949",
        "--all-methods",
        // (a class unit after its ReLU can be silent on a start image: no gradient at all)
        "--pre-relu",
        "--iters",
        "3",
        "--judge",
        &effnet(),
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = out.lines().map(json).collect();
    let got: Vec<(u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["unit"].as_u64().unwrap(),
                r["method"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = [130, 949]
        .iter()
        .flat_map(|&u| ["paper", "fourier", "maco"].map(|m| (u, m.to_string())))
        .collect();
    assert_eq!(got, want);
    for r in &rows {
        assert_eq!(r["iterations"], 3, "{r}");
        let v = &r["judge"][0];
        let rank = v["rank"].as_u64().unwrap();
        assert!((1..=1000).contains(&rank), "{r}");
        let class = if r["unit"] == 130 {
            "flamingo"
        } else {
            "strawberry"
        };
        assert_eq!(v["class"], class);
    }
    // six pictures in rows of four
    let img = image::open(png).unwrap();
    assert_eq!((img.width(), img.height()), (4 * 227 + 3 * 4, 2 * 227 + 4));
}

/// An objective by composition, transforms given, Adam, and three diverse images; the
/// sidecar makes the very same picture again.
fn optimize_composition_and_its_replay(dir: &std::path::Path, png: &std::path::Path) {
    let out = deepvis_ok(&[
        "optimize",
        "--objective",
        "channel:fire9:12 + 0.5*class:130",
        "--method",
        "fourier",
        "--transforms",
        "jitter=4,rotate=5",
        "--penalty",
        "tv=0.01,l2=0.5",
        "--diversity",
        "3",
        "--iters",
        "2",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["layer"], "fire9");
    assert_eq!(v["iterations"], 2);
    let img = image::open(png).unwrap();
    assert_eq!((img.width(), img.height()), (3 * 227 + 2 * 4, 227));
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    let m = &side["runs"][0]["method"];
    assert_eq!(m["param"], "fourier");
    assert_eq!(m["transforms"]["jitter"], 4.0);
    assert_eq!(m["transforms"]["rotate"], 5.0);
    assert_eq!(m["penalties"]["tv"], 0.01);
    assert_eq!(m["penalties"]["l2"], 0.5);
    assert_eq!(side["runs"][0]["recipe"]["images"], 3);
    // the sidecar makes the very same picture again
    let again = dir.join("again.png");
    deepvis_ok(&[
        "optimize",
        "--from",
        dir.join("m.json").to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        image::open(png).unwrap().to_rgb8(),
        image::open(&again).unwrap().to_rgb8()
    );
}

/// The direction of an activation vector in a photo as the objective.
fn optimize_direction_from_a_photo(dir: &std::path::Path, png: &std::path::Path) {
    // the direction of fire9's activation vector at the bicycle of dog.jpg: a cosine
    // similarity that rises; a place outside the map is a clear error
    let photo = shared().join("images/dog.jpg");
    let photo = photo.to_str().unwrap();
    let out = deepvis_ok(&[
        "optimize",
        "--layer",
        "fire9",
        "--direction-from",
        photo,
        "--y",
        "6",
        "--x",
        "6",
        "--method",
        "fourier",
        "--transforms",
        "off",
        "--iters",
        "12",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    let best = v["best_obj"].as_f64().unwrap();
    assert!(
        v["best_iter"].as_u64().unwrap() > 1 && (0.0..=1.0).contains(&best),
        "{v}"
    );
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    let term = &side["runs"][0]["recipe"]["objective"]["terms"][0][1]["direction"];
    assert_eq!(term["layer"], "fire9");
    assert_eq!(term["vector"].as_array().unwrap().len(), 512);
    let (ok, _, err) = deepvis(&[
        "optimize",
        "--layer",
        "fire9",
        "--direction-from",
        photo,
        "--y",
        "13",
        "--x",
        "0",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("outside"), "{err}");
}

/// Bad knobs are clear errors.
fn optimize_refuses_bad_knobs(png: &std::path::Path) {
    for (args, word) in [
        (vec!["--transforms", "spin=3"], "spin"),
        (vec!["--transforms", "scale=2"], "scale"),
        (vec!["--penalty", "blur=1"], "blur"),
        (vec!["--adam-lr", "NaN"], "Adam"),
        (vec!["--objective", "channel:fire9"], "channel:fire9"),
        (vec!["--diversity", "40"], "images"),
        (vec!["--canvas", "99999"], "canvas"),
        (vec!["--canvas", "448,scale=0.9-0.2"], "crop"),
        (vec!["--method", "paper", "--canvas", "cpu"], "canvas"),
    ] {
        let mut a = vec![
            "optimize", "--layer", "pool10", "--unit", "1", "--iters", "1",
        ];
        a.extend(args.iter().copied());
        a.extend(["-o", png.to_str().unwrap()]);
        let (ok, _, err) = deepvis(&a);
        assert!(!ok && err.contains(word), "{args:?}: {err}");
    }
}

#[test]
fn search_writes_rows_resumes_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |shard: &str| {
        let _ = deepvis_ok(&[
            // 4 iterations: room for a unit silent at the first to go on before its ReLU
            "search", "--layer", "pool10", "--units", "207,130", "--trials", "3", "--iters", "4",
            "--shard", shard, "-o", d,
        ]);
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
    // an objective by composition, a modern method, two diverse images a trial, resumed
    let o = dir.path().join("o");
    let o = o.to_str().unwrap();
    for _ in 0..2 {
        let _ = deepvis_ok(&[
            "search",
            "--objective",
            "channel:fire9:12 + 0.5*class:130",
            "--method",
            "fourier",
            "--diversity",
            "2",
            "--trials",
            "2",
            "--iters",
            "2",
            "-o",
            o,
        ]);
    }
    let t = std::fs::read_to_string(dir.path().join("o/trials.tsv")).unwrap();
    let units: Vec<&str> = t
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(units, ["objective", "objective"], "{t}");
    let img = image::open(dir.path().join("o/objective/trial00001.png")).unwrap();
    assert_eq!((img.width(), img.height()), (2 * 227 + 4, 227));
    assert!(dir.path().join("o/objective_sheet.png").is_file());
    let (ok, _, err) = deepvis(&[
        "search",
        "--objective",
        "class:1",
        "--units",
        "1",
        "--trials",
        "1",
        "-o",
        o,
    ]);
    assert!(!ok && err.contains("--units"), "{err}");
}

fn read_tensor(path: &std::path::Path, name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (t.shape().to_vec(), v)
}

#[test]
fn backprop_writes_the_golden_gradient_and_its_picture() {
    let dir = tempfile::tempdir().unwrap();
    let golden = shared().join("reference/squeezenet1_0_golden.safetensors");
    let png = dir.path().join("g.png");
    let raw = dir.path().join("g.safetensors");
    let out = deepvis_ok(&[
        "backprop",
        golden.to_str().unwrap(),
        "--tensor",
        "dog/input",
        "--layer",
        "fire9",
        "--unit",
        "146",
        "--y",
        "6",
        "--x",
        "6",
        "--mode",
        "grad",
        "-o",
        png.to_str().unwrap(),
        "--raw",
        raw.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!((v["y"].as_u64(), v["x"].as_u64()), (Some(6), Some(6)));
    assert_eq!(v["receptive_field"], serde_json::json!([36, 36, 191, 191]));
    let (shape, got) = read_tensor(&raw, "grad");
    assert_eq!(shape, [1, 3, 227, 227]);
    let (_, want) = read_tensor(&golden, "dog/grad_fire9_c146_6_6");
    let dot: f64 = got
        .iter()
        .zip(&want)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum();
    let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    assert!(dot / (n(&got) * n(&want)) > 0.999);
    assert_eq!(image::open(&png).unwrap().width(), 227);

    // a photo, guided backprop at the unit's maximum, drawn as a blurred norm
    let dog = shared().join("images/dog.jpg");
    let png2 = dir.path().join("guided.png");
    let out = deepvis_ok(&[
        "backprop",
        dog.to_str().unwrap(),
        "--layer",
        "fire9",
        "--unit",
        "146",
        "--mode",
        "guided",
        "--filter",
        "normblur",
        "-o",
        png2.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert!(v["value"].as_f64().unwrap() > 0.0);
    assert!(png2.is_file());

    for (args, says) in [
        (vec!["--mode", "backwards"], "grad, deconv or guided"),
        (vec!["--filter", "sharpen"], "normblur"),
        (vec!["--unit", "600"], "600"),
        (vec!["--y", "20", "--x", "0"], "13x13"),
    ] {
        let mut a = vec!["backprop", dog.to_str().unwrap(), "--layer", "fire9"];
        if !args.contains(&"--unit") {
            a.extend(["--unit", "1"]);
        }
        a.extend(args.iter().copied());
        let o = dir.path().join("bad.png");
        a.extend(["-o", o.to_str().unwrap()]);
        let (ok, _, err) = deepvis(&a);
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
}

/// Each readable image's per-channel maxima, as `deepvis activations --json` reports them.
fn maxima(image: &std::path::Path) -> Vec<f64> {
    let out = deepvis_ok(&[
        "activations",
        image.to_str().unwrap(),
        "--layer",
        "fire9",
        "--json",
    ]);
    let v = json(&out);
    v["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["max"].as_f64().unwrap())
        .collect()
}

#[test]
fn topk_orders_resumes_without_duplicates_and_skips_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let photos = topk_folder(dir.path());
    let scan = |out: &std::path::Path, extra: &[&str]| {
        let mut a = vec![
            "topk",
            "--folder",
            photos.to_str().unwrap(),
            "--layer",
            "fire9",
            "--k",
            "3",
            "--tile",
            "32",
            "-o",
            out.to_str().unwrap(),
        ];
        a.extend(extra);
        let (ok, _, err) = deepvis(&a);
        assert!(ok, "{err}");
        err
    };
    // interrupted after 3 files, then resumed
    let a = dir.path().join("a");
    let err = scan(&a, &["--limit", "3"]);
    assert!(err.contains("skipping broken.jpg"), "{err}");
    let state = deepvis_topk::ScanState::load(&a).unwrap().unwrap();
    assert_eq!(state.done.len(), 3);
    let err = scan(&a, &[]);
    assert!(
        !err.contains("broken.jpg"),
        "a skipped file is not read twice: {err}"
    );
    let resumed = deepvis_topk::Index::load(&a).unwrap();
    // one uninterrupted run gives the same index
    let b = dir.path().join("b");
    scan(&b, &[]);
    let whole = deepvis_topk::Index::load(&b).unwrap();
    assert_eq!(resumed.channels, whole.channels);
    assert_eq!(whole.images, 6);
    assert_eq!(whole.skipped.len(), 1);
    assert_eq!(whole.channels.len(), 512);

    // the order is what the activations say
    topk_order_is_the_activations(&photos, &whole);
    // one montage per channel: 2 x 2 tiles of 32 pixels with 2-pixel gaps
    let m = image::open(b.join("fire9/c0146.png")).unwrap();
    assert_eq!((m.width(), m.height()), (66, 66));

    // with --back, a second montage per channel of the hits' deconv crops (conv1: cheap)
    topk_back_montages(dir.path(), &photos);
    // another layer in the same folder is refused, not mixed in
    let (ok, _, err) = deepvis(&[
        "topk",
        "--folder",
        photos.to_str().unwrap(),
        "--layer",
        "fire5",
        "-o",
        a.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--restart"), "{err}");
}

/// A folder of four photos, two synthetic pictures in a subfolder, a broken JPEG and a text
/// file.
fn topk_folder(dir: &std::path::Path) -> std::path::PathBuf {
    let photos = dir.join("photos");
    std::fs::create_dir_all(photos.join("more")).unwrap();
    for f in ["dog.jpg", "eagle.jpg", "giraffe.jpg", "coffee.png"] {
        std::fs::copy(shared().join("images").join(f), photos.join(f)).unwrap();
    }
    // synthetic images: stripes and a gradient, in a subfolder
    let stripes = image::RgbImage::from_fn(300, 260, |x, _| {
        if (x / 6) % 2 == 0 {
            image::Rgb([250, 250, 250])
        } else {
            image::Rgb([10, 10, 10])
        }
    });
    stripes.save(photos.join("more/stripes.png")).unwrap();
    let ramp = image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([x as u8, y as u8, 128]));
    ramp.save(photos.join("more/ramp.png")).unwrap();
    std::fs::write(photos.join("broken.jpg"), b"this is not a JPEG").unwrap();
    std::fs::write(photos.join("notes.txt"), b"ignored").unwrap();
    photos
}

/// Each channel's hits (every 37th channel) are the pictures of its highest maxima, best
/// first, each once.
fn topk_order_is_the_activations(photos: &std::path::Path, whole: &deepvis_topk::Index) {
    let files = [
        "broken.jpg",
        "coffee.png",
        "dog.jpg",
        "eagle.jpg",
        "giraffe.jpg",
        "more/ramp.png",
        "more/stripes.png",
    ];
    let readable: Vec<(&str, Vec<f64>)> = files[1..]
        .iter()
        .map(|f| (*f, maxima(&photos.join(f))))
        .collect();
    for ch in whole.channels.iter().step_by(37) {
        let mut want: Vec<(&str, f64)> =
            readable.iter().map(|(f, m)| (*f, m[ch.channel])).collect();
        want.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(y.0)));
        let got: Vec<&str> = ch.hits.iter().map(|h| h.file.as_str()).collect();
        let want_files: Vec<&str> = want.iter().take(3).map(|w| w.0).collect();
        assert_eq!(got, want_files, "channel {}", ch.channel);
        for (h, w) in ch.hits.iter().zip(&want) {
            assert!((h.score as f64 - w.1).abs() <= 1e-4 * w.1.abs().max(1.0));
        }
        let mut seen = std::collections::HashSet::new();
        assert!(ch.hits.iter().all(|h| seen.insert(h.file.clone())));
    }
}

/// `--back deconv`: a second montage per channel beside the photos' one; an unknown mode is
/// a clear error.
fn topk_back_montages(dir: &std::path::Path, photos: &std::path::Path) {
    let c = dir.join("c");
    let _ = deepvis_ok(&[
        "topk",
        "--folder",
        photos.to_str().unwrap(),
        "--layer",
        "conv1",
        "--k",
        "2",
        "--tile",
        "16",
        "--back",
        "deconv",
        "-o",
        c.to_str().unwrap(),
    ]);
    let idx = deepvis_topk::Index::load(&c).unwrap();
    assert_eq!(idx.back.as_deref(), Some("deconv, raw"));
    let e = &idx.channels[7];
    let photo = image::open(c.join(&e.montage)).unwrap().to_rgb8();
    let back = image::open(c.join(e.back_montage.as_ref().unwrap()))
        .unwrap()
        .to_rgb8();
    assert_eq!(photo.dimensions(), (34, 16));
    assert_eq!(back.dimensions(), photo.dimensions());
    assert_ne!(back, photo);
    let (ok, _, err) = deepvis(&[
        "topk",
        "--folder",
        photos.to_str().unwrap(),
        "--layer",
        "conv1",
        "--back",
        "inverse",
        "-o",
        c.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("grad, deconv or guided"), "{err}");
}

fn effnet() -> String {
    shared()
        .join("models/efficientnet_lite0/efficientnet_lite0.onnx")
        .to_string_lossy()
        .into_owned()
}

/// ONNX Runtime's top-5 classes in a golden probability tensor.
fn golden_top5(photo: &str) -> Vec<u64> {
    let bytes =
        std::fs::read(shared().join("models/efficientnet_lite0/golden.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let p: Vec<f32> = st
        .tensor(&format!("{photo}/prob"))
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    idx.into_iter().take(5).map(|i| i as u64).collect()
}

#[test]
fn classify_an_onnx_model_with_no_flags_gives_onnx_runtimes_classes() {
    let golden = shared().join("models/efficientnet_lite0/golden.safetensors");
    let m = effnet();
    for photo in ["dog", "eagle", "giraffe", "coffee"] {
        // ONNX Runtime's own input tensor: the same top-5, in order
        let out = deepvis_ok(&[
            "--model",
            &m,
            "classify",
            "--json",
            golden.to_str().unwrap(),
            "--tensor",
            &format!("{photo}/input"),
        ]);
        let v = json(&out);
        let got: Vec<u64> = v["top5"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["index"].as_u64().unwrap())
            .collect();
        assert_eq!(got, golden_top5(photo), "{photo}");
    }
    // the photos themselves, preprocessed by deepvis with the known file's preset
    let img = shared().join("images");
    let files: Vec<String> = ["dog.jpg", "eagle.jpg", "giraffe.jpg", "coffee.png"]
        .iter()
        .map(|f| img.join(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["--model", &m, "classify", "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = deepvis_ok(&args);
    for (line, photo) in out.lines().zip(["dog", "eagle", "giraffe", "coffee"]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["top5"][0]["index"].as_u64(),
            Some(golden_top5(photo)[0]),
            "{photo}"
        );
    }
}

#[test]
fn every_command_runs_an_onnx_model() {
    let m = effnet();
    let v = json(&deepvis_ok(&["--model", &m, "layers", "--json"]));
    let nodes = v["layers"].as_array().unwrap();
    assert!(nodes.len() >= 95, "{} nodes", nodes.len());
    let add = nodes.iter().find(|l| l["name"] == "blocks.10.add").unwrap();
    assert_eq!(
        (add["channels"].as_u64(), add["height"].as_u64()),
        (Some(112), Some(14))
    );
    // the class scores: the node `fc`, whose output is the graph output `logits`
    assert_eq!(v["logits"], "fc");

    let dir = tempfile::tempdir().unwrap();
    let photo = shared().join("images/dog.jpg");
    let photo = photo.to_str().unwrap();
    let grid = dir.path().join("g.png");
    deepvis_ok(&[
        "--model",
        &m,
        "activations",
        photo,
        "--layer",
        "blocks.10.add",
        "-o",
        grid.to_str().unwrap(),
    ]);
    assert!(grid.is_file());
    let back = dir.path().join("b.png");
    let out = deepvis_ok(&[
        "--model",
        &m,
        "backprop",
        photo,
        "--layer",
        "blocks.10.add",
        "--unit",
        "5",
        "--mode",
        "guided",
        "-o",
        back.to_str().unwrap(),
        "--json",
    ]);
    assert!(back.is_file(), "{out}");
    // the preferred image of a unit of blocks.10.add: its objective rises
    let png = dir.path().join("o.png");
    let v = json(&deepvis_ok(&[
        "--model",
        &m,
        "optimize",
        "--layer",
        "blocks.10.add",
        "--unit",
        "5",
        "--preset",
        "3",
        "--iters",
        "8",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]));
    assert!(v["best_iter"].as_u64().unwrap() > 0, "{v}");
    assert!(png.is_file());
}

/// A vision transformer as PyTorch 2.7 exports it (vit_s_focus: its shape arithmetic folded
/// at load, its preprocessing from the `.onnx.toml` sidecar): the layer table lists its blocks
/// as 384 maps of its 16x16 patches (the CLS token apart), `--layer` takes a node's name or
/// its output tensor's, classify says its output is a map over the image, and attention
/// rollout writes its map.
#[test]
fn a_vision_transformer_export_runs_with_names_of_nodes_or_tensors() {
    let m = shared().join("models/vit_s_focus/vit_s_focus.onnx");
    let m = m.to_str().unwrap();
    let v = json(&deepvis_ok(&["--model", m, "layers", "--json"]));
    let nodes = v["layers"].as_array().unwrap();
    let block = nodes
        .iter()
        .find(|l| l["name"] == "/backbone/encoder/layer.11/Add_1")
        .unwrap();
    assert_eq!(block["channels"].as_u64(), Some(384), "{block}");
    assert_eq!(
        (block["height"].as_u64(), block["width"].as_u64()),
        (Some(16), Some(16)),
        "{block}"
    );
    assert!(
        nodes
            .iter()
            .all(|l| l["kind"] != "Shape" && l["kind"] != "Gather"),
        "the shape arithmetic is folded"
    );
    let photo = shared().join("images/dog.jpg");
    let photo = photo.to_str().unwrap();
    let stats = |layer: &str| {
        json(&deepvis_ok(&[
            "--model",
            m,
            "activations",
            photo,
            "--layer",
            layer,
            "--json",
        ]))
    };
    let by_node = stats("/backbone/encoder/layer.11/Add_1");
    let by_tensor = stats("/backbone/encoder/layer.11/Add_1_output_0");
    assert_eq!(by_node["channels"], by_tensor["channels"]);
    assert_eq!(by_node["channels"].as_array().map(Vec::len), Some(384));
    // its output is a saliency map: classify says where it peaks, not ImageNet classes
    let v = json(&deepvis_ok(&["--model", m, "classify", photo, "--json"]));
    assert_eq!(v["map"]["width"].as_u64(), Some(224), "{v}");
    assert!(v.get("top5").is_none(), "{v}");
    let (lo, hi) = (
        v["map"]["min"].as_f64().unwrap(),
        v["map"]["max"].as_f64().unwrap(),
    );
    assert!(0.0 <= lo && lo < hi && hi <= 1.0, "a sigmoid's range: {v}");
    // attention rollout from the CLS token through the 12 blocks
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("rollout.png");
    let v = json(&deepvis_ok(&[
        "--model",
        m,
        "attribute",
        photo,
        "--layer",
        "output_importance",
        "--unit",
        "0",
        "--method",
        "rollout",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(v["maps"][0]["method"], "rollout", "{v}");
    assert_eq!(image::open(&png).unwrap().width(), 224);
    // another input size folds the graph anew: 280 / 14 = 20, 400 patches + CLS
    let v = json(&deepvis_ok(&[
        "--model",
        m,
        "--input-size",
        "280",
        "layers",
        "--json",
    ]));
    let block = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "/backbone/encoder/layer.11/Add_1")
        .cloned()
        .unwrap();
    assert_eq!(block["channels"].as_u64(), Some(384), "{block}");
    assert_eq!(block["height"].as_u64(), Some(20), "{block}");
}

/// The first object under `key` anywhere in `v`.
fn find<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => {
            m.get(key).or_else(|| m.values().find_map(|x| find(x, key)))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

/// `--token I` names a unit of a vision transformer's layer by its place in the sequence,
/// the leading tokens first: in vit_mini (CLS and two registers, then 8x8 patches) token 16 is
/// the patch at (1, 5), the very unit `--y 1 --x 5` names, in backprop and attribute. A
/// leading token, a token past the last, a layer that is no sequence and --token with --y are
/// clear errors.
#[test]
fn a_token_names_a_transformer_unit() {
    let m = shared().join("models/ops/vit_mini.onnx");
    let m = m.to_str().unwrap();
    let photo = shared().join("images/dog.jpg");
    let photo = photo.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("b.png");
    let layer = "/blocks/blocks.2/Add_1";
    let back = |extra: &[&str]| {
        let mut args = vec![
            "--model",
            m,
            "backprop",
            photo,
            "--layer",
            layer,
            "--unit",
            "5",
            "-o",
            png.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        deepvis(&args)
    };
    let (ok, out, err) = back(&["--token", "16"]);
    assert!(ok, "{err}");
    let by_token = json(&out);
    assert_eq!(
        (by_token["y"].as_u64(), by_token["x"].as_u64()),
        (Some(1), Some(5))
    );
    let (ok, out, err) = back(&["--y", "1", "--x", "5"]);
    assert!(ok, "{err}");
    let by_place = json(&out);
    assert_eq!(by_token["value"], by_place["value"]);
    // the last patch token, then the errors
    let (ok, out, err) = back(&["--token", "66"]);
    assert!(ok, "{err}");
    assert_eq!(
        (json(&out)["y"].as_u64(), json(&out)["x"].as_u64()),
        (Some(7), Some(7))
    );
    for (extra, says) in [
        (&["--token", "0"][..], "one of its 3 leading tokens"),
        (&["--token", "2"][..], "the patch tokens are 3..=66"),
        (
            &["--token", "67"][..],
            "has 67 tokens, 0..=66 (3 leading, then 8x8 patches)",
        ),
        (
            &["--token", "16", "--y", "1", "--x", "5"][..],
            "cannot be used with",
        ),
    ] {
        let (ok, _, err) = back(extra);
        assert!(!ok && err.contains(says), "{extra:?}: {err}");
    }
    let (ok, _, err) = deepvis(&[
        "--model",
        m,
        "backprop",
        photo,
        "--layer",
        "/patch_embed/proj/Conv",
        "--unit",
        "5",
        "--token",
        "3",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("is not a sequence of tokens"), "{err}");
}

/// `attribute --token I` explains the unit at the token's patch; `optimize --token I` makes
/// its picture, and since vit_mini is not one of the paper's networks, MACO makes it unless
/// --preset or --method asks for the paper's method; a leading token is a clear error.
#[test]
fn attribute_and_optimize_take_a_token_and_a_transformers_picture_defaults_to_maco() {
    let m = shared().join("models/ops/vit_mini.onnx");
    let m = m.to_str().unwrap();
    let photo = shared().join("images/dog.jpg");
    let photo = photo.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layer = "/blocks/blocks.2/Add_1";
    // attribute takes it too
    let v = json(&deepvis_ok(&[
        "--model",
        m,
        "attribute",
        photo,
        "--layer",
        layer,
        "--unit",
        "5",
        "--token",
        "16",
        "--method",
        "grad",
        "-o",
        dir.path().join("a.png").to_str().unwrap(),
        "--json",
    ]));
    let map = &v["maps"][0];
    assert_eq!(
        (map["y"].as_u64(), map["x"].as_u64()),
        (Some(1), Some(5)),
        "{v}"
    );
    let picture = |extra: &[&str]| {
        let o = dir.path().join("o.png");
        let mut args = vec![
            "--model",
            m,
            "optimize",
            "--layer",
            layer,
            "--unit",
            "5",
            "--token",
            "16",
            "--iters",
            "3",
            "-o",
            o.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        deepvis_ok(&args);
        let text = std::fs::read_to_string(dir.path().join("o.json")).unwrap();
        let side: serde_json::Value = serde_json::from_str(&text).unwrap();
        let at = find(&side["runs"][0]["objective"], "at").cloned();
        let param = side["runs"][0]["method"]["param"].clone();
        (at, param)
    };
    let (at, param) = picture(&[]);
    let at = at.expect("a unit at a place");
    assert_eq!(
        (at["y"].as_u64(), at["x"].as_u64()),
        (Some(1), Some(5)),
        "{at}"
    );
    assert_eq!(param, "maco");
    assert_eq!(picture(&["--preset", "2"]).1, "pixel");
    assert_eq!(picture(&["--method", "paper"]).1, "pixel");
    assert_eq!(picture(&["--method", "fourier"]).1, "fourier");
    let (ok, _, err) = deepvis(&[
        "--model", m, "optimize", "--layer", layer, "--unit", "5", "--token", "1",
    ]);
    assert!(!ok && err.contains("leading tokens"), "{err}");
}

#[test]
fn bad_onnx_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.onnx");
    std::fs::write(&bad, b"this is not a protobuf at all \xff\xfe").unwrap();
    let photo = shared().join("images/dog.jpg");
    let (ok, _, err) = deepvis(&[
        "--model",
        bad.to_str().unwrap(),
        "classify",
        photo.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("garbage.onnx"), "{err}");
    let (ok, _, err) = deepvis(&["--model", "/nonexistent/m.onnx", "layers"]);
    assert!(!ok && err.contains("/nonexistent/m.onnx"), "{err}");
}

#[test]
fn attribute_writes_every_method_a_raw_map_and_a_sanity_check() {
    let dir = tempfile::tempdir().unwrap();
    let photo = shared().join("images/coffee.png");
    let photo = photo.to_str().unwrap();
    attribute_every_method_in_one_montage(dir.path(), photo);
    attribute_one_method_with_its_raw_map(dir.path(), photo);
    // the sanity check of the gradient over the top three layers
    let out = deepvis_ok(&[
        "attribute",
        photo,
        "--layer",
        "pool10",
        "--unit",
        "967",
        "--method",
        "grad",
        "--sanity",
        "--sanity-layers",
        "3",
        "--json",
    ]);
    let v = json(&out);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["node"], "conv10.conv");
    assert!(steps.iter().all(|s| s["spearman"].as_f64().unwrap() < 0.5));
    // bad settings and units are clear errors
    for (args, says) in [
        (vec!["--noise", "NaN"], "noise"),
        (vec!["--steps", "0"], "step count"),
        (vec!["--blend", "2"], "--blend"),
        (vec!["--target-layer", "nope"], "nope"),
    ] {
        let mut a = vec!["attribute", photo, "--layer", "pool10", "--unit", "967"];
        a.extend(args);
        let (ok, _, err) = deepvis(&a);
        assert!(!ok && err.contains(says), "{a:?}: {err}");
    }
    let (ok, _, err) = deepvis(&["attribute", photo, "--layer", "pool10", "--unit", "1000"]);
    assert!(!ok && err.contains("1000"), "{err}");
}

/// Every method in one montage: the photo and eight maps, three to a row.
fn attribute_every_method_in_one_montage(dir: &std::path::Path, photo: &str) {
    let png = dir.join("all.png");
    let out = deepvis_ok(&[
        "attribute",
        photo,
        "--layer",
        "pool10",
        "--unit",
        "967",
        "--all",
        "--steps",
        "8",
        "--samples",
        "4",
        "--stride",
        "32",
        "-o",
        png.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    let maps = v["maps"].as_array().unwrap();
    let names: Vec<&str> = maps.iter().map(|m| m["method"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "grad",
            "deconv",
            "guided",
            "gradcam",
            "gradcampp",
            "occlusion",
            "smoothgrad",
            "ig"
        ]
    );
    assert_eq!(maps[3]["cam_layer"], "conv10");
    // occlusion: a probe and 8 x 8 patch positions (0, 32, ..., 192, and 195 flush with the
    // edge); integrated gradients: two probes and 8 points, or the refinements to 16 and 32
    // that its 1% completeness bound asks for
    assert_eq!(maps[5]["passes"], 1 + 64);
    let ig = maps[7]["passes"].as_u64().unwrap();
    assert!(
        [2 + 8, 2 + 8 + 16, 2 + 8 + 16 + 32].contains(&ig),
        "{ig} passes"
    );
    let img = image::open(&png).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (3 * 227 + 2 * 4, 3 * 227 + 2 * 4)
    );
}

/// One method with its raw map; a whole channel rather than one of its units.
fn attribute_one_method_with_its_raw_map(dir: &std::path::Path, photo: &str) {
    let one = dir.join("cam.png");
    let raw = dir.join("cam.safetensors");
    deepvis_ok(&[
        "attribute",
        photo,
        "--layer",
        "pool10",
        "--unit",
        "967",
        "--method",
        "gradcam",
        "--blend",
        "0.5",
        "-o",
        one.to_str().unwrap(),
        "--raw",
        raw.to_str().unwrap(),
    ]);
    let (shape, cam) = read_tensor(&raw, "attribution");
    assert_eq!(shape, [1, 1, 227, 227]);
    assert!(cam.iter().all(|v| *v >= 0.0) && cam.iter().any(|v| *v > 0.0));
    assert_eq!(image::open(&one).unwrap().width(), 227);
    // a whole channel of fire9 rather than one of its units
    let out = deepvis_ok(&[
        "attribute",
        photo,
        "--layer",
        "fire9",
        "--unit",
        "146",
        "--whole-map",
        "--method",
        "gradcampp",
        "-o",
        one.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(v["maps"][0]["y"], serde_json::Value::Null);
    assert_eq!(v["maps"][0]["cam_layer"], "pool8");
}

#[test]
fn the_committed_default_weights_classify_with_no_shared_folder_and_no_cache() {
    // a project root holding only the committed `weights/`: no ../shared beside it
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("deepvis");
    let weights = project.join("weights/squeezenet1_0");
    std::fs::create_dir_all(&weights).unwrap();
    let ours = deepvis_testdata::project_root().join("weights");
    for f in [
        "SHA256SUMS",
        "squeezenet1_0/compressed_SqueezeNet.net",
        "squeezenet1_0/LICENCE",
    ] {
        std::fs::copy(ours.join(f), project.join("weights").join(f)).unwrap();
    }
    let photo = root.path().join("coffee.png");
    std::fs::copy(shared().join("images/coffee.png"), &photo).unwrap();
    let cache = root.path().join("cache");
    let out = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .env("DEEPVIS_ROOT", &project)
        .env("XDG_CACHE_HOME", &cache)
        .env_remove("DEEPVIS_WEIGHTS")
        .args(["--backend", "cpu", "classify", "--json"])
        .arg(&photo)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("compressed_SqueezeNet.net"), "{err}");
    let v = json(&String::from_utf8_lossy(&out.stdout));
    let top = &v["top5"][0];
    assert_eq!(top["index"], 967, "{v}");
}

/// Every file under `dir`, as paths relative to it, sorted.
fn tree(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, d: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// No temporary file of the atomic write is left anywhere under `dir`.
fn assert_no_temporaries(dir: &std::path::Path) {
    let t = tree(dir);
    assert!(
        t.iter().all(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            !deepvis_topk::is_temporary(name)
        }),
        "{t:?}"
    );
}

#[test]
fn topk_stops_mid_way_with_a_clear_error_and_no_half_file_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in ["dog.jpg", "coffee.png"] {
        std::fs::copy(shared().join("images").join(f), photos.join(f)).unwrap();
    }
    let out = dir.path().join("out");
    // the sixth montage's name is taken (by a folder): the write fails after five montages
    std::fs::create_dir_all(out.join("conv1/c0005.png")).unwrap();
    let args = [
        "topk",
        "--folder",
        photos.to_str().unwrap(),
        "--layer",
        "conv1",
        "--k",
        "2",
        "--tile",
        "8",
        "-o",
        out.to_str().unwrap(),
    ];
    let (ok, _, err) = deepvis(&args);
    assert!(
        !ok && err.contains("cannot write") && err.contains("c0005.png"),
        "{err}"
    );
    assert!(!out.join("index.json").exists());
    assert_no_temporaries(&out);
    let state = deepvis_topk::ScanState::load(&out).unwrap().unwrap();
    assert_eq!(state.done.len(), 2);
    for c in 0..5 {
        let m = image::open(out.join(format!("conv1/c{c:04}.png"))).unwrap();
        assert_eq!(m.width(), 18);
    }
    // the way cleared, the same command finishes from the saved state
    std::fs::remove_dir(out.join("conv1/c0005.png")).unwrap();
    let _ = deepvis_ok(&args);
    assert_eq!(deepvis_topk::Index::load(&out).unwrap().channels.len(), 96);
    assert_no_temporaries(&out);
}

#[test]
fn search_stops_with_a_clear_error_and_whole_rows_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // trial 1's picture cannot be written
    std::fs::create_dir_all(out.join("unit207/trial00001.png")).unwrap();
    let args = [
        "search",
        "--layer",
        "pool10",
        "--units",
        "207",
        "--trials",
        "3",
        "--iters",
        "2",
        "-o",
        out.to_str().unwrap(),
    ];
    let (ok, _, err) = deepvis(&args);
    assert!(!ok && err.contains("trial00001.png"), "{err}");
    assert_no_temporaries(&out);
    let rows = std::fs::read_to_string(out.join("trials.tsv")).unwrap();
    let fields = rows.lines().next().unwrap().split('\t').count();
    assert_eq!(rows.lines().count(), 2, "{rows}");
    assert!(rows.ends_with('\n'));
    assert!(
        rows.lines().all(|l| l.split('\t').count() == fields),
        "{rows}"
    );
    std::fs::remove_dir(out.join("unit207/trial00001.png")).unwrap();
    let _ = deepvis_ok(&args);
    let rows = std::fs::read_to_string(out.join("trials.tsv")).unwrap();
    assert_eq!(rows.lines().count(), 4, "{rows}");
    assert_no_temporaries(&out);
}

#[test]
fn optimize_stops_with_a_clear_error_and_no_half_file() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("o.png");
    // the report beside the picture cannot be written
    std::fs::create_dir(dir.path().join("o.json")).unwrap();
    let run = |out: &std::path::Path| {
        deepvis(&[
            "optimize",
            "--layer",
            "pool10",
            "--unit",
            "130",
            "--iters",
            "2",
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let (ok, _, err) = run(&png);
    assert!(
        !ok && err.contains("cannot write") && err.contains("o.json"),
        "{err}"
    );
    assert_eq!(image::open(&png).unwrap().width(), 227);
    assert_no_temporaries(dir.path());
    // the output's folder is a regular file
    let file = dir.path().join("plain");
    std::fs::write(&file, b"a file").unwrap();
    let (ok, _, err) = run(&file.join("o.png"));
    assert!(
        !ok && err.contains("cannot write") && err.contains("o.png"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"a file");
    assert_no_temporaries(dir.path());
}

#[test]
fn fuzz_reports_its_counts_and_refuses_bad_options() {
    let out = deepvis_ok(&[
        "fuzz",
        "--target",
        "settings",
        "--seconds",
        "0.5",
        "--seed",
        "3",
    ]);
    let line = out
        .lines()
        .find(|l| l.starts_with("settings"))
        .unwrap_or_else(|| panic!("{out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    // target, cases, cases/s, accepted, errors, panics, hangs, seconds
    assert!(f[1].parse::<u64>().unwrap() > 100, "{line}");
    assert_eq!((f[5], f[6]), ("0", "0"), "{line}");
    let (ok, _, err) = deepvis(&["fuzz", "--seconds", "0"]);
    assert!(!ok && err.contains("--seconds"), "{err}");
    let (ok, _, err) = deepvis(&["fuzz", "--target", "mp3"]);
    assert!(!ok && err.contains("topk-index"), "{err}");
}

#[test]
fn bench_compare_prints_each_figure_beside_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    // a peer's figure in the bench's own form (what scripts/bench-onnxruntime.py writes)
    std::fs::write(
        &base,
        r#"{"runtime": "peer", "results": [{"case": "forward_to_prob", "median_ms": 5000.0}]}"#,
    )
    .unwrap();
    let b = base.to_str().unwrap();
    let args = ["bench", "--iters", "1", "--warmup", "1", "--compare", b];
    let v = json(&deepvis_ok(&[&args[..], &["--json"]].concat()));
    assert_eq!(v["baseline"], b);
    for r in v["results"].as_array().unwrap() {
        match r["case"].as_str().unwrap() {
            "forward_to_prob" => {
                assert_eq!(r["baseline_ms"], 5000.0);
                let ratio = r["ratio"].as_f64().unwrap();
                let med = r["median_ms"].as_f64().unwrap();
                assert!((ratio - med / 5000.0).abs() < 1e-9, "{r}");
            }
            _ => assert!(r["baseline_ms"].is_null() && r["ratio"].is_null(), "{r}"),
        }
    }
    // the table shows the ratio column
    let table = deepvis_ok(&args);
    assert!(table.contains("ratio"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("forward_to_prob"))
        .unwrap();
    assert!(
        row.contains("5000.00") && row.trim_end().ends_with('x'),
        "{row}"
    );
    // a file that is no bench's output is a clear error before any timing
    std::fs::write(&base, "{}").unwrap();
    let (ok, _, err) = deepvis(&args);
    assert!(!ok && err.contains("results"), "{err}");
}

#[test]
fn four_topk_shards_in_parallel_merge_into_the_single_runs_index() {
    // N local processes stand for N machines (a Kubernetes indexed Job, a Slurm array)
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("photos");
    std::fs::create_dir_all(folder.join("more")).unwrap();
    for f in ["coffee.png", "dog.jpg", "eagle.jpg"] {
        std::fs::copy(shared().join("images").join(f), folder.join(f)).unwrap();
    }
    std::fs::copy(
        shared().join("images/giraffe.jpg"),
        folder.join("more/giraffe.jpg"),
    )
    .unwrap();
    std::fs::copy(
        shared().join("videos/three_photos.mp4"),
        folder.join("clip.mp4"),
    )
    .unwrap();
    std::fs::write(folder.join("broken.jpg"), b"not a jpeg").unwrap();
    let out = |name: &str| dir.path().join(name);
    let args = |o: &std::path::Path| {
        vec![
            "--backend".to_string(),
            "cpu".into(),
            "--quiet".into(),
            "topk".into(),
            "--folder".into(),
            folder.display().to_string(),
            "--layer".into(),
            "fire9".into(),
            "--video-step".into(),
            "12".into(),
            "--k".into(),
            "4".into(),
            "-o".into(),
            o.display().to_string(),
        ]
    };
    let bin = env!("CARGO_BIN_EXE_deepvis");
    let mut children = Vec::new();
    for i in 0..4 {
        let mut a = args(&out(&format!("part{i}")));
        a.extend(["--shard".into(), format!("{i}/4")]);
        children.push(
            Command::new(bin)
                .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
                .args(&a)
                .spawn()
                .unwrap(),
        );
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let single = Command::new(bin)
        .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
        .args(args(&out("single")))
        .output()
        .unwrap();
    assert!(single.status.success());
    let part = |i: usize| out(&format!("part{i}")).display().to_string();
    // a part missing is refused
    let (ok, _, err) = deepvis(&[
        "topk",
        "merge",
        "-o",
        out("merged").to_str().unwrap(),
        &part(0),
        &part(1),
        &part(3),
    ]);
    assert!(!ok && err.contains("part 2/4 is missing"), "{err}");
    deepvis_ok(&[
        "topk",
        "merge",
        "-o",
        out("merged").to_str().unwrap(),
        &part(2),
        &part(0),
        &part(3),
        &part(1),
    ]);
    let a = deepvis_topk::Index::load(&out("single")).unwrap();
    let b = deepvis_topk::Index::load(&out("merged")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.images, 4 + 4, "four photos and four frames of the clip");
    assert_eq!(a.skipped.len(), 1);
    let parts: Vec<deepvis_topk::Index> = (0..4)
        .map(|i| deepvis_topk::Index::load(&out(&format!("part{i}"))).unwrap())
        .collect();
    assert_eq!(parts.iter().map(|p| p.images).sum::<usize>(), a.images);
    assert!(parts.iter().all(|p| p.shard.is_some()));
    for c in &a.channels {
        assert_eq!(
            std::fs::read(out("single").join(&c.montage)).unwrap(),
            std::fs::read(out("merged").join(&c.montage)).unwrap(),
            "{}",
            c.montage
        );
    }
}

#[test]
fn search_goes_on_before_the_relu_for_a_class_silent_on_noise() {
    // the peacock is silent on the Fourier method's start noise: it used to stop at once
    // with a zero gradient and a flat picture
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let (ok, _, err) = deepvis(&[
        "search",
        "--layer",
        "pool10",
        "--units",
        "84",
        "--method",
        "fourier",
        "--trials",
        "1",
        "--iters",
        "5",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let table = std::fs::read_to_string(out.join("trials.tsv")).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split('\t').collect();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split('\t').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_ne!(col("stop"), "zero_grad", "{table}");
    assert_eq!(col("iters"), "5");
    assert!(out.join(col("image")).is_file(), "{table}");
}
