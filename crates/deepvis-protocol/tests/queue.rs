//! The event queue keeps every event in order but only the newest picture of each kind.

use deepvis_protocol::{BackInfo, BackMode, Event, queue};
use image::RgbImage;

fn img(v: u8) -> RgbImage {
    RgbImage::from_pixel(2, 2, image::Rgb([v, v, v]))
}

#[test]
fn pictures_keep_only_their_newest_while_nobody_reads_and_the_rest_stays_in_order() {
    let (tx, rx) = queue();
    tx.send(err("first")).unwrap();
    for i in 0..10_000u32 {
        tx.send(Event::Input(img((i % 251) as u8))).unwrap();
        tx.send(Event::Stats {
            grid_fps: i as f32,
            optim_ips: 0.0,
            back_fps: 0.0,
        })
        .unwrap();
        for m in [BackMode::Grad, BackMode::Ig] {
            let info = BackInfo {
                method: m,
                value: i as f32,
                ..BackInfo::default()
            };
            tx.send(Event::Compare {
                info,
                image: img(0),
            })
            .unwrap();
        }
        if i == 5000 {
            tx.send(err("middle")).unwrap();
        }
    }
    tx.send(err("last")).unwrap();
    // one message per kind of picture, plus the three errors
    assert_eq!(rx.len(), 3 + 4);
    let mut got = Vec::new();
    while let Ok(e) = rx.try_recv() {
        got.push(match e {
            Event::Error(f) => f.message,
            Event::Input(i) => format!("input {}", i.get_pixel(0, 0).0[0]),
            Event::Stats { grid_fps, .. } => format!("stats {grid_fps}"),
            Event::Compare { info, .. } => format!("{} {}", info.method.as_str(), info.value),
            other => format!("{other:?}"),
        });
    }
    // each kind where it first waited, with its newest value
    assert_eq!(
        got,
        [
            "first",
            &format!("input {}", 9999 % 251),
            "stats 9999",
            "grad 9999",
            "ig 9999",
            "middle",
            "last"
        ]
    );
    assert!(rx.is_empty());
    // once read, the next picture queues again
    tx.send(Event::Input(img(7))).unwrap();
    assert!(matches!(rx.try_recv(), Ok(Event::Input(_))));
    drop(rx);
    assert!(tx.send(err("nobody")).is_err());
}

/// An error event carrying `m`.
fn err(m: &str) -> Event {
    Event::Error(deepvis_protocol::Failure::new(
        deepvis_protocol::ErrorKind::Internal,
        deepvis_protocol::Doing::Frame,
        m,
    ))
}
