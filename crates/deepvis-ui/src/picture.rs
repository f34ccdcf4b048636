//! One picture a pane shows (texture and waiting image), and the helpers that draw pictures.

use std::sync::Arc;

use egui::{Color32, ColorImage, Rect, Sense, TextureHandle, TextureOptions, Vec2, pos2};

/// A texture and the newest image waiting to be uploaded into it (older ones are dropped
/// unseen). The last image is kept, so that a change of filtering re-uploads it.
#[derive(Default)]
pub(crate) struct Picture {
    tex: Option<TextureHandle>,
    pending: Option<Arc<ColorImage>>,
    last: Option<Arc<ColorImage>>,
    options: Option<TextureOptions>,
}

impl Picture {
    /// The next image to show.
    pub(crate) fn set(&mut self, img: ColorImage) {
        self.pending = Some(Arc::new(img));
    }

    /// Shows nothing.
    pub(crate) fn clear(&mut self) {
        *self = Picture::default();
    }

    /// The texture, once an image has arrived.
    pub(crate) fn get(&self) -> Option<&TextureHandle> {
        self.tex.as_ref()
    }

    /// Uploads the waiting image with `options` (nearest-pixel or linear filtering); the last
    /// image again when only the options changed.
    pub(crate) fn upload(&mut self, ctx: &egui::Context, name: &str, options: TextureOptions) {
        let img = match self.pending.take() {
            Some(img) => img,
            None if self.options != Some(options) => match &self.last {
                Some(img) => img.clone(),
                None => return,
            },
            None => return,
        };
        match &mut self.tex {
            Some(t) => t.set(img.clone(), options),
            None => self.tex = Some(ctx.load_texture(name, img.clone(), options)),
        }
        self.last = Some(img);
        self.options = Some(options);
    }
}

/// An RGB image as egui's.
pub(crate) fn rgb_to_color(img: &image::RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}

/// A gray image as egui's.
pub(crate) fn gray_to_color(img: &image::GrayImage) -> ColorImage {
    ColorImage::from_gray([img.width() as usize, img.height() as usize], img.as_raw())
}

/// A map normalized to 0..255 gray (its own min to max).
pub fn map_to_color(values: &[f32], width: usize, height: usize) -> ColorImage {
    let px = deepvis_viz::gray_levels(values);
    if px.len() == width * height {
        ColorImage::from_gray([width, height], &px)
    } else {
        ColorImage::from_gray([1, 1], &[0])
    }
}

/// `size` scaled to fit in `avail`, keeping its aspect.
fn fit(avail: Vec2, size: [usize; 2]) -> Vec2 {
    let (w, h) = (size[0].max(1) as f32, size[1].max(1) as f32);
    let s = (avail.x / w).min(avail.y / h).max(0.01);
    Vec2::new(w * s, h * s)
}

/// Draws `tex` over `rect` at the opacity of the maps blended over the input.
pub(crate) fn blend_over(ui: &egui::Ui, rect: Rect, tex: &TextureHandle) {
    ui.painter().image(
        tex.id(),
        rect,
        Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
        Color32::from_white_alpha(170),
    );
}

/// `tex` fitted into a square of `side`, or a dark square with `label` while there is none.
pub(crate) fn image_box(
    ui: &mut egui::Ui,
    tex: Option<&TextureHandle>,
    side: f32,
    label: &str,
) -> egui::Response {
    let size = match tex {
        Some(t) => fit(Vec2::splat(side), t.size()),
        None => Vec2::splat(side),
    };
    let (rect, resp) = ui.allocate_exact_size(size, Sense::hover());
    match tex {
        Some(t) => {
            ui.painter().image(
                t.id(),
                rect,
                Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        None => {
            ui.painter()
                .rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
            ui.painter().text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                label,
                egui::FontId::proportional(13.0),
                ui.visuals().weak_text_color(),
            );
        }
    }
    resp
}

/// Gives the image `resp` drew its name for screen readers and tests.
pub(crate) fn name_image(resp: &egui::Response, name: &str) {
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, name));
}
