//! Hostile files and folders end to end (issue 28): the `deepvis` binary on folders with
//! links that loop and pipes named like photos, models whose node names are paths, photos
//! that are pipes, models over the memory budget. Each run is a child process killed after
//! 60 s, so a hang fails the test instead of blocking it; timings are printed, not asserted.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deepvis_onnx::proto::dtype;
use deepvis_onnx::write::{floats, ints, model, node, value};
use deepvis_testdata::shared;

/// Runs deepvis (CPU, quiet) for at most 60 s: (success, stdout, stderr).
fn deepvis(args: &[&str]) -> (bool, String, String) {
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
        .args(["--backend", "cpu", "--quiet"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run deepvis");
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("deepvis {args:?} still ran after 60 s: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    eprintln!(
        "deepvis {:?}: {:.2} s",
        args.first().copied().unwrap_or(""),
        t0.elapsed().as_secs_f64()
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {} failed", path.display());
}

/// x [N, 3, side, side] -> conv `conv_name` (1x1 or 3x3 to `out` channels) -> relu `relu_name`.
fn conv_model(side: i64, out: i64, k: i64, conv_name: &str, relu_name: &str) -> Vec<u8> {
    let w: Vec<f32> = (0..out * 3 * k * k)
        .map(|i| ((i % 7) as f32 - 3.0) * 0.1)
        .collect();
    let mut conv = node("Conv", conv_name, &["x", "w"], "c");
    conv.attribute = vec![ints("pads", &[k / 2; 4])];
    model(
        13,
        value("x", dtype::FLOAT, &[None, Some(3), Some(side), Some(side)]),
        vec![conv, node("Relu", relu_name, &["c"], "y")],
        vec![floats("w", &[out, 3, k, k], &w)],
        "y",
    )
}

/// A folder of two photos, a link to itself, a second link to itself, and a named pipe and
/// a link to /dev/zero named like photos.
fn hostile_folder(root: &Path) -> PathBuf {
    let photos = root.join("photos");
    std::fs::create_dir(&photos).unwrap();
    for f in ["dog.jpg", "coffee.png"] {
        std::fs::copy(shared().join("images").join(f), photos.join(f)).unwrap();
    }
    std::os::unix::fs::symlink(".", photos.join("self")).unwrap();
    std::os::unix::fs::symlink("..", photos.join("up")).unwrap();
    mkfifo(&photos.join("a.jpg"));
    std::os::unix::fs::symlink("/dev/zero", photos.join("zero.png")).unwrap();
    photos
}

#[test]
fn topk_on_a_folder_that_links_to_itself_and_holds_a_pipe_reads_each_photo_once() {
    let dir = tempfile::tempdir().unwrap();
    let photos = hostile_folder(dir.path());
    let out = dir.path().join("out");
    let (ok, _, err) = deepvis(&[
        "topk",
        "--folder",
        photos.to_str().unwrap(),
        "--layer",
        "conv1",
        "--k",
        "4",
        "--tile",
        "16",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("a.jpg") && err.contains("named pipe"),
        "the pipe is named: {err}"
    );
    let index = deepvis_topk::Index::load(&out).unwrap();
    // each photo once, however many ways the links reach it
    assert_eq!(index.images, 2, "{err}");
    for c in &index.channels {
        let files: std::collections::BTreeSet<&str> =
            c.hits.iter().map(|h| h.file.as_str()).collect();
        assert_eq!(
            files.len(),
            c.hits.len(),
            "channel {}: {:?}",
            c.channel,
            c.hits
        );
    }
}

#[test]
fn a_node_named_like_a_path_writes_its_montages_inside_the_output_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::write(&model, conv_model(16, 2, 1, "../../escape", "/tmp/abs")).unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    std::fs::copy(shared().join("images/dog.jpg"), photos.join("dog.jpg")).unwrap();
    let out = dir.path().join("a/b/out");
    for layer in ["../../escape", "/tmp/abs"] {
        let (ok, _, err) = deepvis(&[
            "--model",
            model.to_str().unwrap(),
            "topk",
            "--folder",
            photos.to_str().unwrap(),
            "--layer",
            layer,
            "--k",
            "1",
            "--tile",
            "8",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{layer}: {err}");
        let index = deepvis_topk::Index::load(&out).unwrap();
        for c in 0..2 {
            let m = index.montage(&out, c).unwrap();
            assert!(m.starts_with(&out) && m.is_file(), "{}", m.display());
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    // nothing was written beside the output folder or above it
    let above: Vec<_> = std::fs::read_dir(dir.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(above, vec![std::ffi::OsString::from("b")]);
    assert!(!dir.path().join("escape").exists() && !Path::new("/tmp/abs").exists());
}

#[test]
fn a_photo_or_a_model_that_is_a_pipe_or_a_device_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("a.jpg");
    mkfifo(&fifo);
    let (ok, _, err) = deepvis(&["classify", fifo.to_str().unwrap()]);
    assert!(!ok && err.contains("named pipe"), "{err}");
    let zero = dir.path().join("zero.jpg");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let (ok, _, err) = deepvis(&["classify", zero.to_str().unwrap()]);
    assert!(!ok && err.contains("character device"), "{err}");
    let model = dir.path().join("m.onnx");
    mkfifo(&model);
    let (ok, _, err) = deepvis(&["--model", model.to_str().unwrap(), "layers"]);
    assert!(!ok && err.contains("named pipe"), "{err}");
    let model = dir.path().join("zero.onnx");
    std::os::unix::fs::symlink("/dev/zero", &model).unwrap();
    let (ok, _, err) = deepvis(&["--model", model.to_str().unwrap(), "layers"]);
    assert!(!ok && err.contains("character device"), "{err}");
}

#[test]
fn a_model_over_the_memory_budget_is_refused_naming_the_node_and_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("wide.onnx");
    std::fs::write(&model, conv_model(224, 65536, 3, "wide", "relu")).unwrap();
    let m = model.to_str().unwrap();
    let (ok, _, err) = deepvis(&["--model", m, "--memory-budget", "8G", "layers"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("`wide`") && err.contains("13.2 GB") && err.contains("8.6 GB"),
        "{err}"
    );
    // the environment variable does the same; a budget that fits lets it load
    let out = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .env("DEEPVIS_MEMORY_BUDGET", "2G")
        .args(["--backend", "cpu", "--quiet", "--model", m, "layers"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("2.1 GB"), "{err}");
    let (ok, out, err) = deepvis(&["--model", m, "--memory-budget", "64G", "layers"]);
    assert!(ok && out.contains("wide"), "{err}");
    let (ok, _, err) = deepvis(&["--memory-budget", "lots", "layers"]);
    assert!(!ok && err.contains("byte count"), "{err}");
}
