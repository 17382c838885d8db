//! Which characters request text may carry. PostgreSQL cannot store NUL in `text` or `jsonb`
//! while SQLite can, so a value's fate would depend on the backend: the gateway refuses such
//! text at the edge, the same on both, naming the field.
//!
//! Free text (a `reason`, a description) may hold tab, line feed and carriage return, which both
//! backends store alike; every other control character (C0, DEL, C1) is refused everywhere.
//! Identifiers and locations are single-line: no control character at all.

use serde_json::Value;

/// A control character no stored text may hold (every control except tab, LF and CR).
pub fn is_refused_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether free text is storable alike on every backend.
pub fn is_storable_text(text: &str) -> bool {
    !text.chars().any(is_refused_control)
}

/// Whether a single-line value (an identifier, a location, a label) holds no control character.
pub fn is_single_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// The path (`source.uri`, `attestations[0].payload`) of the first string in `value` — an object
/// key or a string value — that holds a refused control character; `None` when all are storable.
pub fn refused_text_path(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => (!is_storable_text(s)).then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| refused_text_path(item).map(|rest| format!("[{i}]{}", dotted(&rest)))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if !is_storable_text(key) {
                // The key itself cannot be shown as it is: name where it sits, escaped.
                return Some(key.escape_default().to_string());
            }
            refused_text_path(item).map(|rest| format!("{key}{}", dotted(&rest)))
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Joins a nested path onto its parent (`a` + `b` → `a.b`, `a` + `[0]` → `a[0]`).
fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_owned()
    } else {
        format!(".{rest}")
    }
}

/// Whether raw JSON text could hold a refused control character: only as a `\u00XX` escape, a
/// raw DEL or a raw C1 (raw C0 characters inside strings are JSON syntax errors). A cheap scan
/// so that bodies without one are never parsed twice.
pub fn json_may_hold_control(bytes: &[u8]) -> bool {
    bytes.contains(&0x7f)
        || bytes.windows(4).any(|w| w == b"\\u00")
        || bytes
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
}

/// Longest free-text `reason` a request may give, in bytes.
pub const MAX_REASON_LEN: usize = 1024;

/// Why a string is not a [`Reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// Longer than [`MAX_REASON_LEN`] bytes.
    #[error("must be at most 1024 characters")]
    TooLong,
    /// Holds a control character other than tab and line breaks.
    #[error("must not contain control characters other than tab and line breaks")]
    Control,
}

/// Free text saying why (a promotion, a revocation, a catalog change): at most
/// [`MAX_REASON_LEN`] bytes, storable alike on every backend (tab and line breaks allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

super::string_newtype_text!(Reason);

impl Reason {
    /// Whether it says nothing (empty or only whitespace).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::str::FromStr for Reason {
    type Err = ReasonError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.len() > MAX_REASON_LEN {
            Err(ReasonError::TooLong)
        } else if !is_storable_text(raw) {
            Err(ReasonError::Control)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }
}

super::string_newtype_serde!(Reason);

/// Longest [`Label`], in bytes.
pub const MAX_LABEL_LEN: usize = 256;

/// Why a string is not a [`Label`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be at most 256 characters on one line, without control characters")]
pub struct LabelError;

/// A short one-line value that reaches policy context and the decision log as given (a review's
/// target environment, a runtime class such as `k8s-gpu`): at most [`MAX_LABEL_LEN`] bytes, no
/// control character at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label(String);

super::string_newtype_text!(Label);

impl std::str::FromStr for Label {
    type Err = LabelError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.len() > MAX_LABEL_LEN || !is_single_line(raw) {
            Err(LabelError)
        } else {
            Ok(Self(raw.to_owned()))
        }
    }
}

super::string_newtype_serde!(Label);

/// Why a string is not a [`OneLine`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {0} characters on one line")]
pub struct OneLineError(usize);

/// A non-empty single-line value of at most `MAX` bytes, kept as given (an OCI media type, a
/// content encoding).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OneLine<const MAX: usize>(String);

/// An OCI media type as a registration gives it.
pub type MediaTypeText = OneLine<255>;

/// A declared content encoding as a registration gives it.
pub type ContentEncoding = OneLine<64>;

impl<const MAX: usize> OneLine<MAX> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> std::str::FromStr for OneLine<MAX> {
    type Err = OneLineError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.is_empty() || raw.len() > MAX || !is_single_line(raw) {
            Err(OneLineError(MAX))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }
}

impl<const MAX: usize> serde::Serialize for OneLine<MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize> serde::Deserialize<'de> for OneLine<MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(super::FromStrVisitor::<Self>::default())
    }
}

impl<const MAX: usize> utoipa::PartialSchema for OneLine<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .into()
    }
}

