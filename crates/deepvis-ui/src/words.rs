//! The worker's typed reasons in the words the window shows.

use deepvis_protocol::{
    BackInfo, Backend, Doing, ErrorKind, Failure, Mended, Preparing, RunMode, SourceState,
    StartFrom, StopReason,
};

fn start(s: StartFrom) -> &'static str {
    match s {
        StartFrom::Noise => "from noise",
        StartFrom::Frame => "from the current frame",
    }
}

/// Which objective a preferred image uses and why.
pub fn run_mode(m: RunMode) -> String {
    match m {
        RunMode::Asked { pre_relu, start: s } => format!(
            "{} objective, {}",
            if pre_relu { "pre-ReLU" } else { "post-ReLU" },
            start(s)
        ),
        RunMode::SilentPre { start: s } => format!(
            "pre-ReLU objective, {}: the unit is silent on the start image, so its post-ReLU \
             gradient is zero",
            start(s)
        ),
        RunMode::AliveAt { step, start: s } => format!(
            "post-ReLU objective, {} (pre-ReLU until the unit came alive at step {step})",
            start(s)
        ),
        RunMode::FrameFallback => "started from the current frame: the unit is silent on noise \
                                   and this layer has no pre-ReLU value"
            .into(),
    }
}

/// What to do when a unit without a ReLU of its own (a pooling's) stops silent.
pub const NO_RELU_HERE: &str = "This layer has no ReLU of its own (its units are maxima or \
     means of the layer before it), so there is no pre-ReLU value to turn to: pick a unit or a \
     place where it is active, start from the current frame, or optimize the layer before it.";

/// What a stop means and what to do about it.
pub fn stop_message(reason: StopReason, iterations: usize) -> String {
    match reason {
        StopReason::ZeroGrad => format!(
            "Stopped after {iterations} step(s): the gradient is exactly zero. The unit is silent \
             (its ReLU is off) on this image, so the paper's algorithm cannot move. Use the \
             pre-ReLU objective (or Auto), or start from the current frame."
        ),
        StopReason::NonFinite => "Stopped: the image became NaN or infinite (the learning rate \
                                  is too large). The best image so far is kept; lower the \
                                  learning rate and reset."
            .into(),
        StopReason::MaxIter => format!("Done: {iterations} iterations."),
    }
}

/// The judge's line: `judge efficientnet_lite0: flamingo rank 3 (4.7%); its top: redshank
/// (17%)`, or for several tiles `judge efficientnet_lite0: flamingo: paper 2015 rank 28 (0.4%),
/// MACO rank 3 (4.7%)`.
pub fn verdicts(vs: &[deepvis_protocol::Verdict], captions: &[String]) -> String {
    let Some(first) = vs.first() else {
        return String::new();
    };
    let rank = |v: &deepvis_protocol::Verdict| match (v.rank, v.prob) {
        (Some(r), Some(p)) => format!("rank {r} ({:.1}%)", 100.0 * p),
        _ => format!("top: {} ({:.0}%)", v.top, 100.0 * v.top_prob),
    };
    if vs.len() == 1 {
        let target = match &first.class {
            Some(c) => format!("{c} {}; ", rank(first)),
            None => String::new(),
        };
        return format!(
            "judge {}: {target}its top: {} ({:.0}%)",
            first.judge,
            first.top,
            100.0 * first.top_prob
        );
    }
    let parts: Vec<String> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let name = captions
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("{}", i + 1));
            format!("{name} {}", rank(v))
        })
        .collect();
    let class = first
        .class
        .as_deref()
        .map(|c| format!("{c}: "))
        .unwrap_or_default();
    format!("judge {}: {class}{}", first.judge, parts.join(", "))
}

/// What the status bar puts before an error of this kind.
pub fn error_kind(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Input => "input error",
        ErrorKind::Model => "model error",
        ErrorKind::Device => "device error",
        ErrorKind::File => "file error",
        ErrorKind::Internal => "internal error (please report it)",
    }
}

/// A worker's error as a sentence: what it was doing, then the library's message.
pub fn failure(f: &Failure) -> String {
    let m = &f.message;
    match &f.doing {
        Doing::StartWorker => format!("cannot start the worker thread: {m}"),
        Doing::ChooseDevice => format!("no device to run on: {m}"),
        Doing::LoadModel => format!("cannot load the model: {m}"),
        Doing::WarmUp => format!("the first forward pass failed: {m}"),
        Doing::MoveToGpu => format!("the GPU failed ({m}); staying on the CPU"),
        Doing::LoadJudge { judge } => {
            format!(
                "the judge {judge} could not be loaded ({m}): the preferred image is not judged"
            )
        }
        Doing::OpenModel { path, keeping } => {
            format!("cannot open {}: {m}; keeping {keeping}", path.display())
        }
        Doing::Setting => format!("setting refused: {m}"),
        Doing::Select => m.clone(),
        Doing::Frame => format!("the frame could not be processed: {m}"),
        Doing::Attribution => format!("attribution: {m}"),
        Doing::Compare { method } => format!("attribution: {}: {m}", method.title()),
        Doing::Sanity => format!("attribution: sanity check: {m}"),
        Doing::Optimize => format!("preferred image: {m}"),
        Doing::Export => format!("cannot export: {m}"),
        Doing::Record => format!("cannot record: {m}"),
        Doing::Concept => format!("concept: {m}"),
        Doing::Circuit => format!("circuit: {m}"),
        Doing::Thumbnail => format!("picture of a unit or concept: {m}"),
    }
}

