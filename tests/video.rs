//! Video in, recordings out: the shared clips (`../shared/videos`, H.264 MP4, VP9 WebM, an
//! animated GIF, a cut-short MP4 and random bytes) through the decoders, the player source,
//! the engine, the CLI and `topk`; recordings read back. Needs FFmpeg's programs
//! (`scripts/setup.sh` installs them). (Top-level `tests/`, run as a test of the `deepvis`
//! crate.)

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deepvis_protocol::{Command, Event, PlayerCommand, RecordTarget, SourceSpec};
use deepvis_sources::ffmpeg::Codec;
use deepvis_sources::video::{FrameAt, open_clip, read_frame};
use deepvis_sources::{Ffmpeg, FrameSource, Recorder, Video};
use deepvis_testdata::shared;
use image::RgbImage;

fn clip(name: &str) -> PathBuf {
    shared().join("videos").join(name)
}

fn ffmpeg() -> Ffmpeg {
    let f = Ffmpeg::from_env();
    assert!(
        f.available(),
        "these tests need ffmpeg and ffprobe (scripts/setup.sh)"
    );
    f
}

/// Mean absolute difference of two images of one size, in levels.
fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let s: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    s as f64 / a.as_raw().len() as f64
}

/// The photo as the clip shows it: scaled to cover `w x h`, centre-cropped.
fn photo_as_frame(name: &str, w: u32, h: u32) -> RgbImage {
    let img = image::open(shared().join("images").join(name))
        .unwrap()
        .to_rgb8();
    let s = (w as f64 / img.width() as f64).max(h as f64 / img.height() as f64);
    let (sw, sh) = (
        (img.width() as f64 * s).round() as u32,
        (img.height() as f64 * s).round() as u32,
    );
    let r = image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Triangle);
    image::imageops::crop_imm(&r, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
}

const THIRDS: [&str; 3] = ["eagle.jpg", "coffee.png", "dog.jpg"];

#[test]
fn each_clip_decodes_to_its_frames_in_order() {
    let f = ffmpeg();
    for (name, frames, (w, h), fps) in [
        ("three_photos.mp4", 48, (320, 240), 10.0),
        ("three_photos.webm", 48, (320, 240), 10.0),
        ("three_photos.gif", 24, (160, 120), 5.0),
    ] {
        let mut c = open_clip(&f, &clip(name)).unwrap();
        let info = c.info().clone();
        assert_eq!(
            (info.frames, info.width, info.height),
            (frames, w, h),
            "{name}"
        );
        assert!((info.fps - fps).abs() < 1e-9, "{name}: {}", info.fps);
        let photos: Vec<RgbImage> = THIRDS.iter().map(|p| photo_as_frame(p, w, h)).collect();
        let mut all = Vec::new();
        for n in 0..frames {
            all.push(c.frame(n).unwrap());
        }
        assert!(c.frame(frames).is_err(), "{name}: a frame past the end");
        // every frame of each third is nearest to its photo
        for (n, img) in all.iter().enumerate() {
            let third = n * 3 / frames as usize;
            let d: Vec<f64> = photos.iter().map(|p| mad(img, p)).collect();
            let best = (0..3).min_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap();
            assert_eq!(best, third, "{name} frame {n}: {d:?}");
        }
        // seeking lands on the very frame reading in order gave (back and forth)
        for n in [40, 17, 0, frames - 1, 5] {
            let n = n.min(frames - 1);
            assert_eq!(c.frame(n).unwrap(), all[n as usize], "{name} seek to {n}");
        }
        // and a time names the frame shown then
        let t = read_frame(&f, &clip(name), FrameAt::Seconds(1.6)).unwrap();
        assert_eq!(t, all[(1.6 * fps) as usize], "{name} at 1.6 s");
    }
}

