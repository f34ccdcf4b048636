//! Webcams through nokhwa (V4L2 on Linux, AVFoundation on macOS, Media Foundation on
//! Windows), MJPEG and YUYV decoded to RGB.

use image::RgbImage;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use crate::{FrameSource, SourceError};

/// The cameras the system lists: (index, name).
pub fn list_cameras() -> Result<Vec<(u32, String)>, SourceError> {
    let infos = nokhwa::query(ApiBackend::Auto).map_err(|e| SourceError::Camera(e.to_string()))?;
    Ok(infos
        .iter()
        .filter_map(|i| match i.index() {
            CameraIndex::Index(n) => Some((*n, i.human_name())),
            CameraIndex::String(_) => None,
        })
        .collect())
}

/// An open webcam.
pub struct Camera {
    camera: nokhwa::Camera,
    index: u32,
}

impl Camera {
    /// Opens camera `index` at the format closest to `width x height`.
    pub fn open(index: u32, width: u32, height: u32) -> Result<Camera, SourceError> {
        let err = |e: nokhwa::NokhwaError| SourceError::Camera(format!("camera {index}: {e}"));
        let closest = RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(
            CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, 30),
        ));
        let mut camera = match nokhwa::Camera::new(CameraIndex::Index(index), closest) {
            Ok(c) => c,
            Err(_) => nokhwa::Camera::new(
                CameraIndex::Index(index),
                RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate),
            )
            .map_err(err)?,
        };
        camera.open_stream().map_err(err)?;
        Ok(Camera { camera, index })
    }
}

impl FrameSource for Camera {
    fn label(&self) -> String {
        let r = self.camera.resolution();
        format!(
            "camera {} ({}x{} {})",
            self.index,
            r.width(),
            r.height(),
            self.camera.frame_format()
        )
    }

    fn next_frame(&mut self) -> Result<Option<RgbImage>, SourceError> {
        let err =
            |e: nokhwa::NokhwaError| SourceError::Camera(format!("camera {}: {e}", self.index));
        let buffer = self.camera.frame().map_err(err)?;
        let img = buffer.decode_image::<RgbFormat>().map_err(err)?;
        let (w, h) = (img.width(), img.height());
        RgbImage::from_raw(w, h, img.into_raw())
            .map(Some)
            .ok_or_else(|| SourceError::Camera("a frame of the wrong size".into()))
    }

    fn is_live(&self) -> bool {
        true
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.camera.stop_stream();
    }
}
