//! Preprocessing of real photos (top-5 against the README's expected results) and clear errors
//! for bad images and input tensors.

mod common;

use std::path::Path;

use burn::prelude::*;
use common::*;
use deepvis_model::{Arch, Labels, Net, preprocess, tensor_file, top_k};

/// Expected top-5 from `../shared/weights/README.md` (ONNX Runtime, Caffe preprocessing).
const EXPECTED: [(&str, [(usize, f32); 5]); 4] = [
    (
        "coffee.png",
        [
            (967, 0.722),
            (960, 0.096),
            (968, 0.053),
            (809, 0.039),
            (925, 0.024),
        ],
    ),
    (
        "dog.jpg",
        [
            (537, 0.453),
            (248, 0.105),
            (249, 0.072),
            (676, 0.062),
            (250, 0.040),
        ],
    ),
    (
        "eagle.jpg",
        [
            (21, 0.768),
            (22, 0.184),
            (23, 0.013),
            (9, 0.008),
            (8, 0.008),
        ],
    ),
    (
        "giraffe.jpg",
        [
            (83, 0.320),
            (282, 0.195),
            (290, 0.170),
            (292, 0.125),
            (293, 0.082),
        ],
    ),
];

#[test]
fn own_preprocessing_gives_the_expected_top5() {
    let device = Device::flex();
    let net = squeezenet(&device);
    let labels = Labels::imagenet();
    for (file, want) in EXPECTED {
        let p = preprocess::preprocess_file(
            &shared().join("images").join(file),
            &Arch::SqueezeNet1_0.input_spec(),
        )
        .unwrap();
        assert_eq!(p.dims(), [1, 3, 227, 227]);
        let dims = p.dims();
        let x = deepvis_model::tensor4(p.chw, dims, &device).unwrap();
        let probs = deepvis_model::to_vec(net.probabilities(x).unwrap()).unwrap();
        let got = top_k(&probs, 5, &labels);
        eprintln!("{file}: {got:?}");
        for (i, (idx, prob)) in want.iter().enumerate() {
            // Each expected class is within 0.02 of its probability.
            assert!(
                (probs[*idx] - prob).abs() <= 0.02,
                "{file}: class {idx} has {} (expected {prob})",
                probs[*idx]
            );
            // The clearly separated leaders keep their rank.
            if i == 0 {
                assert_eq!(got[0].index, *idx, "{file}: top-1");
            }
        }
    }
}

#[test]
fn preprocessing_is_bgr_minus_mean_and_inverts() {
    let img = image::RgbImage::from_fn(300, 260, |x, y| image::Rgb([x as u8, y as u8, 200]));
    let p = preprocess::preprocess(
        &image::DynamicImage::ImageRgb8(img),
        &Arch::SqueezeNet1_0.input_spec(),
    );
    assert_eq!(p.crop.dimensions(), (227, 227));
    let plane = 227 * 227;
    // channel 0 is blue (constant 200) minus 104
    assert!(p.chw[..plane].iter().all(|v| (*v - 96.0).abs() < 1e-3));
    let norm = Arch::SqueezeNet1_0.input_spec().norm;
    let back = norm.invert(&p.chw, 227, 227).unwrap();
    assert_eq!(back, p.crop);

    // grayscale and RGBA photos become 3-channel inputs
    let gray =
        image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(256, 256, image::Luma([50])));
    let p = preprocess::preprocess(&gray, &Arch::SqueezeNet1_0.input_spec());
    assert!((p.chw[0] - (50.0 - 104.0)).abs() < 1e-3);
    let rgba = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        500,
        400,
        image::Rgba([10, 20, 30, 128]),
    ));
    let p = preprocess::preprocess(&rgba, &Arch::AlexNet.input_spec());
    assert_eq!(p.dims(), [1, 3, 224, 224]);
    assert!((p.chw[0] - (10.0 / 255.0 - 0.485) / 0.229).abs() < 1e-4);
}

#[test]
fn exif_orientation_is_honoured() {
    // A 4x2 JPEG saved with EXIF orientation 6 (rotate 90 degrees clockwise) decodes as 2x4.
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&img)
        .unwrap();
    // Insert an APP1 Exif segment after SOI with Orientation = 6.
    let tiff: Vec<u8> = [
        b"MM\x00\x2a\x00\x00\x00\x08".as_slice(),
        &[0x00, 0x01], // one entry
        &[
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
        ], // orientation 6
        &[0, 0, 0, 0],
    ]
    .concat();
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    let path = dir.path().join("rotated.jpg");
    std::fs::write(&path, &out).unwrap();
    let decoded = preprocess::load_image(&path).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (20, 40));
    // rotated clockwise: the left (red) half is now on top
    let rgb = decoded.to_rgb8();
    assert!(rgb.get_pixel(10, 5).0[0] > 200);
    assert!(rgb.get_pixel(10, 35).0[2] > 200);
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    png_header(w, h, 2)
}

