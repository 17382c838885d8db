//! The public keys the gateway trusts for signatures (cosign `cosign.pub` format: PEM SPKI,
//! ECDSA P-256), loaded once at start-up and shared by every verifier.

use std::path::{Path, PathBuf};

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use sha2::Digest as _;

/// One trusted key with the names it is reported by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedKey {
    /// `sha256:<hex>` of the key's DER SPKI: stable across file renames.
    pub key_id: String,
    /// The file it came from, for humans.
    pub file_name: String,
    /// The key's DER SPKI, as the sigstore verifier takes it.
    pub spki_der: Vec<u8>,
    key: VerifyingKey,
}

/// Every configured public key.
#[derive(Debug, Clone, Default)]
pub struct TrustKeys {
    keys: Vec<NamedKey>,
}

/// Why the configured keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustKeyError {
    /// A key file could not be read.
    #[error("cannot read the public key file `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file does not hold one PEM `PUBLIC KEY` for ECDSA P-256.
    #[error("`{0}` is not a PEM public key for ECDSA P-256")]
    NotP256(String),
}

impl TrustKeys {
    /// Loads every file; the first bad file stops the load and is named in the error.
    pub fn load(files: &[PathBuf]) -> Result<Self, TrustKeyError> {
        let mut keys = Vec::with_capacity(files.len());
        for path in files {
            let pem = std::fs::read_to_string(path).map_err(|source| TrustKeyError::Read {
                path: path.display().to_string(),
                source,
            })?;
            keys.push(named_key(path, &pem)?);
        }
        Ok(Self { keys })
    }

    /// Keys parsed from PEM text already in memory, named by `name`.
    pub fn from_pems<'a>(pems: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, TrustKeyError> {
        let keys = pems
            .into_iter()
            .map(|(name, pem)| named_key(Path::new(name), pem))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Whether no key is configured (so nothing can verify).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The configured keys, in configuration order.
    pub fn keys(&self) -> &[NamedKey] {
        &self.keys
    }

    /// The first key under which `der_sig` (ASN.1 DER ECDSA) verifies over SHA-256 of `message`.
    pub fn verify_der(&self, message: &[u8], der_sig: &[u8]) -> Option<&NamedKey> {
        let signature = Signature::from_der(der_sig).ok()?;
        self.verify(message, &signature)
    }

    /// As [`Self::verify_der`] for a fixed-size `r || s` (64-byte) signature.
    pub fn verify_raw(&self, message: &[u8], raw_sig: &[u8]) -> Option<&NamedKey> {
        let signature = Signature::from_slice(raw_sig).ok()?;
        self.verify(message, &signature)
    }

    /// The first key under which `der_sig` verifies over an already computed 32-byte SHA-256
    /// digest: how a signature over blob bytes is checked without the blob (sigstore bundles).
    pub fn verify_prehash_der(&self, digest32: &[u8], der_sig: &[u8]) -> Option<&NamedKey> {
        // A P-256 prehash of another length would be truncated or padded, never what was meant.
        if digest32.len() != 32 {
            return None;
        }
        let signature = Signature::from_der(der_sig).ok()?;
        self.keys
            .iter()
            .find(|named| named.key.verify_prehash(digest32, &signature).is_ok())
    }

    fn verify(&self, message: &[u8], signature: &Signature) -> Option<&NamedKey> {
        self.keys
            .iter()
            .find(|named| named.key.verify(message, signature).is_ok())
    }
}

fn named_key(path: &Path, pem: &str) -> Result<NamedKey, TrustKeyError> {
    let not_p256 = || TrustKeyError::NotP256(path.display().to_string());
    let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| not_p256())?;
    // Re-encoded rather than hashed as read, so one key has one id however its file spells it.
    let der = key.to_public_key_der().map_err(|_| not_p256())?;
    Ok(NamedKey {
        key_id: format!("sha256:{}", hex::encode(sha2::Sha256::digest(der.as_bytes()))),
        file_name: path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        spki_der: der.as_bytes().to_vec(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    use super::*;

    fn pem_of(key: &SigningKey) -> String {
        key.verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
    }

    fn fixture(name: &str) -> PathBuf {
        crate::repo_path("").join("fixtures/cosign").join(name)
    }

    #[test]
    fn loads_cosign_pub_files_with_stable_ids_named_by_file() {
        let keys = TrustKeys::load(&[fixture("cosign.pub"), fixture("other.pub")]).unwrap();
        let [cosign, other] = keys.keys() else {
            panic!("two keys")
        };
        assert_eq!(cosign.file_name, "cosign.pub");
        assert_eq!(other.file_name, "other.pub");
        assert!(cosign.key_id.starts_with("sha256:") && cosign.key_id.len() == 7 + 64);
        assert_ne!(cosign.key_id, other.key_id);
        // The id is the hash of the DER SPKI in the file (what `openssl pkey -pubout -outform der` writes).
        let pem = std::fs::read_to_string(fixture("cosign.pub")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        assert_eq!(
            cosign.key_id,
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(der)))
        );
    }

    #[test]
    fn bad_files_are_named() {
        let missing = TrustKeys::load(&[fixture("missing.pub")]).unwrap_err();
        assert!(missing.to_string().contains("missing.pub"), "{missing}");
        // A private key is not a public key.
        let private = TrustKeys::load(&[fixture("cosign.key")]).unwrap_err();
        assert!(
            matches!(&private, TrustKeyError::NotP256(p) if p.ends_with("cosign.key")),
            "{private}"
        );
        assert!(TrustKeys::from_pems([("junk.pub", "not a key")]).is_err());
    }

    #[test]
    fn verify_names_the_key_that_verified_and_none_otherwise() {
        let a = SigningKey::from_slice(&[7; 32]).unwrap();
        let b = SigningKey::from_slice(&[9; 32]).unwrap();
        let (pem_a, pem_b) = (pem_of(&a), pem_of(&b));
        let keys = TrustKeys::from_pems([("a.pub", pem_a.as_str()), ("b.pub", pem_b.as_str())]).unwrap();
        let signature: Signature = b.sign(b"payload");
        let der = signature.to_der();
        assert_eq!(
            keys.verify_der(b"payload", der.as_bytes()).unwrap().file_name,
            "b.pub"
        );
        assert_eq!(
            keys.verify_raw(b"payload", &signature.to_bytes())
                .unwrap()
                .file_name,
            "b.pub"
        );
        assert!(keys.verify_der(b"payloaD", der.as_bytes()).is_none());
        assert!(
            keys.verify_der(b"payload", &signature.to_bytes()).is_none(),
            "raw is not DER"
        );
        assert!(keys.verify_der(b"payload", b"").is_none());
        // The same signature checks against the SHA-256 of the message, without the message.
        let prehash = sha2::Sha256::digest(b"payload");
        let by_digest = keys.verify_prehash_der(&prehash, der.as_bytes());
        assert_eq!(by_digest.unwrap().file_name, "b.pub");
        assert!(
            keys.verify_prehash_der(&sha2::Sha256::digest(b"other"), der.as_bytes())
                .is_none()
        );
        assert!(keys.verify_prehash_der(&prehash[..31], der.as_bytes()).is_none());
        let only_a = TrustKeys::from_pems([("a.pub", pem_a.as_str())]).unwrap();
        assert!(only_a.verify_der(b"payload", der.as_bytes()).is_none());
        assert!(
            TrustKeys::default()
                .verify_der(b"payload", der.as_bytes())
                .is_none()
        );
    }
}