/// Where the network runs, for the status bar: the device serving, and a GPU warming up beside
/// it.
pub fn backend(b: &Backend) -> String {
    match &b.warming {
        Some(gpu) => format!("{} while {gpu} warms up", b.serving),
        None => b.serving.clone(),
    }
}

/// What the worker is getting ready, for the status bar's "preparing: ...".
pub fn preparing(p: &Preparing) -> String {
    match p {
        Preparing::Starting => "starting".into(),
        Preparing::Loading { model } => format!("loading {model} weights"),
        Preparing::WarmingUp { backend } => {
            format!("warming up {backend} (the first call compiles kernels)")
        }
        Preparing::Restarting => "restarting the worker".into(),
    }
}

/// How the source stands, for the input pane.
pub fn source(label: &str, state: &SourceState) -> String {
    match state {
        SourceState::Running => format!("showing {label}"),
        SourceState::Failed { error, retry_secs } => {
            format!("{error}; keeping the last frame and retrying every {retry_secs} s")
        }
        SourceState::Notice(m) => m.clone(),
    }
}

/// The worker came back: after a crash (its message), or when asked after a pause.
pub fn restarted(panic: Option<&str>, crashes: u32) -> String {
    match panic {
        Some(p) => format!(
            "the worker crashed ({p}) and was restarted with the same settings (crash {crashes} \
             of this session)"
        ),
        None => format!("the worker was restarted after {crashes} crashes"),
    }
}

/// What an attribution map is, for the pane's caption: `Grad-CAM at fire9/concat, norm (through
/// fc) (all zero: no signal reached the input)`.
pub fn back_info(info: &BackInfo) -> String {
    let by = info
        .cam_layer
        .as_ref()
        .map(|l| format!(" at {l}"))
        .unwrap_or_default();
    let through = info
        .through
        .as_ref()
        .map(|t| format!(" (through {t})"))
        .unwrap_or_default();
    let zero = match info.all_zero {
        true => " (all zero: no signal reached the input)",
        false => "",
    };
    format!(
        "{}{by}, {}{through}{zero}",
        info.method.title(),
        info.filter.as_str()
    )
}

/// What the worker mended of the settings it started with, for the status bar.
pub fn mended(model: &str, mended: &[Mended]) -> String {
    let parts: Vec<String> = mended
        .iter()
        .map(|m| match m {
            Mended::Layer { asked, now } => {
                format!("it has no layer `{asked}`, so {now} (its default) is shown")
            }
            Mended::Unit {
                asked,
                now: Some(now),
            } => format!("unit {asked} is out of range, so unit {now} is selected"),
            Mended::Unit { asked, now: None } => {
                format!("unit {asked} was of that layer, so no unit is selected")
            }
            Mended::BackPos { asked: (y, x) } => format!(
                "the attribution place (y {y}, x {x}) is off the map, so the map's maximum is \
                 projected"
            ),
            Mended::DirectionAt { asked: (y, x) } => format!(
                "the direction place (y {y}, x {x}) is off the map, so the unit itself is \
                 optimized"
            ),
            Mended::Attribution { asked, now } => format!(
                "it cannot draw {} (that needs attention layers), so {} is drawn",
                asked.title(),
                now.title()
            ),
            Mended::Method { asked, now } => format!(
                "the preferred image's method was {} by default, and this network's default is \
                 {} (pick another under the preferred image)",
                asked.label(),
                now.label()
            ),
        })
        .collect();
    format!(
        "settings that do not fit {model} were mended: {}",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use deepvis_protocol::{BackFilter, BackMode};

    use super::*;

    #[test]
    fn an_attribution_map_is_worded_from_its_data() {
        let info = BackInfo {
            method: BackMode::GradCam,
            filter: BackFilter::Norm,
            cam_layer: Some("fire9/concat".into()),
            through: Some("conv10".into()),
            all_zero: true,
            ..BackInfo::default()
        };
        assert_eq!(
            back_info(&info),
            "Grad-CAM at fire9/concat, norm (through conv10) (all zero: no signal reached the \
             input)"
        );
        let plain = BackInfo {
            method: BackMode::Guided,
            ..BackInfo::default()
        };
        assert_eq!(back_info(&plain), "guided backprop, raw");
    }

    #[test]
    fn what_was_mended_is_said_in_one_line() {
        let line = mended(
            "efficientnet_lite0.onnx",
            &[
                Mended::Layer {
                    asked: "fire9".into(),
                    now: "head.relu6".into(),
                },
                Mended::Unit {
                    asked: 500,
                    now: None,
                },
            ],
        );
        assert!(
            line.starts_with("settings that do not fit efficientnet_lite0.onnx were mended")
                && line.contains("`fire9`")
                && line.contains("head.relu6")
                && line.contains("unit 500"),
            "{line}"
        );
        let gpu = Failure::new(ErrorKind::Device, Doing::MoveToGpu, "no adapter");
        assert_eq!(
            failure(&gpu),
            "the GPU failed (no adapter); staying on the CPU"
        );
    }

    #[test]
    fn the_backend_says_which_gpu_warms_up_beside_the_cpu() {
        let mut b = Backend {
            serving: "cpu (burn-flex, 2 threads)".into(),
            warming: Some("NVIDIA H100 (Vulkan)".into()),
        };
        assert_eq!(
            backend(&b),
            "cpu (burn-flex, 2 threads) while NVIDIA H100 (Vulkan) warms up"
        );
        b.warming = None;
        assert_eq!(backend(&b), "cpu (burn-flex, 2 threads)");
    }
}
