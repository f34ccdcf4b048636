//! `deepvis topk`: the images of a folder that excite each channel of a layer most, with the
//! crop of each unit's receptive field at its maximum; resumable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use deepvis_model::Request;
use deepvis_model::preprocess::{Preprocessed, preprocess_file};
use deepvis_topk::{Hit, Index, IndexChannel, IndexHit, ScanState, Shard, TopK};
use image::RgbImage;

use crate::Global;
use crate::common::{Loaded, load, log, save_image};

/// Arguments of `deepvis topk`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    /// `topk merge`: the parts of a sharded scan into one index.
    #[command(subcommand)]
    merge: Option<Sub>,
    /// The folder of photos and videos (searched recursively; other files are ignored).
    /// A video's frames are scanned every `--video-step` frames, each named `FILE@SECONDS`.
    #[arg(long, required = true)]
    folder: Option<PathBuf>,
    /// Scan every Nth frame of a video.
    #[arg(long, default_value_t = 10, value_name = "N")]
    video_step: u64,
    /// Scan only part I of N of the folder (a stable split by file name: every machine
    /// agrees, a video goes whole); `topk merge` joins the N indexes into the one a single
    /// run gives.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// The layer (see `deepvis layers`).
    #[arg(long, required = true)]
    layer: Option<String>,
    /// How many images to keep per channel.
    #[arg(long, default_value_t = 9)]
    k: usize,
    /// The index folder: state.json while scanning, then index.json and a montage per channel.
    /// Running again with the same folder goes on where the last run stopped.
    #[arg(short, long, value_name = "DIR", required = true)]
    output: Option<PathBuf>,
    /// Side of each crop in the montages, in pixels.
    #[arg(long, default_value_t = 96)]
    tile: u32,
    /// Read at most this many new images in this run (the rest on the next run).
    #[arg(long)]
    limit: Option<usize>,
    /// Forget an earlier scan in the output folder and start over.
    #[arg(long)]
    restart: bool,
    /// Also project each hit back onto its image (grad, deconv or guided) and write a second
    /// montage per channel of those projections' receptive-field crops, as the original
    /// toolbox showed its top-9's deconv. One backward pass per hit.
    #[arg(long, value_name = "MODE")]
    back: Option<String>,
    /// How the back-projections are drawn: raw, gray, norm or normblur.
    #[arg(long, default_value = "raw", requires = "back")]
    back_filter: String,
}

/// `topk`'s subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Joins the indexes of the N parts of a scan (`topk --shard I/N`) into the index (and
    /// montages) one run over the whole folder gives. Needs the folder and the model.
    Merge(MergeArgs),
}

/// Arguments of `deepvis topk merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The merged index's folder.
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// The parts' index folders (each part 0..N of one N, once).
    #[arg(required = true, value_name = "PART_DIR")]
    parts: Vec<PathBuf>,
    /// Side of each crop in the montages, in pixels.
    #[arg(long, default_value_t = 96)]
    tile: u32,
    /// Project the hits back as `topk --back` does (grad, deconv or guided).
    #[arg(long, value_name = "MODE")]
    back: Option<String>,
    /// How the back-projections are drawn: raw, gray, norm or normblur.
    #[arg(long, default_value = "raw", requires = "back")]
    back_filter: String,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string())
}

/// `--back` and `--back-filter`, checked.
fn back_options(
    back: Option<&str>,
    filter: &str,
) -> Result<(Option<deepvis_model::BackMode>, deepvis_viz::BackFilter)> {
    let mode = back
        .map(deepvis_model::BackMode::parse_projection)
        .transpose();
    let filter = deepvis_viz::BackFilter::parse(filter).map_err(anyhow::Error::msg);
    Ok((mode.map_err(anyhow::Error::msg)?, filter?))
}

