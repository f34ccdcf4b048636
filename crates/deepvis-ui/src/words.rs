//! The worker's typed reasons in the words the window shows.

use deepvis_protocol::{RunMode, StartFrom, StopReason};

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

/// The judge's line: `judge efficientnet_lite0: flamingo rank 3 (4.7%); its top: redshank (17%)`.
pub fn verdict(v: &deepvis_protocol::Verdict) -> String {
    let target = match (&v.class, v.rank, v.prob) {
        (Some(c), Some(r), Some(p)) => format!("{c} rank {r} ({:.1}%); ", 100.0 * p),
        _ => String::new(),
    };
    format!(
        "judge {}: {target}its top: {} ({:.0}%)",
        v.judge,
        v.top,
        100.0 * v.top_prob
    )
}
