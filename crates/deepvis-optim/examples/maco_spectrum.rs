//! Measures the natural-image magnitude spectrum that MACO holds fixed and writes it
//! (`assets/maco-magnitude.bin` is this run over `../shared/images/*`, in name order).
//!
//! `cargo run --release -p deepvis-optim --example maco_spectrum -- OUT.bin PHOTO...`

use deepvis_optim::spectrum::{Magnitude, natural_planes};

const SIZE: u32 = 227;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, photos)) = args.split_first() else {
        return Err("usage: maco_spectrum OUT.bin PHOTO...".into());
    };
    let mut planes = Vec::new();
    for path in photos {
        planes.extend(natural_planes(&image::open(path)?.to_rgb8(), SIZE));
    }
    let m = Magnitude::measure(&planes, SIZE as usize, SIZE as usize)?;
    std::fs::write(out, m.encode())?;
    eprintln!("{} crops of {} photos -> {out}", planes.len(), photos.len());
    Ok(())
}
