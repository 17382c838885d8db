//! The console's OpenID Connect client: checked at start-up against `[[auth.issuers]]`, the
//! provider's endpoints read from discovery (cached), and the code exchanged for tokens.
//! Written on reqwest and jsonwebtoken rather than the `openidconnect` crate: that crate brings
//! a second reqwest, p256/p384 0.14 and its own token checks, where the gateway's issuer
//! entry (keys, pinned algorithms) must be the one that decides.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::config::{OidcConfig, SessionToken};
use super::pkce::{Attempt, Attempts, Started};
use crate::auth::Authenticator;

/// The only callback route; `redirect_url` must end in it.
pub const CALLBACK_PATH: &str = "/ui/oidc/callback";
/// Deadline of one call to the provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery is read again after this long (a provider may move its endpoints).
const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);
/// Discovery documents and token responses larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Why `[console.oidc]` cannot be used; each names the key.
#[derive(Debug, thiserror::Error)]
pub enum OidcConfigError {
    /// A required value is empty.
    #[error("console.oidc.{0}: must not be empty")]
    Empty(&'static str),
    /// The issuer is not trusted for API tokens, so its sessions could not be verified.
    #[error(
        "console.oidc.issuer `{0}`: not the `issuer` of any [[auth.issuers]] entry (the console verifies \
         the provider's tokens with that entry's keys and algorithms)"
    )]
    UnknownIssuer(String),
    /// The issuer or the callback is not an http(s) URL of the right shape.
    #[error("console.oidc.{key} `{url}`: {reason}")]
    Url {
        /// The key.
        key: &'static str,
        /// As configured.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The HTTP client cannot be built.
    #[error("console.oidc: cannot build the http client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Deserialize)]
pub struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// What the token endpoint answered.
#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// A refusal in the token endpoint's words (RFC 6749 §5.2).
#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Why talking to the provider failed. The text never carries a code, token or secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable, timed out, or not answering as a provider does.
    #[error("the sign-in provider is unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the code (`invalid_grant`, …).
    #[error("the sign-in provider refused the sign-in: {0}")]
    Refused(String),
}

/// The tokens of a completed exchange.
pub struct Tokens {
    /// The ID token (always required).
    pub id_token: SecretString,
    /// The token the session keeps.
    pub session_token: SecretString,
}

/// The console's client of one provider.
pub struct OidcClient {
    /// The issuer, as configured (and as `[[auth.issuers]]` names it).
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The name on the sign-in button.
    pub display_name: String,
    secret: Option<SecretString>,
    redirect: Url,
    scopes: String,
    session_token: SessionToken,
    http: reqwest::Client,
    discovery: Cache<(), Arc<Endpoints>>,
    /// Sign-ins started and not yet completed.
    pub attempts: Attempts,
}

impl OidcClient {
    /// Checks `[console.oidc]` against the authenticator's issuers; nothing is fetched yet.
    pub fn from_config(cfg: &OidcConfig, auth: &Authenticator) -> Result<Self, OidcConfigError> {
        for (key, value) in [
            ("issuer", &cfg.issuer),
            ("client_id", &cfg.client_id),
            ("redirect_url", &cfg.redirect_url),
        ] {
            if value.trim().is_empty() {
                return Err(OidcConfigError::Empty(key));
            }
        }
        if !auth.has_issuer(&cfg.issuer) {
            return Err(OidcConfigError::UnknownIssuer(cfg.issuer.clone()));
        }
        http_url("issuer", &cfg.issuer)?;
        let redirect = http_url("redirect_url", &cfg.redirect_url)?;
        if redirect.path() != CALLBACK_PATH || redirect.query().is_some() {
            return Err(OidcConfigError::Url {
                key: "redirect_url",
                url: cfg.redirect_url.clone(),
                reason: "must be the gateway's `/ui/oidc/callback`, with no query",
            });
        }
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(cfg.scopes.iter().filter(|s| *s != "openid").cloned());
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(PROVIDER_TIMEOUT)
            // A provider's answer is read, never followed elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(OidcConfigError::HttpClient)?;
        Ok(Self {
            issuer: cfg.issuer.clone(),
            client_id: cfg.client_id.clone(),
            display_name: cfg.display_name.clone().unwrap_or_else(|| cfg.issuer.clone()),
            secret: cfg.client_secret.clone().map(SecretString::from),
            redirect,
            scopes: scopes.join(" "),
            session_token: cfg.session_token,
            http,
            discovery: Cache::builder()
                .max_capacity(1)
                .time_to_live(DISCOVERY_TTL)
                .build(),
            attempts: Attempts::default(),
        })
    }

