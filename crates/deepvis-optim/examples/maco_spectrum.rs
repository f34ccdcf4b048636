//! Measures the natural-image magnitude spectrum that MACO holds fixed and writes
//! `assets/maco-magnitude.bin`: every photo given, cropped at 4 scales (the whole short side,
//! 3/4, 1/2, 3/8) at 3 places along its long side, each also mirrored, resized to 227 x 227,
//! taken to the decorrelated basis (`param::decorrelated_logits`), its magnitude averaged.
//!
//! `cargo run --release -p deepvis-optim --example maco_spectrum -- OUT.bin PHOTO...`

use deepvis_optim::param::decorrelated_logits;
use deepvis_optim::spectrum::Magnitude;
use image::imageops::FilterType;

const SIZE: u32 = 227;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, photos)) = args.split_first() else {
        return Err("usage: maco_spectrum OUT.bin PHOTO...".into());
    };
    let plane = (SIZE * SIZE) as usize;
    let mut planes = Vec::new();
    for path in photos {
        let img = image::open(path)?.to_rgb8();
        let (w, h) = img.dimensions();
        let short = w.min(h);
        for frac in [1.0, 0.75, 0.5, 0.375] {
            let side = (short as f64 * frac) as u32;
            for place in [0.0, 0.5, 1.0] {
                let x = ((w - side) as f64 * place) as u32;
                let y = ((h - side) as f64 * (1.0 - place)) as u32;
                let crop = image::imageops::crop_imm(&img, x, y, side, side).to_image();
                let small = image::imageops::resize(&crop, SIZE, SIZE, FilterType::Triangle);
                for flip in [false, true] {
                    let im = if flip {
                        image::imageops::flip_horizontal(&small)
                    } else {
                        small.clone()
                    };
                    let mut rgb = vec![0f32; 3 * plane];
                    for (i, p) in im.pixels().enumerate() {
                        for c in 0..3 {
                            rgb[c * plane + i] = p.0[c] as f32 / 255.0;
                        }
                    }
                    planes.push(decorrelated_logits(&rgb, plane));
                }
            }
        }
    }
    let m = Magnitude::measure(&planes, SIZE as usize, SIZE as usize)?;
    std::fs::write(out, m.encode())?;
    eprintln!("{} crops of {} photos -> {out}", planes.len(), photos.len());
    Ok(())
}
