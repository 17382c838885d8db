//! A name a product contributed to the catalog (an artifact type or a source type the code has
//! no built-in for). It has the catalog id grammar; whether it may be used is the catalog's call.

/// Longest catalog id.
const MAX_LEN: usize = 128;

/// A contributed catalog id: `^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$`, 2 to 128 characters (the
/// grammar of `schemas/catalog-entry.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContributedName(Box<str>);

impl ContributedName {
    /// Parses `raw`, or `None` when it is not a catalog id.
    pub fn parse(raw: &str) -> Option<Self> {
        is_catalog_id(raw).then(|| Self(raw.into()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a [`ContributedName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a catalog id")]
pub struct CatalogIdError;

/// A catalog id as a path names it (`/v1/catalog/{family}/{id}/…`).
impl std::str::FromStr for ContributedName {
    type Err = CatalogIdError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw).ok_or(CatalogIdError)
    }
}

impl std::fmt::Display for ContributedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `raw` has the catalog id grammar.
pub fn is_catalog_id(raw: &str) -> bool {
    let valid_segment = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
    };
    (2..=MAX_LEN).contains(&raw.len())
        && raw.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && raw.split('.').all(valid_segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_id_grammar() {
        for ok in ["s3", "blob.safetensors", "minio_eu", "a-b.c_d.9", "ab"] {
            assert!(is_catalog_id(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "a",
            "S3",
            "9p",
            ".a",
            "a.",
            "a..b",
            "a b",
            "a/b",
            "é1",
            long.as_str(),
        ] {
            assert!(!is_catalog_id(bad), "{bad}");
        }
    }
}