/// `topk merge`: the parts' scans joined, and the index of the whole written from them.
fn merge(g: &Global, m: MergeArgs) -> Result<ExitCode> {
    let tile = m.tile.clamp(8, 512);
    let (back_mode, back_filter) = back_options(m.back.as_deref(), &m.back_filter)?;
    let mut parts = Vec::new();
    for d in &m.parts {
        let s = ScanState::load(d)?
            .with_context(|| format!("{} holds no top-k scan (no state.json)", d.display()))?;
        parts.push(s);
    }
    let state = ScanState::merge(parts)?;
    // every file of the folder must have been read by its part
    let files = list_images(&state.folder)
        .with_context(|| format!("the scanned folder {}", state.folder.display()))?;
    let missing: Vec<&String> = files.iter().filter(|f| !state.done.contains(*f)).collect();
    if let Some(first) = missing.first() {
        let count = m.parts.len();
        bail!(
            "{} file(s) of {} were not read by their part (the first: {first}, part {}/{count}): \
             run that part again (it goes on where it stopped)",
            missing.len(),
            state.folder.display(),
            deepvis_topk::shard_of(first, count)
        );
    }
    let l = load(g)?;
    if state.model != l.info.name() {
        bail!(
            "the parts are of the model {}; this is {} (give it with --model)",
            state.model,
            l.info.name()
        );
    }
    std::fs::create_dir_all(&m.output)
        .with_context(|| format!("creating {}", m.output.display()))?;
    state.save(&m.output)?;
    log(
        g,
        format!(
            "topk merge: {} part(s), {} file(s), {} skipped",
            m.parts.len(),
            state.done.len(),
            state.skipped.len()
        ),
    );
    let back = back_mode.map(|mode| BackSpec {
        mode,
        filter: back_filter,
        projector: deepvis_model::BackProjector::new(l.net.clone(), &l.device.device),
    });
    let folder = state.folder.clone();
    write_index(g, &l, &state, &folder, &m.output, tile, back.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// What `--back` asked for.
struct BackSpec {
    mode: deepvis_model::BackMode,
    filter: deepvis_viz::BackFilter,
    projector: deepvis_model::BackProjector,
}

const IMAGE_EXTS: [&str; 9] = [
    "jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff", "jfif",
];

pub(crate) fn is_clip(p: &Path) -> bool {
    use deepvis_sources::video::{is_animation, is_video};
    let ext = p
        .extension()
        .and_then(|x| x.to_str())
        .map(|x| x.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "gif" | "png" => is_animation(p),
        _ => is_video(p),
    }
}

/// The image and video files under `root` (recursively, hidden entries skipped), relative,
/// sorted.
///
/// A folder reached twice (through a link such as `self -> .`, or two links to one folder)
/// is entered once, by its device and inode, so the walk ends however links loop; files
/// that are not regular (a named pipe or a link to a device named `a.jpg`) are left out with
/// a warning, never opened.
pub(crate) fn list_images(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut seen = deepvis_model::fsguard::Visited::default();
    let meta = std::fs::metadata(root).with_context(|| format!("reading {}", root.display()))?;
    seen.first_visit(&meta);
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?;
        for e in entries.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // links followed; a dangling link is passed over as before
            let Ok(meta) = std::fs::metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                if seen.first_visit(&meta) {
                    dirs.push(p);
                }
            } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                let x = x.to_ascii_lowercase();
                IMAGE_EXTS.contains(&x.as_str())
                    || deepvis_sources::video::VIDEO_EXTENSIONS.contains(&x.as_str())
            }) && let Ok(rel) = p.strip_prefix(root)
            {
                if let Some(kind) = deepvis_model::fsguard::irregular_kind(&meta) {
                    eprintln!(
                        "deepvis: warning: {} is {kind}, not a regular file: left out",
                        p.display()
                    );
                    continue;
                }
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One channel's response to one picture: its maximum, where it is, and its mean.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Peak {
    /// The largest finite value of the map (-inf when it has none).
    pub max: f32,
    /// Its row.
    pub y: usize,
    /// Its column.
    pub x: usize,
    /// The mean of the map's finite values.
    pub mean: f32,
}