#[test]
fn the_gif_decoder_agrees_with_ffmpeg() {
    // the image crate's frames (the GIF path needs no FFmpeg) against FFmpeg's own decoding
    let f = ffmpeg();
    let mut ours = open_clip(&f, &clip("three_photos.gif")).unwrap();
    let mut theirs =
        deepvis_sources::video::FfmpegClip::open(&f, &clip("three_photos.gif")).unwrap();
    use deepvis_sources::video::Clip;
    for n in [0, 7, 8, 16, 23] {
        let (a, b) = (ours.frame(n).unwrap(), theirs.frame(n).unwrap());
        assert!(mad(&a, &b) < 1.0, "frame {n}: {}", mad(&a, &b));
    }
}

#[test]
fn an_apng_plays_without_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let apng = dir.path().join("three.png");
    let ok = Process::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip("three_photos.gif"))
        .args(["-plays", "0", "-f", "apng"])
        .arg(&apng)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(deepvis_sources::video::is_animation(&apng));
    let none = Ffmpeg::at(Path::new("/no/such/ffmpeg"));
    let mut a = open_clip(&none, &apng).unwrap();
    let mut g = open_clip(&none, &clip("three_photos.gif")).unwrap();
    assert_eq!(a.info().frames, 24);
    assert_eq!((a.info().width, a.info().height), (160, 120));
    for n in [0, 12, 23] {
        assert_eq!(a.frame(n).unwrap(), g.frame(n).unwrap(), "frame {n}");
    }
    // a still PNG stays a photo
    let still = dir.path().join("still.png");
    RgbImage::new(4, 4).save(&still).unwrap();
    assert!(!deepvis_sources::video::is_animation(&still));
}

#[test]
fn a_clip_opened_at_a_time_shows_that_frame_paused() {
    // what the top-9 pane does for a hit named CLIP@SECONDS
    let _ = ffmpeg();
    let c = config(SourceSpec::Path(shared().join("images/eagle.jpg")), "conv1");
    let h = deepvis_engine::spawn(c, Arc::new(|| {}));
    let t0 = Instant::now();
    let mut sent = false;
    let mut seen: Vec<(u64, bool)> = Vec::new();
    let mut inputs_after = 0;
    let mut first_seen = None;
    while t0.elapsed() < Duration::from_secs(120) {
        let Ok(e) = h.events.recv_timeout(Duration::from_millis(100)) else {
            if first_seen.is_some_and(|t: Instant| t.elapsed() > Duration::from_secs(2)) {
                break;
            }
            continue;
        };
        match e {
            Event::Ready { .. } if !sent => {
                h.send(Command::SetSource(SourceSpec::Path(clip(
                    "three_photos.mp4",
                ))));
                h.send(Command::Player(PlayerCommand::SeekTime(2.4)));
                h.send(Command::Freeze(true));
                sent = true;
            }
            Event::Playback(Some(p)) => {
                seen.push((p.frame, p.paused));
                first_seen.get_or_insert_with(Instant::now);
            }
            Event::Input(_) if sent => inputs_after += 1,
            _ => {}
        }
    }
    h.shutdown();
    assert!(!seen.is_empty(), "no playback report");
    // the clip may report its first frame before the player takes the seek sent after the
    // source (a race that failed under load): from the first paused report on, only that frame
    let first = seen.iter().position(|&s| s == (24, true));
    let before = first.unwrap_or(seen.len());
    assert!(first.is_some(), "never paused at frame 24: {seen:?}");
    assert!(seen[before..].iter().all(|&s| s == (24, true)), "{seen:?}");
    assert!(
        seen[..before].iter().all(|&(_, paused)| !paused),
        "{seen:?}"
    );
    assert!(
        (1..=1 + before).contains(&inputs_after),
        "the one frame (after {before} shown before the seek), then nothing: {inputs_after}"
    );
}

