//! A sigstore `trusted_root.json` (protobuf-specs `sigstore_trustroot.proto`, JSON form), read
//! offline: the transparency-log keys and the Fulcio certificate authorities. Each authority's
//! chain is checked once here, so verification only has to link a leaf to it.

use std::path::Path;

use chrono::DateTime;
use serde_json::Value;
use sha2::Digest as _;

use super::bundle::{TransparencyLogKeyError, TransparencyLogKeys};
use super::x509::Cert;

/// A Fulcio certificate authority: the chain that issues signing certificates and the window in
/// which it did.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// Its `uri`, or its position in the file when it has none; names it in evidence.
    pub name: String,
    /// The issuer of signing certificates first, the self-signed root last.
    chain: Vec<Cert>,
    valid_from: i64,
    valid_until: Option<i64>,
}

impl CertificateAuthority {
    /// The certificate that signs leaves.
    pub fn issuer(&self) -> &Cert {
        // INVARIANT: loading refuses an empty chain.
        &self.chain[0]
    }

    /// Why `unix_seconds` is outside this authority's window or one of its certificates' validity.
    pub fn not_valid_at(&self, unix_seconds: i64) -> Option<String> {
        if unix_seconds < self.valid_from || self.valid_until.is_some_and(|end| unix_seconds > end) {
            return Some(format!(
                "outside the validity window of certificate authority `{}`",
                self.name
            ));
        }
        self.chain.iter().any(|c| !c.valid_at(unix_seconds)).then(|| {
            format!(
                "outside the validity of a certificate of certificate authority `{}`",
                self.name
            )
        })
    }
}

/// Everything a trusted root gives verification.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    /// The transparency logs, by log id.
    pub logs: TransparencyLogKeys,
    /// The Fulcio certificate authorities, in file order.
    pub authorities: Vec<CertificateAuthority>,
    /// sha256 of the root as loaded (its JSON re-serialized), so results checked under one root
    /// are never taken for another's (the verification cache keys on it); zero when empty.
    pub content_hash: [u8; 32],
}

/// Why a trusted root could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustedRootError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("`{0}` is not JSON")]
    NotJson(String),
    /// A transparency log is unusable.
    #[error(transparent)]
    Logs(#[from] TransparencyLogKeyError),
    /// A certificate authority is unusable.
    #[error("malformed trusted root: `certificateAuthorities[{index}]`: {reason}")]
    Authority {
        /// Its position in the file.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

impl TrustedRoot {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Self, TrustedRootError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrustedRootError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let root: Value =
            serde_json::from_str(&text).map_err(|_| TrustedRootError::NotJson(path.display().to_string()))?;
        Self::from_json(&root)
    }

    /// The logs and certificate authorities of a parsed trusted root.
    pub fn from_json(root: &Value) -> Result<Self, TrustedRootError> {
        let logs = TransparencyLogKeys::from_trusted_root_json(root)?;
        let authorities = match root.get("certificateAuthorities") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(cas)) => cas
                .iter()
                .enumerate()
                .map(|(index, ca)| {
                    authority(index, ca).map_err(|reason| TrustedRootError::Authority { index, reason })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(TrustedRootError::Authority {
                    index: 0,
                    reason: "`certificateAuthorities` must be an array".to_owned(),
                });
            }
        };
        let content_hash = sha2::Sha256::digest(root.to_string().as_bytes()).into();
        Ok(Self {
            logs,
            authorities,
            content_hash,
        })
    }
}

