//! Hostile model files (issue 28): each case is built here and must give a clear error (or
//! the right result) quickly and without a memory blow-up. Timings are printed, not asserted;
//! a hang is caught by the 60 s limit of the child processes the slow cases run in.

use std::path::{Path, PathBuf};
use std::time::Instant;

use deepvis_model::ModelInfo;
use deepvis_onnx::proto::*;
use deepvis_onnx::spec::{Sidecar, open};
use deepvis_onnx::write::{floats, ints, model, node, value};
use deepvis_onnx::{OnnxError, load, read_bytes};

fn input(side: i64) -> ValueInfoProto {
    value("x", dtype::FLOAT, &[None, Some(3), Some(side), Some(side)])
}

/// x -> Identity x `n` -> y.
fn chain(n: usize) -> Vec<u8> {
    let nodes = (0..n)
        .map(|i| {
            let from = if i == 0 {
                "x".to_string()
            } else {
                format!("v{}", i - 1)
            };
            let to = if i + 1 == n {
                "y".to_string()
            } else {
                format!("v{i}")
            };
            node("Identity", &format!("id{i}"), &[&from], &to)
        })
        .collect();
    model(
        13,
        value("x", dtype::FLOAT, &[None, Some(3), Some(8), Some(8)]),
        nodes,
        vec![],
        "y",
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

/// The preprocessing of a `size` input (no sidecar, no file).
fn spec_of(size: usize) -> deepvis_model::preprocess::InputSpec {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(dir.path(), "m.onnx", b"not read: the size is given");
    let flags = Sidecar {
        size: Some(size),
        ..Sidecar::default()
    };
    deepvis_onnx::spec::model_input(&path, Some([size, size]), &flags)
        .unwrap_or_else(|e| panic!("{e}"))
        .spec
}

#[test]
fn a_chain_of_100000_identity_nodes_loads_in_linear_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(dir.path(), "chain.onnx", &chain(100_000));
    let t0 = Instant::now();
    let (m, input) = open(&path, &Sidecar::default()).unwrap_or_else(|e| panic!("{e}"));
    let read = t0.elapsed();
    let info =
        ModelInfo::new(&m.graph, "chain", input.spec, None).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "100,000-node chain: read and checked in {:.3} s, model info in {:.3} s",
        read.as_secs_f64(),
        (t0.elapsed() - read).as_secs_f64()
    );
    assert_eq!(info.layers().len(), 100_000);
    assert_eq!(info.logits_layer(), "id99999");
}

