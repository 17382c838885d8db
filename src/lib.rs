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
