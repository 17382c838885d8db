//! `[console]` and `[console.oidc]`: the console's OpenID Connect client, for sign-in with a
//! provider (authorization code with PKCE) beside pasting a token.

use serde::Deserialize;

/// The console's settings: `[console]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Sign-in with an OpenID Connect provider; without it only a pasted token signs in.
    pub oidc: Option<OidcConfig>,
}

/// `[console.oidc]`: the console as a client of one of `[[auth.issuers]]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL: exactly the `issuer` of one `[[auth.issuers]]` entry, whose
    /// keys and pinned algorithms verify the tokens; discovery is read from
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered with the provider (the ID token's audience).
    pub client_id: String,
    /// The client secret of a confidential client (sent with HTTP Basic); leave it out for a
    /// public client, which PKCE alone protects. Prefer `GATEHOUSE_CONSOLE__OIDC__CLIENT_SECRET`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The callback registered with the provider: `https://<gateway>/ui/oidc/callback`.
    pub redirect_url: String,
    /// Scopes asked for; `openid` is always added.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Which token the session keeps and the API verifies on every page: the `access_token`
    /// (default; the provider must issue it as a JWT for the issuer's `audience`) or the
    /// `id_token` (when `client_id` is that audience).
    #[serde(default)]
    pub session_token: SessionToken,
    /// The provider's name on the sign-in button (default: the issuer URL).
    #[serde(default)]
    pub display_name: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_owned()]
}

/// The token a console session keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionToken {
    /// The access token.
    #[default]
    AccessToken,
    /// The ID token.
    IdToken,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output ends up in logs: the secret is never printed.
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("session_token", &self.session_token)
            .field("display_name", &self.display_name)
            .finish()
    }
}
