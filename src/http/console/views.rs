//! The page frame and small pieces every page uses. maud escapes every interpolated value, so
//! names, reasons and policy text from the database render as text, never as markup.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;

use super::Viewer;

/// A whole page: header with navigation and sign-out, then `body`.
pub fn page(status: StatusCode, title: &str, viewer: Option<&Viewer>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse" }
                link rel="stylesheet" href="/ui/console.css";
            }
            body {
                header {
                    a.brand href="/ui" { "Gatehouse" }
                    @if let Some(viewer) = viewer {
                        nav aria-label="console" {
                            a href="/ui" { "Projects" }
                            a href="/ui/decisions" { "Decisions" }
                            a href="/ui/policies" { "Policies" }
                            a href="/ui/audit" { "Audit" }
                        }
                        form.signout method="post" action="/ui/logout" {
                            (csrf_field(viewer))
                            span.who { (viewer.principal.actor.id) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A page that says why nothing else is shown, with the status the API would answer.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    page(
        status,
        title,
        None,
        html! {
            p.error role="alert" { (detail) }
            p { a href="/ui" { "Back to the console" } }
        },
    )
}

/// The hidden anti-forgery field every form of a session carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.session.csrf); }
}

/// The wire name of an enum (`published`, `verified`, `oci`), as the API spells it.
pub fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A timestamp, to the second, in UTC.
pub fn when(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `sha256:0123456789ab…`: enough to recognise, with the full digest in the title.
pub fn short_digest(digest: &str) -> Markup {
    let short: String = digest.chars().take(19).collect();
    html! { code title=(digest) { (short) "…" } }
}

/// A JSON value, pretty-printed inside a disclosure (no script needed to open it).
pub fn json_details(summary: &str, value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! {
        details {
            summary { (summary) }
            pre { (text) }
        }
    }
}

/// A comma-separated list, or a dash when empty.
pub fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "—".to_owned()
    } else {
        items.join(", ")
    }
}

/// The query string of `pairs` with empty values left out (for paging and filter links).
pub fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(key, value)| value.filter(|v| !v.is_empty()).map(|v| (*key, v)))
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    let encoded: String = kept
        .iter()
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!("?{encoded}")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn links_keep_only_given_filters_and_encode_them() {
        assert_eq!(query_string(&[("a", None), ("b", Some(""))]), "");
        assert_eq!(
            query_string(&[("project", Some("team-a")), ("cursor", Some("x=/&y"))]),
            "?project=team-a&cursor=x%3D%2F%26y"
        );
    }
}
