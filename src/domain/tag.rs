//! OCI tags: a label on a manifest, never a reference the gateway trusts.

use std::str::FromStr;

/// Why a string is not an OCI tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not a valid OCI tag")]
pub struct TagError;

/// An OCI tag, `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` (the distribution spec's grammar).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Whether `raw` is a tag: the one place the grammar is written.
    pub fn is_valid(raw: &str) -> bool {
        let mut bytes = raw.bytes();
        bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && raw.len() <= 128
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag text, owned (stored artifacts and intents keep it as text).
    pub fn into_string(self) -> String {
        self.0
    }
}

impl FromStr for Tag {
    type Err = TagError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if Self::is_valid(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TagError)
        }
    }
}

super::string_newtype_serde!(Tag);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oci_grammar() {
        for good in ["v1", "_x", "1.2.3-rc_1", &"a".repeat(128)] {
            assert!(good.parse::<Tag>().is_ok(), "{good}");
        }
        for bad in ["", ".v1", "-v1", "v 1", "v1:latest", "sha256/x", &"a".repeat(129)] {
            assert_eq!(bad.parse::<Tag>(), Err(TagError), "{bad}");
        }
    }
}
