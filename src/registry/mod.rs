//! Registry integration: token scopes and signing, notification parsing, and a small client for
//! the registry API. Pure logic and I/O helpers; the routes and the queue live elsewhere.

pub mod client;
mod config;
pub mod notification;
pub mod scope;
pub mod token;

pub use client::{FetchedManifest, ManifestInfo, RegistryClient, RegistryClientError};
pub use config::RegistryConfig;
pub use notification::{
    NotificationError, TrustInputKind, is_manifest_push, is_signature_or_attestation, manifest_subject,
    may_have_subject, parse_notification, trust_tag_subject,
};
pub use scope::{RequestedScopes, RequestedService, ScopeError, ScopeRequest, intersect, parse_scopes};
pub use token::{SignedToken, TokenSigner, TokenSignerError, token_response};
