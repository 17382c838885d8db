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

use crate::trust::Failure;

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

/// Who a `hashedrekord` entry says signed: a configured key (by key id) or a Fulcio
/// certificate (by its DER).
pub(in crate::trust) enum LoggedSigner<'a> {
    /// `sha256:<hex>` of the key's DER SPKI.
    Key(&'a str),
    /// The signing certificate.
    Certificate(&'a [u8]),
}

/// One log entry, read from whichever format carried it.
pub(in crate::trust) struct LogEntry {
    /// The canonicalized entry body.
    pub body: Vec<u8>,
    /// When the log integrated it (Unix seconds): the signing time a SET proves.
    pub integrated_time: i64,
    /// Hex log id.
    pub log_id: String,
    /// Index in the log.
    pub log_index: i64,
    /// The signed entry timestamp, if the entry carries one.
    pub set: Option<Vec<u8>>,
}

/// The entry is a `hashedrekord` of `hash_hex` (sha256), `signature` and `signer`, and a known
/// log signed it; `of` names what the entry should match in the failure ("bundle", "signature").
pub(in crate::trust) fn check_logged(
    logs: &TransparencyLogKeys,
    entry: &LogEntry,
    signer: &LoggedSigner<'_>,
    hash_hex: &str,
    signature: &[u8],
    of: &str,
) -> Result<(), Failure> {
    if !hashedrekord_matches(&entry.body, signer, hash_hex, signature) {
        return Err(Failure::new(
            "tlog_body",
            format!("transparency-log entry does not match the {of}"),
        ));
    }
    let set = entry
        .set
        .as_deref()
        .ok_or_else(|| Failure::new("tlog_set", "transparency-log entry has no signed entry timestamp"))?;
    let payload = set_payload(&entry.body, entry.integrated_time, &entry.log_id, entry.log_index);
    match logs.verify(&entry.log_id, &payload, set) {
        None => Err(Failure::new(
            "tlog_log_id",
            format!("transparency-log entry names unknown log `{}`", entry.log_id),
        )),
        Some(false) => Err(Failure::new(
            "tlog_set",
            "transparency-log entry's signed timestamp does not verify",
        )),
        Some(true) => Ok(()),
    }
}

/// The hashedrekord v0.0.1 body names this sha256, this signature and this signer.
fn hashedrekord_matches(body: &[u8], signer: &LoggedSigner<'_>, hash_hex: &str, signature: &[u8]) -> bool {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    let logged_pem = text("/spec/signature/publicKey/content")
        .and_then(decode_base64)
        .and_then(|pem| String::from_utf8(pem).ok());
    let signer_matches = logged_pem.is_some_and(|pem| match signer {
        LoggedSigner::Key(key_id) => pem_key_id(&pem).as_deref() == Some(*key_id),
        LoggedSigner::Certificate(der) => x509_cert::der::pem::decode_vec(pem.trim().as_bytes())
            .is_ok_and(|(label, logged)| label == "CERTIFICATE" && logged == *der),
    });
    let logged_signature = text("/spec/signature/content").and_then(decode_base64);
    text("/kind") == Some("hashedrekord")
        && text("/spec/data/hash/algorithm") == Some("sha256")
        && text("/spec/data/hash/value") == Some(hash_hex)
        && logged_signature.as_deref() == Some(signature)
        && signer_matches
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
pub(in crate::trust) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)).ok()
}

/// The Merkle path from this body's leaf leads to the proof's root hash. The checkpoint's own
/// signature is not checked: the SET already binds the entry to the log's key.
pub(super) fn check_inclusion_proof(proof: &Value, body: &[u8]) -> Result<(), &'static str> {
    let index = int_at(proof, "/logIndex").and_then(|i| u64::try_from(i).ok());
    let size = int_at(proof, "/treeSize").and_then(|i| u64::try_from(i).ok());
    let root = proof
        .get("rootHash")
        .and_then(Value::as_str)
        .and_then(decode_base64);
    let hashes: Option<Vec<Vec<u8>>> = proof
        .get("hashes")
        .and_then(Value::as_array)
        .map(|hs| hs.iter().map(|h| h.as_str().and_then(decode_base64)).collect())
        .unwrap_or(Some(Vec::new()));
    let (Some(index), Some(size), Some(root), Some(hashes)) = (index, size, root, hashes) else {
        return Err("transparency-log inclusion proof is malformed");
    };
    match root_from_proof(index, size, leaf_hash(body), &hashes) {
        Some(computed) if computed.as_slice() == root.as_slice() => Ok(()),
        _ => Err("transparency-log inclusion proof does not lead to its root hash"),
    }
}

