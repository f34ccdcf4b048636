//! Sources: the newest-frame slot under a flood, failing sources retried, folders.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deepvis_sources::{
    Files, Frame, FrameSlot, FrameSource, SourceError, SourceStatus, SourceThread, Synthetic,
};

/// The tests of this file run one at a time: the memory test reads the whole process's RSS,
/// which the others' allocations would disturb.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn ten_thousand_frames_pushed_faster_than_taken_leave_one_and_memory_flat() {
    let _serial = serial();
    let slot = FrameSlot::new();
    let pattern = Synthetic::new(640, 480, 0);
    let img = pattern.render(1);
    slot.put(Frame {
        image: img.clone(),
        seq: 0,
        label: String::new(),
    });
    let before = rss_kib();
    let producer = {
        let slot = slot.clone();
        let img = img.clone();
        std::thread::spawn(move || {
            for seq in 1..=10_000u64 {
                slot.put(Frame {
                    image: img.clone(),
                    seq,
                    label: String::new(),
                });
            }
        })
    };
    // a slow consumer: takes one frame now and then
    let mut taken = 0;
    let mut last_taken = None;
    while !producer.is_finished() {
        assert!(slot.len() <= 1);
        if let Some(f) = slot.take() {
            taken += 1;
            last_taken = Some(f.seq);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    producer.join().unwrap();
    assert!(slot.len() <= 1);
    let after = rss_kib();
    // 10 000 frames of 640x480 would be 9 GB; memory grows by less than 50 MB
    assert!(
        after < before + 50 * 1024,
        "rss {before} KiB -> {after} KiB"
    );
    // the newest frame is the last one put: still in the slot, or taken just before the
    // producer was seen to finish
    let newest = slot.take().map(|f| f.seq).or(last_taken);
    assert_eq!(newest, Some(10_000));
    assert!(taken < 10_000);
}

#[test]
fn a_failing_source_is_reported_and_retried_until_it_works() {
    let _serial = serial();
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let slot = FrameSlot::new();
    let t = SourceThread::spawn_with(
        move || {
            if a.fetch_add(1, Ordering::SeqCst) < 1 {
                Err(SourceError::Camera("unplugged".into()))
            } else {
                Ok(Box::new(Synthetic::new(32, 32, 50)) as Box<dyn FrameSource>)
            }
        },
        slot.clone(),
        Arc::new(|| {}),
    );
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(15) {
        seen.extend(t.statuses());
        if seen
            .iter()
            .any(|s| matches!(s, SourceStatus::Running { .. }))
            && !slot.is_empty()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        matches!(&seen[0], SourceStatus::Failed { error, .. } if error.contains("unplugged")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| matches!(s, SourceStatus::Running { .. })),
        "{seen:?}"
    );
    assert!(attempts.load(Ordering::SeqCst) >= 2);
    assert!(slot.take().is_some());
}

#[test]
fn folders_step_through_their_images_and_skip_other_files() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in ["b.png", "a.png", "notes.txt"].iter().enumerate() {
        let p = dir.path().join(name);
        if name.ends_with(".png") {
            image::RgbImage::from_pixel(8 + i as u32, 8, image::Rgb([9, 9, 9]))
                .save(&p)
                .unwrap();
        } else {
            std::fs::write(&p, "x").unwrap();
        }
    }
    let mut f = Files::open(dir.path()).unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f.next_frame().unwrap().map(|i| i.width()), Some(9)); // a.png first
    assert!(f.next_frame().unwrap().is_none()); // a still source gives nothing new
    f.step(1);
    assert_eq!(f.next_frame().unwrap().map(|i| i.width()), Some(8));
    f.step(1);
    assert!(f.label().contains("a.png"));
    let empty = tempfile::tempdir().unwrap();
    assert!(Files::open(empty.path()).is_err());
    assert!(Files::open(&dir.path().join("absent")).is_err());
    // a broken image is passed in the direction of the step and named, not a stop
    std::fs::write(dir.path().join("c.png"), b"not a png").unwrap();
    let mut f = Files::open(dir.path()).unwrap();
    f.next_frame().unwrap();
    f.step(2);
    assert_eq!(f.next_frame().unwrap().map(|i| i.width()), Some(9)); // c.png -> a.png
    assert!(
        f.label().contains("skipped 1 unreadable: c.png"),
        "{}",
        f.label()
    );
    f.step(-1);
    assert_eq!(f.next_frame().unwrap().map(|i| i.width()), Some(8)); // back past c.png
}

/// A named pipe given as the source itself (not found in a folder) is refused at once, named
/// for what it is: opening it would block until a writer came.
#[test]
fn a_named_pipe_as_the_source_is_refused_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("camera.png");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "mkfifo {} failed", fifo.display());
    let e = match Files::open(&fifo) {
        Ok(_) => panic!("a named pipe opened as a source"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("camera.png") && e.contains("not a regular file"),
        "{e}"
    );
    let e = match Files::open(&dir.path().join("absent.png")) {
        Ok(_) => panic!("an absent file opened"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn a_folder_whose_first_file_is_broken_shows_the_first_readable_one() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("0-broken.jpg"), b"\xff\xd8 not a jpeg").unwrap();
    std::fs::write(dir.path().join("1-empty.png"), b"").unwrap();
    image::RgbImage::from_pixel(12, 8, image::Rgb([1, 2, 3]))
        .save(dir.path().join("2-good.png"))
        .unwrap();
    let mut f = Files::open(dir.path()).unwrap();
    assert_eq!(f.next_frame().unwrap().map(|i| i.width()), Some(12));
    assert_eq!(f.skipped().len(), 2);
    let label = f.label();
    assert!(label.contains("2-good.png (3/3)"), "{label}");
    assert!(
        label.contains("skipped 2 unreadable: 0-broken.jpg, 1-empty.png"),
        "{label}"
    );
    // through the source thread: the first frame arrives, no waiting on the broken file
    let slot = FrameSlot::new();
    let src = SourceThread::spawn(
        deepvis_protocol::SourceSpec::Path(dir.path().to_path_buf()),
        slot.clone(),
        Arc::new(|| {}),
    );
    let t0 = Instant::now();
    let mut frame = None;
    while frame.is_none() && t0.elapsed() < Duration::from_secs(10) {
        frame = slot.take();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(frame.map(|f| f.image.width()), Some(12));
    drop(src);
    // a folder of nothing readable is an error naming the count
    std::fs::remove_file(dir.path().join("2-good.png")).unwrap();
    let mut f = Files::open(dir.path()).unwrap();
    let e = f.next_frame().unwrap_err().to_string();
    assert!(e.contains("none of the 2 files"), "{e}");
}
