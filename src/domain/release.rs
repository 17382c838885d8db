//! Platform releases: a version on a channel naming the platform's developer-facing artifacts
//! (CLI per OS/arch, SDK bundles) by the digest of the file a developer downloads.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Actor, ArtifactId, Digest};

/// Why a release field is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseFieldError {
    /// Empty or too long.
    #[error("must be 1 to {0} characters long")]
    Length(usize),
    /// A character outside the allowed set.
    #[error("must start with a letter or digit and hold only {0}")]
    Characters(&'static str),
}

fn check(
    raw: &str,
    max: usize,
    extra: &'static [u8],
    allowed: &'static str,
) -> Result<(), ReleaseFieldError> {
    if raw.is_empty() || raw.len() > max {
        return Err(ReleaseFieldError::Length(max));
    }
    let first_ok = raw.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_ok
        || !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        return Err(ReleaseFieldError::Characters(allowed));
    }
    Ok(())
}

/// A release version, e.g. `1.4.0` or `1.5.0-rc.1+build.7` (it is one URL path segment).
pub fn check_version(raw: &str) -> Result<(), ReleaseFieldError> {
    check(raw, 64, b".-+_", "letters, digits, `.`, `-`, `+` and `_`")
}

/// An artifact name within a release, e.g. `gatehouse-linux-amd64` (one URL path segment).
pub fn check_name(raw: &str) -> Result<(), ReleaseFieldError> {
    check(raw, 128, b".-_", "letters, digits, `.`, `-` and `_`")
}

/// An `os` or `arch` label, e.g. `linux`, `arm64`.
pub fn check_platform_label(raw: &str) -> Result<(), ReleaseFieldError> {
    check(raw, 32, b"_-", "letters, digits, `_` and `-`")
}

macro_rules! release_field {
    ($(#[$doc:meta])* $name:ident, $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        super::string_newtype_text!($name);

        impl std::str::FromStr for $name {
            type Err = ReleaseFieldError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                $check(raw)?;
                Ok(Self(raw.to_owned()))
            }
        }

        super::string_newtype_serde!($name);
    };
}

release_field!(
    /// A release version as a request gives it ([`check_version`]).
    ReleaseVersion,
    check_version
);
release_field!(
    /// A file's name within a release as a request gives it ([`check_name`]).
    ReleaseFileName,
    check_name
);
release_field!(
    /// An `os` or `arch` label as a request gives it ([`check_platform_label`]).
    PlatformLabel,
    check_platform_label
);

/// One downloadable file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReleaseArtifact {
    /// Name within the release.
    pub name: String,
    /// The registered platform artifact the file belongs to.
    pub artifact_id: ArtifactId,
    /// The artifact's repository.
    pub repository: String,
    /// The artifact's manifest digest (what the registry reference pins).
    pub artifact_digest: Digest,
    /// Digest of the file itself (the artifact's one layer).
    pub digest: Digest,
    /// Size of the file.
    pub size: i64,
    /// Media type of the file.
    pub media_type: String,
    /// Operating system, where it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Architecture, where it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// A platform release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Release {
    /// Version.
    pub version: String,
    /// Channel label, e.g. `stable`.
    pub channel: String,
    /// Who defined it.
    pub created_by: Actor,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Its files, by name.
    pub artifacts: Vec<ReleaseArtifact>,
}

/// A release as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReleaseSummary {
    /// Version.
    pub version: String,
    /// Channel label.
    pub channel: String,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_names_are_single_safe_path_segments() {
        assert!(check_version("1.5.0-rc.1+build.7").is_ok());
        assert!(check_version("../etc").is_err());
        assert!(check_version("1/2").is_err());
        assert!(check_version("").is_err());
        assert!(check_name("gatehouse-linux-amd64").is_ok());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"a".repeat(129)).is_err());
        assert!(check_platform_label("arm64").is_ok());
        assert!(check_platform_label("x86/64").is_err());
    }

    #[test]
    fn request_fields_parse_through_the_same_checks() {
        assert_eq!(
            "1.5.0-rc.1+build.7"
                .parse::<ReleaseVersion>()
                .map(ReleaseVersion::into_string),
            Ok("1.5.0-rc.1+build.7".to_owned())
        );
        assert!("v".repeat(64).parse::<ReleaseVersion>().is_ok());
        assert_eq!(
            "v".repeat(65).parse::<ReleaseVersion>(),
            Err(ReleaseFieldError::Length(64))
        );
        assert_eq!("".parse::<ReleaseVersion>(), Err(ReleaseFieldError::Length(64)));
        assert!(matches!(
            ".1".parse::<ReleaseVersion>(),
            Err(ReleaseFieldError::Characters(_))
        ));
        assert!("n".repeat(128).parse::<ReleaseFileName>().is_ok());
        assert_eq!(
            "n".repeat(129).parse::<ReleaseFileName>(),
            Err(ReleaseFieldError::Length(128))
        );
        assert!(matches!(
            "a+b".parse::<ReleaseFileName>(),
            Err(ReleaseFieldError::Characters(_))
        ));
        assert!("x86_64".parse::<PlatformLabel>().is_ok());
        assert!("l".repeat(32).parse::<PlatformLabel>().is_ok());
        assert_eq!(
            "l".repeat(33).parse::<PlatformLabel>(),
            Err(ReleaseFieldError::Length(32))
        );
        assert!(matches!(
            "linux.1".parse::<PlatformLabel>(),
            Err(ReleaseFieldError::Characters(_))
        ));
    }
}
