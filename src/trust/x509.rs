//! The parts of X.509 (RFC 5280) that keyless verification needs: a certificate kept with the
//! exact bytes its issuer signed, ECDSA P-256/P-384 signature checks, and the extensions a
//! Fulcio certificate carries.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier as Oid, Utf8StringRef};
use x509_cert::der::{Decode as _, Header, Reader as _, SliceReader};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const CURVE_P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const CURVE_P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
/// id-kp-codeSigning: what Fulcio issues signing certificates for.
pub const CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer, legacy form: the extension value is the raw string.
pub const FULCIO_ISSUER_V1: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer: a DER UTF8String.
pub const FULCIO_ISSUER_V2: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.1.8");

const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
/// Critical extensions this verifier understands; any other critical one refuses the certificate
/// (RFC 5280 §4.2).
const UNDERSTOOD_CRITICAL: [Oid; 4] = [BASIC_CONSTRAINTS, KEY_USAGE, EXTENDED_KEY_USAGE, SUBJECT_ALT_NAME];

/// A parsed certificate with its DER and the exact to-be-signed bytes.
#[derive(Debug, Clone)]
pub struct Cert {
    der: Vec<u8>,
    tbs: Vec<u8>,
    cert: Certificate,
}

/// An ECDSA public key on a curve we verify.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// NIST P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Whether `der_sig` verifies over `message` hashed as the curve's sigstore algorithm does
    /// (SHA-256 for P-256, SHA-384 for P-384).
    pub fn verify_message(&self, message: &[u8], der_sig: &[u8]) -> bool {
        match self {
            Self::P256(_) => self.verify_prehash(&Sha256::digest(message), der_sig),
            Self::P384(_) => self.verify_prehash(&Sha384::digest(message), der_sig),
        }
    }

    /// Whether `der_sig` verifies over an already computed digest.
    pub fn verify_prehash(&self, prehash: &[u8], der_sig: &[u8]) -> bool {
        match self {
            Self::P256(key) => p256::ecdsa::DerSignature::from_bytes(der_sig)
                .is_ok_and(|sig| key.verify_prehash(prehash, &sig).is_ok()),
            Self::P384(key) => p384::ecdsa::DerSignature::from_bytes(der_sig)
                .is_ok_and(|sig| key.verify_prehash(prehash, &sig).is_ok()),
        }
    }
}

