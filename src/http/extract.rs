//! Extractors that turn every rejection into problem+json: the caller (bearer token), JSON
//! bodies, raw bodies, path parameters and query strings.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use super::deadline::reading_body;
use super::error::ApiError;
use super::{AppState, TrustedProxies};
use crate::domain::{
    ArtifactId, Lookup, Principal, is_refused_control, json_may_hold_control, refused_text_path,
};

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers, state).await
    }
}

impl Caller {
    /// Authenticates the bearer token in `headers`.
    pub async fn from_headers(headers: &axum::http::HeaderMap, state: &AppState) -> Result<Self, ApiError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthenticated("a bearer token is required".to_owned()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`".to_owned())
            })?;
        Self::from_bearer(token, state).await
    }

    /// Authenticates a bearer token (the `Authorization` header's, or one the console holds)
    /// and takes one from its caller's rate limit.
    pub async fn from_bearer(token: &str, state: &AppState) -> Result<Self, ApiError> {
        let principal = match state.auth.authenticate(token).await {
            Ok(principal) => principal,
            Err(e) if e.is_unavailable() => return Err(ApiError::Unavailable),
            Err(e) => return Err(ApiError::Unauthenticated(e.to_string())),
        };
        // Before the rate limit: a limited caller's access line still says who it was.
        crate::access::note_principal(&principal.actor);
        // Keyed by issuer and subject: the same `sub` from two issuers is two callers.
        let key = format!("{}\n{}", principal.issuer, principal.actor.id);
        state.rate_limiter.admit(&key).map_err(|retry_after_seconds| {
            state.metrics.count_rate_limited();
            ApiError::RateLimited { retry_after_seconds }
        })?;
        Ok(Self(principal))
    }
}

/// The client's address, for limits per client: the address the server loop accepted the
/// connection from, or, when that is one of `http.trusted_proxies`, the client the proxies name
/// in `X-Forwarded-For` (see `forwarded`). `None` when the router is driven without that loop.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self(None));
        };
        let client = match parts.extensions.get::<Arc<TrustedProxies>>() {
            Some(trusted) => trusted.client(peer.ip(), &parts.headers),
            None => peer.ip().to_canonical(),
        };
        Ok(Self(Some(client)))
    }
}

impl ClientAddr {
    /// The key a per-client limit counts under: an IPv4 address whole, an IPv6 address by its
    /// /64 (one host usually holds a whole /64, so a limit per address would be no limit).
    pub fn limit_key(&self) -> String {
        match self.0 {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "unknown".to_owned(),
        }
    }
}

/// A JSON body: it must be sent as `application/json` (415 otherwise); malformed JSON is 400,
/// well-formed JSON of the wrong shape is 422 naming the field, an oversized body is 413. An
/// empty body reads as `{}` and needs no content type (`POST …/verify` with nothing to say).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let declared = media_type(request.headers());
        if declared.as_deref().is_some_and(|m| m != "application/json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return parse_json(b"{}").map(Self);
        }
        // INVARIANT: a body is parsed as JSON only when the client said it is JSON.
        if declared.is_none() {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(Self)
    }
}

/// The media type of the body (lowercase, parameters dropped), if the request names one.
pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("invalid");
    Some(
        text.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

/// The whole request body: 413 above the configured limit, 400 when it cannot be read. While
/// it is being read, a request deadline answers 408 (the client was slow), not 503.
pub(super) async fn read_body(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    reading_body(Bytes::from_request(request, state))
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("the request body could not be read".to_owned())
            }
        })
}

/// The raw body, for endpoints that parse it themselves (the registry webhook): 413 above the
/// limit as problem+json, 408 when it arrives too slowly.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_body(request, state).await.map(Self)
    }
}

/// Path parameters; a segment that is not valid UTF-8 after percent-decoding is 400. A segment
/// read into a domain type (`ProjectSlug`) that refuses it is 422 naming the parameter with the
/// type's message, as the same value in a body would be.
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        refuse_control_in_path(parts.uri.path())?;
        axum_path(parts, state).await.map(Self).map_err(|rejection| {
            if let axum::extract::rejection::PathRejection::FailedToDeserializePathParams(failed) = &rejection
                && let axum::extract::path::ErrorKind::DeserializeError { key, message, .. } = failed.kind()
            {
                ApiError::Invalid {
                    field: key.clone(),
                    reason: message.clone(),
                }
            } else if rejection.status() == StatusCode::BAD_REQUEST {
                ApiError::BadRequest(
                    "a path segment is not valid UTF-8 or not of the expected form".to_owned(),
                )
            } else {
                tracing::error!(%rejection, "path parameters do not match the route");
                ApiError::Internal
            }
        })
    }
}

/// A path segment that decodes to NUL or another control character is refused like any other
/// text field (422 naming `path`), the same on every backend. Raw control characters cannot
/// reach here (the HTTP parser refuses them), so only percent-escapes need decoding.
fn refuse_control_in_path(path: &str) -> Result<(), ApiError> {
    if !path.contains('%') {
        return Ok(());
    }
    let decoded = percent_decoded(path);
    if String::from_utf8_lossy(&decoded).chars().any(is_refused_control) {
        return Err(ApiError::Invalid {
            field: "path".to_owned(),
            reason: CONTROL_CHARACTER_REASON.to_owned(),
        });
    }
    Ok(())
}

/// `%XX` escapes decoded to bytes; anything else (including a malformed escape) kept as is.
fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[expect(
    clippy::disallowed_types,
    reason = "the one place the raw extractor is wrapped"
)]
async fn axum_path<T, S>(parts: &mut Parts, state: &S) -> Result<T, axum::extract::rejection::PathRejection>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    axum::extract::Path::<T>::from_request_parts(parts, state)
        .await
        .map(|axum::extract::Path(v)| v)
}

/// An artifact id from the path (`PathParams<Lookup<ArtifactId>>`), valid only in canonical form
/// (lowercase, hyphenated, 36 characters): ids are names, and one resource has one name. Any
/// other spelling is as unknown as a missing id: 404 naming what was looked for.
pub fn artifact_id(id: Lookup<ArtifactId>) -> Result<ArtifactId, ApiError> {
    match id {
        Lookup::Valid(id) => Ok(id),
        Lookup::Unknown(id) => Err(ApiError::NotFound(format!("no artifact with id `{id}`"))),
    }
}

/// Parses JSON, telling syntax errors (400) from shape errors (422, naming the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Most bodies are well formed: parsed without tracking the path (a third of the parse's
    // cost), which only an error needs. A body that fails is parsed again below, the way that
    // names its field, so every error reads as it did.
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        refuse_control_characters(bytes)?;
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|error| {
        let path = error.path().to_string();
        let error = json_error(&path, &error.into_inner());
        // A domain type refusing a value that holds a control character (itself, or a key or
        // value inside it: a `files` object's name): the control character is the answer, as
        // it was when the field was plain text.
        match (&error, refuse_control_characters(bytes)) {
            (ApiError::Invalid { field, .. }, Err(control))
                if control_field(&control).is_some_and(|inner| within(inner, field)) =>
            {
                control
            }
            _ => error,
        }
    })?;
    // Trailing garbage after the document is malformed input too.
    de.end().map_err(|e| json_error(".", &e))?;
    refuse_control_characters(bytes)?;
    Ok(value)
}

/// A string holding NUL or another control character is refused for every backend alike
/// (PostgreSQL cannot store NUL), naming its field; tab and line breaks stay allowed.
fn refuse_control_characters(bytes: &[u8]) -> Result<(), ApiError> {
    if !json_may_hold_control(bytes) {
        return Ok(());
    }
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| json_error(".", &e))?;
    match refused_text_path(&document) {
        None => Ok(()),
        Some(path) => Err(ApiError::Invalid {
            field: if path.is_empty() { "body".to_owned() } else { path },
            reason: CONTROL_CHARACTER_REASON.to_owned(),
        }),
    }
}

/// Whether the field path `inner` is `outer` or lies inside it (`files.a.cedar` in `files`).
fn within(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

fn control_field(error: &ApiError) -> Option<&String> {
    match error {
        ApiError::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

const CONTROL_CHARACTER_REASON: &str =
    "must not contain NUL or other control characters (tab and line breaks are allowed in free text)";

fn json_error(path: &str, error: &serde_json::Error) -> ApiError {
    if error.is_syntax() || error.is_eof() {
        ApiError::BadRequest(format!(
            "the request body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        ))
    } else {
        let field = if path == "." {
            "body".to_owned()
        } else {
            path.to_owned()
        };
        ApiError::Invalid {
            field,
            reason: strip_position(&error.to_string()),
        }
    }
}

/// serde's messages end with " at line 1 column 40"; the field name already says where.
fn strip_position(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_owned()
}

/// A query string: a value of the wrong form is 422 naming its parameter (`limit`, `project`),
/// the message the domain type gives; a control character in any value is 422 too. The raw
/// `axum::extract::Query` is banned (clippy.toml) so every query rejects as problem+json.
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

/// Parses a query string the way `AppQuery` does (also for callers holding only the text).
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // Decoded, a query value may hold NUL (`%00`): refused before it reaches a query.
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    if let Some((name, _)) = pairs
        .iter()
        .find(|(name, value)| name.chars().chain(value.chars()).any(is_refused_control))
    {
        return Err(ApiError::Invalid {
            field: name.escape_default().to_string(),
            reason: CONTROL_CHARACTER_REASON.to_owned(),
        });
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|error| {
        let path = error.path().to_string();
        ApiError::Invalid {
            field: if path == "." { "query".to_owned() } else { path },
            reason: error.into_inner().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::admission::SimulateInput;

    #[test]
    fn a_client_is_counted_by_its_ipv4_address_or_its_ipv6_64() {
        let key = |ip: &str| ClientAddr(Some(ip.parse().unwrap())).limit_key();
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2:aaaa::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(ClientAddr(None).limit_key(), "unknown");
    }

    fn invalid_field(body: &[u8]) -> Option<(String, String)> {
        match parse_json::<SimulateInput>(body) {
            Err(ApiError::Invalid { field, reason }) => Some((field, reason)),
            _ => None,
        }
    }

    #[test]
    fn a_refused_file_name_names_files_unless_a_control_character_is_the_answer() {
        let (field, reason) = invalid_field(br#"{"files": {"../x.cedar": ""}}"#).unwrap_or_default();
        assert_eq!(field, "files");
        assert_eq!(reason, "`../x.cedar` is not a plain `*.cedar` file name");
        // As when the names were plain text: the control character is refused where it sits.
        let (field, reason) = invalid_field(br#"{"files": {"a\u0001.cedar": ""}}"#).unwrap_or_default();
        assert_eq!(field, "files.a\\u{1}.cedar");
        assert_eq!(reason, CONTROL_CHARACTER_REASON);
        assert!(within("files.a", "files") && within("files[0]", "files") && within("files", "files"));
        assert!(!within("filesx", "files") && !within("source.uri", "files"));
    }

    /// A body that fails the unnamed first parse is answered as before: syntax and trailing
    /// garbage 400, a value of the wrong shape 422 naming its field; a good one parses once.
    #[test]
    fn a_failing_body_is_answered_naming_its_field() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[allow(dead_code, reason = "only parsed")]
            outer: Inner,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Inner {
            #[allow(dead_code, reason = "only parsed")]
            count: u32,
        }
        assert!(parse_json::<Body>(br#"{"outer": {"count": 3}}"#).is_ok());
        match parse_json::<Body>(br#"{"outer": {"count": "three"}}"#) {
            Err(ApiError::Invalid { field, reason }) => {
                assert_eq!(field, "outer.count");
                assert!(reason.starts_with("invalid type: string"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"outer": {}}"#) {
            Err(ApiError::Invalid { field, .. }) => assert_eq!(field, "outer"),
            other => panic!("{other:?}"),
        }
        for malformed in [&br#"{"outer": {"count": 3}} trailing"#[..], b"{\"outer\": ", b""] {
            assert!(
                matches!(parse_json::<Body>(malformed), Err(ApiError::BadRequest(_))),
                "{malformed:?}"
            );
        }
    }
}
