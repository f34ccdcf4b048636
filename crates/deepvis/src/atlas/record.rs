//! What an atlas keeps in its site: its settings (`atlas.json`), and per unit what was made
//! of it (`data/LAYER/uNNNN.json`, written last: a unit with its record is done).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use deepvis_optim::MethodKind;
use deepvis_topk::{Shard, safe_file_name, write_atomic};
use serde::{Deserialize, Serialize};

use super::{Args, DATA};
use crate::common::Loaded;

/// One layer of the model as the model page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRow {
    /// Its name.
    pub name: String,
    /// Its op.
    pub kind: String,
    /// Channels.
    pub channels: usize,
    /// Map height.
    pub height: usize,
    /// Map width.
    pub width: usize,
    /// The input pixels its centre unit sees, `[y0, x0, y1, x1]`.
    pub field: [i64; 4],
}

/// The settings of an atlas: a site goes on only with the same ones, and the parts of a
/// sharded atlas must agree on them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtlasSpec {
    /// The program that made it.
    pub app: String,
    /// The model's name.
    pub model: String,
    /// The model's file and its sha256, when it came from one.
    pub model_sha256: Option<String>,
    /// The backend the pictures were made on (`optimize --from` is bit for bit there).
    pub backend: String,
    /// The network's input side.
    pub input: usize,
    /// The methods of the pictures, in order.
    pub methods: Vec<MethodKind>,
    /// Iterations (None: each method's own).
    pub iters: Option<usize>,
    /// Seed of the start noise.
    pub seed: u64,
    /// The folder scanned for crops and statistics.
    pub folder: Option<PathBuf>,
    /// Crops per unit.
    pub k: usize,
    /// Side of a crop.
    pub tile: u32,
    /// The model's layers.
    pub layers: Vec<LayerRow>,
    /// The part of the units this site holds (None: all it was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl AtlasSpec {
    /// The settings of this run (`model_sha256`: its model file's, when it came from one).
    pub fn new(
        l: &Loaded,
        a: &Args,
        folder: Option<&Path>,
        model_sha256: Option<String>,
    ) -> Result<AtlasSpec> {
        let size = l.info.input_size();
        let layers = l
            .info
            .layers_for(size)?
            .into_iter()
            .map(|r| LayerRow {
                field: l.info.field_bounds(&r.name, r.centre(), size, false),
                name: r.name,
                kind: r.kind,
                channels: r.channels,
                height: r.height,
                width: r.width,
            })
            .collect();
        Ok(AtlasSpec {
            app: format!("deepvis {}", env!("CARGO_PKG_VERSION")),
            model: l.info.name().to_string(),
            model_sha256,
            backend: l.device.description.clone(),
            input: size,
            methods: a.methods.clone(),
            iters: a.iters,
            seed: a.seed,
            folder: folder.map(Path::to_path_buf),
            k: a.k,
            tile: a.tile.clamp(8, 512),
            layers,
            shard: a.shard,
        })
    }

    fn path(site: &Path) -> PathBuf {
        site.join("atlas.json")
    }

    /// The settings of the atlas in `site`, if it holds one.
    pub fn load(site: &Path) -> Result<Option<AtlasSpec>> {
        let p = AtlasSpec::path(site);
        if !p.exists() {
            return Ok(None);
        }
        let text = read_small(&p)?;
        let spec = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an atlas's settings", p.display()))?;
        Ok(Some(spec))
    }

    /// Checks the atlas already in `site` (if any) was made with these settings, and saves
    /// them there.
    pub fn resume(&self, site: &Path) -> Result<()> {
        if let Some(old) = AtlasSpec::load(site)?
            && old != *self
        {
            bail!(
                "{} holds an atlas of {} made with other settings ({}); use another folder",
                site.display(),
                old.model,
                differences(&old, self).join(", ")
            );
        }
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(&AtlasSpec::path(site), text.as_bytes())?;
        Ok(())
    }

    /// The settings of the whole from those of its parts: the same but for the part, and
    /// parts 0..N of one N, each once.
    pub fn merged(parts: &[AtlasSpec]) -> Result<AtlasSpec> {
        let first = parts.first().context("no part to merge")?;
        let count = first
            .shard
            .map(|s| s.count)
            .context("the first part is a whole atlas, not a part (--shard I/N)")?;
        let mut seen = vec![false; count];
        let whole = |s: &AtlasSpec| AtlasSpec {
            shard: None,
            ..s.clone()
        };
        for p in parts {
            if whole(p) != whole(first) {
                bail!(
                    "the parts were made with other settings ({})",
                    differences(first, p).join(", ")
                );
            }
            match p.shard {
                Some(s) if s.count == count && !seen[s.index] => seen[s.index] = true,
                Some(s) if s.count == count => bail!("part {}/{count} is given twice", s.index),
                Some(s) => bail!("part {}/{} beside parts of {count}", s.index, s.count),
                None => bail!("a whole atlas among parts"),
            }
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            bail!(
                "part {missing}/{count} is missing ({} of {count} given)",
                parts.len()
            );
        }
        Ok(whole(first))
    }
}