impl Cert {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        // The issuer signed the TBSCertificate exactly as encoded here, so it is sliced out
        // rather than re-encoded from the parsed form.
        let tbs = (|| {
            let mut reader = SliceReader::new(der)?;
            Header::decode(&mut reader)?;
            reader.tlv_bytes().map(<[u8]>::to_vec)
        })()
        .map_err(|e| format!("not a DER X.509 certificate: {e}"))?;
        Ok(Self {
            der: der.to_vec(),
            tbs,
            cert,
        })
    }

    /// Parses the one PEM `CERTIFICATE` in `pem`.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let (label, der) = x509_cert::der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| format!("not a PEM certificate: {e}"))?;
        if label != "CERTIFICATE" {
            return Err(format!("PEM label is `{label}`, not `CERTIFICATE`"));
        }
        Self::from_der(&der)
    }

    /// The certificate's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject's public key.
    pub fn public_key(&self) -> Result<PublicKey, String> {
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != EC_PUBLIC_KEY {
            return Err(format!(
                "public key algorithm `{}` is not ECDSA",
                spki.algorithm.oid
            ));
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<Oid>().ok())
            .ok_or("ECDSA public key names no curve")?;
        let point = spki.subject_public_key.raw_bytes();
        let bad_point = |_| "ECDSA public key is not a valid curve point".to_owned();
        match curve {
            CURVE_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::P256)
                .map_err(bad_point),
            CURVE_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::P384)
                .map_err(bad_point),
            other => Err(format!("ECDSA curve `{other}` is not P-256 or P-384")),
        }
    }

    /// Whether `issuer` signed this certificate: names chain and the signature verifies.
    pub fn check_issued_by(&self, issuer: &Cert) -> Result<(), String> {
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return Err("its issuer name is not the CA certificate's subject".to_owned());
        }
        let algorithm = &self.cert.signature_algorithm.oid;
        let prehash = match *algorithm {
            ECDSA_SHA256 => Sha256::digest(&self.tbs).to_vec(),
            ECDSA_SHA384 => Sha384::digest(&self.tbs).to_vec(),
            ECDSA_SHA512 => Sha512::digest(&self.tbs).to_vec(),
            _ => {
                return Err(format!(
                    "signature algorithm `{algorithm}` is not ECDSA with SHA-2"
                ));
            }
        };
        let signature = self
            .cert
            .signature
            .as_bytes()
            .ok_or("its signature is not a whole number of bytes")?;
        if issuer.public_key()?.verify_prehash(&prehash, signature) {
            Ok(())
        } else {
            Err("its signature does not verify with the CA certificate's key".to_owned())
        }
    }

    /// `notBefore` and `notAfter` as Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        let v = &self.cert.tbs_certificate.validity;
        let secs =
            |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        (secs(v.not_before), secs(v.not_after))
    }

    /// Whether `unix_seconds` is inside the validity window (both ends inclusive, RFC 5280).
    pub fn valid_at(&self, unix_seconds: i64) -> bool {
        let (from, until) = self.validity();
        (from..=until).contains(&unix_seconds)
    }

    /// The first critical extension this verifier does not understand.
    pub fn unknown_critical_extension(&self) -> Option<String> {
        self.extensions()
            .iter()
            .find(|e| e.critical && !UNDERSTOOD_CRITICAL.contains(&e.extn_id))
            .map(|e| e.extn_id.to_string())
    }

    /// Basic constraints, when present: `(is a CA, path length limit)`.
    pub fn basic_constraints(&self) -> Result<Option<(bool, Option<u8>)>, String> {
        self.decoded::<BasicConstraints>(BASIC_CONSTRAINTS, "basic constraints")
            .map(|bc| bc.map(|bc| (bc.ca, bc.path_len_constraint)))
    }

    /// Whether key usage, when present, allows signing certificates (`None` when absent).
    pub fn may_sign_certificates(&self) -> Result<Option<bool>, String> {
        self.decoded::<KeyUsage>(KEY_USAGE, "key usage")
            .map(|ku| ku.map(|ku| ku.key_cert_sign()))
    }

    /// Whether the extended key usage lists `purpose`.
    pub fn has_extended_key_usage(&self, purpose: Oid) -> Result<bool, String> {
        let eku = self.decoded::<ExtendedKeyUsage>(EXTENDED_KEY_USAGE, "extended key usage")?;
        Ok(eku.is_some_and(|eku| eku.0.contains(&purpose)))
    }

    /// The email and URI subject alternative names, in order.
    pub fn email_and_uri_names(&self) -> Result<Vec<String>, String> {
        let Some(san) = self.decoded::<SubjectAltName>(SUBJECT_ALT_NAME, "subject alternative name")? else {
            return Ok(Vec::new());
        };
        Ok(san
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::Rfc822Name(email) => Some(email.to_string()),
                GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                _ => None,
            })
            .collect())
    }

    /// The OIDC issuer Fulcio recorded: the UTF8String extension, else the legacy raw one.
    pub fn fulcio_issuer(&self) -> Result<Option<String>, String> {
        if let Some(value) = self.extension_value(FULCIO_ISSUER_V2)? {
            let text = Utf8StringRef::from_der(value)
                .map_err(|_| "the OIDC issuer extension is not a DER UTF8String".to_owned())?;
            return Ok(Some(text.as_str().to_owned()));
        }
        match self.extension_value(FULCIO_ISSUER_V1)? {
            Some(raw) => String::from_utf8(raw.to_vec())
                .map(Some)
                .map_err(|_| "the legacy OIDC issuer extension is not UTF-8".to_owned()),
            None => Ok(None),
        }
    }

    fn extensions(&self) -> &[x509_cert::ext::Extension] {
        self.cert.tbs_certificate.extensions.as_deref().unwrap_or(&[])
    }

    /// The value of the extension `oid`; a repeated extension is malformed (RFC 5280 §4.2).
    fn extension_value(&self, oid: Oid) -> Result<Option<&[u8]>, String> {
        let mut found = self.extensions().iter().filter(|e| e.extn_id == oid);
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("extension `{oid}` appears more than once"));
        }
        Ok(first.map(|e| e.extn_value.as_bytes()))
    }

    fn decoded<'a, T: x509_cert::der::Decode<'a>>(
        &'a self,
        oid: Oid,
        what: &str,
    ) -> Result<Option<T>, String> {
        self.extension_value(oid)?
            .map(|value| T::from_der(value).map_err(|_| format!("its {what} extension is malformed")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_not_a_certificate() {
        assert!(Cert::from_der(b"junk").unwrap_err().contains("not a DER X.509"));
        assert!(
            Cert::from_pem("junk")
                .unwrap_err()
                .contains("not a PEM certificate")
        );
        let key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(Cert::from_pem(key).unwrap_err().contains("`PUBLIC KEY`"));
    }
}