/// The maximum of every channel of a `[C, H, W]` map, where it is, and its mean.
fn channel_maxima(data: &[f32], c: usize, h: usize, w: usize) -> Vec<Peak> {
    let plane = h * w;
    (0..c)
        .map(|ch| {
            let s = &data[ch * plane..(ch + 1) * plane];
            let (i, v) = s.iter().enumerate().filter(|(_, v)| v.is_finite()).fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &v)| if v > b.1 { (i, v) } else { b },
            );
            let (sum, n) = s
                .iter()
                .filter(|v| v.is_finite())
                .fold((0f64, 0usize), |(a, n), &v| (a + v as f64, n + 1));
            Peak {
                max: v,
                y: i / w.max(1),
                x: i % w.max(1),
                mean: if n == 0 { 0.0 } else { (sum / n as f64) as f32 },
            }
        })
        .collect()
}

/// Each channel's maximum on one preprocessed picture and where it is.
fn scan_picture(l: &Loaded, layer: &str, p: Preprocessed) -> Result<Vec<Peak>> {
    let dims = p.dims();
    let x = deepvis_model::tensor4(p.chw, dims, &l.device.device)?;
    let mut taps = l.net.forward(x, &Request::layers(&[layer]))?;
    let t = taps
        .take(layer)
        .context("the forward pass did not return the layer")?;
    let [_, c, h, w] = t.dims();
    let data = deepvis_model::to_vec(t)?;
    Ok(channel_maxima(&data, c, h, w))
}

/// What a scan is of; a scan saved in the output folder goes on only when it is of the same.
struct ScanSpec {
    model: String,
    layer: String,
    folder: PathBuf,
    k: usize,
    channels: usize,
    shard: Option<Shard>,
}

impl ScanSpec {
    /// A scan that has read nothing yet.
    fn fresh(&self) -> ScanState {
        ScanState {
            model: self.model.clone(),
            layer: self.layer.clone(),
            folder: self.folder.clone(),
            done: BTreeSet::new(),
            skipped: Vec::new(),
            top: TopK::new(self.channels, self.k),
            shard: self.shard,
            stats: Vec::new(),
        }
    }

    /// The scan saved in `output` (an error if it is of something else), or a fresh one (with
    /// `restart`, or where none is saved).
    fn resume(&self, output: &Path, restart: bool) -> Result<ScanState> {
        let s = match ScanState::load(output)? {
            Some(_) if restart => return Ok(self.fresh()),
            Some(s) => s,
            None => return Ok(self.fresh()),
        };
        if s.model != self.model
            || s.layer != self.layer
            || s.folder != self.folder
            || s.top.k() != self.k
            || s.top.channels() != self.channels
            || s.shard != self.shard
        {
            bail!(
                "{} holds a scan of {} {} over {} with k = {}{}; use another output folder \
                 or --restart",
                output.display(),
                s.model,
                s.layer,
                s.folder.display(),
                s.top.k(),
                s.shard
                    .map(|p| format!(", part {}/{}", p.index, p.count))
                    .unwrap_or_default()
            );
        }
        Ok(s)
    }
}

/// Offers one picture's channel maxima to the scan's top-k under a name, and counts them in
/// the channels' statistics.
fn offer(state: &mut ScanState, name: &str, maxima: Vec<Peak>) {
    for (c, p) in maxima.into_iter().enumerate() {
        state.count(c, p.max, p.mean);
        state.top.offer(
            c,
            Hit {
                file: name.to_string(),
                score: p.max,
                y: p.y,
                x: p.x,
            },
        );
    }
}

/// Reads the files of a scan into its state, saving it every few seconds.
struct Reader<'a> {
    l: &'a Loaded,
    layer: &'a str,
    folder: &'a Path,
    output: &'a Path,
    /// Every how many frames a clip is read.
    step: u64,
}