/// The settings two atlases differ in, by name.
fn differences(a: &AtlasSpec, b: &AtlasSpec) -> Vec<String> {
    let (Ok(serde_json::Value::Object(x)), Ok(serde_json::Value::Object(y))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["?".into()];
    };
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| x.get(*k) != y.get(*k))
        .map(|k| match (x.get(k), y.get(k)) {
            (Some(v), Some(w)) if !v.is_array() => format!("{k}: {v} and {w}"),
            _ => k.clone(),
        })
        .collect()
}

/// One picture of a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PictureRecord {
    /// Its method.
    pub method: MethodKind,
    /// The PNG, relative to the site (None: it could not be made).
    pub png: Option<String>,
    /// Its sidecar, relative to the site.
    pub sidecar: Option<String>,
    /// The best value of the objective.
    pub best_obj: Option<f32>,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the unit was silent and the picture is of its value before the ReLU.
    pub pre_relu: bool,
    /// Why there is no picture.
    pub failure: Option<String>,
    /// The model's own top classes on the picture (a classifier's).
    pub classes: Vec<ClassRow>,
}

/// A class and its probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    /// Its index.
    pub index: usize,
    /// Its label.
    pub label: String,
    /// Its probability.
    pub prob: f32,
}

/// One of the unit's top images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropRecord {
    /// The image, relative to the scanned folder.
    pub file: String,
    /// The unit's maximum on it.
    pub score: f32,
    /// Where in the map.
    pub y: usize,
    /// Where in the map.
    pub x: usize,
    /// Its receptive-field crop, relative to the site.
    pub crop: String,
    /// The crop of its back-projection, relative to the site.
    pub back: Option<String>,
}

/// A unit's statistics over the folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsRecord {
    /// Images read.
    pub images: u64,
    /// The mean of its maximum per image.
    pub mean_max: f64,
    /// The mean of its mean per image.
    pub mean: f64,
    /// Its largest value.
    pub max: f64,
    /// The share of images it is silent on.
    pub silent: f64,
    /// Images per bin of their maximum (the first: silent).
    pub hist: Vec<u64>,
    /// The lower edges of the bins after the first.
    pub edges: Vec<f32>,
}

/// What was made of one unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitRecord {
    /// Its layer.
    pub layer: String,
    /// Its channel.
    pub unit: usize,
    /// Its pictures, one per method.
    pub pictures: Vec<PictureRecord>,
    /// Its top images (when a folder was scanned).
    pub crops: Vec<CropRecord>,
    /// Its statistics (when a folder was scanned).
    pub stats: Option<StatsRecord>,
    /// Its strongest inputs in the layer below, by weight (where the path between them is
    /// linear).
    #[serde(default)]
    pub circuit: Option<CircuitRecord>,
}

/// A unit's strongest inputs in the layer below, by weight: each channel with the sum of its
/// expanded kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CircuitRecord {
    /// The layer below.
    pub below: String,
    /// Those that excite it, strongest first.
    pub excite: Vec<(usize, f32)>,
    /// Those that inhibit it, strongest first.
    pub inhibit: Vec<(usize, f32)>,
}

impl UnitRecord {
    /// The file of a unit's record in a site.
    pub fn path(site: &Path, layer: &str, unit: usize) -> PathBuf {
        site.join(DATA)
            .join(safe_file_name(layer))
            .join(format!("u{unit:04}.json"))
    }

