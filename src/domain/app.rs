//! Apps, their immutable versions, the artifacts a version links by digest, and entitlements.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Actor, AppSlug, ArtifactId, Digest, ProjectSlug};

/// Why an app value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// Not a semantic version.
    #[error("`{0}` is not a semantic version such as `1.4.0`")]
    Version(String),
    /// Not `draft` or `published`.
    #[error("unknown app version status `{0}` (expected `draft` or `published`)")]
    Status(String),
}

/// A semantic version (`MAJOR.MINOR.PATCH[-pre][+build]`), at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionNumber(String);

impl VersionNumber {
    /// The version text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn numeric(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && (part == "0" || !part.starts_with('0'))
}

fn label(part: &str) -> bool {
    !part.is_empty()
        && part
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl FromStr for VersionNumber {
    type Err = AppError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let refuse = || AppError::Version(raw.to_owned());
        if raw.len() > 64 {
            return Err(refuse());
        }
        let (rest, build) = match raw.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (raw, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        let ok = parts.len() == 3
            && parts.iter().all(|p| numeric(p))
            && pre.is_none_or(label)
            && build.is_none_or(label);
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(refuse())
        }
    }
}

super::string_newtype_serde!(VersionNumber);

/// Where a version is in review: registered as `draft`, then `published` by an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppVersionStatus {
    /// Registered, not yet approved.
    Draft,
    /// Approved for use by entitled projects.
    Published,
}

impl AppVersionStatus {
    /// The wire form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }
}

impl FromStr for AppVersionStatus {
    type Err = AppError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "draft" => Ok(Self::Draft),
            "published" => Ok(Self::Published),
            other => Err(AppError::Status(other.to_owned())),
        }
    }
}

super::string_newtype_serde!(AppVersionStatus);

/// A registered app: the app layer of its first manifest, owned by one project.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct App {
    /// Globally unique slug.
    pub slug: AppSlug,
    /// The owning project.
    pub project: ProjectSlug,
    /// Human-readable name.
    pub display_name: String,
    /// The `app` layer as registered.
    pub manifest: serde_json::Value,
    /// Who registered it.
    pub created_by: Actor,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One artifact a version links to, resolved by digest at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LinkedArtifact {
    /// The manifest's name for it.
    pub name: String,
    /// The registered artifact.
    pub artifact_id: ArtifactId,
    /// Its digest.
    pub digest: Digest,
}

/// An immutable app version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AppVersion {
    /// Row id (UUIDv7, so versions list in registration order).
    pub id: Uuid,
    /// The app.
    pub app: AppSlug,
    /// The version.
    pub version: VersionNumber,
    /// Review status.
    pub status: AppVersionStatus,
    /// The `version` layer as registered.
    pub manifest: serde_json::Value,
    /// `sha256:` of the canonical JSON of the version layer: what makes a re-registration
    /// identical.
    pub manifest_digest: String,
    /// The artifacts it links, in manifest order.
    pub artifacts: Vec<LinkedArtifact>,
    /// Who registered it.
    pub created_by: Actor,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who published it.
    pub published_by: Option<Actor>,
    /// When.
    pub published_at: Option<DateTime<Utc>>,
}

/// A project's grant to use an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entitlement {
    /// The entitled project.
    pub project: ProjectSlug,
    /// The app.
    pub app: AppSlug,
    /// Who granted it.
    pub granted_by: Actor,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// An app's policy-relevant facts (the Cedar `App` entity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFacts {
    /// The app slug.
    pub slug: AppSlug,
    /// The owning project.
    pub owner_project: ProjectSlug,
    /// Projects entitled to it.
    pub entitled_projects: BTreeSet<ProjectSlug>,
}

/// A version's policy-relevant facts (the Cedar `AppVersion` entity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVersionFacts {
    /// The version.
    pub version: VersionNumber,
    /// Review status.
    pub status: AppVersionStatus,
    /// Trust states of the linked artifacts (`verified`, `revoked`, …).
    pub artifact_trust_states: BTreeSet<String>,
    /// Lifecycle states of the linked artifacts.
    pub artifact_lifecycle_states: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_semantic() {
        for ok in [
            "1.0.0",
            "0.1.2",
            "2.0.0-rc.1",
            "1.2.3+build.7",
            "10.20.30-alpha-1+x",
        ] {
            assert!(ok.parse::<VersionNumber>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0+",
            "v1.0.0",
            "1.0.0-a..b",
            "latest",
        ] {
            assert!(bad.parse::<VersionNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        assert_eq!("draft".parse(), Ok(AppVersionStatus::Draft));
        assert_eq!(AppVersionStatus::Published.as_str(), "published");
        assert!("approved".parse::<AppVersionStatus>().is_err());
    }
}
