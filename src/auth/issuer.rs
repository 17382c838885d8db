//! One trusted issuer as checked at start-up: pinned algorithms, a ready `Validation`, and its
//! key material (a static PEM key or a JWKS endpoint).

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

use super::config::{AuthConfigError, IssuerConfig};
use super::jwks::{JwksKeys, jwks_client};
use super::key_kind::{key_fits, key_kind};

/// Clock skew tolerated on `exp` and `nbf`, in seconds: enough for unsynchronised hosts,
/// short enough that an expired token is not useful for long.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims jsonwebtoken must find before it checks them; a token without any is refused.
const REQUIRED_CLAIMS: [&str; 4] = ["iss", "aud", "exp", "nbf"];

/// Where an issuer's verification keys come from.
pub(crate) enum KeySource {
    /// One PEM key read at start-up.
    Static(DecodingKey),
    /// A JWK set fetched on demand and cached.
    Jwks(JwksKeys),
}

/// A checked issuer: exists only if its config was valid and its key readable.
pub(crate) struct Issuer {
    /// The `iss` value.
    pub(crate) name: String,
    /// Pinned algorithms, all of one key family.
    pub(crate) algorithms: Vec<Algorithm>,
    /// Pinned to `algorithms`, requiring and checking iss, aud, exp and nbf.
    pub(crate) validation: Validation,
    /// Verification keys.
    pub(crate) keys: KeySource,
}

