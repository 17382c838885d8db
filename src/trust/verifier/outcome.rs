//! What the verifier answers: the artifact it was given, and who signed and what the log showed
//! (or the check that failed), written into evidence `details` by the evidence contract.

use serde_json::{Value, json};
use sigstore_verify::types::Sha256Hash;

use crate::trust::Failure;
use crate::trust::identity::Identity;

/// What a signature is over: the signed bytes (cosign payloads), or the artifact's sha256
/// (blobs, images, models) when only the digest is known.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The exact bytes that were signed.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256.
    Sha256(Sha256Hash),
}

impl<'a> From<Artifact<'a>> for sigstore_verify::types::Artifact<'a> {
    fn from(artifact: Artifact<'a>) -> Self {
        match artifact {
            Artifact::Bytes(bytes) => bytes.into(),
            Artifact::Sha256(hash) => hash.into(),
        }
    }
}

impl Artifact<'_> {
    /// The artifact's sha256.
    pub(super) fn sha256(&self) -> Sha256Hash {
        match self {
            Self::Bytes(bytes) => sigstore_verify::crypto::sha256(bytes),
            Self::Sha256(hash) => *hash,
        }
    }
}

/// Who signed a bundle that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A configured managed key.
    Key {
        /// `sha256:<hex>` of its DER SPKI.
        key_id: String,
        /// The file it came from.
        file_name: String,
    },
    /// A Fulcio certificate whose identity is allowed.
    Identity(Identity),
}

/// Whether the transparency log was checked, and the entries that were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// Every entry verified (inclusion proof and checkpoint, SET when present).
    Checked(Vec<Value>),
    /// `trust.require_tlog` is off and the signature is keyed: the log was not consulted.
    NotChecked,
}

/// A bundle that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its signer.
    pub signer: Signer,
    /// What the log showed.
    pub logged: Logged,
}

impl Verified {
    /// Writes the signer and log fields of the evidence contract into `details`; answers the
    /// signer and log in words for the reason.
    pub fn describe(&self, details: &mut Value) -> String {
        let by = match &self.signer {
            Signer::Key { key_id, file_name } => {
                details["key_id"] = json!(key_id);
                details["key_file"] = json!(file_name);
                format!("key `{key_id}` ({file_name})")
            }
            Signer::Identity(identity) => {
                details["identity"] = json!(identity);
                identity.to_string()
            }
        };
        let logged = match &self.logged {
            Logged::Checked(entries) => {
                details["tlog"] = json!("verified");
                details["tlog_entries"] = json!(entries);
                let at: Vec<String> = entries
                    .iter()
                    .map(|e| {
                        format!(
                            "`{}` at index {}",
                            e["log_id"].as_str().unwrap_or(""),
                            e["log_index"]
                        )
                    })
                    .collect();
                format!("logged in {}", at.join(", "))
            }
            Logged::NotChecked => {
                details["tlog"] = json!("not_checked");
                "transparency log not checked (`trust.require_tlog` is off)".to_owned()
            }
        };
        format!("{by}, {logged}")
    }
}

/// A bundle that did not verify: the failed check, and the identity its certificate claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The check and why.
    pub failure: Failure,
    /// The identity a keyless bundle's certificate names, shown even when a check failed.
    pub identity: Option<Identity>,
}

impl From<Failure> for Rejected {
    fn from(failure: Failure) -> Self {
        Self {
            failure,
            identity: None,
        }
    }
}

impl Rejected {
    /// Writes the failed check (and claimed identity) into `details`.
    pub fn describe(&self, details: &mut Value) {
        details["check"] = json!(self.failure.check);
        if let Some(identity) = &self.identity {
            details["identity"] = json!(identity);
        }
    }
}
