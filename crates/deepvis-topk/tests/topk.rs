//! The top-k accumulator, the scan state and the index.

use std::fs;

use deepvis_topk::*;

fn hit(file: &str, score: f32) -> Hit {
    Hit {
        file: file.into(),
        score,
        y: 0,
        x: 0,
    }
}

#[test]
fn keeps_the_k_best_once_each_in_order() {
    let mut t = TopK::new(2, 3);
    for (f, s) in [("a", 1.0), ("b", 5.0), ("c", 3.0), ("d", 4.0), ("e", 0.5)] {
        t.offer(0, hit(f, s));
    }
    let files: Vec<_> = t.hits(0).iter().map(|h| h.file.as_str()).collect();
    assert_eq!(files, ["b", "d", "c"]);
    // a better hit of an image already present replaces it; a worse one is refused
    assert!(t.offer(0, hit("c", 6.0)));
    assert!(!t.offer(0, hit("b", 2.0)));
    let files: Vec<_> = t.hits(0).iter().map(|h| h.file.as_str()).collect();
    assert_eq!(files, ["c", "b", "d"]);
    assert!(!t.offer(0, hit("z", f32::NAN)));
    assert!(!t.offer(5, hit("z", 1.0)));
    assert!(t.hits(1).is_empty());
    // ties in file order
    let mut t = TopK::new(1, 2);
    t.offer(0, hit("y", 1.0));
    t.offer(0, hit("x", 1.0));
    t.offer(0, hit("w", 1.0));
    let files: Vec<_> = t.hits(0).iter().map(|h| h.file.as_str()).collect();
    assert_eq!(files, ["w", "x"]);
}

#[test]
fn state_and_index_round_trip_and_bad_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ScanState::load(dir.path()).unwrap().is_none());
    let mut top = TopK::new(1, 2);
    top.offer(0, hit("a.jpg", 2.0));
    let s = ScanState {
        model: "squeezenet1_0".into(),
        layer: "fire9".into(),
        folder: "/x".into(),
        done: ["a.jpg".to_string()].into_iter().collect(),
        skipped: vec![],
        top,
    };
    s.save(dir.path()).unwrap();
    assert_eq!(ScanState::load(dir.path()).unwrap(), Some(s));
    fs::write(Index::path(dir.path()), b"{\"model\": 3}").unwrap();
    let e = Index::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("index.json"), "{e}");
    assert!(Index::load(&dir.path().join("nope")).is_err());
}

/// The names in a folder (sorted), to check what a failed write left behind.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn an_atomic_write_is_whole_or_absent_when_the_disk_fills_up() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("index.json");
    // the disk fills up half way through the write: an error naming the file, and neither
    // the file nor its temporary is left
    let e = write_atomic_with(&p, |w| {
        w.write_all(b"{\"model\": \"squeeze")?;
        Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("cannot write") && msg.contains("index.json"),
        "{msg}"
    );
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    // an earlier version of the file stays as it was
    write_atomic(&p, b"old").unwrap();
    assert!(
        write_atomic_with(&p, |w| {
            w.write_all(b"new but cut")?;
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        })
        .is_err()
    );
    assert_eq!(fs::read(&p).unwrap(), b"old");
    assert_eq!(names(dir.path()), ["index.json"]);
    write_atomic(&p, b"new").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new");
    assert_eq!(names(dir.path()), ["index.json"]);
}

#[test]
fn an_atomic_write_into_a_folder_that_became_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let state = ScanState {
        model: "m".into(),
        layer: "l".into(),
        folder: "/photos".into(),
        done: Default::default(),
        skipped: vec![],
        top: TopK::new(2, 2),
    };
    state.save(&out).unwrap();
    // mid-run, the output folder is replaced by a regular file
    fs::remove_dir_all(&out).unwrap();
    fs::write(&out, b"not a folder").unwrap();
    let msg = state.save(&out).unwrap_err().to_string();
    assert!(
        msg.contains("cannot write") && msg.contains("state.json"),
        "{msg}"
    );
    assert_eq!(names(dir.path()), ["out"]);
    assert_eq!(fs::read(&out).unwrap(), b"not a folder");
    // the file's name is a folder: the rename fails, the temporary is removed
    fs::remove_file(&out).unwrap();
    fs::create_dir_all(out.join("index.json")).unwrap();
    let msg = write_atomic(&Index::path(&out), b"{}")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("index.json"), "{msg}");
    assert_eq!(names(&out), ["index.json"]);
    assert!(out.join("index.json").is_dir());
    assert!(is_temporary(".index.json.12.3.tmp") && !is_temporary("index.json"));
}