/// Protobuf JSON writes int64 as a string; accept a number too.
pub(in crate::trust) fn int_at(value: &Value, pointer: &str) -> Option<i64> {
    match value.pointer(pointer)? {
        Value::String(s) => s.parse().ok(),
        other => other.as_i64(),
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::LineEnding;
    use serde_json::json;

    use super::*;

    #[test]
    fn set_payload_is_sorted_compact_json_with_the_body_in_base64() {
        let payload = set_payload(b"{}", 1_700_000_000, "abcd", 42);
        let expected = r#"{"body":"e30=","integratedTime":1700000000,"logID":"abcd","logIndex":42}"#;
        assert_eq!(String::from_utf8(payload).unwrap(), expected);
    }

    #[test]
    fn inclusion_proofs_follow_rfc_6962() {
        let leaves: Vec<[u8; 32]> = (0u8..3).map(|i| leaf_hash(&[i])).collect();
        // Tree of three: root = node(node(l0, l1), l2).
        let left = node_hash(&leaves[0], &leaves[1]);
        let root = node_hash(&left, &leaves[2]);
        let path = |hs: &[&[u8; 32]]| hs.iter().map(|h| h.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            root_from_proof(0, 3, leaves[0], &path(&[&leaves[1], &leaves[2]])),
            Some(root)
        );
        assert_eq!(
            root_from_proof(1, 3, leaves[1], &path(&[&leaves[0], &leaves[2]])),
            Some(root)
        );
        assert_eq!(root_from_proof(2, 3, leaves[2], &path(&[&left])), Some(root));
        assert_eq!(root_from_proof(0, 1, leaves[0], &[]), Some(leaves[0]));
        // Too short, too long, or an index outside the tree leads nowhere.
        assert_eq!(root_from_proof(0, 3, leaves[0], &path(&[&leaves[1]])), None);
        assert_eq!(root_from_proof(2, 3, leaves[2], &path(&[&left, &left])), None);
        assert_eq!(root_from_proof(3, 3, leaves[2], &path(&[&left])), None);
        let proof = json!({"logIndex": "2", "treeSize": "3", "rootHash": STANDARD.encode(root),
                           "hashes": [STANDARD.encode(left)]});
        assert_eq!(check_inclusion_proof(&proof, &[2]), Ok(()));
        assert!(check_inclusion_proof(&proof, &[1]).is_err());
        assert!(check_inclusion_proof(&json!({"logIndex": "x"}), &[2]).is_err());
    }

    #[test]
    fn log_ids_are_the_sha256_of_the_der_spki_and_other_key_types_are_skipped() {
        let key = SigningKey::from_slice(&[5; 32]).unwrap();
        let pem = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        let der = key.verifying_key().to_public_key_der().unwrap();
        let id = hex::encode(Sha256::digest(der.as_bytes()));
        let from_pem = TransparencyLogKeys::from_pems([("rekor.pub", pem.as_str())]).unwrap();
        assert_eq!(from_pem.log_ids().collect::<Vec<_>>(), [id.as_str()]);
        assert_eq!(pem_key_id(&pem), Some(format!("sha256:{id}")));
        let root = json!({"tlogs": [
            {"publicKey": {"rawBytes": STANDARD.encode(der.as_bytes()), "keyDetails": P256_KEY_DETAILS},
             "logId": {"keyId": STANDARD.encode(hex::decode(&id).unwrap())}},
            {"publicKey": {"rawBytes": "AAAA", "keyDetails": "PKIX_ED25519"}, "logId": {"keyId": "AAAA"}},
        ]});
        let from_root = TransparencyLogKeys::from_trusted_root_json(&root).unwrap();
        assert_eq!(from_root.log_ids().collect::<Vec<_>>(), [id.as_str()]);
        assert!(TransparencyLogKeys::from_pems([("junk.pub", "junk")]).is_err());
        let bad_key = json!({"tlogs": [{"publicKey": {"rawBytes": "AAAA"}, "logId": {"keyId": "AAAA"}}]});
        let err = TransparencyLogKeys::from_trusted_root_json(&bad_key).unwrap_err();
        assert!(matches!(err, TransparencyLogKeyError::NotP256(_)), "{err}");
        assert_eq!(from_root.verify("00", b"m", b"s"), None, "unknown log");
        assert_eq!(from_root.verify(&id, b"m", b"not der"), Some(false));
    }
}
