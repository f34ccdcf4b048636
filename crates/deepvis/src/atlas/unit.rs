//! Making one unit of an atlas: a picture per method (each alone, as `optimize` makes it, with
//! its sidecar), the model's classes on it, its top crops with their back-projections and its
//! statistics, then its record.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use deepvis_model::{BackMode, Labels};
use deepvis_optim::recipe::Which;
use deepvis_optim::{Init, MethodKind, Sidecar};
use deepvis_topk::{ScanState, safe_file_name};
use deepvis_viz::BackFilter;

use super::record::{
    AtlasSpec, CircuitRecord, ClassRow, CropRecord, PictureRecord, StatsRecord, UnitRecord,
};
use crate::Global;
use crate::common::{Loaded, save_image};
use crate::optimize::{Batch, Plan};

/// Where a unit's top images and statistics come from.
pub enum Source {
    /// No folder: the unit pages have no crops and no statistics.
    None,
    /// A folder, scanned into the site.
    Folder(PathBuf),
    /// The index folder of an earlier `deepvis topk` of the layer, and the folder it scanned.
    Index(PathBuf, PathBuf),
}

impl Source {
    /// `--folder` or `--topk`, checked: a folder that cannot be read or holds no image, an
    /// index of another layer, each an error before anything is written.
    pub fn check(folder: Option<&Path>, index: Option<&Path>, layers: &[String]) -> Result<Source> {
        match (folder, index) {
            (Some(f), _) => {
                let f = f
                    .canonicalize()
                    .with_context(|| format!("the folder {} cannot be read", f.display()))?;
                if !f.is_dir() {
                    bail!("{} is not a folder", f.display());
                }
                if crate::topk::list_images(&f)?.is_empty() {
                    bail!("{} holds no photo or video", f.display());
                }
                Ok(Source::Folder(f))
            }
            (None, Some(i)) => {
                let s = ScanState::load(i)?.with_context(|| {
                    format!("{} holds no top-k scan (no state.json)", i.display())
                })?;
                if layers.len() != 1 || !layers.contains(&s.layer) {
                    bail!(
                        "{} is a top-k index of layer {}; give --layer {} alone, or --folder",
                        i.display(),
                        s.layer,
                        s.layer
                    );
                }
                Ok(Source::Index(i.to_path_buf(), s.folder))
            }
            (None, None) => Ok(Source::None),
        }
    }

    /// The folder the crops come from.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            Source::Folder(f) | Source::Index(_, f) => Some(f),
            Source::None => None,
        }
    }

    /// How the crops are projected back.
    pub fn back(&self) -> Option<(BackMode, BackFilter)> {
        match self {
            Source::None => None,
            _ => Some((BackMode::Deconv, BackFilter::Raw)),
        }
    }

    /// The scan of `layer`: the folder's (resumed in `dir`), the index's, or none. A folder
    /// of which no image could be read is an error.
    pub fn scan(
        &self,
        g: &Global,
        l: &Loaded,
        layer: &str,
        dir: &Path,
        k: usize,
    ) -> Result<Option<ScanState>> {
        let state = match self {
            Source::None => return Ok(None),
            Source::Folder(f) => crate::topk::scan_folder(g, l, layer, f, dir, k)?,
            Source::Index(i, _) => {
                let s = ScanState::load(i)?.context("the index's state.json is gone")?;
                if s.model != l.info.name() {
                    bail!("{} is an index of the model {}", i.display(), s.model);
                }
                s
            }
        };
        if state.done.len() <= state.skipped.len() {
            bail!(
                "no image of {} could be read ({} skipped{})",
                state.folder.display(),
                state.skipped.len(),
                state
                    .skipped
                    .first()
                    .map(|(f, e)| format!(", the first: {f}: {e}"))
                    .unwrap_or_default()
            );
        }
        Ok(Some(state))
    }
}

/// How many inputs of each sign a unit page lists.
const CIRCUIT_TOP: usize = 6;

