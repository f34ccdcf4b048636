use super::*;

fn sample() -> ConceptFile {
    let pos = [[3.0f32, 0.5, 1.0], [2.0, 0.0, 1.5]];
    let neg = [[0.0f32, 0.5, 1.0], [-1.0, 1.0, 0.5]];
    let cav = Cav::fit(Fit::Logistic, &pos, &neg).unwrap();
    ConceptFile::new(
        &cav,
        "red cup",
        "squeezenet1_0",
        Some("ab12".into()),
        "fire9/concat",
    )
}

fn saved(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("cup.json");
    sample().save(&path).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn save_then_load_is_the_same_concept() {
    let dir = tempfile::tempdir().unwrap();
    let c = sample();
    assert_eq!((c.channels, c.version, c.fit), (3, 1, Fit::Logistic));
    let (path, text) = saved(dir.path());
    assert!(text.contains("\"fit\": \"logistic\""), "{text}");
    let back = ConceptFile::load(&path).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.cav().direction, c.direction);
    // saved again over itself: still one whole file, no temporary left behind
    back.save(&path).unwrap();
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("cup.json")]);
    assert_eq!(ConceptFile::load(&path).unwrap(), c);
}

#[test]
fn a_truncated_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = saved(dir.path());
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    let e = ConceptFile::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("cup.json") && e.contains("not a deepvis concept file") && e.contains("EOF"),
        "{e}"
    );
}

#[test]
fn a_wrong_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = saved(dir.path());
    fs::write(&path, text.replace("\"version\": 1", "\"version\": 2")).unwrap();
    let e = ConceptFile::load(&path).unwrap_err();
    assert!(matches!(
        e,
        Error::Version {
            found: 2,
            expected: 1,
            ..
        }
    ));
    assert!(e.to_string().contains("version 2"), "{e}");
    fs::write(&path, text.replace("\"version\": 1,", "")).unwrap();
    let e = ConceptFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("no version"), "{e}");
}

#[test]
fn a_direction_of_another_length_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = saved(dir.path());
    fs::write(&path, text.replace("\"channels\": 3", "\"channels\": 4")).unwrap();
    let e = ConceptFile::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("direction has 3 values but it says channels = 4"),
        "{e}"
    );
    // and it is not saved either
    let mut c = sample();
    c.direction.pop();
    let e = c
        .save(&dir.path().join("other.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot save") && e.contains("2 values"), "{e}");
    assert!(!dir.path().join("other.json").exists());
}

#[test]
fn non_finite_or_meaningless_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = saved(dir.path());
    // 1e39 is beyond f32: serde reads it as infinity
    let mut value: serde_json::Value = serde_json::to_value(sample()).unwrap();
    value["direction"][1] = serde_json::json!(1e39);
    fs::write(&path, value.to_string()).unwrap();
    let e = ConceptFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("direction's value 1 is not finite"), "{e}");
    let mut c = sample();
    c.direction = vec![0.0; 3];
    let e = c.save(&path).unwrap_err().to_string();
    assert!(e.contains("all 0"), "{e}");
    c.direction = vec![f32::NAN, 0.0, 1.0];
    assert!(c.save(&path).is_err());
}

#[test]
fn only_small_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let e = ConceptFile::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("folder"), "{e}");
    let big = dir.path().join("big.json");
    fs::File::create(&big)
        .unwrap()
        .set_len(MAX_CONCEPT_FILE_BYTES + 1)
        .unwrap();
    let e = ConceptFile::load(&big).unwrap_err().to_string();
    assert!(e.contains("more than the limit"), "{e}");
    let e = ConceptFile::load(&dir.path().join("missing.json")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    // a named pipe is refused, not waited on
    let fifo = dir.path().join("pipe.json");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let e = ConceptFile::load(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
    // a folder that does not exist: the save fails and names the file
    let e = sample()
        .save(&dir.path().join("no/such/c.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.json"), "{e}");
}

#[test]
fn check_names_both_sides() {
    let c = sample();
    assert!(c.check("squeezenet1_0", "fire9/concat", 3).is_ok());
    let e = c
        .check("alexnet", "fire9/concat", 3)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "the concept \"red cup\" was made for model squeezenet1_0, but the model here is alexnet"
    );
    let e = c
        .check("squeezenet1_0", "fire8/concat", 3)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer fire9/concat") && e.contains("fire8/concat"),
        "{e}"
    );
    let e = c
        .check("squeezenet1_0", "fire9/concat", 512)
        .unwrap_err()
        .to_string();
    assert!(e.contains("channel count 3") && e.contains("512"), "{e}");
}