impl Issuer {
    /// Checks one `[[auth.issuers]]` entry and loads its key; `index` is only for messages.
    pub(crate) fn from_config(
        index: usize,
        cfg: &IssuerConfig,
        base_dir: &Path,
        http: &mut Option<reqwest::Client>,
    ) -> Result<Self, AuthConfigError> {
        if cfg.issuer.trim().is_empty() {
            return Err(AuthConfigError::Empty { index, key: "issuer" });
        }
        if cfg.audience.trim().is_empty() {
            return Err(AuthConfigError::Empty {
                index,
                key: "audience",
            });
        }
        let (algorithms, family) = pinned_algorithms(index, cfg)?;
        let keys = match (&cfg.public_key_file, &cfg.jwks_url) {
            (Some(path), None) => {
                KeySource::Static(load_public_key(index, cfg, path, base_dir, &algorithms)?)
            }
            (None, Some(url)) => {
                let client = match http {
                    Some(client) => client.clone(),
                    None => http.insert(jwks_client()?).clone(),
                };
                KeySource::Jwks(JwksKeys::new(index, &cfg.issuer, url, family, client)?)
            }
            (None, None) => {
                return Err(AuthConfigError::NoKeySource {
                    index,
                    issuer: cfg.issuer.clone(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(AuthConfigError::TwoKeySources {
                    index,
                    issuer: cfg.issuer.clone(),
                });
            }
        };

        let mut validation = Validation::new(family.algorithms()[0]);
        validation.algorithms = algorithms.clone();
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);

        Ok(Self {
            name: cfg.issuer.clone(),
            algorithms,
            validation,
            keys,
        })
    }
}

/// Parses an issuer's `algorithms`: non-empty, no `none`, no HS*, all of one key family.
pub(crate) fn pinned_algorithms(
    index: usize,
    cfg: &IssuerConfig,
) -> Result<(Vec<Algorithm>, AlgorithmFamily), AuthConfigError> {
    let refused = |alg: &str, reason| AuthConfigError::AlgorithmRefused {
        index,
        issuer: cfg.issuer.clone(),
        alg: alg.to_owned(),
        reason,
    };
    let mut parsed: Vec<(Algorithm, &str)> = Vec::with_capacity(cfg.algorithms.len());
    for name in &cfg.algorithms {
        if name.eq_ignore_ascii_case("none") {
            return Err(refused(name, "unsigned tokens are never accepted"));
        }
        let alg: Algorithm = name
            .parse()
            .map_err(|_| refused(name, "not a known JWS signing algorithm"))?;
        if alg.family() == AlgorithmFamily::Hmac {
            // A shared secret would have to live here too, and HS/RS confusion starts this way.
            return Err(refused(name, "shared-secret (HS*) algorithms are never accepted"));
        }
        if !parsed.iter().any(|(a, _)| *a == alg) {
            parsed.push((alg, name));
        }
    }
    let Some(&(first, first_name)) = parsed.first() else {
        return Err(AuthConfigError::NoAlgorithms {
            index,
            issuer: cfg.issuer.clone(),
        });
    };
    if let Some((_, other)) = parsed.iter().find(|(a, _)| a.family() != first.family()) {
        return Err(AuthConfigError::MixedFamilies {
            index,
            issuer: cfg.issuer.clone(),
            first: first_name.to_owned(),
            second: (*other).to_owned(),
        });
    }
    Ok((parsed.into_iter().map(|(a, _)| a).collect(), first.family()))
}

/// Resolves a configured path against the config file's directory.
pub(crate) fn resolve(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// Reads and parses a PEM public key and checks it fits every pinned algorithm.
fn load_public_key(
    index: usize,
    cfg: &IssuerConfig,
    path: &Path,
    base_dir: &Path,
    algorithms: &[Algorithm],
) -> Result<DecodingKey, AuthConfigError> {
    const KEY: &str = "public_key_file";
    let parse_error = |reason: String| AuthConfigError::KeyParse {
        index,
        issuer: cfg.issuer.clone(),
        key: KEY,
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(resolve(base_dir, path)).map_err(|source| AuthConfigError::KeyRead {
        index,
        issuer: cfg.issuer.clone(),
        key: KEY,
        path: path.display().to_string(),
        source,
    })?;
    // jsonwebtoken's RSA loader also takes private keys and certificates and extracts bytes from
    // them; only a public key belongs in this file, so the PEM label is checked first.
    match pem_label(&pem).as_deref() {
        Some("PUBLIC KEY" | "RSA PUBLIC KEY") => {}
        Some(label) if label.contains("PRIVATE KEY") => {
            return Err(parse_error("is a private key; give the public key".to_owned()));
        }
        _ => return Err(parse_error("not a PEM public key".to_owned())),
    }
    let key = DecodingKey::from_ec_pem(&pem)
        .or_else(|_| DecodingKey::from_rsa_pem(&pem))
        .or_else(|_| DecodingKey::from_ed_pem(&pem))
        .map_err(|_| parse_error("not a PEM public key".to_owned()))?;
    let kind = key_kind(&key);
    for alg in algorithms {
        if !key_fits(&kind, *alg) {
            return Err(parse_error(format!(
                "{} does not fit algorithm `{alg:?}`",
                kind.describe()
            )));
        }
    }
    Ok(key)
}

/// The first `-----BEGIN …-----` label of a PEM file, if any.
fn pem_label(pem: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &text[start..];
    Some(rest[..rest.find("-----")?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(algs: &[&str]) -> IssuerConfig {
        IssuerConfig {
            issuer: "https://issuer.test".to_owned(),
            audience: "gatehouse".to_owned(),
            algorithms: algs.iter().map(|s| (*s).to_owned()).collect(),
            public_key_file: None,
            jwks_url: None,
            dev_private_key_file: None,
        }
    }

    #[test]
    fn algorithms_are_pinned_to_one_asymmetric_family() {
        assert!(pinned_algorithms(0, &cfg(&["ES256"])).is_ok());
        assert!(pinned_algorithms(0, &cfg(&["RS256", "PS256"])).is_ok());
        for bad in [
            &[][..],
            &["none"],
            &["None"],
            &["HS256"],
            &["HS512"],
            &["ES256", "RS256"],
            &["XS1"],
        ] {
            assert!(pinned_algorithms(0, &cfg(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn pem_label_reads_the_first_begin_line() {
        assert_eq!(
            pem_label(b"junk\n-----BEGIN PUBLIC KEY-----\nAAA\n").as_deref(),
            Some("PUBLIC KEY")
        );
        assert_eq!(pem_label(b"not pem"), None);
    }
}
