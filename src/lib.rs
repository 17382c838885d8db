//! Gatehouse: the artifact admission gateway.

pub mod audit;
pub mod auth;
pub mod domain;
pub mod store;
