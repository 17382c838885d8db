//! `[http]`: limits on requests and connections.

use serde::Deserialize;

/// Limits on HTTP requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Deadline for a whole request.
    pub request_timeout_seconds: u64,
    /// Most decisions the decision-log writer commits in one transaction.
    pub decision_batch_max: usize,
    /// Time a client has to send a complete request head, from its first byte (and, on a new
    /// connection, from the connect); a slower client is disconnected.
    pub header_read_timeout_seconds: u64,
    /// How long a keep-alive connection may sit between requests before it is closed.
    pub keep_alive_idle_timeout_seconds: u64,
    /// Open client connections at most; above it the listener stops accepting until one closes.
    pub max_connections: usize,
    /// Requests handled at once at most; one more answers 503 with `Retry-After` at once.
    /// `/healthz`, `/readyz` and `/metrics` are not counted and always answer.
    pub max_requests_in_flight: usize,
    /// Longest request target (path and query) accepted; longer ones answer 414.
    pub max_uri_bytes: usize,
    /// Largest request head (all header names and values) accepted; larger ones answer 431.
    pub max_header_bytes: usize,
    /// Most header fields accepted; more answer 431.
    pub max_headers: usize,
    /// Requests per second each authenticated principal may make on average; 0 turns the
    /// per-principal rate limit off (the default).
    pub rate_limit_per_second: u32,
    /// Requests a principal may make in a burst above the average (the token bucket's size);
    /// 0 means the same as `rate_limit_per_second`.
    pub rate_limit_burst: u32,
    /// Reverse proxies (addresses or networks, `10.0.0.0/8`) whose `X-Forwarded-For` names the
    /// client for limits per client address; empty (the default) believes no proxy.
    pub trusted_proxies: Vec<String>,
}

impl HttpConfig {
    /// The first server limit set to zero: a zero limit would refuse everything (or, for a
    /// timeout, disconnect every client), so it is a mistake rather than "off".
    fn zero_limit(&self) -> Option<&'static str> {
        [
            (
                "header_read_timeout_seconds",
                self.header_read_timeout_seconds == 0,
            ),
            (
                "keep_alive_idle_timeout_seconds",
                self.keep_alive_idle_timeout_seconds == 0,
            ),
            ("max_connections", self.max_connections == 0),
            ("max_requests_in_flight", self.max_requests_in_flight == 0),
            ("max_uri_bytes", self.max_uri_bytes == 0),
            ("max_header_bytes", self.max_header_bytes == 0),
            ("max_headers", self.max_headers == 0),
        ]
        .into_iter()
        .find_map(|(key, zero)| zero.then_some(key))
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            decision_batch_max: 256,
            header_read_timeout_seconds: 10,
            keep_alive_idle_timeout_seconds: 60,
            max_connections: 512,
            max_requests_in_flight: 256,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// The first unusable value, as `(dotted key, reason)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.body_limit_bytes == 0 || self.request_timeout_seconds == 0 {
            return Err((
                "http".to_owned(),
                "body_limit_bytes and request_timeout_seconds must be positive".to_owned(),
            ));
        }
        if let Some(key) = self.zero_limit() {
            return Err((format!("http.{key}"), "must be positive".to_owned()));
        }
        super::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|reason| ("http.trusted_proxies".to_owned(), reason))?;
        Ok(())
    }
}
