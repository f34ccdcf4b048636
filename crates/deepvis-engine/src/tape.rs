//! The window recording: the pictures the window shows (the input, the grid, the unit's map,
//! the preferred image) laid out side by side, one frame per grid frame, handed to a
//! recorder that encodes on its own thread.

use std::path::Path;
use std::time::{Duration, Instant};

use deepvis_protocol::{Event, RecordingStatus};
use deepvis_sources::ffmpeg::Codec;
use deepvis_sources::{Ffmpeg, Recorder};
use image::imageops::FilterType;
use image::{GrayImage, Rgb, RgbImage};

/// The recording's frame size.
pub const CANVAS: (u32, u32) = (1280, 720);

const BACKGROUND: Rgb<u8> = Rgb([24, 24, 28]);

/// A recording of the window's pictures, while one runs.
#[derive(Default)]
pub struct Tape {
    recorder: Option<Recorder>,
    input: Option<RgbImage>,
    grid: Option<GrayImage>,
    unit: Option<GrayImage>,
    preferred: Option<RgbImage>,
    reported: Option<Instant>,
}

impl Tape {
    /// Starts recording into `path` (an MP4; a PNG sequence where FFmpeg is missing).
    pub fn start(&mut self, path: &Path) {
        self.recorder = Some(Recorder::start(&Ffmpeg::from_env(), path, Codec::H264));
        self.reported = None;
    }

    /// Stops; the final status when one ran.
    pub fn stop(&mut self) -> Option<RecordingStatus> {
        self.recorder.take().map(|r| r.finish())
    }

    /// Whether a recording runs.
    pub fn running(&self) -> bool {
        self.recorder.is_some()
    }

    /// Takes note of an event the window is sent; a grid frame becomes a recorded frame. A
    /// status to report comes back a few times a second.
    pub fn observe(&mut self, e: &Event) -> Option<RecordingStatus> {
        let r = self.recorder.as_ref()?;
        match e {
            Event::Input(img) => self.input = Some(img.clone()),
            Event::UnitMap(m) => self.unit = Some(map_to_gray(&m.values, m.width, m.height)),
            Event::Preferred { image, .. } => self.preferred = Some(image.clone()),
            Event::Grid { image, .. } => {
                self.grid = Some(image.clone());
                r.push(compose(
                    self.input.as_ref(),
                    self.grid.as_ref(),
                    self.unit.as_ref(),
                    self.preferred.as_ref(),
                ));
            }
            _ => return None,
        }
        let st = r.status();
        if st.done {
            // failed: report it and stop
            return self.stop();
        }
        let due = self
            .reported
            .is_none_or(|t| t.elapsed() > Duration::from_millis(300));
        due.then(|| {
            self.reported = Some(Instant::now());
            st
        })
    }
}

/// A map scaled to 0..255 gray (its own range).
fn map_to_gray(values: &[f32], width: usize, height: usize) -> GrayImage {
    let px = deepvis_viz::gray_levels(values);
    GrayImage::from_raw(width as u32, height as u32, px).unwrap_or_else(|| GrayImage::new(1, 1))
}

/// Puts `img` as large as fits into the box at `(x, y)` of `w x h`, centred (whole pixels
/// when magnified twice or more).
fn place(canvas: &mut RgbImage, img: &RgbImage, x: u32, y: u32, w: u32, h: u32) {
    let (iw, ih) = img.dimensions();
    if iw == 0 || ih == 0 {
        return;
    }
    let s = (w as f32 / iw as f32).min(h as f32 / ih as f32);
    let (filter, s) = if s >= 2.0 {
        (FilterType::Nearest, s.floor())
    } else {
        (FilterType::Triangle, s)
    };
    let (nw, nh) = (
        ((iw as f32 * s) as u32).clamp(1, w),
        ((ih as f32 * s) as u32).clamp(1, h),
    );
    let scaled = image::imageops::resize(img, nw, nh, filter);
    image::imageops::replace(
        canvas,
        &scaled,
        (x + (w - nw) / 2) as i64,
        (y + (h - nh) / 2) as i64,
    );
}

/// One recorded frame: the input and the unit's map on the left, the grid in the middle, the
/// preferred image on the right ([`CANVAS`] pixels; a picture not there yet stays blank).
pub fn compose(
    input: Option<&RgbImage>,
    grid: Option<&GrayImage>,
    unit: Option<&GrayImage>,
    preferred: Option<&RgbImage>,
) -> RgbImage {
    let mut c = RgbImage::from_pixel(CANVAS.0, CANVAS.1, BACKGROUND);
    let rgb = |g: &GrayImage| image::DynamicImage::ImageLuma8(g.clone()).to_rgb8();
    if let Some(i) = input {
        place(&mut c, i, 16, 16, 320, 320);
    }
    if let Some(u) = unit {
        place(&mut c, &rgb(u), 16, 384, 320, 320);
    }
    if let Some(g) = grid {
        place(&mut c, &rgb(g), 352, 16, 576, 688);
    }
    if let Some(p) = preferred {
        place(&mut c, p, 944, 16, 320, 320);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pictures_go_where_the_layout_says() {
        let input = RgbImage::from_pixel(227, 227, Rgb([200, 10, 10]));
        let grid = GrayImage::from_pixel(100, 50, image::Luma([255]));
        let unit = GrayImage::from_pixel(13, 13, image::Luma([128]));
        let pref = RgbImage::from_pixel(227, 227, Rgb([10, 10, 200]));
        let c = compose(Some(&input), Some(&grid), Some(&unit), Some(&pref));
        assert_eq!(c.dimensions(), CANVAS);
        // centres of the four boxes
        assert_eq!(c.get_pixel(176, 176), &Rgb([200, 10, 10]));
        assert_eq!(c.get_pixel(176, 544), &Rgb([128, 128, 128]));
        assert_eq!(c.get_pixel(640, 360), &Rgb([255, 255, 255]));
        assert_eq!(c.get_pixel(1104, 176), &Rgb([10, 10, 200]));
        // a 13-pixel map is magnified by a whole 24 (312 px), centred in its 320 box
        assert_eq!(c.get_pixel(16 + 3, 384 + 3), &BACKGROUND);
        assert_eq!(c.get_pixel(16 + 4, 384 + 4), &Rgb([128, 128, 128]));
        // nothing there yet: blank
        let blank = compose(None, None, None, None);
        assert!(blank.pixels().all(|p| *p == BACKGROUND));
    }
}