fn err<T>(r: Result<T, OnnxError>) -> String {
    match r {
        Ok(_) => panic!("a hostile model was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Runs `f` on a thread and waits at most 60 s for it: a hang fails the test instead of
/// blocking it forever.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("still running after 60 s: a hang"))
}

/// Makes a named pipe (FIFO) at `path` with `mkfifo`.
fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {} failed", path.display());
}

/// x [N, 3, side, side] -> conv (`out` channels, `k`x`k`, pads `pad`) -> relu.
fn conv(side: i64, out: i64, k: i64, pad: i64) -> Vec<u8> {
    let w = vec![0.01f32; (out * 3 * k * k) as usize];
    let mut c = node("Conv", "big_conv", &["x", "w"], "c");
    c.attribute = vec![ints("pads", &[pad; 4]), ints("kernel_shape", &[k, k])];
    model(
        13,
        input(side),
        vec![c, node("Relu", "relu", &["c"], "y")],
        vec![floats("w", &[out, 3, k, k], &w)],
        "y",
    )
}

fn read(bytes: &[u8]) -> Result<deepvis_onnx::OnnxModel, OnnxError> {
    read_bytes(bytes, Path::new("/models/m.onnx"))
}

#[test]
fn two_nodes_producing_one_value_are_refused() {
    let bytes = model(
        13,
        input(8),
        vec![
            node("Relu", "a", &["x"], "v"),
            node("Sigmoid", "b", &["x"], "v"),
            node("Relu", "c", &["v"], "y"),
        ],
        vec![],
        "y",
    );
    let e = err(read(&bytes));
    assert!(
        e.contains("`b`") && e.contains("one producer") && e.contains("`a`"),
        "{e}"
    );
    // a node whose output is the graph's input
    let bytes = model(
        13,
        input(8),
        vec![node("Relu", "a", &["x"], "x")],
        vec![],
        "x",
    );
    let e = err(read(&bytes));
    assert!(e.contains("one producer"), "{e}");
}

#[test]
fn a_cycle_and_an_unsorted_graph_are_refused_naming_the_node() {
    // a -> b -> a
    let bytes = model(
        13,
        input(8),
        vec![
            node("Add", "a", &["x", "q"], "p"),
            node("Relu", "b", &["p"], "q"),
        ],
        vec![],
        "q",
    );
    let e = err(read(&bytes));
    assert!(e.contains("`a`") && e.contains("topological"), "{e}");
}

#[test]
fn a_pad_of_100000_is_refused_by_the_memory_budget_before_anything_is_allocated() {
    let m = read(&conv(224, 2, 1, 100_000)).unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let e = ModelInfo::new(&m.graph, "pad", spec_of(224), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    eprintln!(
        "pad 100000: refused in {:.3} s: {e}",
        t0.elapsed().as_secs_f64()
    );
    assert!(e.contains("big_conv") && e.contains("memory budget"), "{e}");
    assert!(e.contains("200224"), "the error says the size: {e}");
}

#[test]
fn a_65536_channel_convolution_at_224_is_over_an_8_gb_budget() {
    let m = read(&conv(224, 65536, 3, 1)).unwrap_or_else(|e| panic!("{e}"));
    let shapes = m
        .graph
        .shapes(1, 224, 224)
        .unwrap_or_else(|e| panic!("{e}"));
    let est = m.graph.memory(&shapes);
    eprintln!(
        "65536 channels at 224: weights {} bytes, forward peak {} bytes, backward {} bytes",
        est.weights, est.forward_peak, est.backward_peak
    );
    // the conv's output alone is 65536 x 224 x 224 x 4 bytes
    assert_eq!(
        est.largest.as_ref().map(|l| l.1),
        Some(65536 * 224 * 224 * 4)
    );
    let e = m
        .graph
        .check_memory(&shapes, [1, 3, 224, 224], 8 << 30, false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("big_conv") && e.contains("13.2 GB"), "{e}");
    // a small input fits
    let shapes = m.graph.shapes(1, 8, 8).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        m.graph
            .check_memory(&shapes, [1, 3, 8, 8], 8 << 30, false)
            .is_ok()
    );
}

#[test]
fn a_10000_pixel_input_and_huge_sidecar_sizes_are_refused() {
    let bytes = model(
        13,
        input(10_000),
        vec![node("Relu", "r", &["x"], "y")],
        vec![],
        "y",
    );
    let e = err(read(&bytes));
    assert!(e.contains("10000x10000") && e.contains("4096"), "{e}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = write(
        dir.path(),
        "m.onnx",
        &model(
            13,
            value("x", dtype::FLOAT, &[None, Some(3), None, None]),
            vec![node("Relu", "r", &["x"], "y")],
            vec![],
            "y",
        ),
    );
    for (text, says) in [
        ("resize = 4e9", "resize"),
        ("resize = 4000000000", "resize 4000000000"),
        ("size = 100000", "input size 100000"),
    ] {
        write(dir.path(), "m.onnx.toml", text.as_bytes());
        let e = err(open(&path, &Sidecar::default()));
        assert!(e.contains(says), "{text}: {e}");
    }
    let huge = Sidecar {
        size: Some(10_000),
        ..Sidecar::default()
    };
    std::fs::remove_file(dir.path().join("m.onnx.toml")).unwrap_or_else(|e| panic!("{e}"));
    let e = err(open(&path, &huge));
    assert!(e.contains("input size 10000"), "{e}");
}

#[test]
fn a_named_pipe_or_a_device_as_the_model_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fifo = dir.path().join("pipe.onnx");
    mkfifo(&fifo);
    let e = within_a_minute(move || err(load(&fifo)));
    assert!(e.contains("named pipe"), "{e}");
    for dev in ["/dev/zero", "/dev/urandom"] {
        let link = dir.path().join(format!("{}.onnx", &dev[5..]));
        std::os::unix::fs::symlink(dev, &link).unwrap_or_else(|e| panic!("{e}"));
        let e = within_a_minute(move || err(load(&link)));
        assert!(e.contains("character device"), "{dev}: {e}");
    }
}