#[test]
fn every_frame_mode_hands_the_network_each_frame_in_turn() {
    let _ = ffmpeg();
    let c = config(SourceSpec::Path(shared().join("images/eagle.jpg")), "fire9");
    let h = deepvis_engine::spawn(c, Arc::new(|| {}));
    let t0 = Instant::now();
    let mut sent = false;
    let mut shown: Vec<u64> = Vec::new();
    while t0.elapsed() < Duration::from_secs(120) && shown.len() < 40 {
        let Ok(e) = h.events.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match e {
            Event::Ready { .. } if !sent => {
                // at 4x the clip runs at 40 fps, faster than the network here: none dropped
                h.send(Command::SetSource(SourceSpec::Path(clip(
                    "three_photos.mp4",
                ))));
                h.send(Command::Player(PlayerCommand::EveryFrame(true)));
                h.send(Command::Player(PlayerCommand::Speed(4.0)));
                sent = true;
            }
            // the clip may report its first frames before the player has taken the
            // every-frame command sent after it: the check starts at the first report in that
            // mode, and from there every report is in it and no frame is skipped
            Event::Playback(Some(p)) if p.every_frame || !shown.is_empty() => {
                assert!(p.every_frame, "every-frame mode was left: {p:?}");
                shown.push(p.frame);
            }
            _ => {}
        }
    }
    h.shutdown();
    assert!(shown.len() >= 40, "{shown:?}");
    assert!(
        shown.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 0),
        "a frame was skipped: {shown:?}"
    );
}