    /// The provider's endpoints (discovery, cached; a failure is not cached).
    pub async fn endpoints(&self) -> Result<Arc<Endpoints>, ProviderError> {
        self.discovery
            .try_get_with((), self.discover())
            .await
            .map_err(|error| ProviderError::Unavailable(error.to_string()))
    }

    async fn discover(&self) -> Result<Arc<Endpoints>, ProviderError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable("discovery", &e))?;
        if !response.status().is_success() {
            return Err(ProviderError::Unavailable(format!(
                "discovery answered {}",
                response.status()
            )));
        }
        let body = bounded_body(response).await?;
        let endpoints: Endpoints = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Unavailable("discovery is not an OpenID configuration".to_owned()))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was asked for.
        if endpoints.issuer != self.issuer {
            return Err(ProviderError::Unavailable(
                "discovery names another issuer".to_owned(),
            ));
        }
        for url in [&endpoints.authorization_endpoint, &endpoints.token_endpoint] {
            http_url("discovery", url).map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        }
        if let Some(methods) = &endpoints.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(ProviderError::Unavailable(
                "the provider does not support PKCE with S256".to_owned(),
            ));
        }
        Ok(Arc::new(endpoints))
    }

    /// The authorization request the browser is sent to.
    pub fn authorization_url(&self, endpoints: &Endpoints, started: &Started) -> Result<Url, ProviderError> {
        let mut url = Url::parse(&endpoints.authorization_endpoint)
            .map_err(|_| ProviderError::Unavailable("bad authorization endpoint".to_owned()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", self.redirect.as_str())
            .append_pair("scope", &self.scopes)
            .append_pair("state", &started.state)
            .append_pair("nonce", &started.nonce)
            .append_pair("code_challenge", &started.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url)
    }

    /// Exchanges the code for tokens, proving the attempt with its PKCE verifier.
    pub async fn exchange(&self, code: &str, attempt: &Attempt) -> Result<Tokens, ProviderError> {
        let endpoints = self.endpoints().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect.as_str()),
            ("code_verifier", attempt.verifier.expose_secret()),
        ];
        let mut request = self.http.post(&endpoints.token_endpoint);
        match &self.secret {
            // client_secret_basic, the default method (OpenID Connect Core §9).
            Some(secret) => request = request.basic_auth(&self.client_id, Some(secret.expose_secret())),
            None => form.push(("client_id", &self.client_id)),
        }
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable("token", &e))?;
        let status = response.status();
        let body = bounded_body(response).await?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<TokenError>(&body) {
                Ok(refusal) => {
                    ProviderError::Refused(describe(&refusal.error, refusal.error_description.as_deref()))
                }
                Err(_) => ProviderError::Unavailable(format!("the token endpoint answered {status}")),
            });
        }
        let tokens: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Unavailable("the token response is not JSON".to_owned()))?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| ProviderError::Refused("the provider sent no id_token".to_owned()))?;
        let session_token = match self.session_token {
            SessionToken::IdToken => id_token.clone(),
            SessionToken::AccessToken => tokens
                .access_token
                .ok_or_else(|| ProviderError::Refused("the provider sent no access_token".to_owned()))?,
        };
        Ok(Tokens {
            id_token: SecretString::from(id_token),
            session_token: SecretString::from(session_token),
        })
    }
}

/// A provider's error code and description, cut to the characters RFC 6749 allows in them
/// (so nothing odd reaches a page or a log line) and to a readable length.
pub fn describe(error: &str, description: Option<&str>) -> String {
    let clean = |text: &str, max: usize| -> String {
        text.chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(max)
            .collect()
    };
    match description
        .map(|d| clean(d, 200))
        .filter(|d| !d.trim().is_empty())
    {
        Some(description) => format!("{} ({description})", clean(error, 64)),
        None => clean(error, 64),
    }
}

fn http_url(key: &'static str, raw: &str) -> Result<Url, OidcConfigError> {
    let bad = |reason| OidcConfigError::Url {
        key,
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|_| bad("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http(s) URL"));
    }
    Ok(url)
}

/// A transport failure, described without the URL's query (which may hold a code).
fn unavailable(what: &str, error: &reqwest::Error) -> ProviderError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    ProviderError::Unavailable(format!("{what} endpoint: {kind}"))
}

async fn bounded_body(mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| ProviderError::Unavailable("the answer was cut short".to_owned()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ProviderError::Unavailable("the answer is too large".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_are_cut_to_plain_text() {
        assert_eq!(describe("invalid_grant", None), "invalid_grant");
        assert_eq!(
            describe("invalid_grant", Some("PKCE verification failed\n<b>")),
            "invalid_grant (PKCE verification failed<b>)"
        );
        assert_eq!(describe(&"x".repeat(100), Some("  ")).len(), 64);
    }
}