/// Makes units.
pub struct Maker<'a> {
    pub g: &'a Global,
    pub l: &'a Loaded,
    pub spec: &'a AtlasSpec,
    pub site: &'a Path,
    pub back: Option<(BackMode, BackFilter)>,
    /// The model file the sidecars name (hashed once a run).
    pub model_file: Option<deepvis_optim::recipe::ModelFile>,
}

/// The folder of a unit's images, relative to the site.
pub fn unit_dir(layer: &str, unit: usize) -> String {
    format!("layers/{}/u{unit:04}", safe_file_name(layer))
}

impl Maker<'_> {
    /// Makes every file of a unit and its record.
    pub fn make(&self, layer: &str, unit: usize, scan: Option<&ScanState>) -> Result<UnitRecord> {
        let dir = unit_dir(layer, unit);
        // the folder is named after the layer made safe, and checked to land in the site
        let abs = self.site.join(&dir);
        std::fs::create_dir_all(&abs).with_context(|| format!("creating {}", abs.display()))?;
        deepvis_topk::contained(self.site, &Path::new(&dir).join("x"))
            .with_context(|| format!("writing the files of {layer} unit {unit}"))?;
        let mut pictures = Vec::new();
        for &m in &self.spec.methods {
            let start = scan.and_then(|s| top_photo(self.l, s, unit));
            pictures.push(self.picture(layer, unit, m, &dir, start.as_ref())?);
        }
        let (crops, stats) = match scan {
            Some(s) => (self.crops(s, unit, &dir)?, stats(s, unit)),
            None => (Vec::new(), None),
        };
        let rec = UnitRecord {
            layer: layer.to_string(),
            unit,
            pictures,
            crops,
            stats,
            circuit: crate::circuit::strongest(self.l, layer, unit, CIRCUIT_TOP).map(
                |(below, excite, inhibit)| CircuitRecord {
                    below,
                    excite,
                    inhibit,
                },
            ),
        };
        rec.save(self.site)?;
        Ok(rec)
    }

    /// The run of one picture: the unit at the centre of its map (or at `pos`), from seeded
    /// noise, the method's defaults (the paper's preset 3), `--iters`.
    fn plan(
        &self,
        layer: &str,
        unit: usize,
        m: MethodKind,
        pos: Option<(usize, usize)>,
    ) -> Result<Plan> {
        crate::optimize::unit_plan(
            &self.l.info,
            layer,
            unit,
            m,
            pos,
            self.spec.iters,
            self.spec.seed,
        )
    }

    /// One picture with its sidecar, or why it could not be made.
    /// From seeded noise; a unit silent there (and before its ReLU, or with none) starts again
    /// from `photo`, its top image, as the window starts again from the frame.
    fn picture(
        &self,
        layer: &str,
        unit: usize,
        m: MethodKind,
        dir: &str,
        photo: Option<&(Init, (usize, usize))>,
    ) -> Result<PictureRecord> {
        let plan = self.plan(layer, unit, m, None)?;
        let mut batch = Batch::new(self.l, vec![plan])?;
        batch.optimize(self.g, true)?;
        if let (Some(_), Some((init, pos))) = (batch.empty_runs()?, photo) {
            // the unit where it peaks on its top image, from that image
            let mut plan = self.plan(layer, unit, m, Some(*pos))?;
            plan.config.init = init.clone();
            batch = Batch::new(self.l, vec![plan])?;
            batch.optimize(self.g, true)?;
        }
        let id = batch.ids[0];
        let st = batch.opt.status(id)?.clone();
        let pre_relu = batch.before_relu(id)?;
        let mut rec = PictureRecord {
            method: m,
            png: None,
            sidecar: None,
            best_obj: st.best_obj,
            iterations: st.iterations,
            pre_relu,
            failure: None,
            classes: Vec::new(),
        };
        if let Some(nothing) = batch.empty_runs()? {
            rec.failure = Some(nothing);
            return Ok(rec);
        }
        let picture = deepvis_engine::export::picture(&batch.opt, &batch.ids, Which::Best, 1)
            .map_err(anyhow::Error::msg)?;
        let best = batch.opt.best_image(id)?;
        let mut sidecar = Sidecar {
            app: self.spec.app.clone(),
            model: self.spec.model.clone(),
            model_file: self.model_file.clone(),
            backend: self.spec.backend.clone(),
            image: Which::Best,
            scale: 1,
            runs: batch.records()?,
            window: None,
        };
        let png = format!("{dir}/{}.png", m.as_str());
        let abs = self.site.join(&png);
        let json = deepvis_engine::export::write(&abs, &picture, &mut sidecar)
            .map_err(anyhow::Error::msg)?;
        rec.sidecar = Some(format!(
            "{dir}/{}",
            json.file_name()
                .map(|f| f.to_string_lossy())
                .unwrap_or_default()
        ));
        rec.png = Some(png);
        rec.classes = self.classes(best)?;
        Ok(rec)
    }

    /// The model's own top-5 classes on a picture (none where its output is not classes).
    fn classes(&self, chw: Vec<f32>) -> Result<Vec<ClassRow>> {
        let s = self.l.info.input_size();
        let x = deepvis_model::tensor4(chw, [1, 3, s, s], &self.l.device.device)?;
        if self.l.net.read_output(x.clone())?.is_some() {
            return Ok(Vec::new());
        }
        let probs = deepvis_model::to_vec(self.l.net.probabilities(x)?)?;
        let labels = if probs.len() == 1000 {
            Labels::imagenet()
        } else {
            Labels::parse("")
        };
        Ok(deepvis_model::top_k(&probs, 5, &labels)
            .into_iter()
            .map(|c| ClassRow {
                index: c.index,
                label: c.label,
                prob: c.prob,
            })
            .collect())
    }

    /// The unit's top crops and their back-projections, written.
    fn crops(&self, scan: &ScanState, unit: usize, dir: &str) -> Result<Vec<CropRecord>> {
        let (tiles, backs) = crate::topk::hit_crops(self.l, scan, unit, self.spec.tile, self.back)?;
        let mut out = Vec::new();
        for (rank, (hit, tile)) in scan.top.hits(unit).iter().zip(&tiles).enumerate() {
            let crop = format!("{dir}/top{rank}.png");
            save_image(tile, &self.site.join(&crop))?;
            let back = match backs.get(rank) {
                Some(b) => {
                    let name = format!("{dir}/top{rank}-back.png");
                    save_image(b, &self.site.join(&name))?;
                    Some(name)
                }
                None => None,
            };
            out.push(CropRecord {
                file: hit.file.clone(),
                score: hit.score,
                y: hit.y,
                x: hit.x,
                crop,
                back,
            });
        }
        Ok(out)
    }
}

/// The unit's top image in a scan as a start image, and where the unit peaks on it (None
/// when it cannot be read again).
fn top_photo(l: &Loaded, scan: &ScanState, unit: usize) -> Option<(Init, (usize, usize))> {
    let hit = scan.top.hits(unit).first()?;
    let img = crate::common::read_picture(&scan.folder.join(&hit.file), None).ok()?;
    let init = Init::Image {
        chw: l.info.input.apply(&img).chw,
        label: hit.file.clone(),
    };
    Some((init, (hit.y, hit.x)))
}

/// The unit's statistics in a scan.
fn stats(scan: &ScanState, unit: usize) -> Option<StatsRecord> {
    let s = scan.stats.get(unit)?;
    Some(StatsRecord {
        images: s.images,
        mean_max: s.mean_max(),
        mean: s.mean_mean(),
        max: s.max(),
        silent: s.silent_share(),
        hist: s.hist.clone(),
        edges: deepvis_topk::bin_edges(),
    })
}