impl Reader<'_> {
    /// Reads `todo` (relative paths) under a progress bar; a file that cannot be read is
    /// skipped with a warning. Returns the pictures read (a clip gives several).
    fn read_all(&self, g: &Global, state: &mut ScanState, todo: &[&String]) -> Result<usize> {
        let bar = if g.quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(todo.len() as u64)
        };
        let ffmpeg = deepvis_sources::Ffmpeg::from_env();
        // photos are decoded and preprocessed ahead on threads of their own (in turn, so that
        // they come in order) while the network reads the one before; clips decode in FFmpeg
        let work: Vec<(&String, bool)> = todo
            .iter()
            .map(|r| (*r, is_clip(&self.folder.join(r))))
            .collect();
        let photos: Vec<&String> = work.iter().filter(|w| !w.1).map(|w| w.0).collect();
        let decoders = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .saturating_sub(1)
            .clamp(1, 8);
        let mut read = 0usize;
        let mut saved = Instant::now();
        std::thread::scope(|scope| -> Result<()> {
            let ahead = self.decode_ahead(scope, &photos, decoders);
            let mut photo = 0;
            for &(rel, clip) in &work {
                let result = if clip {
                    // every `step`th frame, each its own entry (a resumed scan skips those done)
                    let path = self.folder.join(rel);
                    let (l, layer) = (self.l, self.layer);
                    scan_clip(l, layer, &ffmpeg, &path, rel, self.step, state, &offer)
                } else {
                    let p = ahead[photo % decoders]
                        .recv()
                        .map_err(|_| anyhow::anyhow!("the decoding thread stopped"))
                        .and_then(|p| p);
                    photo += 1;
                    p.and_then(|p| scan_picture(self.l, self.layer, p))
                        .map(|maxima| {
                            offer(state, rel.as_str(), maxima);
                            1
                        })
                };
                match result {
                    Ok(n) => read += n,
                    Err(e) => {
                        bar.suspend(|| eprintln!("deepvis: warning: skipping {rel}: {e:#}"));
                        state.skipped.push((rel.clone(), format!("{e:#}")));
                    }
                }
                state.done.insert(rel.clone());
                bar.inc(1);
                if saved.elapsed() >= Duration::from_secs(5) {
                    state.save(self.output)?;
                    saved = Instant::now();
                }
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        Ok(read)
    }

    /// Starts `decoders` threads that decode and preprocess the photos in turn (thread j the
    /// j-th of every `decoders`), each a little ahead of the network; their channels.
    fn decode_ahead<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        photos: &'scope [&String],
        decoders: usize,
    ) -> Vec<crossbeam_channel::Receiver<Result<Preprocessed>>> {
        let spec = &self.l.info.input;
        let mut ahead = Vec::new();
        for j in 0..decoders {
            let (tx, rx) = crossbeam_channel::bounded::<Result<Preprocessed>>(2);
            ahead.push(rx);
            let folder = self.folder;
            scope.spawn(move || {
                for rel in photos.iter().skip(j).step_by(decoders) {
                    let p = preprocess_file(&folder.join(rel), spec).map_err(anyhow::Error::from);
                    if tx.send(p).is_err() {
                        return;
                    }
                }
            });
        }
        ahead
    }
}

