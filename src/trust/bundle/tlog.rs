//! Rekor (transparency log) checks for a bundle's `tlogEntries`: the signed entry timestamp
//! (SET) by the log's key, and the RFC 6962 Merkle inclusion proof when one is present.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The key type of a Rekor v1 log in a trusted root; other logs (e.g. Ed25519) are skipped.
const P256_KEY_DETAILS: &str = "PKIX_ECDSA_P256_SHA_256";

/// Rekor public keys by log id (hex SHA-256 of the key's DER SPKI, as bundles name them).
#[derive(Debug, Clone, Default)]
pub struct TransparencyLogKeys {
    logs: BTreeMap<String, VerifyingKey>,
}

/// Why transparency-log keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TransparencyLogKeyError {
    /// A key file could not be read.
    #[error("cannot read the transparency-log key file `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key is not an ECDSA P-256 public key.
    #[error("`{0}` is not a public key for ECDSA P-256")]
    NotP256(String),
    /// The trusted root does not have the shape sigstore gives it.
    #[error("malformed trusted root: {0}")]
    TrustedRoot(String),
}

impl TransparencyLogKeys {
    /// Loads PEM SPKI files (Rekor's `/api/v1/log/publicKey` format).
    pub fn load(files: &[PathBuf]) -> Result<Self, TransparencyLogKeyError> {
        let mut pems = Vec::with_capacity(files.len());
        for path in files {
            let pem = std::fs::read_to_string(path).map_err(|source| TransparencyLogKeyError::Read {
                path: path.display().to_string(),
                source,
            })?;
            pems.push((path.display().to_string(), pem));
        }
        Self::from_pems(pems.iter().map(|(n, p)| (n.as_str(), p.as_str())))
    }

    /// Keys from PEM text, each `(name, pem)`; the name only labels errors.
    pub fn from_pems<'a>(
        pems: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, TransparencyLogKeyError> {
        let mut logs = BTreeMap::new();
        for (name, pem) in pems {
            let key = VerifyingKey::from_public_key_pem(pem.trim())
                .map_err(|_| TransparencyLogKeyError::NotP256(name.to_owned()))?;
            let id = log_id(&key).ok_or_else(|| TransparencyLogKeyError::NotP256(name.to_owned()))?;
            logs.insert(id, key);
        }
        Ok(Self { logs })
    }

    /// The P-256 logs of a sigstore `trusted_root.json` (`tlogs[].publicKey.rawBytes`, keyed by
    /// the root's own `logId.keyId`, which is what bundles quote).
    pub fn from_trusted_root_json(root: &Value) -> Result<Self, TransparencyLogKeyError> {
        let bad = |what: String| TransparencyLogKeyError::TrustedRoot(what);
        let tlogs = root
            .get("tlogs")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`tlogs` must be an array".to_owned()))?;
        let mut logs = BTreeMap::new();
        for (i, tlog) in tlogs.iter().enumerate() {
            let details = tlog.pointer("/publicKey/keyDetails").and_then(Value::as_str);
            if details.is_some_and(|d| d != P256_KEY_DETAILS) {
                continue;
            }
            let field = |pointer: &str| {
                tlog.pointer(pointer)
                    .and_then(Value::as_str)
                    .and_then(decode_base64)
                    .ok_or_else(|| bad(format!("`tlogs[{i}]{pointer}` must be base64")))
            };
            let der = field("/publicKey/rawBytes")?;
            let key_id = field("/logId/keyId")?;
            let key = VerifyingKey::from_public_key_der(&der)
                .map_err(|_| TransparencyLogKeyError::NotP256(format!("tlogs[{i}]")))?;
            logs.insert(hex::encode(key_id), key);
        }
        Ok(Self { logs })
    }

    /// The hex ids of the configured logs.
    pub fn log_ids(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// Whether no log is configured.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    /// `None` when the log is unknown, else whether `der_sig` verifies over `message`.
    pub(super) fn verify(&self, log_id_hex: &str, message: &[u8], der_sig: &[u8]) -> Option<bool> {
        let key = self.logs.get(log_id_hex)?;
        let ok = Signature::from_der(der_sig).is_ok_and(|sig| key.verify(message, &sig).is_ok());
        Some(ok)
    }
}

/// Hex SHA-256 of the key's DER SPKI: Rekor's log id.
fn log_id(key: &VerifyingKey) -> Option<String> {
    let der = key.to_public_key_der().ok()?;
    Some(hex::encode(Sha256::digest(der.as_bytes())))
}

/// What Rekor signs as the SET. Fields are declared in sorted order and serialized compactly,
/// which is the RFC 8785 form for these values (ASCII strings, integers). A `serde_json::Value`
/// would not do: another dependency turns on `preserve_order`, so its maps keep insertion order.
#[derive(Serialize)]
struct SetPayload<'a> {
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

/// The canonical JSON a SET signs: `{"body","integratedTime","logID","logIndex"}`.
pub(super) fn set_payload(body: &[u8], integrated_time: i64, log_id_hex: &str, log_index: i64) -> Vec<u8> {
    let body = STANDARD.encode(body);
    let payload = SetPayload {
        body: &body,
        integrated_time,
        log_id: log_id_hex,
        log_index,
    };
    // INVARIANT: serializing a struct of strings and integers cannot fail.
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// RFC 6962 leaf hash: SHA-256(0x00 || entry).
pub(super) fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(entry)
        .finalize()
        .into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or `None` when the path has the
/// wrong length for the index and tree size.
pub(super) fn root_from_proof(
    index: u64,
    tree_size: u64,
    leaf: [u8; 32],
    path: &[Vec<u8>],
) -> Option<[u8; 32]> {
    if index >= tree_size {
        return None;
    }
    let (mut f, mut s, mut r) = (index, tree_size - 1, leaf);
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// The key id (`sha256:<hex>` of the DER SPKI, as [`super::super::NamedKey`] has it) of a PEM.
pub(super) fn pem_key_id(pem: &str) -> Option<String> {
    let key = VerifyingKey::from_public_key_pem(pem.trim()).ok()?;
    log_id(&key).map(|hex| format!("sha256:{hex}"))
}

/// Protobuf JSON writes bytes as standard base64, but readers must take URL-safe too.
pub(super) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)).ok()
}
