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

/// Why a request's id is refused: only the canonical spelling names a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a canonical UUID")]
pub struct IdError;

/// A UUID a request names (a publish or pull intent, a decision): the canonical spelling only,
/// else [`IdError`] ("is not a canonical UUID") naming the field or parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalUuid(pub Uuid);

impl std::str::FromStr for CanonicalUuid {
    type Err = IdError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        parse_canonical_uuid(raw).map(Self).ok_or(IdError)
    }
}

impl std::fmt::Display for CanonicalUuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for CanonicalUuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for CanonicalUuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(super::FromStrVisitor::<Self>::default())
    }
}

super::string_schema!(CanonicalUuid);

/// A value a request names where a spelling that does not parse names nothing (404 like an
/// unknown value, not 422), as path ids and slugs are: the parsed value, or the text to say so
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// It parsed.
    Valid(T),
    /// It did not: nothing has this name.
    Unknown(String),
}

impl<T: std::str::FromStr> std::str::FromStr for Lookup<T> {
    type Err = std::convert::Infallible;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(raw
            .parse()
            .map_or_else(|_| Self::Unknown(raw.to_owned()), Self::Valid))
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Lookup<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Valid(value) => value.fmt(f),
            Self::Unknown(raw) => f.write_str(raw),
        }
    }
}

impl<'de, T: std::str::FromStr> serde::Deserialize<'de> for Lookup<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(super::FromStrVisitor::<Self>::default())
    }
}

impl<T> utoipa::PartialSchema for Lookup<T> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .into()
    }
}

impl<T> utoipa::ToSchema for Lookup<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppSlug;

    const CANONICAL: &str = "0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e";
    const OTHERS: [&str; 6] = [
        "0191F3A2-7C4E-7B2A-9D1E-3F5A6B7C8D9E",
        "0191f3a27c4e7b2a9d1e3f5a6b7c8d9e",
        "{0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e}",
        "urn:uuid:0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e",
        "",
        "not-a-uuid",
    ];

    #[test]
    fn request_ids_parse_in_canonical_form_only() {
        let uuid = parse_canonical_uuid(CANONICAL).unwrap();
        assert_eq!(CANONICAL.parse::<CanonicalUuid>(), Ok(CanonicalUuid(uuid)));
        assert_eq!(
            CANONICAL.parse::<Lookup<CanonicalUuid>>(),
            Ok(Lookup::Valid(CanonicalUuid(uuid)))
        );
        for other in OTHERS {
            assert_eq!(other.parse::<CanonicalUuid>(), Err(IdError), "{other}");
            assert_eq!(
                other.parse::<Lookup<CanonicalUuid>>(),
                Ok(Lookup::Unknown(other.to_owned())),
                "{other}"
            );
        }
        assert_eq!(IdError.to_string(), "is not a canonical UUID");
    }

    #[test]
    fn a_lookup_keeps_what_does_not_parse_as_given() {
        let slug: Lookup<AppSlug> = serde_json::from_str(r#""web""#).unwrap();
        assert_eq!(slug, Lookup::Valid("web".parse().unwrap()));
        assert_eq!(slug.to_string(), "web");
        let slug: Lookup<AppSlug> = serde_json::from_str(r#""Web_1""#).unwrap();
        assert_eq!(slug, Lookup::Unknown("Web_1".to_owned()));
        assert_eq!(slug.to_string(), "Web_1");
        // Still a string: another JSON type is refused.
        assert!(serde_json::from_str::<Lookup<AppSlug>>("5").is_err());
    }

    #[test]
    fn a_refused_id_names_its_field() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "crate::domain::optional_from_str")]
            artifact_id: Option<CanonicalUuid>,
            intent: Option<CanonicalUuid>,
        }
        let body: Body =
            serde_json::from_str(&format!(r#"{{"artifact_id":"{CANONICAL}","intent":null}}"#)).unwrap();
        assert_eq!(
            body.artifact_id.map(|id| id.to_string()).as_deref(),
            Some(CANONICAL)
        );
        assert!(body.intent.is_none());
        let body: Body = serde_json::from_str("{}").unwrap();
        assert!(body.artifact_id.is_none());
        let error = serde_json::from_str::<Body>(r#"{"artifact_id":"NOT"}"#).unwrap_err();
        assert!(
            error.to_string().starts_with("is not a canonical UUID"),
            "{error}"
        );
        let error = serde_json::from_str::<Body>(&format!(r#"{{"intent":"{}"}}"#, OTHERS[0])).unwrap_err();
        assert!(
            error.to_string().starts_with("is not a canonical UUID"),
            "{error}"
        );
    }

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
