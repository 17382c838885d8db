//! Values a listing's query string gives: an opaque page cursor, a time bound, a decision's
//! effect. Each parses at the edge with the message the listing has always answered.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// Why a string is not a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor this server produced")]
pub struct CursorError;

/// An opaque cursor from a previous page: the base64url (unpadded) of UTF-8 text. Which key it
/// must hold (an id, a sequence number, a slug) is the listing's to check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

super::string_newtype_text!(Cursor);

impl FromStr for Cursor {
    type Err = CursorError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| CursorError)?;
        String::from_utf8(bytes).map_err(|_| CursorError)?;
        Ok(Self(raw.to_owned()))
    }
}

super::string_newtype_serde!(Cursor);

/// Why a string is not a [`Timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an RFC 3339 timestamp")]
pub struct TimestampError;

/// A time bound given as RFC 3339 (any offset; held in UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| Self(t.with_timezone(&Utc)))
            .map_err(|_| TimestampError)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(super::FromStrVisitor::<Self>::default())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

super::string_schema!(Timestamp);

/// Why a string is not an [`Effect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be `allow` or `deny`")]
pub struct EffectError;

/// A decision's effect, as a decision-log filter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `allow`.
    Allow,
    /// `deny`.
    Deny,
}

impl Effect {
    /// `allow` or `deny`, as the decision log stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

impl FromStr for Effect {
    type Err = EffectError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "allow" => Ok(Self::Allow),
            "deny" => Ok(Self::Deny),
            _ => Err(EffectError),
        }
    }
}

super::string_newtype_serde!(Effect);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_base64url_of_text() {
        let produced = URL_SAFE_NO_PAD.encode("0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e");
        assert_eq!(
            produced.parse::<Cursor>().map(Cursor::into_string),
            Ok(produced.clone())
        );
        // Empty decodes to empty text: the listing decides what it means.
        assert!("".parse::<Cursor>().is_ok());
        let not_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe]);
        for bad in ["not base64!", "YQ==", "a", not_utf8.as_str(), "a+b/"] {
            assert_eq!(bad.parse::<Cursor>(), Err(CursorError), "{bad}");
        }
        assert_eq!(CursorError.to_string(), "is not a cursor this server produced");
    }

    #[test]
    fn a_timestamp_is_rfc_3339_in_utc() {
        let t: Timestamp = "2026-12-05T13:00:00+01:00".parse().unwrap();
        assert_eq!(t.0.to_rfc3339(), "2026-12-05T12:00:00+00:00");
        assert!("2026-12-05T12:00:00Z".parse::<Timestamp>().is_ok());
        for bad in ["", "2026-12-05", "yesterday", "2026-12-05 12:00:00"] {
            assert_eq!(bad.parse::<Timestamp>(), Err(TimestampError), "{bad}");
        }
    }

    #[test]
    fn an_effect_is_allow_or_deny() {
        assert_eq!("allow".parse::<Effect>().map(Effect::as_str), Ok("allow"));
        assert_eq!("deny".parse::<Effect>().map(Effect::as_str), Ok("deny"));
        for bad in ["", "Allow", "permit", "forbid"] {
            assert_eq!(bad.parse::<Effect>(), Err(EffectError), "{bad}");
        }
    }
}