/// Runs the command.
pub fn run(g: &Global, a: Args) -> Result<ExitCode> {
    if let Some(Sub::Merge(m)) = a.merge {
        return merge(g, m);
    }
    let (Some(folder_arg), Some(layer_arg), Some(output)) =
        (a.folder.clone(), a.layer.clone(), a.output.clone())
    else {
        bail!("give --folder, --layer and -o (or `deepvis topk merge -o OUT PART...`)");
    };
    if a.k == 0 || a.k > 100 {
        bail!("--k must be 1..=100, got {}", a.k);
    }
    let tile = a.tile.clamp(8, 512);
    let (back_mode, back_filter) = back_options(a.back.as_deref(), &a.back_filter)?;
    let l = load(g)?;
    let info = l.info.layer(&layer_arg)?;
    let folder = folder_arg
        .canonicalize()
        .with_context(|| format!("the folder {} cannot be read", folder_arg.display()))?;
    std::fs::create_dir_all(&output).with_context(|| format!("creating {}", output.display()))?;
    let files: Vec<String> = list_images(&folder)?
        .into_iter()
        .filter(|f| a.shard.is_none_or(|s| s.holds(f)))
        .collect();
    let spec = ScanSpec {
        model: l.info.name().to_string(),
        layer: info.name,
        folder: folder.clone(),
        k: a.k,
        channels: info.channels,
        shard: a.shard,
    };
    let mut state = spec.resume(&output, a.restart)?;
    let todo: Vec<&String> = files.iter().filter(|f| !state.done.contains(*f)).collect();
    let quota = a.limit.unwrap_or(usize::MAX).min(todo.len());
    log(
        g,
        format!(
            "topk: {} image file(s) in {}, {} already done, {} to read now",
            files.len(),
            folder.display(),
            files.len() - todo.len(),
            quota
        ),
    );
    let reader = Reader {
        l: &l,
        layer: &spec.layer,
        folder: &folder,
        output: &output,
        step: a.video_step.max(1),
    };
    let t0 = Instant::now();
    let read = reader.read_all(g, &mut state, &todo[..quota])?;
    state.save(&output)?;
    let secs = t0.elapsed().as_secs_f64();
    log(
        g,
        format!(
            "topk: read {read} image(s) in {secs:.1} s ({:.1} ms each); {} skipped in all",
            secs * 1e3 / read.max(1) as f64,
            state.skipped.len()
        ),
    );
    let left = todo.len() - quota;
    if left > 0 {
        log(
            g,
            format!("topk: {left} image(s) left for the next run (same command goes on)"),
        );
    }
    let back = back_mode.map(|mode| BackSpec {
        mode,
        filter: back_filter,
        projector: deepvis_model::BackProjector::new(l.net.clone(), &l.device.device),
    });
    write_index(g, &l, &state, &folder, &output, tile, back.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// Offers one picture's channel maxima to the accumulator under a name.
type Offer = dyn Fn(&mut ScanState, &str, Vec<Peak>);

/// Scans every `step`th frame of a clip (decoded in order), each frame named
/// `FILE@SECONDS`; frames a resumed scan already did are not offered again. A clip cut short
/// keeps the frames it had (with a warning). Returns the frames read.
#[allow(clippy::too_many_arguments)]
fn scan_clip(
    l: &Loaded,
    layer: &str,
    ffmpeg: &deepvis_sources::Ffmpeg,
    path: &Path,
    rel: &str,
    step: u64,
    state: &mut ScanState,
    offer: &Offer,
) -> Result<usize> {
    let mut clip = deepvis_sources::video::open_clip(ffmpeg, path)?;
    let info = clip.info().clone();
    let mut read = 0;
    let mut n = 0;
    while n < info.frames {
        let name = deepvis_sources::video::frame_name(rel, n, info.fps);
        if !state.done.contains(&name) {
            let img = match clip.frame(n) {
                Ok(img) => img,
                Err(end) if read == 0 && n == 0 => bail!(
                    "no frame could be decoded{}",
                    end.error.map(|e| format!(": {e}")).unwrap_or_default()
                ),
                Err(end) => {
                    eprintln!(
                        "deepvis: warning: {rel} ended at frame {} of {}{}",
                        end.at,
                        info.frames,
                        end.error.map(|e| format!(": {e}")).unwrap_or_default()
                    );
                    break;
                }
            };
            let p = l.info.input.apply(&image::DynamicImage::ImageRgb8(img));
            offer(state, &name, scan_picture(l, layer, p)?);
            state.done.insert(name);
            read += 1;
        }
        n += step;
    }
    Ok(read)
}

/// Reads the pictures hits name, keeping a few clips open between reads (a clip's frames are
/// read again for their crops, in time order).
#[derive(Default)]
struct OpenClips {
    clips: std::collections::HashMap<PathBuf, Box<dyn deepvis_sources::video::Clip>>,
}

impl OpenClips {
    /// How many clips (each an FFmpeg process) stay open.
    const MAX_OPEN: usize = 8;

    fn read(&mut self, path: &Path) -> Result<image::DynamicImage> {
        use deepvis_sources::video::{FrameAt, open_clip, split_at_time};
        let Some((clip_path, t)) = split_at_time(path) else {
            return crate::common::read_picture(path, None);
        };
        if !self.clips.contains_key(&clip_path) {
            if self.clips.len() >= Self::MAX_OPEN {
                self.clips.clear();
            }
            let c = open_clip(&deepvis_sources::Ffmpeg::from_env(), &clip_path)?;
            self.clips.insert(clip_path.clone(), c);
        }
        let clip = self
            .clips
            .get_mut(&clip_path)
            .context("the clip is not open")?;
        let n = FrameAt::Seconds(t)
            .index(clip.info().fps)
            .map_err(anyhow::Error::msg)?;
        let img = clip.frame(n).map_err(|end| {
            anyhow::anyhow!(
                "the clip ended at frame {}{}",
                end.at,
                end.error.map(|e| format!(": {e}")).unwrap_or_default()
            )
        })?;
        Ok(image::DynamicImage::ImageRgb8(img))
    }
}

/// The receptive-field crop of one hit's back-projection onto its image.
fn back_tile(
    l: &Loaded,
    b: &BackSpec,
    layer: &str,
    chw: &[f32],
    hit: (usize, usize, usize),
    region: [i64; 4],
    tile: u32,
) -> Result<RgbImage> {
    let side = l.info.input_size();
    let (c, y, x) = hit;
    let t = deepvis_model::tensor4(chw.to_vec(), [1, 3, side, side], &l.device.device)?;
    let p = b.projector.project(t, layer, c, Some((y, x)), b.mode)?;
    let data = deepvis_model::to_vec(p.grad)?;
    let order = l.info.norm().order;
    let img = deepvis_viz::back_image(&data, side, side, order, b.filter)
        .context("the back-projection has the wrong size")?;
    Ok(deepvis_viz::field_crop(&img, region, tile))
}

/// Writes a montage per channel (the receptive-field crops of its hits, best first, row by
/// row; with `back`, a second one of their back-projections) and `index.json`. Channels are
/// done in chunks so that only a chunk's crops are held.
fn write_index(
    g: &Global,
    l: &Loaded,
    state: &ScanState,
    folder: &Path,
    out: &Path,
    tile: u32,
    back: Option<&BackSpec>,
) -> Result<()> {
    let w = IndexWriter {
        l,
        state,
        folder,
        out,
        tile,
        back,
        layer: state.layer.as_str(),
        side: l.info.input_size(),
    };
    // the montages' folder is named after the layer: a name made safe (a node named
    // `../x` or `/etc` writes in the output folder like any other), checked to land inside
    let mdir = out.join(w.folder_name());
    std::fs::create_dir_all(&mdir).with_context(|| format!("creating {}", mdir.display()))?;
    deepvis_topk::contained(out, Path::new(&w.folder_name()))
        .with_context(|| format!("writing the montages of layer `{}`", w.layer))?;
    let channels = state.top.channels();
    let mut entries = Vec::with_capacity(channels);
    let mut clips = OpenClips::default();
    const CHUNK: usize = 64;
    for start in (0..channels).step_by(CHUNK) {
        let chunk = start..(start + CHUNK).min(channels);
        let (tiles, back_tiles) = w.crops(&mut clips, chunk.clone())?;
        entries.extend(w.montages(chunk, &tiles, &back_tiles)?);
    }
    w.index(entries).save(out)?;
    log(
        g,
        format!(
            "topk: wrote {} and {channels} montage(s) in {}",
            Index::path(out).display(),
            mdir.display()
        ),
    );
    Ok(())
}

/// The crops of one chunk of channels: each channel's `k` tiles by rank.
type Tiles = Vec<Vec<RgbImage>>;

/// Writes the index of a finished scan: its montages and `index.json`.
struct IndexWriter<'a> {
    l: &'a Loaded,
    state: &'a ScanState,
    folder: &'a Path,
    out: &'a Path,
    tile: u32,
    back: Option<&'a BackSpec>,
    layer: &'a str,
    /// The side of the network's input.
    side: usize,
}

impl IndexWriter<'_> {
    /// The folder of the montages, in the output folder: the layer's name made a safe file
    /// name.
    fn folder_name(&self) -> String {
        deepvis_topk::safe_file_name(self.layer)
    }

    /// The hits of the channels `chunk` by the file they are in, as (channel, rank); a clip's
    /// frames in time order, so that its decoder reads on rather than seeks.
    fn hits_by_file(&self, chunk: std::ops::Range<usize>) -> Vec<(&str, Vec<(usize, usize)>)> {
        let mut by_file: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for c in chunk {
            for (rank, h) in self.state.top.hits(c).iter().enumerate() {
                by_file.entry(h.file.as_str()).or_default().push((c, rank));
            }
        }
        let mut by_file: Vec<_> = by_file.into_iter().collect();
        by_file.sort_by(|a, b| {
            let key = |f: &str| match f.rsplit_once('@') {
                Some((c, t)) => (c.to_string(), t.parse::<f64>().unwrap_or(0.0)),
                None => (f.to_string(), 0.0),
            };
            let (ka, kb) = (key(a.0), key(b.0));
            ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        });
        by_file
    }

    /// The receptive-field crops of the hits of the channels `chunk` (gray where a file
    /// cannot be read again), and with `back` those of their back-projections.
    fn crops(
        &self,
        clips: &mut OpenClips,
        chunk: std::ops::Range<usize>,
    ) -> Result<(Tiles, Tiles)> {
        let (start, k, tile) = (chunk.start, self.state.top.k(), self.tile);
        let gray = RgbImage::from_pixel(tile, tile, image::Rgb([64, 64, 64]));
        let mut tiles = vec![vec![gray.clone(); k]; chunk.len()];
        let mut back_tiles = vec![vec![gray.clone(); k]; chunk.len()];
        for (file, uses) in self.hits_by_file(chunk) {
            let p = match clips
                .read(&self.folder.join(file))
                .map(|img| self.l.info.input.apply(&img))
            {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("deepvis: warning: {file} cannot be read again for its crop: {e}");
                    continue;
                }
            };
            for (c, rank) in uses {
                let h = &self.state.top.hits(c)[rank];
                let f = self
                    .l
                    .info
                    .field_bounds(self.layer, (h.y, h.x), self.side, false);
                tiles[c - start][rank] = deepvis_viz::field_crop(&p.crop, f, tile);
                if let Some(b) = self.back {
                    back_tiles[c - start][rank] =
                        back_tile(self.l, b, self.layer, &p.chw, (c, h.y, h.x), f, tile)?;
                }
            }
        }
        Ok((tiles, back_tiles))
    }

    /// Writes the montages of the channels `chunk`; their entries in the index.
    fn montages(
        &self,
        chunk: std::ops::Range<usize>,
        tiles: &Tiles,
        back_tiles: &Tiles,
    ) -> Result<Vec<IndexChannel>> {
        let (layer, start) = (self.layer, chunk.start);
        let cols = (self.state.top.k() as f64).sqrt().ceil() as usize;
        let mut entries = Vec::with_capacity(chunk.len());
        let folder = self.folder_name();
        let inside = |name: &str| {
            deepvis_topk::contained(self.out, Path::new(name))
                .with_context(|| format!("writing a montage of layer `{layer}`"))
        };
        for c in chunk {
            let name = format!("{folder}/c{c:04}.png");
            let m = deepvis_viz::montage(&tiles[c - start], cols, 2, [0, 0, 0]);
            save_image(&m, &inside(&name)?)?;
            let back_montage = match self.back {
                Some(b) => {
                    let bname = format!("{folder}/c{c:04}_{}.png", b.mode.as_str());
                    let m = deepvis_viz::montage(&back_tiles[c - start], cols, 2, [0, 0, 0]);
                    save_image(&m, &inside(&bname)?)?;
                    Some(bname)
                }
                None => None,
            };
            entries.push(IndexChannel {
                channel: c,
                montage: name,
                back_montage,
                hits: self
                    .state
                    .top
                    .hits(c)
                    .iter()
                    .map(|h| IndexHit {
                        file: h.file.clone(),
                        score: h.score,
                        y: h.y,
                        x: h.x,
                        field: self.l.info.field_bounds(layer, (h.y, h.x), self.side, true),
                    })
                    .collect(),
            });
        }
        Ok(entries)
    }

    /// The index of the scan with the channels' entries.
    fn index(&self, channels: Vec<IndexChannel>) -> Index {
        let (state, folder) = (self.state, self.folder);
        Index {
            model: state.model.clone(),
            layer: state.layer.clone(),
            k: state.top.k(),
            folder: folder.to_path_buf(),
            // photos and video frames read (a clip's own entry only marks it finished)
            images: state
                .done
                .iter()
                .filter(|d| !is_clip(&folder.join(d)))
                .count()
                - state
                    .skipped
                    .iter()
                    .filter(|(d, _)| !is_clip(&folder.join(d)))
                    .count(),
            skipped: state.skipped.clone(),
            shard: state.shard,
            back: self
                .back
                .map(|b| format!("{}, {}", b.mode.as_str(), b.filter.as_str())),
            channels,
        }
    }
}

