//! Gatehouse: the artifact admission gateway.

pub mod access;
pub mod admission;
pub mod app;
pub mod artifact_store;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod config_env;
pub mod domain;
pub mod http;
pub mod k8s;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod policy;
pub mod registry;
pub mod store;
pub mod trust;
pub mod vsa;

pub use app::Application;
pub use config::Config;

/// A path inside the checkout under test, for unit tests that read fixtures, policies or
/// schemas. Read when the test runs (cargo sets `CARGO_MANIFEST_DIR` for the test process), not
/// baked in at compile time: a target directory shared between clones may hand one clone a test
/// binary compiled from another, whose path may be gone by then.
#[cfg(test)]
pub(crate) fn repo_path(rel: &str) -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), std::path::PathBuf::from)
        .join(rel)
}