impl<const MAX: usize> utoipa::ToSchema for OneLine<MAX> {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn free_text_keeps_line_breaks_but_not_nul_or_other_controls() {
        assert!(is_storable_text("line one\nline two\ttabbed\r\n"));
        for bad in [
            "k8s\u{0}gpu",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}",
            "esc\u{1b}[31m",
        ] {
            assert!(!is_storable_text(bad), "{bad:?}");
        }
        assert!(is_single_line("k8s-gpu"));
        assert!(!is_single_line("a\nb"));
        assert!(!is_single_line("a\tb"));
    }

    #[test]
    fn the_path_names_the_first_refused_string() {
        assert_eq!(refused_text_path(&json!({"a": "ok", "n": 1})), None);
        assert_eq!(
            refused_text_path(&json!({"source": {"uri": "s3://b/\u{0}"}})),
            Some("source.uri".to_owned())
        );
        assert_eq!(
            refused_text_path(&json!({"items": [{"x": "ok"}, {"x": "\u{1}"}]})),
            Some("items[1].x".to_owned())
        );
        assert_eq!(refused_text_path(&json!(["\u{0}"])), Some("[0]".to_owned()));
        assert_eq!(
            refused_text_path(&json!({"k\u{0}": 1})),
            Some("k\\u{0}".to_owned())
        );
        assert_eq!(refused_text_path(&json!({"reason": "a\nb"})), None);
    }

    #[test]
    fn the_raw_scan_finds_every_spelling() {
        assert!(json_may_hold_control(br#"{"a":"\u0000"}"#));
        assert!(json_may_hold_control("{\"a\":\"\u{85}\"}".as_bytes()));
        assert!(json_may_hold_control(b"{\"a\":\"\x7f\"}"));
        // An escaped printable character only costs the slower exact check.
        assert!(json_may_hold_control(br#"{"a":"\u00e9"}"#));
        assert!(!json_may_hold_control("{\"a\":\"plain \\n é\"}".as_bytes()));
    }
    #[test]
    fn a_reason_is_bounded_storable_text() {
        for good in [
            "",
            "rolled back",
            "line one\nline two\ttab\r\n",
            &"r".repeat(MAX_REASON_LEN),
        ] {
            assert_eq!(
                good.parse::<Reason>().map(|r| r.into_string()),
                Ok(good.to_owned())
            );
        }
        // Bytes, not characters: 512 two-byte characters fit, one more does not.
        assert!("é".repeat(512).parse::<Reason>().is_ok());
        assert_eq!("é".repeat(513).parse::<Reason>(), Err(ReasonError::TooLong));
        assert_eq!(
            "r".repeat(MAX_REASON_LEN + 1).parse::<Reason>(),
            Err(ReasonError::TooLong)
        );
        for bad in ["nul\u{0}", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
            assert_eq!(bad.parse::<Reason>(), Err(ReasonError::Control), "{bad:?}");
        }
        assert!(" \n\t".parse::<Reason>().unwrap().is_blank());
        assert!(!" why ".parse::<Reason>().unwrap().is_blank());
        assert_eq!(
            ReasonError::TooLong.to_string(),
            "must be at most 1024 characters"
        );
    }

    #[test]
    fn a_label_is_one_short_line() {
        for good in ["", "k8s-gpu", "prod eu", &"l".repeat(MAX_LABEL_LEN)] {
            assert_eq!(good.parse::<Label>().map(Label::into_string), Ok(good.to_owned()));
        }
        for bad in [
            "a\nb".to_owned(),
            "a\tb".to_owned(),
            "nul\u{0}".to_owned(),
            "l".repeat(MAX_LABEL_LEN + 1),
        ] {
            assert_eq!(bad.parse::<Label>(), Err(LabelError), "{bad:?}");
        }
    }
    #[test]
    fn one_line_values_are_bounded_and_non_empty() {
        assert!(
            "application/vnd.oci.image.manifest.v1+json"
                .parse::<MediaTypeText>()
                .is_ok()
        );
        assert!("m".repeat(255).parse::<MediaTypeText>().is_ok());
        assert!("e".repeat(64).parse::<ContentEncoding>().is_ok());
        for bad in [
            "".to_owned(),
            "a\nb".to_owned(),
            "a\tb".to_owned(),
            "m".repeat(256),
        ] {
            let error = bad.parse::<MediaTypeText>().unwrap_err();
            assert_eq!(
                error.to_string(),
                "must be 1 to 255 characters on one line",
                "{bad:?}"
            );
        }
        let error = "e".repeat(65).parse::<ContentEncoding>().unwrap_err();
        assert_eq!(error.to_string(), "must be 1 to 64 characters on one line");
    }
}
