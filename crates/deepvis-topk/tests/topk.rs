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