#[test]
fn broken_clips_give_clear_errors_and_a_cut_short_one_plays_what_it_has() {
    let f = ffmpeg();
    let e = open_clip(&f, &clip("garbage.mp4"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("garbage.mp4") && e.contains("no video"), "{e}");
    let e = open_clip(&f, &clip("truncated.mp4"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cut short"), "{e}");
    let e = Video::open(&f, Path::new("/no/such/clip.webm"), true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");

    // a WebM cut in the middle: 31 of its 48 frames are there
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.webm");
    let bytes = std::fs::read(clip("three_photos.webm")).unwrap();
    std::fs::write(&cut, &bytes[..80_000]).unwrap();
    let mut v = Video::open(&f, &cut, true).unwrap();
    v.control(PlayerCommand::Speed(4.0));
    let mut shown = Vec::new();
    let mut notice = None;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        let frame = v.next_frame().unwrap();
        if let Some(n) = v.take_notice() {
            notice = Some(n);
        }
        if frame.is_some() {
            shown.push(v.playback().unwrap().frame);
        }
        if notice.is_some() && shown.last() == Some(&0) && shown.len() > 31 {
            break;
        }
    }
    let notice = notice.expect("a notice of the early end");
    assert!(
        notice.contains("ends early, at frame 31 (0:03.1) of the 0:04.8"),
        "{notice}"
    );
    assert_eq!(&shown[..31], &(0..31).collect::<Vec<u64>>()[..]);
    assert_eq!(shown[31], 0, "after the frames it has, it loops");
    assert_eq!(v.playback().unwrap().frames, 31);
}

#[test]
fn a_cut_short_gif_plays_the_frames_before_the_cut_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.gif");
    let bytes = std::fs::read(clip("three_photos.gif")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let none = Ffmpeg::at(Path::new("/no/such/ffmpeg"));
    let mut v = Video::open(&none, &cut, true).unwrap();
    let n = v.info().frames;
    assert!((1..24).contains(&n), "{n} frames");
    let notice = v.take_notice().expect("a notice");
    assert!(notice.contains("damaged after frame"), "{notice}");
    assert!(v.next_frame().unwrap().is_some());
    // a GIF of nothing readable is an error
    std::fs::write(&cut, &bytes[..20]).unwrap();
    assert!(Video::open(&none, &cut, true).is_err());
}

#[test]
fn without_ffmpeg_videos_are_refused_by_name_and_photos_still_work() {
    let none = Ffmpeg::at(Path::new("/no/such/dir/ffmpeg"));
    let e = open_clip(&none, &clip("three_photos.mp4"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("`ffmpeg`") && e.contains("apt install ffmpeg"),
        "{e}"
    );
    // the GIF is read without it
    assert_eq!(
        open_clip(&none, &clip("three_photos.gif"))
            .unwrap()
            .info()
            .frames,
        24
    );
    // a folder of clips and photos: the photos show, the clip is skipped by name
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(clip("three_photos.mp4"), dir.path().join("a.mp4")).unwrap();
    std::fs::copy(shared().join("images/coffee.png"), dir.path().join("b.png")).unwrap();
    let mut files = deepvis_sources::Files::open_with(dir.path(), none).unwrap();
    let img = files.next_frame().unwrap().unwrap();
    assert_eq!(files.index(), 1);
    assert_eq!(img.dimensions(), (600, 400));
    assert!(
        files.label().contains("skipped 1 unreadable: a.mp4"),
        "{}",
        files.label()
    );

    // the CLI says the same, and classifies the photo
    let out = deepvis_with_env(
        &[
            "classify",
            clip("three_photos.mp4@1").to_str().unwrap(),
            shared().join("images/coffee.png").to_str().unwrap(),
        ],
        &[("DEEPVIS_FFMPEG", "/no/such/dir/ffmpeg")],
    );
    assert!(!out.0);
    assert!(out.2.contains("`ffmpeg`"), "{}", out.2);
    assert!(out.1.contains("espresso"), "{}", out.1);
}

#[test]
fn a_folder_plays_its_clips_and_photos_in_order() {
    let f = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(shared().join("images/eagle.jpg"), dir.path().join("1.jpg")).unwrap();
    std::fs::copy(clip("three_photos.gif"), dir.path().join("2.gif")).unwrap();
    std::fs::copy(clip("three_photos.webm"), dir.path().join("3.webm")).unwrap();
    let mut files = deepvis_sources::Files::open_with(dir.path(), f).unwrap();
    assert_eq!(files.len(), 3);
    let first = files.next_frame().unwrap().unwrap();
    assert_eq!(first.dimensions(), (773, 512));
    assert!(files.playback().is_none(), "a photo is no clip");
    assert!(files.next_frame().unwrap().is_none(), "a photo stays");
    files.step(1);
    files.control(PlayerCommand::Speed(4.0));
    // the GIF plays through, then the WebM follows its end (a folder does not loop a clip)
    let mut seen: Vec<(String, u64)> = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if files.next_frame().unwrap().is_some() {
            let p = files.playback().unwrap();
            if seen.last().is_none_or(|l| l.0 != p.file) && p.file.ends_with("3.webm") {
                files.control(PlayerCommand::Speed(4.0));
            }
            seen.push((p.file, p.frame));
        }
        if seen.iter().filter(|s| s.0.ends_with("3.webm")).count() >= 5 {
            break;
        }
    }
    let gif: Vec<u64> = seen
        .iter()
        .filter(|s| s.0.ends_with("2.gif"))
        .map(|s| s.1)
        .collect();
    assert_eq!(gif, (0..24).collect::<Vec<u64>>(), "{seen:?}");
    let webm: Vec<u64> = seen
        .iter()
        .filter(|s| s.0.ends_with("3.webm"))
        .map(|s| s.1)
        .collect();
    assert_eq!(webm, (0..5).collect::<Vec<u64>>());
    assert!(files.label().contains("(3/3)"), "{}", files.label());
}

#[test]
fn pause_holds_the_frame_and_steps_go_one_frame() {
    let f = ffmpeg();
    let mut v = Video::open(&f, &clip("three_photos.mp4"), true).unwrap();
    assert!(v.next_frame().unwrap().is_some());
    v.pause(true);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(400) {
        assert!(v.next_frame().unwrap().is_none(), "paused: no frame");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(v.playback().unwrap().frame, 0);
    assert!(v.playback().unwrap().paused);
    v.control(PlayerCommand::Step(1));
    assert!(v.next_frame().unwrap().is_some());
    assert_eq!(v.playback().unwrap().frame, 1);
    v.control(PlayerCommand::SeekTime(2.45));
    let at = v.next_frame().unwrap().unwrap();
    assert_eq!(v.playback().unwrap().frame, 24);
    assert_eq!(
        at,
        read_frame(&f, &clip("three_photos.mp4"), FrameAt::Index(24)).unwrap()
    );
    v.control(PlayerCommand::Step(-1));
    assert!(v.next_frame().unwrap().is_some());
    assert_eq!(v.playback().unwrap().frame, 23);
}

fn deepvis_with_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = Process::new(env!("CARGO_BIN_EXE_deepvis"));
    c.env("DEEPVIS_ROOT", deepvis_testdata::project_root())
        .args(["--backend", "cpu", "--quiet"])
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run deepvis");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn deepvis_ok(args: &[&str]) -> String {
    let (ok, out, err) = deepvis_with_env(args, &[]);
    assert!(ok, "deepvis {args:?} failed: {err}");
    out
}

#[test]
fn the_middle_frame_of_each_third_classifies_as_its_photo() {
    // kite, espresso, dogsled (the README of ../shared/videos), for both codecs, by time and
    // by frame number
    let arg = |name: &str, t: &str| format!("{}@{t}", clip(name).display());
    let out = deepvis_ok(&[
        "classify",
        "--json",
        &arg("three_photos.mp4", "0.8"),
        &arg("three_photos.mp4", "2.4"),
        &arg("three_photos.mp4", "4"),
        &arg("three_photos.webm", "0.8"),
        &arg("three_photos.webm", "2.4"),
        &arg("three_photos.webm", "4"),
    ]);
    let top: Vec<i64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["top5"][0]["index"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(top, [21, 967, 537, 21, 967, 537], "{out}");
    let out = deepvis_ok(&[
        "classify",
        "--json",
        "--frame",
        "24",
        clip("three_photos.mp4").to_str().unwrap(),
    ]);
    assert!(out.contains("\"espresso\""), "{out}");
    let (ok, _, err) = deepvis_with_env(&["classify", &arg("three_photos.mp4", "9")], &[]);
    assert!(!ok && err.contains("past the end"), "{err}");
}

#[test]
fn topk_over_the_clips_finds_the_coffee_frames() {
    // the conv10 unit the coffee photo excites most
    let out = deepvis_ok(&[
        "activations",
        "--json",
        "--layer",
        "conv10",
        shared().join("images/coffee.png").to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let unit = v["argmax_channel"]
        .as_u64()
        .or_else(|| {
            let m = v["channels"].as_array()?;
            m.iter()
                .enumerate()
                .max_by(|a, b| {
                    a.1["max"]
                        .as_f64()
                        .unwrap()
                        .total_cmp(&b.1["max"].as_f64().unwrap())
                })
                .map(|(i, _)| i as u64)
        })
        .expect("the activations JSON names the strongest channel") as usize;
    let dir = tempfile::tempdir().unwrap();
    let videos = dir.path().join("clips");
    std::fs::create_dir(&videos).unwrap();
    for n in ["three_photos.mp4", "three_photos.webm", "garbage.mp4"] {
        std::fs::copy(clip(n), videos.join(n)).unwrap();
    }
    let out_dir = dir.path().join("index");
    let (ok, _, err) = deepvis_with_env(
        &[
            "topk",
            "--folder",
            videos.to_str().unwrap(),
            "--layer",
            "conv10",
            "--video-step",
            "4",
            "--k",
            "4",
            "-o",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(err.contains("garbage.mp4"), "the bad clip is named: {err}");
    let index = deepvis_topk::Index::load(&out_dir).unwrap();
    assert_eq!(index.images, 24, "12 frames of each clip");
    let hits = &index.channels[unit].hits;
    assert_eq!(hits.len(), 4);
    for h in hits {
        let (file, t) = h.file.rsplit_once('@').unwrap();
        assert!(file.starts_with("three_photos."), "{}", h.file);
        let t: f64 = t.parse().unwrap();
        assert!((1.6..3.2).contains(&t), "a coffee frame: {}", h.file);
    }
    assert!(out_dir.join(&index.channels[unit].montage).is_file());
}

#[test]
fn a_raw_recording_replays_the_very_frames() {
    let f = ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.mkv");
    let src = deepvis_sources::Synthetic::new(320, 240, 0);
    let frames: Vec<RgbImage> = (0..12).map(|t| src.render(t)).collect();
    let r = Recorder::start(&f, &path, Codec::Lossless);
    for img in &frames {
        while !r.push(img.clone()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let st = r.finish();
    assert!(st.error.is_none() && st.done, "{st:?}");
    assert_eq!(st.frames, 12);
    assert!(st.bytes > 0 && path.is_file());
    let mut c = open_clip(&f, &path).unwrap();
    assert_eq!(c.info().frames, 12);
    for (n, img) in frames.iter().enumerate() {
        assert!(c.frame(n as u64).unwrap() == *img, "frame {n} differs");
    }
    // no temporary file is left beside it
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["camera.mkv"]);
}

#[test]
fn without_ffmpeg_a_recording_is_a_png_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.mp4");
    let r = Recorder::start(
        &Ffmpeg::at(Path::new("/no/such/ffmpeg")),
        &path,
        Codec::H264,
    );
    for t in 0..3 {
        while !r.push(RgbImage::from_pixel(64, 48, image::Rgb([t * 50, 0, 0]))) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let st = r.finish();
    assert!(st.png_sequence && st.error.is_none(), "{st:?}");
    assert_eq!(st.frames, 3);
    let third = image::open(dir.path().join("rec_frames/000003.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(third.get_pixel(5, 5), &image::Rgb([100, 0, 0]));
}

fn weights() -> PathBuf {
    deepvis_testdata::shared_file("weights/squeezenet1_0/squeezenet1_0.safetensors")
}

/// The worker's settings for SqueezeNet on the CPU, showing `layer` of `source`.
fn config(source: SourceSpec, layer: &str) -> deepvis_engine::EngineConfig {
    let mut c = deepvis_engine::EngineConfig::new(
        deepvis_engine::ModelLoader::builtin(deepvis_model::Arch::SqueezeNet1_0, weights()),
        source,
    );
    c.backend = deepvis_model::BackendChoice::Cpu;
    c.grid_layer = Some(layer.into());
    c
}

#[test]
fn the_engine_plays_a_clip_pauses_loops_and_records_the_window() {
    let _ = ffmpeg();
    let c = config(SourceSpec::Path(clip("three_photos.gif")), "conv1");
    let h = deepvis_engine::spawn(c, Arc::new(|| {}));
    let t0 = Instant::now();
    let mut frames: Vec<u64> = Vec::new();
    let mut inputs = 0;
    let mut grids = 0;
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("window.mp4");
    let mut recording = false;
    let mut rec_started = None;
    let mut paused_at: Option<Instant> = None;
    let mut final_status = None;
    let mut inputs_paused = 0;
    while t0.elapsed() < Duration::from_secs(240) {
        let Ok(e) = h.events.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match e {
            Event::Ready { .. } if !recording => {
                recording = true;
                rec_started = Some(Instant::now());
                h.send(Command::Player(PlayerCommand::Speed(2.0)));
                h.send(Command::Record {
                    what: RecordTarget::Window,
                    path: Some(rec.clone()),
                });
            }
            Event::Playback(Some(p)) => {
                assert_eq!((p.width, p.height, p.frames), (160, 120, 24));
                frames.push(p.frame);
            }
            Event::Input(_) => {
                inputs += 1;
                if paused_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) {
                    inputs_paused += 1;
                }
            }
            Event::Grid { .. } => grids += 1,
            Event::Recording { what, status } if status.done => {
                assert_eq!(what, RecordTarget::Window);
                final_status = Some(status);
                break;
            }
            _ => {}
        }
        // the clip looped and the network has read more than ten frames (however long that
        // takes on this machine): pause, and check that the frame holds
        let looped = frames.windows(2).any(|w| w[1] < w[0]);
        if looped && inputs > 10 && grids > 10 && paused_at.is_none() {
            h.send(Command::Freeze(true));
            paused_at = Some(Instant::now());
        }
        if paused_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2))
            && rec_started.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
        {
            h.send(Command::Record {
                what: RecordTarget::Window,
                path: None,
            });
        }
    }
    h.shutdown();
    assert!(inputs > 10 && grids > 10, "{inputs} inputs, {grids} grids");
    // frames rose, then went back to the start
    let wrap = frames.windows(2).position(|w| w[1] < w[0]).expect("a loop");
    assert!(frames[wrap] >= 20, "{frames:?}");
    // half a second after the pause no frame came any more
    assert_eq!(inputs_paused, 0);
    let st = final_status.expect("the recording closed");
    assert!(st.error.is_none(), "{st:?}");
    assert!(st.frames >= 3, "{st:?}");
    let info = ffmpeg().probe(&rec).unwrap();
    assert_eq!((info.width, info.height), deepvis_engine::tape::CANVAS);
    assert_eq!(
        info.frames, st.frames,
        "every grid frame recorded is in the file"
    );
}

#[test]
fn an_export_from_the_window_is_made_again_by_optimize_from() {
    // the window's run, with a slider moved while it runs, saved; `optimize --from` on its
    // sidecar makes the very same picture (CPU)
    let mut c = config(
        SourceSpec::Path(shared().join("images/coffee.png")),
        "conv10",
    );
    c.selected = Some(967);
    // auto: the silent unit gets its pre-ReLU objective (a change the recipe keeps)
    c.optim.pre_relu = deepvis_protocol::PreReluMode::Auto;
    c.running = true;
    let optim = c.optim;
    let h = deepvis_engine::spawn(c, Arc::new(|| {}));
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("window.png");
    let t0 = Instant::now();
    let mut changed = false;
    let mut paused = false;
    let mut exported = None;
    while t0.elapsed() < Duration::from_secs(300) && exported.is_none() {
        let Ok(e) = h.events.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match e {
            Event::Preferred { iteration, .. } if iteration >= 4 && !changed => {
                let mut o = optim;
                o.params.decay = 0.01;
                o.params.blur_every = 2;
                h.send(Command::SetOptim(o));
                changed = true;
            }
            Event::Preferred { iteration, .. } if changed && iteration >= 12 && !paused => {
                h.send(Command::SetRunning(false));
                h.send(Command::Export(png.clone()));
                paused = true;
            }
            Event::Exported { png, json } => exported = Some((png, json)),
            Event::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    h.shutdown();
    let (png, json) = exported.expect("the export came");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run = &doc["runs"][0];
    assert_eq!(run["unit"], 967);
    assert_eq!(doc["window"]["layer"], "conv10");
    assert!(run["iterations"].as_u64().unwrap() >= 12);
    let changes = run["recipe"]["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c[1]["params"]["decay"] == 0.01),
        "the moved slider is in the recipe: {changes:?}"
    );
    assert_eq!(doc["image"], "current");
    assert!(doc["model_file"]["sha256"].as_str().unwrap().len() == 64);
    let again = dir.path().join("again.png");
    deepvis_ok(&[
        "optimize",
        "--from",
        json.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    let (a, b) = (
        image::open(&png).unwrap().to_rgb8(),
        image::open(&again).unwrap().to_rgb8(),
    );
    assert!(a == b, "the replay differs: {} levels", mad(&a, &b));
    // a sidecar that is not one, and one of another model, are refused clearly
    std::fs::write(dir.path().join("bad.json"), b"{\"app\": 1}").unwrap();
    let (ok, _, err) = deepvis_with_env(
        &[
            "optimize",
            "--from",
            dir.path().join("bad.json").to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        !ok && err.contains("not a deepvis picture's sidecar"),
        "{err}"
    );
    let other = std::fs::read_to_string(&json)
        .unwrap()
        .replace("\"squeezenet1_0\"", "\"resnet50\"");
    std::fs::write(dir.path().join("other.json"), other).unwrap();
    let (ok, _, err) = deepvis_with_env(
        &[
            "optimize",
            "--from",
            dir.path().join("other.json").to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok && err.contains("made with the model resnet50"), "{err}");
}

#[test]
fn optimize_writes_a_sidecar_that_makes_the_same_picture() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    deepvis_ok(&[
        "optimize",
        "--layer",
        "conv10",
        "--unit",
        "5",
        "--iters",
        "8",
        "--all-presets",
        "-o",
        a.to_str().unwrap(),
    ]);
    let b = dir.path().join("b.png");
    deepvis_ok(&[
        "optimize",
        "--from",
        dir.path().join("a.json").to_str().unwrap(),
        "-o",
        b.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}
