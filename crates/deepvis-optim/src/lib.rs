//! Feature visualization by optimization, composable in the shape of lucent's `optvis`: a
//! parameterization (`param`: pixels, Fourier, MACO), transforms (`transform`), an objective
//! built by composition (`goal`, its unit terms in `objective`), the paper's regularizers and
//! penalties (`regularize`), an update rule (`update`) and the render loop (`stepper`). The
//! paper's method (Yosinski et al. 2015, `x <- r(x + lr * da/dx)`) is one composition of them.
//! Generic over the device; knows nothing of windows or cameras.

pub mod default;
pub mod error;
pub mod fft;
pub mod goal;
pub mod init;
pub mod objective;
pub mod param;
/// The hyperparameters and presets (defined beside the UI protocol, which carries them).
pub mod params {
    pub use deepvis_protocol::params::*;
}
pub mod recipe;
pub mod regularize;
pub mod search;
pub mod spectrum;
pub mod stepper;
pub mod transform;
pub mod update;

pub use deepvis_protocol::{
    Canvas, Method, MethodKind, ParamKind, Penalties, PenaltyKind, TransformKind, Transforms,
};
pub use default::{default_for, default_method};
pub use error::{OptimError, Result, TermError};
pub use goal::{Goal, Term};
pub use init::Init;
pub use objective::{Objective, Unit};
pub use params::{LrPolicy, Params};
pub use recipe::{Change, Recipe, Sidecar};
pub use stepper::{Optimizer, RunConfig, RunStatus, StopReason, Telemetry};
