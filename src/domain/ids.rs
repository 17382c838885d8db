//! Ids as the gateway spells them: one resource, one name.

use uuid::Uuid;

/// Parses an id given in canonical form only (lowercase, hyphenated, 36 characters). Uppercase,
/// unhyphenated, braced and `urn:uuid:` spellings of the same UUID are refused, so an id that
/// reaches the store, a log line or a policy has exactly one spelling.
pub fn parse_canonical_uuid(raw: &str) -> Option<Uuid> {
    Uuid::try_parse(raw)
        .ok()
        .filter(|uuid| raw.len() == 36 && uuid.hyphenated().to_string() == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_spelling_parses() {
        let canonical = "0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e";
        assert!(parse_canonical_uuid(canonical).is_some());
        for other in [
            "0191F3A2-7C4E-7B2A-9D1E-3F5A6B7C8D9E",
            "0191f3a27c4e7b2a9d1e3f5a6b7c8d9e",
            "{0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e}",
            "urn:uuid:0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e",
            "",
            "not-a-uuid",
        ] {
            assert_eq!(parse_canonical_uuid(other), None, "{other}");
        }
    }
}
