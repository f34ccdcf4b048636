//! End to end: the window itself, started under Xvfb when the machine has it (skipped with a
//! message when not): it opens, stays up while the worker runs on the sample photo, draws
//! something, and closes when asked.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Kills a child process when dropped (a failed assertion leaves nothing running).
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_window_opens_draws_and_stays_up_under_xvfb() {
    if !have("Xvfb") {
        eprintln!("skipped: no Xvfb on this machine (apt install xvfb to run this test)");
        return;
    }
    let display = ":87";
    let _x = Reap(
        Command::new("Xvfb")
            .args([display, "-screen", "0", "1280x800x24"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb"),
    );
    std::thread::sleep(Duration::from_secs(2));
    let home = tempfile::tempdir().unwrap();
    let photo = deepvis_testdata::shared().join("images/coffee.png");
    let mut app = Reap(
        Command::new(env!("CARGO_BIN_EXE_deepvis"))
            .env("DISPLAY", display)
            .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
            .env("XDG_RUNTIME_DIR", home.path())
            .env("XDG_DATA_HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("HOME", home.path())
            .args(["--backend", "cpu", "--source"])
            .arg(&photo)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the window"),
    );
    // it stays up while the worker loads and runs
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(status)) = app.0.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = app.0.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the window closed by itself ({status}): {err}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // what is on the screen is not one flat colour
    if have("import") {
        let shot = home.path().join("shot.png");
        let ok = Command::new("import")
            .env("DISPLAY", display)
            .args(["-window", "root"])
            .arg(&shot)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "screenshot failed");
        let img = image::open(&shot).expect("screenshot").to_rgb8();
        let first = *img.get_pixel(0, 0);
        let differ = img.pixels().filter(|p| **p != first).count();
        assert!(
            differ > (img.width() * img.height() / 10) as usize,
            "the screen is nearly one colour"
        );
    } else {
        eprintln!("no imagemagick `import`: the screen was not captured");
    }
    assert!(
        app.0.try_wait().ok().flatten().is_none(),
        "the window closed"
    );
}
