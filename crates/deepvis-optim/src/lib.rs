//! The paper's optimizer: regularized activation maximization `x <- r(x + lr * da/dx)`, split
//! into parameterization (start images), objective, regularizers, transforms and a stepping
//! render loop. Generic over the device; knows nothing of windows or cameras.

pub mod error;
pub mod init;
pub mod objective;
/// The hyperparameters and presets (defined beside the UI protocol, which carries them).
pub mod params {
    pub use deepvis_protocol::params::*;
}
pub mod recipe;
pub mod regularize;
pub mod search;
pub mod stepper;

pub use error::{OptimError, Result};
pub use init::Init;
pub use objective::{Objective, Unit};
pub use params::{LrPolicy, Params};
pub use recipe::{Change, Recipe, Sidecar};
pub use stepper::{Optimizer, RunConfig, RunStatus, StopReason, Telemetry};
