//! End to end: `deepvis atlas` on the CPU over the shared photos. The site is whole (every
//! link and image of every page resolves inside it), its sidecars make its pictures again
//! byte for byte, two shards merged and a run stopped half way then resumed each give the
//! very site one run gives, bad input is a clear error with nothing left behind, and a real
//! browser (headless Chromium; the test is ignored, saying why, where there is none) opens it
//! from the file system, follows a link to a layer and a unit, finds every image loaded, the
//! layer page's search and sort working and nothing said in the console.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use deepvis_testdata::shared;

fn deepvis(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deepvis"))
        .env("DEEPVIS_ROOT", deepvis_testdata::project_root())
        .args(["--backend", "cpu", "--quiet"])
        .args(args)
        .output()
        .expect("run deepvis");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn deepvis_ok(args: &[&str]) -> String {
    let (ok, out, err) = deepvis(args);
    assert!(ok, "deepvis {args:?} failed: {err}");
    out
}

/// The atlas every test makes: three fire9 units, two methods, a few iterations.
fn atlas(out: &Path, extra: &[&str]) {
    let images = shared().join("images");
    let mut args = vec![
        "atlas",
        "--layer",
        "fire9",
        "--units",
        "0-2",
        "--methods",
        "paper,maco",
        "--iters",
        "4",
        "--folder",
        images.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    deepvis_ok(&args);
}

/// Every file under `root`, relative, with its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Asserts two sites hold the same files with the same bytes.
fn same_site(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    let names = |t: &BTreeMap<PathBuf, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb), "the same files");
    for (name, bytes) in &ta {
        assert!(tb[name] == *bytes, "{} differs", name.display());
    }
}

/// The values of `attr="..."` in an HTML text.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let key = format!(" {attr}=\"");
    html.match_indices(&key)
        .filter_map(|(i, _)| {
            let rest = &html[i + key.len()..];
            rest.find('"').map(|j| rest[..j].to_string())
        })
        .collect()
}

