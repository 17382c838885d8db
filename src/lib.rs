//! Gatehouse: the artifact admission gateway.

pub mod audit;
pub mod domain;
pub mod policy;
pub mod store;
