//! A registration's source location and revision as sent: what every source type needs of them,
//! checked when the body is read. The per-type grammar (`check_location`) reads them afterwards,
//! once the catalog says which grammar a (possibly contributed) type uses.

use super::SourceType;
use super::source_location::{MAX_LOCATION_LEN, SourceRefusal, check_source, is_revision};

/// Why a string is not a [`SourceLocation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceLocationError {
    /// Empty, or longer than [`MAX_LOCATION_LEN`] bytes.
    #[error("must be 1 to 2048 characters")]
    Length,
    /// Holds whitespace or a control character (CR/LF included).
    #[error("must not contain whitespace or control characters")]
    NotOneLine,
}

/// A source URI (`source.uri`): 1 to [`MAX_LOCATION_LEN`] bytes on one line, no whitespace or
/// control character. Its type's grammar is checked by [`check_location`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation(String);

super::string_newtype_text!(SourceLocation);

impl std::str::FromStr for SourceLocation {
    type Err = SourceLocationError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() || raw.len() > MAX_LOCATION_LEN {
            Err(SourceLocationError::Length)
        } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err(SourceLocationError::NotOneLine)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }
}

super::string_newtype_serde!(SourceLocation);

/// Why a string is not a [`SourceRevision`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a revision: 1 to 255 of `A-Z a-z 0-9 . _ - /`")]
pub struct SourceRevisionError;

/// A pinned revision (`source.source_ref`): 1 to 255 of `A-Z a-z 0-9 . _ - /`, not starting
/// with `/`, no `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRevision(String);

super::string_newtype_text!(SourceRevision);

impl std::str::FromStr for SourceRevision {
    type Err = SourceRevisionError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if is_revision(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(SourceRevisionError)
        }
    }
}

super::string_newtype_serde!(SourceRevision);

/// Checks a location (and revision, where the grammar needs one) against `grammar`, the
/// built-in source type whose grammar applies.
pub fn check_location(
    grammar: &SourceType,
    uri: &SourceLocation,
    source_ref: Option<&SourceRevision>,
) -> Result<(), SourceRefusal> {
    check_source(grammar, uri.as_str(), source_ref.map(SourceRevision::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_one_bounded_line_and_a_revision_a_plain_name() {
        for bad in ["", "a b", "s3://b/k\r\nX: 1", "x\u{0}"] {
            assert!(bad.parse::<SourceLocation>().is_err(), "{bad:?}");
        }
        let long = "a".repeat(MAX_LOCATION_LEN + 1);
        assert_eq!(long.parse::<SourceLocation>(), Err(SourceLocationError::Length));
        assert_eq!(
            SourceLocationError::Length.to_string(),
            format!("must be 1 to {MAX_LOCATION_LEN} characters")
        );
        assert!("s3://bucket/key".parse::<SourceLocation>().is_ok());
        for bad in ["", "/main", "a..b", "main\n", "a b"] {
            assert!(bad.parse::<SourceRevision>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "refs/heads/main"
                .parse::<SourceRevision>()
                .map(SourceRevision::into_string),
            Ok("refs/heads/main".to_owned())
        );
    }
}