/// `%XX` undone.
fn unescape(url: &str) -> String {
    let b = url.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&url[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Every `href` and `src` of every page, resolved against the page: each a file inside the
/// site. Returns the links checked.
fn check_links(site: &Path) -> usize {
    let site = site.canonicalize().unwrap();
    let mut checked = 0;
    for (rel, bytes) in tree(&site) {
        if rel.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let html = String::from_utf8(bytes).unwrap();
        let page_dir = site.join(&rel).parent().unwrap().to_path_buf();
        for link in attr_values(&html, "href")
            .into_iter()
            .chain(attr_values(&html, "src"))
        {
            assert!(
                !link.contains("://") && !link.starts_with('/'),
                "{}: {link} leaves the site",
                rel.display()
            );
            let target = page_dir.join(unescape(link.split('#').next().unwrap()));
            let target = target
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: dead link {link}", rel.display()));
            assert!(
                target.starts_with(&site),
                "{}: {link} leaves",
                rel.display()
            );
            assert!(target.is_file(), "{}: {link} is no file", rel.display());
            checked += 1;
        }
    }
    checked
}

#[test]
fn the_site_is_whole_and_its_sidecars_remake_its_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    atlas(&site, &[]);
    for page in [
        "index.html",
        "layers/fire9/index.html",
        "layers/fire9/u0000.html",
        "layers/fire9/u0002.html",
        "atlas.css",
        "atlas.js",
    ] {
        assert!(site.join(page).is_file(), "{page}");
    }
    let links = check_links(&site);
    // the model page's layers, 3 cards, and per unit 2 pictures, 4 crops and 4 projections
    assert!(links > 3 * (2 + 8), "{links} links");
    // the unit page shows each method's picture, its crops and its statistics
    let unit = std::fs::read_to_string(site.join("layers/fire9/u0001.html")).unwrap();
    for want in [
        "u0001/paper.png",
        "u0001/maco.png",
        "u0001/paper.json",
        "u0001/top0.png",
        "u0001/top0-back.png",
        "<svg class=\"hist\"",
        "4 images: mean of its maximum",
        "u0000.html",
        "u0002.html",
    ] {
        assert!(unit.contains(want), "the unit page lacks {want}");
    }
    // the layer page's cards carry what the page sorts and filters by
    let layer = std::fs::read_to_string(site.join("layers/fire9/index.html")).unwrap();
    assert_eq!(attr_values(&layer, "data-unit"), ["0", "1", "2"]);
    assert_eq!(attr_values(&layer, "data-max").len(), 3);
    for p in ["u0000/paper", "u0002/maco"] {
        let png = site.join(format!("layers/fire9/{p}.png"));
        let again = dir.path().join("again.png");
        deepvis_ok(&[
            "optimize",
            "--from",
            site.join(format!("layers/fire9/{p}.json"))
                .to_str()
                .unwrap(),
            "-o",
            again.to_str().unwrap(),
        ]);
        assert!(
            std::fs::read(&png).unwrap() == std::fs::read(&again).unwrap(),
            "{p}: the sidecar remakes another picture"
        );
    }
}

#[test]
fn shards_merged_and_a_resumed_run_give_the_single_runs_site() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one");
    atlas(&one, &[]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    atlas(&a, &["--shard", "0/2"]);
    atlas(&b, &["--shard", "1/2"]);
    let merged = dir.path().join("merged");
    deepvis_ok(&[
        "atlas",
        "merge",
        "-o",
        merged.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    same_site(&one, &merged);
    // a part given twice, or one missing, is refused
    let (ok, _, err) = deepvis(&[
        "atlas",
        "merge",
        "-o",
        dir.path().join("bad").to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("part 1/2 is missing"), "{err}");
    // stopped after one unit, then the same command again
    let resumed = dir.path().join("resumed");
    atlas(&resumed, &["--limit", "1"]);
    let made = std::fs::read_dir(resumed.join("data/fire9"))
        .unwrap()
        .count();
    assert_eq!(made, 1, "one unit made before the stop");
    atlas(&resumed, &[]);
    same_site(&one, &resumed);
}

#[test]
fn a_pooling_unit_silent_on_noise_starts_from_its_top_image_and_links_its_circuit() {
    // pool8's units have no value before a ReLU: silent on the noise, they start again from
    // their top image (saved beside the sidecar); fire9's pages link their pool8 inputs
    let dir = tempfile::tempdir().unwrap();
    let images = shared().join("images");
    let make = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "atlas",
            "--layer",
            "pool8",
            "--layer",
            "fire9",
            "--units",
            "100-102",
            "--methods",
            "paper",
            "--iters",
            "3",
            "--folder",
            images.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        deepvis_ok(&args);
    };
    let one = dir.path().join("one");
    make(&one, &[]);
    let unit = one.join("layers/pool8/u0100");
    assert!(
        unit.join("paper.start0.safetensors").is_file(),
        "started from its top image"
    );
    let again = dir.path().join("again.png");
    deepvis_ok(&[
        "optimize",
        "--from",
        unit.join("paper.json").to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(std::fs::read(unit.join("paper.png")).unwrap() == std::fs::read(&again).unwrap());
    let page = std::fs::read_to_string(one.join("layers/fire9/u0101.html")).unwrap();
    assert!(
        page.contains("Its circuit") && page.contains("pool8"),
        "the circuit section"
    );
    check_links(&one);
    // the start images travel with their units through a merge
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    make(&a, &["--shard", "0/2"]);
    make(&b, &["--shard", "1/2"]);
    let merged = dir.path().join("merged");
    deepvis_ok(&[
        "atlas",
        "merge",
        "-o",
        merged.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    same_site(&one, &merged);
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let images = shared().join("images");
    let site = dir.path().join("site");
    let run = |layer: &str, folder: &Path, out: &Path| {
        deepvis(&[
            "atlas",
            "--layer",
            layer,
            "--units",
            "0",
            "--iters",
            "2",
            "--folder",
            folder.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let (ok, _, err) = run("fire99", &images, &site);
    assert!(!ok && err.contains("fire99"), "{err}");
    assert!(
        !site.exists(),
        "nothing written for a layer that does not exist"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let (ok, _, err) = run("fire9", &images, &file);
    assert!(!ok && err.contains("is a file"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
    let junk = dir.path().join("junk");
    std::fs::create_dir(&junk).unwrap();
    std::fs::write(junk.join("broken.jpg"), b"not a jpeg at all").unwrap();
    let (ok, _, err) = run("fire9", &junk, &site);
    assert!(!ok && err.contains("no image of"), "{err}");
    assert!(
        !site.exists(),
        "nothing half-written for a folder with no readable image"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, _, err) = run("fire9", &empty, &site);
    assert!(!ok && err.contains("holds no photo"), "{err}");
    assert!(!site.exists());
}

#[test]
fn a_topk_index_gives_the_crops_instead_of_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let images = shared().join("images");
    deepvis_ok(&[
        "topk",
        "--folder",
        images.to_str().unwrap(),
        "--layer",
        "fire9",
        "-o",
        index.to_str().unwrap(),
    ]);
    let site = dir.path().join("site");
    let args = |layer: &str| {
        vec![
            "atlas".to_string(),
            "--layer".into(),
            layer.into(),
            "--units".into(),
            "5".into(),
            "--methods".into(),
            "maco".into(),
            "--iters".into(),
            "2".into(),
            "--topk".into(),
            index.display().to_string(),
            "-o".into(),
            site.display().to_string(),
        ]
    };
    let a = args("fire9");
    deepvis_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let unit = std::fs::read_to_string(site.join("layers/fire9/u0005.html")).unwrap();
    assert!(unit.contains("u0005/top0.png") && unit.contains("u0005/top0-back.png"));
    assert!(
        unit.contains("4 images: mean of its maximum"),
        "statistics from the index"
    );
    check_links(&site);
    // an index of another layer is refused
    let a = args("fire8");
    let (ok, _, err) = deepvis(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok && err.contains("top-k index of layer fire9"), "{err}");
}

/// The page that drives the browser: it opens the site's model page in a frame, follows the
/// first mapped layer and its first unit, and writes what it found as JSON.
const HARNESS: &str = r#"<!DOCTYPE html><html><body><pre id="out">running</pre>
<iframe id="f" style="width:1280px;height:20000px;border:0"></iframe>
<script>
"use strict";
const SITE = new URL("SITE_URL");
const frame = document.getElementById("f");
const out = document.getElementById("out");
const results = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function visit(url) {
  return new Promise((res) => { frame.onload = () => res(); frame.src = url; });
}
async function settle() {
  for (let i = 0; i < 100; i++) {
    if (Array.from(frame.contentDocument.images).every((im) => im.complete)) break;
    await sleep(100);
  }
}
function check(kind) {
  const d = frame.contentDocument;
  const imgs = Array.from(d.images);
  results.push({
    kind, url: frame.contentWindow.location.href, images: imgs.length,
    broken: imgs.filter((im) => !(im.complete && im.naturalWidth > 0)).map((im) => im.getAttribute("src")),
    sheets: d.styleSheets.length,
  });
  return d;
}
(async () => {
  try {
    await visit(new URL("index.html", SITE).href); await settle();
    let d = check("model");
    await visit(d.querySelector("ul.mapped a").href); await settle();
    d = check("layer");
    const cards = Array.from(d.querySelectorAll("a.card"));
    const search = d.getElementById("search");
    search.value = cards[1].dataset.unit;
    search.dispatchEvent(new Event("input"));
    const shown = cards.filter((c) => !c.hidden).map((c) => c.dataset.unit);
    search.value = ""; search.dispatchEvent(new Event("input"));
    const sort = d.getElementById("sort");
    sort.value = "max"; sort.dispatchEvent(new Event("input"));
    const order = Array.from(d.querySelectorAll("a.card")).map((c) => parseFloat(c.dataset.max));
    results.push({ kind: "controls", searched: cards[1].dataset.unit, shown, order });
    await visit(cards[0].href); await settle();
    check("unit");
    out.textContent = "RESULT " + JSON.stringify(results);
  } catch (e) {
    out.textContent = "FAILED " + e + " " + JSON.stringify(results);
  }
})();
</script></body></html>"#;

/// Chromium on the PATH.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
        .expect("chromium on the PATH (crates/deepvis/build.rs found it)")
}

#[test]
#[cfg_attr(not(has_chromium), ignore = "needs Chromium (apt install chromium)")]
fn a_browser_opens_the_site_from_disk_and_finds_every_image() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    atlas(&site, &[]);
    let site = site.canonicalize().unwrap();
    let harness = dir.path().join("harness.html");
    let site_url = format!("file://{}/", site.display());
    std::fs::write(&harness, HARNESS.replace("SITE_URL", &site_url)).unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=30000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", harness.display()))
        .env("HOME", dir.path())
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = dom
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| panic!("the harness did not finish: {dom}\n{err}"));
    let json = line.trim_end_matches("</pre>");
    let results: Vec<serde_json::Value> = serde_json::from_str(json).unwrap();
    let kinds: Vec<&str> = results
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["model", "layer", "controls", "unit"]);
    for r in results.iter().filter(|r| r["kind"] != "controls") {
        assert!(
            r["broken"].as_array().unwrap().is_empty(),
            "broken images: {r}"
        );
        assert_eq!(r["sheets"], 1, "the style sheet loaded: {r}");
    }
    assert_eq!(results[1]["images"], 3, "the layer page's three thumbnails");
    // the unit page: 2 pictures, 4 crops, 4 back-projections, 3 neighbours
    assert_eq!(results[3]["images"], 13, "{}", results[3]);
    assert!(
        results[3]["url"]
            .as_str()
            .unwrap()
            .ends_with("layers/fire9/u0000.html")
    );
    // the search box kept the one unit searched for; sorting by max put the largest first
    assert_eq!(
        results[2]["shown"],
        serde_json::json!([results[2]["searched"]])
    );
    let order: Vec<f64> = results[2]["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "{order:?}");
    // nothing in the console from the site's pages
    let site_lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(":CONSOLE") && l.contains(&site_url))
        .collect();
    assert!(site_lines.is_empty(), "console: {site_lines:?}");
}

/// Draws the window until `done` holds of it, at most `secs` s.
fn until(
    h: &mut egui_kittest::Harness<'static, deepvis_ui::DeepvisApp>,
    secs: u64,
    what: &str,
    done: impl Fn(&deepvis_ui::DeepvisApp) -> bool,
) {
    let t0 = std::time::Instant::now();
    while !done(h.state()) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(secs),
            "no {what} after {secs} s; messages: {:?}",
            h.state().messages
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
        h.run_steps(1);
    }
    h.run_steps(2);
}

#[test]
fn the_windows_button_makes_the_layers_atlas_and_offers_to_open_it() {
    use deepvis_protocol::SourceSpec;
    use deepvis_ui::{AtlasEnded, AtlasProgram, DeepvisApp, Persisted};
    use egui_kittest::kittest::Queryable;

    let dir = tempfile::tempdir().unwrap();
    let images = shared().join("images");
    let mut c = deepvis_engine::EngineConfig::new(
        deepvis_engine::ModelLoader::builtin(
            deepvis_model::Arch::SqueezeNet1_0,
            deepvis_testdata::shared_file("weights/squeezenet1_0/squeezenet1_0.safetensors"),
        ),
        SourceSpec::Path(images.clone()),
    );
    c.backend = deepvis_model::BackendChoice::Cpu;
    c.grid_layer = Some("fire9".into());
    c.running = false;
    let engine = deepvis_engine::spawn(c, std::sync::Arc::new(|| {}));
    let persisted = Persisted {
        running: false,
        layer: Some("fire9".into()),
        ..Persisted::default()
    };
    let mut app = DeepvisApp::new(engine.commands.clone(), engine.events.clone(), persisted);
    let weights =
        deepvis_testdata::project_root().join("weights/squeezenet1_0/compressed_SqueezeNet.net");
    app.set_atlas_program(AtlasProgram {
        exe: env!("CARGO_BIN_EXE_deepvis").into(),
        model_args: vec![
            "--model".into(),
            "squeezenet1_0".into(),
            "--weights".into(),
            weights.into(),
            "--backend".into(),
            "cpu".into(),
        ],
        backend: "cpu".into(),
    });
    app.panes.atlas.root = Some(dir.path().to_path_buf());
    app.panes.atlas.folder = Some(images);
    app.panes.atlas.units = "0-1".into();
    app.panes.atlas.iters = "3".into();
    let mut h = egui_kittest::Harness::builder()
        .with_size([1400.0, 3000.0])
        .build_ui_state(|ui, app: &mut DeepvisApp| app.ui(ui), app);
    until(&mut h, 300, "model", |a| a.model.is_some());
    h.get_by_label("atlas of this layer").click();
    h.run_steps(2);
    h.get_by_label("atlas of fire9").click();
    h.run_steps(2);
    until(&mut h, 300, "finished atlas", |a| {
        !a.panes.atlas.running() && a.panes.atlas.ended.is_some()
    });
    let site = match h.state().panes.atlas.ended.clone() {
        Some(AtlasEnded::Made(site)) => site,
        other => panic!("the atlas did not finish: {other:?}"),
    };
    assert!(site.starts_with(dir.path()), "{}", site.display());
    for page in [
        "index.html",
        "layers/fire9/u0000.html",
        "layers/fire9/u0001.html",
    ] {
        assert!(site.join(page).is_file(), "{page}");
    }
    // the crops came from the source's folder, and the pane offers to open the site
    assert!(site.join("layers/fire9/u0001/top0.png").is_file());
    h.get_by_label("open");
    engine.shutdown();
}
