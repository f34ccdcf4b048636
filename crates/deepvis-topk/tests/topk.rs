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
        shard: None,
        stats: Vec::new(),
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
        shard: None,
        stats: Vec::new(),
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

#[test]
fn shards_split_a_folder_stably_and_merge_into_the_whole() {
    use deepvis_topk::{Shard, shard_of};
    // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c
    assert_eq!(
        shard_of("a", 1 << 20),
        (0xaf63dc4c8601ec8c_u64 % (1 << 20)) as usize
    );
    assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
    for bad in ["4/4", "1/0", "x/2", "3"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    let files: Vec<String> = (0..200).map(|i| format!("d{}/img{i}.jpg", i % 7)).collect();
    let parts: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
    for f in &files {
        assert_eq!(parts.iter().filter(|p| p.holds(f)).count(), 1, "{f}");
    }
    // every part gets a fair share
    for p in &parts {
        let n = files.iter().filter(|f| p.holds(f)).count();
        assert!((30..=70).contains(&n), "part {} holds {n}", p.index);
    }
    // four parts' scans merge into the scan of the whole, whatever the order
    let score = |f: &str, c: usize| ((f.len() * 7 + c * 13) % 17) as f32;
    let scan = |part: Option<Shard>| {
        let mut s = ScanState {
            model: "m".into(),
            layer: "l".into(),
            folder: "/photos".into(),
            done: Default::default(),
            skipped: vec![],
            top: TopK::new(3, 4),
            shard: part,
            stats: Vec::new(),
        };
        for f in files.iter().filter(|f| part.is_none_or(|p| p.holds(f))) {
            if f.ends_with("7.jpg") {
                s.skipped.push((f.clone(), "broken".into()));
            } else {
                for c in 0..3 {
                    s.top.offer(c, hit(f, score(f, c)));
                }
            }
            s.done.insert(f.clone());
        }
        s
    };
    let whole = scan(None);
    let mut pieces: Vec<ScanState> = parts.iter().map(|p| scan(Some(*p))).collect();
    pieces.reverse();
    let merged = ScanState::merge(pieces.clone()).unwrap();
    let mut whole_sorted = whole.clone();
    whole_sorted.skipped.sort();
    assert_eq!(merged, whole_sorted);
    // what does not make a whole is refused
    let e = |v: Vec<ScanState>| ScanState::merge(v).unwrap_err().to_string();
    assert!(e(pieces[..3].to_vec()).contains("is missing"));
    let mut twice = pieces.clone();
    twice[0] = pieces[1].clone();
    assert!(e(twice).contains("twice"));
    let mut other = pieces.clone();
    other[2].layer = "k".into();
    assert!(e(other).contains("beside"));
    assert!(e(vec![whole]).contains("whole folder"));
    assert!(e(vec![]).contains("no scan"));
}
