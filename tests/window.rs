//! End to end: the window itself, under Xvfb (the test is ignored, saying why, on a machine
//! without Xvfb: `crates/deepvis/build.rs` looks for it). It opens, stays up while the worker
//! runs on the sample photo, and draws something: the screen, read back from Xvfb's
//! framebuffer file on a black root window, is not one flat colour.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a child process when dropped (a failed assertion leaves nothing running).
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Xvfb server on a display it picks itself (`-displayfd`: no clash with another X server
/// on the machine), with a black root window and its screen kept in a file (`-fbdir`).
struct Xvfb {
    display: String,
    fbdir: tempfile::TempDir,
    _process: Reap,
}

impl Xvfb {
    /// Starts Xvfb and waits until it takes connections.
    fn start() -> Xvfb {
        let fbdir = tempfile::tempdir().expect("a folder for the framebuffer");
        let mut process = Reap(
            Command::new("Xvfb")
                .args([
                    "-displayfd",
                    "1",
                    "-br",
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-fbdir",
                ])
                .arg(fbdir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb"),
        );
        // Xvfb writes its display's number once it is ready (or exits): read on a thread, so
        // that a hung server fails the test rather than hanging it
        let stdout = process.0.stdout.take().expect("Xvfb's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
            // keep the pipe open while Xvfb runs
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("Xvfb did not say its display within a minute")
            .expect("read Xvfb's display");
        let n: u32 = line.trim().parse().unwrap_or_else(|_| {
            let status = process.0.try_wait();
            panic!("Xvfb did not start: it wrote {line:?} ({status:?})")
        });
        Xvfb {
            display: format!(":{n}"),
            fbdir,
            _process: process,
        }
    }

    /// The screen's pixels, each its colour's bits, and its width and height. The
    /// framebuffer file is an XWD image: a big-endian header, a colour map, then the rows.
    fn screen(&self) -> (Vec<u32>, usize, usize) {
        let path = self.fbdir.path().join("Xvfb_screen0");
        let bytes = std::fs::read(&path).expect("Xvfb's framebuffer file");
        read_xwd(&bytes, &path)
    }
}

/// The pixels of a 32-bit XWD image, each masked to its colour's bits; its width and height.
fn read_xwd(bytes: &[u8], path: &Path) -> (Vec<u32>, usize, usize) {
    assert!(bytes.len() >= 100, "{} is too short", path.display());
    let field = |i: usize| u32::from_be_bytes([0, 1, 2, 3].map(|b| bytes[4 * i + b]));
    let (header, width, height) = (field(0) as usize, field(4) as usize, field(5) as usize);
    let (msb_first, bits_per_pixel, stride) = (field(7) == 1, field(11), field(12) as usize);
    let mask = field(14) | field(15) | field(16);
    let start = header + 12 * field(19) as usize;
    assert_eq!(
        bits_per_pixel,
        32,
        "{}: not a 24-bit screen",
        path.display()
    );
    assert!(
        bytes.len() >= start + stride * height && stride >= 4 * width,
        "{} is cut short",
        path.display()
    );
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        let row = &bytes[start + y * stride..start + y * stride + 4 * width];
        pixels.extend(row.chunks_exact(4).map(|p| {
            let p = [p[0], p[1], p[2], p[3]];
            let v = match msb_first {
                true => u32::from_be_bytes(p),
                false => u32::from_le_bytes(p),
            };
            v & mask
        }));
    }
    (pixels, width, height)
}

#[test]
#[cfg_attr(not(has_xvfb), ignore = "needs Xvfb (apt install xvfb)")]
fn the_window_opens_draws_and_stays_up_under_xvfb() {
    let x = Xvfb::start();
    // the empty screen is one colour (black): what is drawn later is the window's
    let (empty, ..) = x.screen();
    assert!(empty.iter().all(|&p| p == empty[0]), "the root is not flat");
    let home = tempfile::tempdir().unwrap();
    let photo = deepvis_testdata::shared().join("images/coffee.png");
    let mut app = Reap(
        Command::new(env!("CARGO_BIN_EXE_deepvis"))
            .env("DISPLAY", &x.display)
            .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
            .env("XDG_RUNTIME_DIR", home.path())
            .env("XDG_DATA_HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("HOME", home.path())
            .env_remove("WAYLAND_DISPLAY")
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
    let (shot, width, height) = x.screen();
    let first = shot[0];
    let differ = shot.iter().filter(|&&p| p != first).count();
    assert!(
        differ > width * height / 10,
        "the screen is nearly one colour ({differ} of {} pixels differ from the first)",
        width * height
    );
    assert!(
        app.0.try_wait().ok().flatten().is_none(),
        "the window closed"
    );
}