    /// Saves it (atomically; last of the unit's files).
    pub fn save(&self, site: &Path) -> Result<()> {
        let p = UnitRecord::path(site, &self.layer, self.unit);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        write_atomic(&p, serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(())
    }

    /// The pictures that could not be made, each named.
    pub fn failures(&self) -> Vec<String> {
        self.pictures
            .iter()
            .filter_map(|p| {
                p.failure.as_ref().map(|f| {
                    format!(
                        "{} unit {} ({}): {f}",
                        self.layer,
                        self.unit,
                        p.method.as_str()
                    )
                })
            })
            .collect()
    }

    /// The model's top class on its first picture.
    pub fn label(&self) -> Option<&ClassRow> {
        self.pictures.iter().find_map(|p| p.classes.first())
    }
}

/// Whether unit `unit` of `layer` is done in `site`.
pub fn done(site: &Path, layer: &str, unit: usize) -> bool {
    UnitRecord::path(site, layer, unit).is_file()
}

/// Whether any unit is done in `site`.
pub fn has_units(site: &Path) -> bool {
    std::fs::read_dir(site.join(DATA)).is_ok_and(|mut d| {
        d.any(|e| {
            e.is_ok_and(|e| {
                std::fs::read_dir(e.path()).is_ok_and(|mut f| {
                    f.any(|f| {
                        f.is_ok_and(|f| {
                            f.file_name().to_string_lossy().ends_with(".json")
                                && f.file_name().to_string_lossy().starts_with('u')
                        })
                    })
                })
            })
        })
    })
}

/// The records of every unit of `layer` done in `site`, by unit.
pub fn layer_records(site: &Path, layer: &str) -> Result<Vec<UnitRecord>> {
    let dir = site.join(DATA).join(safe_file_name(layer));
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with('u') && name.ends_with(".json")) {
            continue;
        }
        let text = read_small(&e.path())?;
        let r: UnitRecord = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a unit's record", e.path().display()))?;
        if r.layer != layer {
            bail!("{} is a record of layer {}", e.path().display(), r.layer);
        }
        out.push(r);
    }
    out.sort_by_key(|r| r.unit);
    Ok(out)
}

/// Reads a file of the atlas's own (at most 64 MiB).
fn read_small(p: &Path) -> Result<String> {
    let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
    if !meta.is_file() || meta.len() > 64 << 20 {
        bail!("{} is not an atlas file", p.display());
    }
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

/// Copies a part's units (their records and the files they name) and scans into the whole
/// site; a scan the whole already has must be the same. Returns the units copied.
pub fn copy_part(part: &Path, site: &Path) -> Result<usize> {
    let spec = AtlasSpec::load(part)?.context("no atlas.json")?;
    let mut units = 0;
    for layer in &spec.layers {
        for r in layer_records(part, &layer.name)? {
            // every file of the unit's folder: its pictures, their sidecars and start images,
            // its crops
            let dir = super::unit::unit_dir(&r.layer, r.unit);
            let entries = std::fs::read_dir(part.join(&dir))
                .with_context(|| format!("reading {}", part.join(&dir).display()))?;
            let mut names: Vec<String> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !deepvis_topk::is_temporary(n))
                .collect();
            names.sort();
            for name in names {
                copy_file(part, site, &Path::new(&dir).join(name))?;
            }
            if done(site, &r.layer, r.unit) {
                bail!(
                    "{} unit {} is in two parts (the second: {})",
                    r.layer,
                    r.unit,
                    part.display()
                );
            }
            // the record as it is (its bytes: a number read and written again may not be)
            let rel = UnitRecord::path(Path::new(""), &r.layer, r.unit);
            copy_file(part, site, &rel)?;
            units += 1;
        }
    }
    // the scans: each part read the whole folder; the first one copied, the others checked
    let data = part.join(DATA);
    if let Ok(entries) = std::fs::read_dir(&data) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("scan-") {
                continue;
            }
            let rel = Path::new(DATA).join(&name).join("state.json");
            let there = site.join(&rel);
            let bytes = std::fs::read(part.join(&rel))
                .with_context(|| format!("reading {}", part.join(&rel).display()))?;
            match std::fs::read(&there) {
                Ok(b) if b == bytes => {}
                Ok(_) => bail!(
                    "{} scanned the folder otherwise than the parts before it ({})",
                    part.display(),
                    rel.display()
                ),
                Err(_) => copy_file(part, site, &rel)?,
            }
        }
    }
    Ok(units)
}

/// Copies `rel` (a plain relative path) from one site to another, atomically.
fn copy_file(from: &Path, to: &Path, rel: &Path) -> Result<()> {
    if !deepvis_topk::is_plain_relative(rel) {
        bail!("{} names a file outside its site", rel.display());
    }
    let src = from.join(rel);
    let bytes = std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
    let dst = to.join(rel);
    if let Some(d) = dst.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    write_atomic(&dst, &bytes)?;
    Ok(())
}
