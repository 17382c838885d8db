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
}