fn authority(index: usize, ca: &Value) -> Result<CertificateAuthority, String> {
    let certificates = ca
        .pointer("/certChain/certificates")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("`certChain.certificates` must be a non-empty array")?;
    let chain = certificates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let der = c
                .get("rawBytes")
                .and_then(Value::as_str)
                .and_then(super::bundle::tlog::decode_base64)
                .ok_or_else(|| format!("certificate {i}: `rawBytes` must be base64"))?;
            Cert::from_der(&der).map_err(|e| format!("certificate {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_chain(&chain)?;
    let time = |pointer: &str| -> Result<Option<i64>, String> {
        ca.pointer(pointer)
            .map(|t| {
                t.as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp())
                    .ok_or_else(|| format!("`{pointer}` must be an RFC 3339 time"))
            })
            .transpose()
    };
    let valid_from = time("/validFor/start")?.ok_or("`validFor.start` is required")?;
    let valid_until = time("/validFor/end")?;
    let name = ca
        .get("uri")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map_or_else(|| format!("certificateAuthorities[{index}]"), str::to_owned);
    Ok(CertificateAuthority {
        name,
        chain,
        valid_from,
        valid_until,
    })
}

/// Each certificate is a CA allowed to sign certificates, within its path length, signed by
/// the next; the last signs itself.
fn check_chain(chain: &[Cert]) -> Result<(), String> {
    for (i, cert) in chain.iter().enumerate() {
        let at = |reason: String| format!("certificate {i}: {reason}");
        if let Some(oid) = cert.unknown_critical_extension() {
            return Err(at(format!("unknown critical extension `{oid}`")));
        }
        match cert.basic_constraints().map_err(at)? {
            Some((true, path_len)) => {
                // `i` CA certificates sit between this one and a leaf it vouches for.
                if path_len.is_some_and(|max| i > usize::from(max)) {
                    return Err(at("its path length constraint is exceeded".to_owned()));
                }
            }
            _ => return Err(at("it is not a CA certificate (basic constraints)".to_owned())),
        }
        if cert.may_sign_certificates().map_err(at)? == Some(false) {
            return Err(at("its key usage does not allow signing certificates".to_owned()));
        }
        let issuer = chain.get(i + 1).unwrap_or(cert);
        cert.public_key().map_err(at)?;
        cert.check_issued_by(issuer).map_err(|e| {
            let by = if i + 1 < chain.len() {
                "the next certificate"
            } else {
                "itself (a root)"
            };
            at(format!("not signed by {by}: {e}"))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;
    use crate::trust::test_support::fulcio::{self, LeafSpec, TestFulcio};
    use crate::trust::test_support::sigstore_fixtures as fx;

    fn authority_error(root: &Value) -> String {
        match TrustedRoot::from_json(root) {
            Err(e @ TrustedRootError::Authority { .. }) => e.to_string(),
            other => panic!("expected an authority error, got {other:?}"),
        }
    }

    #[test]
    fn loads_the_logs_and_checked_certificate_authorities() {
        let (a, b) = (TestFulcio::new("a"), TestFulcio::new("b"));
        let log = fx::log_key("rekor");
        let root = TrustedRoot::from_json(&fulcio::trusted_root(&log, &[&a, &b])).unwrap();
        assert_eq!(root.logs.log_ids().collect::<Vec<_>>(), [fx::log_id_hex(&log)]);
        let names: Vec<&str> = root.authorities.iter().map(|ca| ca.name.as_str()).collect();
        assert_eq!(names, [a.uri(), b.uri()]);
        assert_eq!(root.authorities[0].issuer().der(), a.intermediate_der.as_slice());
        // A root with no CAs (keyed bundles only) still loads.
        let keyed_only = TrustedRoot::from_json(&fx::trusted_root(&log)).unwrap();
        assert!(keyed_only.authorities.is_empty());
    }

    #[test]
    fn the_validity_window_bounds_signing_times() {
        let ca = TestFulcio::new("a");
        let mut entry = ca.authority();
        entry["validFor"] = json!({ "start": "2023-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z" });
        let mut root = fulcio::trusted_root(&fx::log_key("rekor"), &[]);
        root["certificateAuthorities"] = json!([entry]);
        let authority = &TrustedRoot::from_json(&root).unwrap().authorities[0];
        assert_eq!(authority.not_valid_at(fulcio::SIGNED_AT), None);
        let before = authority.not_valid_at(1_600_000_000).unwrap();
        assert!(
            before.contains("validity window of certificate authority"),
            "{before}"
        );
        assert!(authority.not_valid_at(1_800_000_000).is_some());
    }

    #[test]
    fn unusable_certificate_authorities_stop_the_load_naming_them() {
        let ca = TestFulcio::new("a");
        let log = fx::log_key("rekor");
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut root = fulcio::trusted_root(&log, &[&ca]);
            edit(&mut root["certificateAuthorities"][0]);
            root
        };
        let err = authority_error(&with(&|ca| ca["certChain"]["certificates"] = json!([])));
        assert!(
            err.contains("`certificateAuthorities[0]`") && err.contains("non-empty"),
            "{err}"
        );
        let err = authority_error(&with(&|ca| {
            ca["certChain"]["certificates"][0]["rawBytes"] = json!("%%")
        }));
        assert!(err.contains("certificate 0: `rawBytes` must be base64"), "{err}");
        let err = authority_error(&with(&|ca| {
            ca["certChain"]["certificates"][0]["rawBytes"] = json!("AAAA")
        }));
        assert!(
            err.contains("certificate 0: not a DER X.509 certificate"),
            "{err}"
        );
        // Root first: the intermediate is not signed by itself.
        let err = authority_error(&with(&|ca| {
            let certs = ca["certChain"]["certificates"].as_array_mut().unwrap();
            certs.reverse();
        }));
        assert!(err.contains("not signed by"), "{err}");
        // A leaf is not a CA.
        let leaf = ca.issue(&LeafSpec::new(fulcio::OIDC_ISSUER, fulcio::WORKFLOW));
        let err = authority_error(&with(&|ca| {
            ca["certChain"]["certificates"] = json!([{ "rawBytes": STANDARD.encode(&leaf.der) }]);
        }));
        assert!(err.contains("not a CA certificate"), "{err}");
        // The intermediate of another CA is not signed by this root.
        let other = TestFulcio::new("other");
        let err = authority_error(&with(&|ca| {
            ca["certChain"]["certificates"][0]["rawBytes"] = json!(STANDARD.encode(&other.intermediate_der));
        }));
        assert!(
            err.contains("certificate 0: not signed by the next certificate"),
            "{err}"
        );
        let err = authority_error(&with(&|ca| ca["validFor"] = json!({})));
        assert!(err.contains("`validFor.start` is required"), "{err}");
        let err = authority_error(&with(&|ca| ca["validFor"]["start"] = json!("yesterday")));
        assert!(err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn files_that_cannot_be_read_or_parsed_are_named() {
        let missing = TrustedRoot::load(Path::new("/nonexistent/trusted_root.json")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/trusted_root.json"),
            "{missing}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trusted_root.json");
        std::fs::write(&file, "not json").unwrap();
        let err = TrustedRoot::load(&file).unwrap_err();
        assert!(matches!(err, TrustedRootError::NotJson(_)), "{err}");
    }
}
