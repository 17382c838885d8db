//! Keyed sigstore bundles for tests, written from the specs and kept apart from the verifier:
//! the bundle JSON of protobuf-specs `sigstore_bundle.proto` (v0.3), a Rekor `hashedrekord`
//! v0.0.1 entry, a signed entry timestamp (SET) by a log key made here, and an RFC 6962 Merkle
//! tree to prove the entry's inclusion. Like `cosign sign-blob --key`, the signature is
//! ECDSA P-256 over the blob bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::repo_path;

/// The v0.3 bundle media type.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The integrated time written into entries (2024-01-01T00:00:00Z).
pub const INTEGRATED_TIME: i64 = 1_704_067_200;
/// The entry's index in the log.
pub const LOG_INDEX: u64 = 4;
/// Entries in the fake log's tree, so the proof has inner and border hashes.
pub const TREE_SIZE: u64 = 7;

/// A keyed bundle and the log that signed its entry.
pub struct KeyedBundle {
    /// The bundle JSON.
    pub bundle: Value,
    /// `sha256:<hex>` of the blob.
    pub digest: String,
    /// The log key's PEM SPKI.
    pub log_public_pem: String,
    /// The log id: hex SHA-256 of the log key's DER SPKI.
    pub log_id_hex: String,
    /// A sigstore `trusted_root.json` naming the log.
    pub trusted_root: Value,
}

/// The fixture signing key (`fixtures/cosign/cosign.key`, PKCS#8 PEM).
pub fn signing_key() -> SigningKey {
    let pem = std::fs::read_to_string(repo_path("fixtures/cosign/cosign.key")).unwrap();
    SigningKey::from_pkcs8_pem(&pem).unwrap()
}

/// The PEM of the fixture signing key's public half (`fixtures/cosign/cosign.pub`).
pub fn signing_public_pem() -> String {
    std::fs::read_to_string(repo_path("fixtures/cosign/cosign.pub")).unwrap()
}

/// A fake Rekor key, derived from `label` so each test can have its own log.
pub fn log_key(label: &str) -> SigningKey {
    SigningKey::from_slice(&Sha256::digest(label.as_bytes())).unwrap()
}

/// Hex SHA-256 of the key's DER SPKI.
pub fn log_id_hex(key: &SigningKey) -> String {
    let der = key.verifying_key().to_public_key_der().unwrap();
    hex::encode(Sha256::digest(der.as_bytes()))
}

/// A bundle signed by the fixture key, logged (with SET and inclusion proof) by `log`.
pub fn keyed_bundle(blob: &[u8], log: &SigningKey) -> KeyedBundle {
    let signer = signing_key();
    let digest = Sha256::digest(blob);
    let signature: Signature = signer.sign(blob);
    let signature = signature.to_der().as_bytes().to_vec();
    let body = hashedrekord_body(&hex::encode(digest), &signature, &signing_public_pem());
    let log_id_hex = log_id_hex(log);
    let entry = tlog_entry(log, &body, INTEGRATED_TIME, LOG_INDEX);
    let bundle = json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": { "hint": "" },
            "tlogEntries": [entry],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(digest) },
            "signature": STANDARD.encode(&signature),
        },
    });
    let log_public_pem = log.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    KeyedBundle {
        bundle,
        digest: format!("sha256:{}", hex::encode(digest)),
        trusted_root: trusted_root(log),
        log_public_pem,
        log_id_hex,
    }
}

/// The Rekor `hashedrekord` v0.0.1 entry body, as the log canonicalizes it (RFC 8785: keys
/// sorted, no whitespace), for a keyed signature.
pub fn hashedrekord_body(hash_hex: &str, signature: &[u8], public_pem: &str) -> Vec<u8> {
    // Written out in sorted key order by hand rather than relying on a JSON map's ordering.
    format!(
        concat!(
            r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":"#,
            r#"{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","#,
            r#""publicKey":{{"content":"{}"}}}}}}}}"#
        ),
        hash_hex,
        STANDARD.encode(signature),
        STANDARD.encode(public_pem.as_bytes()),
    )
    .into_bytes()
}