/// A scan of `folder` for another command (the atlas): resumed from the state saved in `dir`
/// (an error when that is a scan of something else), every file not yet read read, saved.
pub(crate) fn scan_folder(
    g: &Global,
    l: &Loaded,
    layer: &str,
    folder: &Path,
    dir: &Path,
    k: usize,
) -> Result<ScanState> {
    let info = l.info.layer(layer)?;
    let files = list_images(folder)?;
    let spec = ScanSpec {
        model: l.info.name().to_string(),
        layer: info.name.clone(),
        folder: folder.to_path_buf(),
        k,
        channels: info.channels,
        shard: None,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut state = spec.resume(dir, false)?;
    let todo: Vec<&String> = files.iter().filter(|f| !state.done.contains(*f)).collect();
    if !todo.is_empty() {
        log(
            g,
            format!(
                "scanning {} of {} file(s) of {} through {layer}",
                todo.len(),
                files.len(),
                folder.display()
            ),
        );
    }
    let reader = Reader {
        l,
        layer: &spec.layer,
        folder,
        output: dir,
        step: 10,
    };
    reader.read_all(g, &mut state, &todo)?;
    state.save(dir)?;
    Ok(state)
}

/// The receptive-field crops of channel `c`'s hits in a finished scan, best first, and with
/// `back` (a projection mode and filter) those of their back-projections.
pub(crate) fn hit_crops(
    l: &Loaded,
    state: &ScanState,
    c: usize,
    tile: u32,
    back: Option<(deepvis_model::BackMode, deepvis_viz::BackFilter)>,
) -> Result<(Vec<RgbImage>, Vec<RgbImage>)> {
    let back = back.map(|(mode, filter)| BackSpec {
        mode,
        filter,
        projector: deepvis_model::BackProjector::new(l.net.clone(), &l.device.device),
    });
    let w = IndexWriter {
        l,
        state,
        folder: &state.folder,
        out: Path::new("."),
        tile,
        back: back.as_ref(),
        layer: state.layer.as_str(),
        side: l.info.input_size(),
    };
    let (mut tiles, mut back_tiles) = w.crops(&mut OpenClips::default(), c..c + 1)?;
    let n = state.top.hits(c).len();
    let take = |t: &mut Tiles| {
        let mut v = t.pop().unwrap_or_default();
        v.truncate(n);
        v
    };
    let crops = take(&mut tiles);
    let backs = if w.back.is_some() {
        take(&mut back_tiles)
    } else {
        Vec::new()
    };
    Ok((crops, backs))
}
