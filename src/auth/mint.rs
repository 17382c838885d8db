//! `gatehouse token mint`: signs a token for a local dev issuer, one whose config names a
//! `dev_private_key_file`. Production issuers never have one, so this cannot mint for them.

use std::collections::BTreeMap;
use std::path::Path;

use jsonwebtoken::{AlgorithmFamily, EncodingKey, Header};
use serde_json::{Map, Value, json};

use super::config::{AuthConfig, AuthConfigError};
use super::issuer::{pinned_algorithms, resolve};
use crate::domain::{ActorType, ProjectSlug, Role};

/// The longest lifetime a dev token may have: one day.
pub const MAX_MINT_TTL_SECONDS: i64 = 24 * 60 * 60;

/// What to put in a dev token.
#[derive(Debug, Clone)]
pub struct MintRequest {
    /// The configured `issuer` to sign as.
    pub issuer: String,
    /// The `sub` claim.
    pub subject: String,
    /// `user` or `service_account`.
    pub actor_type: ActorType,
    /// Project slug → role names.
    pub projects: BTreeMap<String, Vec<String>>,
    /// Platform roles such as `security_admin`.
    pub platform_roles: Vec<String>,
    /// Lifetime in seconds, 1 to [`MAX_MINT_TTL_SECONDS`].
    pub ttl_seconds: i64,
    /// The `aud` claim; the issuer's configured audience when absent.
    pub audience: Option<String>,
}

/// Why a dev token cannot be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The named issuer is not in `auth.issuers`.
    #[error("issuer `{0}` is not configured under auth.issuers")]
    UnknownIssuer(String),
    /// The issuer has no dev private key: only local dev issuers can mint.
    #[error(
        "auth.issuers[{index}] (issuer `{issuer}`) has no `dev_private_key_file`; tokens can only \
         be minted for a local dev issuer"
    )]
    NoDevKey {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
    },
    /// The issuer's config or dev key is unusable.
    #[error(transparent)]
    Config(#[from] AuthConfigError),
    /// The subject is empty.
    #[error("the subject must not be empty")]
    EmptySubject,
    /// Only users and service accounts carry tokens.
    #[error("tokens can only be minted for `user` or `service_account` actors")]
    ActorType,
    /// A project key is not a valid project slug.
    #[error("project `{0}` is not a valid project slug")]
    Project(String),
    /// A role name is not one of admin, operator, releaser, viewer.
    #[error("role `{role}` for project `{project}` is not one of admin, operator, releaser, viewer")]
    Role {
        /// The project.
        project: String,
        /// The unknown role.
        role: String,
    },
    /// The lifetime is out of range.
    #[error("ttl_seconds must be between 1 and {MAX_MINT_TTL_SECONDS}, not {0}")]
    Ttl(i64),
    /// Signing failed (for instance the key does not fit the algorithm).
    #[error("cannot sign the token with the dev key: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Signs a token for a dev issuer with its first pinned algorithm; the claims are `iss`, `sub`,
/// `aud`, `iat`, `nbf`, `exp` and the configured actor type, projects and platform roles.
pub fn mint_dev_token(cfg: &AuthConfig, base_dir: &Path, req: &MintRequest) -> Result<String, MintError> {
    let (index, issuer) = cfg
        .issuers
        .iter()
        .enumerate()
        .find(|(_, i)| i.issuer == req.issuer)
        .ok_or_else(|| MintError::UnknownIssuer(req.issuer.clone()))?;
    let Some(key_path) = &issuer.dev_private_key_file else {
        return Err(MintError::NoDevKey {
            index,
            issuer: issuer.issuer.clone(),
        });
    };
    check_request(req)?;
    let (algorithms, family) = pinned_algorithms(index, issuer)?;
    let alg = algorithms[0];

    const KEY: &str = "dev_private_key_file";
    let shown = key_path.display().to_string();
    let pem = std::fs::read(resolve(base_dir, key_path)).map_err(|source| AuthConfigError::KeyRead {
        index,
        issuer: issuer.issuer.clone(),
        key: KEY,
        path: shown.clone(),
        source,
    })?;
    let key = match family {
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
        AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
        AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&pem),
        // pinned_algorithms never yields HS*; refuse rather than sign with a "secret" file.
        AlgorithmFamily::Hmac => Err(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into()),
    }
    .map_err(|_| AuthConfigError::KeyParse {
        index,
        issuer: issuer.issuer.clone(),
        key: KEY,
        path: shown,
        reason: format!("not a PEM private key for `{alg:?}`"),
    })?;

    let now = chrono::Utc::now().timestamp();
    let names = &cfg.claims;
    let actor_type = match req.actor_type {
        ActorType::User => "user",
        ActorType::ServiceAccount => "service_account",
        ActorType::Registry | ActorType::KubernetesApiServer => return Err(MintError::ActorType),
    };
    let mut claims = Map::new();
    claims.insert("iss".to_owned(), json!(issuer.issuer));
    claims.insert(
        "aud".to_owned(),
        json!(req.audience.as_deref().unwrap_or(&issuer.audience)),
    );
    claims.insert("iat".to_owned(), json!(now));
    claims.insert("nbf".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(now + req.ttl_seconds));
    claims.insert(names.subject.clone(), json!(req.subject));
    claims.insert(names.actor_type.clone(), json!(actor_type));
    claims.insert(names.projects.clone(), json!(req.projects));
    claims.insert(names.platform_roles.clone(), json!(req.platform_roles));
    jsonwebtoken::encode(&Header::new(alg), &Value::Object(claims), &key).map_err(MintError::Sign)
}

/// Refuses what `authenticate` would refuse or silently drop, so a typo fails at mint time.
fn check_request(req: &MintRequest) -> Result<(), MintError> {
    if req.subject.trim().is_empty() {
        return Err(MintError::EmptySubject);
    }
    if matches!(
        req.actor_type,
        ActorType::Registry | ActorType::KubernetesApiServer
    ) {
        return Err(MintError::ActorType);
    }
    if !(1..=MAX_MINT_TTL_SECONDS).contains(&req.ttl_seconds) {
        return Err(MintError::Ttl(req.ttl_seconds));
    }
    for (project, roles) in &req.projects {
        project
            .parse::<ProjectSlug>()
            .map_err(|_| MintError::Project(project.clone()))?;
        if let Some(role) = roles.iter().find(|r| Role::parse(r).is_none()) {
            return Err(MintError::Role {
                project: project.clone(),
                role: role.clone(),
            });
        }
    }
    Ok(())
}