/// The signed entry timestamp (DER ECDSA) `log` gives `body` at `integrated_time` and `log_index`.
pub fn signed_entry_timestamp(
    log: &SigningKey,
    body: &[u8],
    integrated_time: i64,
    log_index: u64,
) -> Vec<u8> {
    let log_id = log_id_hex(log);
    let body_b64 = STANDARD.encode(body);
    // What Rekor signs: {"body","integratedTime","logID","logIndex"}, canonical JSON.
    let set_payload = format!(
        r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{log_id}","logIndex":{log_index}}}"#
    );
    let set: Signature = log.sign(set_payload.as_bytes());
    set.to_der().as_bytes().to_vec()
}

/// A bundle `tlogEntries[]` item for `body`, with the SET signed by `log` and an inclusion proof.
pub fn tlog_entry(log: &SigningKey, body: &[u8], integrated_time: i64, log_index: u64) -> Value {
    let log_id = log_id_hex(log);
    let body_b64 = STANDARD.encode(body);
    let set = signed_entry_timestamp(log, body, integrated_time, log_index);
    let (root, path) = merkle_proof(body, log_index, TREE_SIZE);
    json!({
        "logIndex": log_index.to_string(),
        "logId": { "keyId": STANDARD.encode(hex::decode(&log_id).unwrap()) },
        "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
        "integratedTime": integrated_time.to_string(),
        "inclusionPromise": { "signedEntryTimestamp": STANDARD.encode(&set) },
        "inclusionProof": {
            "logIndex": log_index.to_string(),
            "rootHash": STANDARD.encode(root),
            "treeSize": TREE_SIZE.to_string(),
            "hashes": path.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "checkpoint": { "envelope": checkpoint(log, TREE_SIZE, &root) },
        },
        "canonicalizedBody": body_b64,
    })
}

/// The origin line of the fake log's checkpoints.
pub const CHECKPOINT_ORIGIN: &str = "rekor.test - 1";

/// The signed note (checkpoint) `log` gives a tree of `tree_size` with `root`: the body
/// `origin\nsize\nbase64(root)\n`, a blank line, and `— <name> base64(key hint || DER ECDSA)` where
/// the key hint is the first four bytes of the log id.
pub fn checkpoint(log: &SigningKey, tree_size: u64, root: &[u8; 32]) -> String {
    let body = format!("{CHECKPOINT_ORIGIN}\n{tree_size}\n{}\n", STANDARD.encode(root));
    let signature: Signature = log.sign(body.as_bytes());
    let mut hinted = hex::decode(log_id_hex(log)).unwrap()[..4].to_vec();
    hinted.extend_from_slice(signature.to_der().as_bytes());
    format!("{body}\n\u{2014} rekor.test {}\n", STANDARD.encode(hinted))
}

/// A sigstore `trusted_root.json` with one Rekor log.
pub fn trusted_root(log: &SigningKey) -> Value {
    let der = log.verifying_key().to_public_key_der().unwrap();
    json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [{
            "baseUrl": "https://rekor.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": STANDARD.encode(der.as_bytes()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": { "start": "2024-01-01T00:00:00Z" },
            },
            "logId": { "keyId": STANDARD.encode(hex::decode(log_id_hex(log)).unwrap()) },
        }],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    })
}

/// A tree of `size` leaves with `body` at `index` (the others made up), its root and the audit
/// path of `index`, by the recursive definitions of RFC 6962 §2.1 and §2.1.1.
pub fn merkle_proof(body: &[u8], index: u64, size: u64) -> ([u8; 32], Vec<[u8; 32]>) {
    let leaves: Vec<Vec<u8>> = (0..size)
        .map(|i| {
            if i == index {
                body.to_vec()
            } else {
                format!("entry {i}").into_bytes()
            }
        })
        .collect();
    let index = usize::try_from(index).unwrap();
    (mth(&leaves), path(index, &leaves))
}

fn mth(leaves: &[Vec<u8>]) -> [u8; 32] {
    if leaves.len() == 1 {
        return Sha256::new()
            .chain_update([0])
            .chain_update(&leaves[0])
            .finalize()
            .into();
    }
    let k = split(leaves.len());
    node(&mth(&leaves[..k]), &mth(&leaves[k..]))
}

fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<[u8; 32]> {
    if leaves.len() == 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([1])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}
