//! Locates, verifies and downloads model weight files.
//!
//! - [`ModelSpec`]: what a registry entry says of a model (its names, download URL, file
//!   names, sizes and sha256s); the entries are the model crate's table (`deepvis_model::Model`),
//!   each beside its network.
//! - [`resolve`]: finds a model's weights from an explicit path, `DEEPVIS_WEIGHTS`,
//!   the project's `weights/` folder, the shared weights folder or the user cache,
//!   and says which rule found them ([`WeightsSource`]).
//! - [`fetch`] / [`fetch_from_url`]: downloads a model's file into the cache,
//!   hashing while streaming and writing atomically.
//! - [`verify`]: checks a local file against the registry.

mod error;
mod fetch;
mod registry;
mod resolve;

pub use error::{SearchedPlace, WeightsError};
pub use fetch::{
    Check, ENV_WEIGHTS_URL, FileDigest, Verified, download_verified, fetch, fetch_destination,
    fetch_from_url, sha256_file, verify,
};
pub use registry::{ExpectedSha256, KnownFile, ModelSpec, WeightFormat};
pub use resolve::{
    ENV_WEIGHTS, ResolveInputs, Resolved, WeightsSource, cache_dir_from, default_cache_dir,
    locate_in_dir, resolve, resolve_from_env,
};

/// The crate's result type.
pub type Result<T, E = WeightsError> = std::result::Result<T, E>;
