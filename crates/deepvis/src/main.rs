//! `deepvis`: the command line and the live toolbox window.

mod activations;
mod app;
mod atlas;
mod attribute;
mod backprop;
mod bench;
mod circuit;
mod classify;
mod common;
mod concept;
mod discover;
mod env;
mod fuzz;
mod fvquality;
mod judge;
mod layers;
mod method_args;
mod model;
mod optimize;
mod search;
mod soak;
mod topk;
mod weights;

use clap::{Parser, Subcommand};

/// Options every command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// The network: squeezenet1_0 (default), alexnet, or an ONNX file (`PATH.onnx`).
    #[arg(long, global = true, default_value = "squeezenet1_0")]
    pub model: String,
    /// Input side of an ONNX model (else its sidecar, preset or fixed input size).
    #[arg(long, global = true, value_name = "N")]
    pub input_size: Option<usize>,
    /// Per-channel mean of an ONNX model's input, in the input range's units (`0.5,0.5,0.5`).
    #[arg(long, global = true, value_name = "A,B,C")]
    pub mean: Option<String>,
    /// Per-channel standard deviation of an ONNX model's input (`0.229,0.224,0.225`).
    #[arg(long, global = true, value_name = "A,B,C")]
    pub std: Option<String>,
    /// An ONNX model takes BGR channels (Caffe) instead of RGB.
    #[arg(long, global = true)]
    pub bgr: bool,
    /// Pixel range of an ONNX model's input before mean and std: 1 (0..1) or 255.
    #[arg(long, global = true, value_name = "MAX")]
    pub input_range: Option<f32>,
    /// Weights file or folder (else DEEPVIS_WEIGHTS, ./weights, ../shared/weights, the cache).
    #[arg(long, global = true, value_name = "PATH")]
    pub weights: Option<std::path::PathBuf>,
    /// Where the network runs: auto (a hardware GPU through wgpu, else the CPU), wgpu or cpu.
    #[arg(long, global = true, default_value = "auto")]
    pub backend: String,
    /// Print no log lines on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Parser, Debug)]
#[command(
    name = "deepvis",
    version,
    about = "Deep visualization of convolutional networks"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(flatten)]
    app: app::AppArgs,
    /// The most memory a network may need (`8G`, `512M`): a model whose forward pass would
    /// need more is refused at load, naming the node and the size (else DEEPVIS_MEMORY_BUDGET,
    /// else half of this machine's memory, no more than what is available).
    #[arg(long, global = true, value_name = "BYTES", value_parser = parse_budget)]
    memory_budget: Option<u64>,
    #[command(subcommand)]
    command: Option<Command>,
}

fn parse_budget(text: &str) -> Result<u64, String> {
    deepvis_model::graph::budget::parse_bytes(text)
        .ok_or_else(|| format!("`{text}` is not a byte count (such as 8G, 512M or 1000000)"))
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Top-5 classes of photos (or preprocessed input tensors).
    Classify(classify::Args),
    /// Every channel of a layer tiled in one grayscale grid, and per-channel statistics.
    Activations(activations::Args),
    /// The network's named layers and their output shapes.
    Layers(layers::Args),
    /// Locate, verify and download weight files.
    #[command(subcommand)]
    Weights(weights::Command),
    /// A unit's gradient, deconv or guided backprop onto a photo.
    Backprop(backprop::Args),
    /// A unit's attribution map on a photo: Grad-CAM, occlusion, SmoothGrad, integrated
    /// gradients, the back-projections; all of them (--all) or a sanity check (--sanity).
    Attribute(attribute::Args),
    /// The images of a folder that excite each channel of a layer most (resumable).
    Topk(topk::Args),
    /// Every unit of a layer as a static web site: preferred images with their sidecars,
    /// top-9 crops and back-projections, statistics (resumable, sharded like topk).
    Atlas(atlas::Args),
    /// Concepts: fit one on examples (a direction in a layer's channel space), score
    /// pictures with its map, test it for a class by TCAV.
    #[command(subcommand)]
    Concept(concept::Command),
    /// The concepts a network finds in a class: NMF of a layer's activations of crops of
    /// the class's pictures (CRAFT), each with its typical crops and its importance.
    #[command(subcommand)]
    Concepts(discover::Command),
    /// A unit's strongest inputs in the layer below, positive and negative: by weight
    /// (through 1x1 layers and residual sums) and on a picture (activation x gradient).
    Circuit(circuit::Args),
    /// Synthesize a unit's preferred image (regularized gradient ascent).
    Optimize(Box<optimize::Args>),
    /// Random search over the optimizer's hyperparameters.
    Search(search::Args),
    /// How good each method's class pictures are: other networks' top-1 and top-5 on them
    /// (transferability), their features' cosine to real photos (plausibility), their
    /// high-frequency share, seconds per picture; a markdown table and JSON.
    #[command(name = "fv-quality")]
    FvQuality(fvquality::Args),
    /// Time forward and backward passes.
    Bench(bench::Args),
    /// The chaos soak: the worker under a seeded random stream of every command (bad ones,
    /// failing sources and models, injected crashes) while the window's state draws every
    /// event; prints what happened.
    Soak(soak::Args),
    /// Fuzz the decoders of user files (photos, weights, tensors, top-k files, settings) with
    /// mutated real files: cases per second, errors, panics and hangs per decoder.
    Fuzz(fuzz::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    deepvis_model::graph::budget::set_memory_budget(cli.memory_budget);
    let result = match cli.command {
        None => app::run(&cli.global, cli.app),
        Some(c) => run_command(&cli.global, c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("deepvis: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command(g: &Global, c: Command) -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli2 { global: g.clone() };
    match c {
        Command::Classify(a) => classify::run(&cli.global, a),
        Command::Activations(a) => activations::run(&cli.global, a),
        Command::Layers(a) => layers::run(&cli.global, a),
        Command::Weights(c) => weights::run(&cli.global, c),
        Command::Optimize(a) => optimize::run(&cli.global, *a),
        Command::Backprop(a) => backprop::run(&cli.global, a),
        Command::Attribute(a) => attribute::run(&cli.global, a),
        Command::Topk(a) => topk::run(&cli.global, a),
        Command::Atlas(a) => atlas::run(&cli.global, a),
        Command::Concept(c) => concept::run(&cli.global, c),
        Command::Circuit(a) => circuit::run(&cli.global, a),
        Command::Concepts(c) => discover::run(&cli.global, c),
        Command::Search(a) => search::run(&cli.global, a),
        Command::FvQuality(a) => fvquality::run(&cli.global, a),
        Command::Bench(a) => bench::run(&cli.global, a),
        Command::Soak(a) => soak::run(&cli.global, a),
        Command::Fuzz(a) => fuzz::run(&cli.global, a),
    }
}

struct Cli2 {
    global: Global,
}