/// A PNG's signature and header, of colour type `color` (0 gray, 2 RGB), and no pixels.
fn png_header(w: u32, h: u32, color: u8) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&w.to_be_bytes());
    chunk.extend_from_slice(&h.to_be_bytes());
    chunk.extend_from_slice(&[8, color, 0, 0, 0]);
    v.extend_from_slice(&13u32.to_be_bytes());
    v.extend_from_slice(&chunk);
    v.extend_from_slice(&crc32(&chunk).to_be_bytes());
    v
}

#[test]
fn bad_images_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let photo = std::fs::read(shared().join("images/dog.jpg")).unwrap();
    let png = std::fs::read(shared().join("images/coffee.png")).unwrap();
    let cases = [
        write("truncated.png", &png[..png.len() / 2]),
        write("empty.jpg", b""),
        write("truncated.jpg", &photo[..photo.len() / 3]),
        write("notes.txt", b"this is not an image at all\n"),
        write("huge.png", &png_header_only(20_000, 20_000)),
    ];
    for p in &cases {
        let e = match preprocess::load_image(p) {
            Ok(_) => panic!("{} decoded", p.display()),
            Err(e) => e,
        };
        let msg = e.to_string();
        assert!(
            msg.contains(&*p.file_name().unwrap().to_string_lossy()),
            "{msg}"
        );
        eprintln!("{msg}");
    }
    let e = preprocess::load_image(&dir.path().join("huge.png"))
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("limit"), "{e}");
    assert!(preprocess::load_image(Path::new("/nonexistent/photo.jpg")).is_err());
}

