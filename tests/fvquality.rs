//! `deepvis fv-quality` on two classes and a small judge (the built-in SqueezeNet): its figures
//! against a hand computation from the pictures it wrote (each classified again by `deepvis
//! classify`, each high-frequency share measured again) and bad input refused. (Top-level
//! `tests/`, run as a test of the `deepvis` crate.)

use std::path::Path;
use std::process::Command;

use deepvis_testdata::shared;

fn deepvis(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .args(["--backend", "cpu", "--quiet"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(v: &[&str]) -> Vec<std::ffi::OsString> {
    v.iter().map(Into::into).collect()
}

/// `deepvis classify`'s top 5 of a picture.
fn top5(png: &Path) -> Vec<usize> {
    let (ok, out, err) = deepvis(&["classify".as_ref(), png.as_os_str(), "--json".as_ref()]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    v["top5"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn fv_quality_gives_the_figures_a_hand_computation_gives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q");
    let real = dir.path().join("real");
    std::fs::create_dir_all(real.join("967")).unwrap();
    std::fs::copy(
        shared().join("images/coffee.png"),
        real.join("967/coffee.png"),
    )
    .unwrap();
    let mut args = os(&[
        "fv-quality",
        "--units",
        "967,1",
        "--methods",
        "fourier",
        "--iters",
        "4",
        "--judges",
        "squeezenet1_0",
        "--json",
        "-o",
    ]);
    args.push(out.clone().into());
    args.extend(os(&["--real"]));
    args.push(real.clone().into());
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let (ok, stdout, err) = deepvis(&refs);
    assert!(ok, "{err}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(out.join("report.md").is_file());
    let pictures = r["pictures"].as_array().unwrap();
    assert_eq!(pictures.len(), 2);
    let (mut top1, mut top5n, mut hfs) = (0, 0, Vec::new());
    for p in pictures {
        let class = p["class"].as_u64().unwrap() as usize;
        let png = out.join(p["png"].as_str().unwrap());
        let v = &p["verdicts"][0];
        let rank = v["rank"].as_u64().unwrap() as usize;
        // the judge's verdict is what `deepvis classify` says of the file
        let t5 = top5(&png);
        assert_eq!(v["top"].as_u64().unwrap() as usize, t5[0]);
        assert_eq!(
            rank <= 5,
            t5.contains(&class),
            "class {class}: rank {rank}, {t5:?}"
        );
        assert_eq!(rank == 1, t5[0] == class);
        top1 += usize::from(rank == 1);
        top5n += usize::from(rank <= 5);
        // its high-frequency share, measured again on the file
        let img = image::open(&png).unwrap().to_rgb8();
        let hf = deepvis_optim::spectrum::high_frequency_share(&img, 0.25);
        assert!((hf - p["high_frequency"].as_f64().unwrap()).abs() < 1e-9);
        hfs.push(hf);
        // plausibility only where the class has real photos
        let pl = &v["plausibility"];
        match class {
            967 => assert!((-1.0..=1.0).contains(&pl.as_f64().unwrap()), "{pl}"),
            _ => assert!(pl.is_null(), "{pl}"),
        }
    }
    let row = &r["methods"][0];
    assert_eq!(row["method"], "fourier");
    let judge = &row["judges"][0];
    assert!((judge[1].as_f64().unwrap() - top1 as f64 / 2.0).abs() < 1e-9);
    assert!((judge[2].as_f64().unwrap() - top5n as f64 / 2.0).abs() < 1e-9);
    let median = (hfs[0] + hfs[1]) / 2.0;
    assert!((row["median_high_frequency"].as_f64().unwrap() - median).abs() < 1e-9);
    // the photo's share, as the network crops it
    let photo = r["photos_high_frequency"].as_array().unwrap();
    assert_eq!(photo[0], photo[2]);
}

#[test]
fn fv_quality_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("q");
    let o = o.to_str().unwrap();
    for (args, says) in [
        (vec!["--units", "1000", "--judges", "squeezenet1_0"], "1000"),
        (
            vec!["--units", "1", "--judges", "/no/such/judge.onnx"],
            "judge.onnx",
        ),
        (
            vec![
                "--units",
                "1",
                "--judges",
                "squeezenet1_0",
                "--real",
                "/no/such/dir",
            ],
            "no such",
        ),
    ] {
        let mut all = vec!["fv-quality", "-o", o, "--iters", "1"];
        all.extend(args);
        let all = os(&all);
        let refs: Vec<&std::ffi::OsStr> = all.iter().map(|a| a.as_os_str()).collect();
        let (ok, _, err) = deepvis(&refs);
        assert!(
            !ok && err.contains("error") && err.contains(says),
            "{all:?}: {err}"
        );
    }
}