/// A 1x1 conv model whose weight `w` is external data at `location`.
fn external(location: &str) -> Vec<u8> {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![2, 3, 1, 1],
        data_type: dtype::FLOAT,
        data_location: 1,
        external_data: vec![StringStringEntryProto {
            key: "location".into(),
            value: location.into(),
        }],
        ..Default::default()
    };
    model(
        13,
        input(8),
        vec![node("Conv", "conv", &["x", "w"], "y")],
        vec![w],
        "y",
    )
}

#[test]
fn external_data_must_be_a_regular_file_inside_the_models_folder() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let outside = write(root.path(), "secret.bin", &[0u8; 24]);
    // beside the model, a plain file: read
    write(&dir, "w.bin", &[0u8; 24]);
    let ok = write(&dir, "ok.onnx", &external("w.bin"));
    assert!(load(&ok).is_ok());
    // a link beside the model to a file outside its folder
    std::os::unix::fs::symlink(&outside, dir.join("link.bin")).unwrap_or_else(|e| panic!("{e}"));
    let m = write(&dir, "link.onnx", &external("link.bin"));
    let e = err(load(&m));
    assert!(
        e.contains("outside the model's folder") && e.contains("link.bin"),
        "{e}"
    );
    // a link to /etc/passwd
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.bin"))
        .unwrap_or_else(|e| panic!("{e}"));
    let m = write(&dir, "passwd.onnx", &external("passwd.bin"));
    let e = err(load(&m));
    assert!(e.contains("outside the model's folder"), "{e}");
    // a named pipe as the external data
    mkfifo(&dir.join("pipe.bin"));
    let m = write(&dir, "pipe.onnx", &external("pipe.bin"));
    let e = within_a_minute(move || err(load(&m)));
    assert!(e.contains("named pipe"), "{e}");
    // `../` in the location
    let m = write(&dir, "up.onnx", &external("../secret.bin"));
    let e = err(load(&m));
    assert!(e.contains("plain path beside the model"), "{e}");
}

#[test]
fn photos_that_are_pipes_or_devices_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let fifo = dir.path().join("a.jpg");
    mkfifo(&fifo);
    let e = within_a_minute(move || {
        deepvis_model::preprocess::load_image(&fifo)
            .err()
            .map(|e| e.to_string())
    });
    assert!(
        e.as_deref().is_some_and(|e| e.contains("named pipe")),
        "{e:?}"
    );
    for dev in ["/dev/zero", "/dev/urandom"] {
        let link = dir.path().join(format!("{}.jpg", &dev[5..]));
        std::os::unix::fs::symlink(dev, &link).unwrap_or_else(|e| panic!("{e}"));
        let e = within_a_minute(move || {
            deepvis_model::preprocess::load_image(&link)
                .err()
                .map(|e| e.to_string())
        });
        assert!(
            e.as_deref().is_some_and(|e| e.contains("character device")),
            "{dev}: {e:?}"
        );
    }
}

#[test]
fn weights_files_that_are_pipes_or_devices_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for name in ["w.pth", "w.safetensors", "w.net"] {
        let fifo = dir.path().join(name);
        mkfifo(&fifo);
        let e = within_a_minute(move || {
            deepvis_model::WeightMap::read(&fifo)
                .err()
                .map(|e| e.to_string())
        });
        assert!(
            e.as_deref().is_some_and(|e| e.contains("named pipe")),
            "{name}: {e:?}"
        );
        let zero = dir.path().join(format!("zero-{name}"));
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap_or_else(|e| panic!("{e}"));
        let e = within_a_minute(move || {
            deepvis_model::WeightMap::read(&zero)
                .err()
                .map(|e| e.to_string())
        });
        assert!(
            e.as_deref().is_some_and(|e| e.contains("character device")),
            "{name}: {e:?}"
        );
    }
}