/// libjpeg-turbo's path: a JPEG whose frame header claims 20000 x 20000 pixels is refused by
/// its size before a buffer is allocated, and a grayscale JPEG decodes to equal RGB channels.
#[test]
fn jpegs_are_checked_by_their_header_and_gray_ones_become_rgb() {
    let gray = image::GrayImage::from_fn(32, 16, |x, _| image::Luma([(x * 8) as u8]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&gray)
        .unwrap();
    let img = preprocess::decode_image(&jpeg, Path::new("gray.jpg")).unwrap();
    let rgb = img.to_rgb8();
    assert_eq!(rgb.dimensions(), (32, 16));
    assert!(rgb.pixels().all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
    assert!(rgb.get_pixel(31, 8).0[0] > rgb.get_pixel(0, 8).0[0] + 100);

    // the start-of-frame segment (FFC0): length, precision, height, width
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("a baseline JPEG");
    let mut huge = jpeg.clone();
    huge[sof + 5..sof + 7].copy_from_slice(&20_000u16.to_be_bytes());
    huge[sof + 7..sof + 9].copy_from_slice(&20_000u16.to_be_bytes());
    let e = preprocess::decode_image(&huge, Path::new("huge.jpg"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("huge.jpg") && e.contains("20000 x 20000 pixels: outside the limits"),
        "{e}"
    );
}

/// Found reading the image target's path (not by a fuzzer hit): a gray image within the
/// decoder's byte limit (16384 x 12000, 196 MB) became a 590 MB RGB copy; it is refused
/// before decoding now, by its pixel count.
#[test]
fn an_image_whose_rgb_copy_exceeds_the_limit_is_refused_before_decoding() {
    // the header and the start of the pixel data (the decoder reads that far before it
    // says the size); the pixels themselves are never reached
    let mut png = png_header(16_384, 12_000, 0);
    png.extend_from_slice(&0u32.to_be_bytes());
    png.extend_from_slice(b"IDAT");
    png.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
    let e = preprocess::decode_image(&png, Path::new("gray.png"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gray.png") && e.contains("pixels are more than the limit"),
        "{e}"
    );
}

/// Found by `deepvis fuzz --target image --seed 7` (case 37991, over its 2 s limit): a 535-byte
/// GIF whose header says 9 x 14860 pixels. Its short side was resized to 256 and so its long
/// side to 422,000 pixels (324 MB, seconds) before the centre was cropped; only the centre of a
/// strip is resized now, and the crop is the same picture. The work is checked by its size (the
/// pixels resized), not by a clock.
#[test]
fn an_extreme_strip_is_preprocessed_within_bounds_and_keeps_its_centre() {
    let spec = Arch::SqueezeNet1_0.input_spec();
    // the fuzzer's case: a tall GIF strip, decoded from memory as the sources do
    let strip =
        image::RgbaImage::from_fn(9, 14_860, |_, y| image::Rgba([(y % 251) as u8, 9, 9, 255]));
    let mut gif = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(strip)
        .write_to(&mut gif, image::ImageFormat::Gif)
        .unwrap();
    let img = preprocess::decode_image(gif.get_ref(), Path::new("strip.gif")).unwrap();
    let plan =
        preprocess::ResizePlan::new([img.width(), img.height()], spec.resize, spec.size as u32);
    // what the defect resized: 256 x 422,702 pixels; now the centre of the strip alone
    assert_eq!(
        plan.resized,
        [256, preprocess::MAX_RESIZED_SIDE],
        "{plan:?}"
    );
    assert_eq!(plan.source[1] + plan.source[3] / 2, 14_860 / 2, "{plan:?}");
    let p = spec.apply(&img);
    assert_eq!(p.crop.dimensions(), (227, 227));

    // a wide one: vertical stripes 64 pixels wide, so the centre crop shows stripes 8192
    // pixels wide (the scale is 128): one colour on each side of the centre
    let strip = image::RgbImage::from_fn(16_384, 2, |x, _| {
        if (x / 64) % 2 == 0 {
            image::Rgb([250, 20, 20])
        } else {
            image::Rgb([20, 20, 250])
        }
    });
    let plan = preprocess::ResizePlan::new([16_384, 2], spec.resize, spec.size as u32);
    assert_eq!(
        plan.resized,
        [preprocess::MAX_RESIZED_SIDE, 256],
        "{plan:?}"
    );
    let p = spec.apply(&image::DynamicImage::ImageRgb8(strip));
    assert_eq!(p.crop.dimensions(), (227, 227));
    // x = 8192, the strip's centre, starts a red stripe: blue on the left, red on the right
    let left = p.crop.get_pixel(50, 100).0;
    let right = p.crop.get_pixel(180, 100).0;
    assert!(left[2] > 200 && left[0] < 60, "{left:?}");
    assert!(right[0] > 200 && right[2] < 60, "{right:?}");
}

#[test]
fn input_tensors_from_safetensors_files() {
    let g = shared().join("reference/squeezenet1_0_golden.safetensors");
    let t = tensor_file::read_input_tensor(&g, Some("eagle/input")).unwrap();
    assert_eq!(t.shape, vec![1, 3, 227, 227]);
    let e = tensor_file::read_input_tensor(&g, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--tensor"), "{e}");
    let e = tensor_file::read_input_tensor(&g, Some("eagle/prob"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("1x3xHxW"), "{e}");
    let e = tensor_file::read_input_tensor(&g, Some("nope"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no tensor `nope`"), "{e}");
    // float64 3xHxW (the optimizer's x0) gets a batch axis
    let am = shared().join("reference/am_steps_flamingo_p3.safetensors");
    let x0 = tensor_file::read_input_tensor(&am, Some("x0")).unwrap();
    assert_eq!(x0.shape, vec![1, 3, 227, 227]);

    let device = Device::flex();
    let net: Net = squeezenet(&device);
    let x = deepvis_model::tensor4(t.data, [1, 3, 227, 227], &device).unwrap();
    let p = deepvis_model::to_vec(net.probabilities(x).unwrap()).unwrap();
    let gold = golden_tensor(&golden(), "eagle/prob");
    assert_close("eagle prob from file", &p, &gold.data, 1e-4, 0);
}

#[test]
fn preprocessing_matches_the_reference_pipelines_inputs() {
    // issue 13, defect 8, and issue 24: the reference inputs were made by Pillow (libjpeg-turbo
    // decoding with the accurate IDCT and fancy upsampling, an antialiased bilinear resize of
    // the short side to 256 in fixed point, the centre crop); deepvis decodes JPEG with
    // libjpeg-turbo the same way, so PNGs and JPEGs alike match to the bit (the image crate's
    // decoder was up to 3 grey levels off)
    let g = golden();
    for (file, max_mean, max_abs) in [
        ("coffee.png", 0.0, 0.0),
        ("dog.jpg", 0.0, 0.0),
        ("eagle.jpg", 0.0, 0.0),
        ("giraffe.jpg", 0.0, 0.0),
    ] {
        let stem = file.split('.').next().unwrap_or(file);
        let want = golden_tensor(&g, &format!("{stem}/input"));
        let p = preprocess::preprocess_file(
            &shared().join("images").join(file),
            &Arch::SqueezeNet1_0.input_spec(),
        )
        .unwrap();
        assert_eq!(p.chw.len(), want.data.len(), "{file}");
        let d: Vec<f32> = p
            .chw
            .iter()
            .zip(&want.data)
            .map(|(a, b)| (a - b).abs())
            .collect();
        let mean = d.iter().sum::<f32>() / d.len() as f32;
        let max = d.iter().copied().fold(0.0f32, f32::max);
        eprintln!("{file}: mean {mean:.4} max {max:.3} levels");
        assert!(
            mean <= max_mean + 1e-4 && max <= max_abs + 1e-3,
            "{file}: mean {mean} max {max}"
        );
    }
}
