//! A test Fulcio, kept apart from the verifier: rcgen (on aws-lc) makes a P-384 root and
//! intermediate CA and issues short-lived code-signing certificates that name an OIDC identity
//! the way Fulcio does — the issuer in extension 1.3.6.1.4.1.57264.1.8 (DER UTF8String) or the
//! legacy 1.3.6.1.4.1.57264.1.1 (raw bytes), the subject as the one email or URI SAN. Also what a
//! keyless signer publishes with them: the `certificateAuthorities` entry of a
//! `trusted_root.json` (with a test CT log whose SCT every leaf embeds, as Fulcio's do), cosign's
//! `dev.sigstore.cosign/bundle` annotation (a Rekor SET over a
//! `hashedrekord` entry), and a keyless sigstore bundle over a blob.
//!
//! Shared with the library's unit tests (`src/trust/test_support.rs`), so it names only its
//! sibling `sigstore_fixtures`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePrivateKey as _;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384, SanType,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::sigstore_fixtures as fx;

/// Fulcio's legacy OIDC issuer extension (raw string).
pub const ISSUER_V1: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 1];
/// Fulcio's OIDC issuer extension (DER UTF8String).
pub const ISSUER_V2: &[u64] = &[1, 3, 6, 1, 4, 1, 57264, 1, 8];
/// When test signatures are logged (2024-01-01T00:00:00Z, as in `sigstore_fixtures`).
pub const SIGNED_AT: i64 = fx::INTEGRATED_TIME;
/// The OIDC issuer test identities come from.
pub const OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// A workflow identity, as GitHub Actions certificates name it.
pub const WORKFLOW: &str = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main";

/// CA certificates are valid 2020–2035.
const CA_FROM: i64 = 1_577_836_800;
const CA_UNTIL: i64 = 2_051_222_400;

/// A Fulcio-style CA: a self-signed root and the intermediate that issues leaves.
pub struct TestFulcio {
    name: String,
    intermediate: Issuer<'static, KeyPair>,
    /// The root's DER.
    pub root_der: Vec<u8>,
    /// The intermediate's DER.
    pub intermediate_der: Vec<u8>,
}

/// What a leaf certificate says; [`LeafSpec::new`] is a good Fulcio certificate.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// The OIDC issuer written into the issuer extension.
    pub issuer: String,
    /// The email (with `@`) or URI (with `://`) SAN.
    pub subject: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// Whether the EKU lists code signing.
    pub code_signing: bool,
    /// Write the issuer in the legacy raw extension instead of the UTF8String one.
    pub legacy_issuer: bool,
    /// Seed of the leaf's P-256 key.
    pub key_seed: u8,
    /// Whether the leaf embeds an SCT from the test CT log ([`ct_log`]), as Fulcio's do.
    pub sct: bool,
}

impl LeafSpec {
    /// A ten-minute code-signing certificate around [`SIGNED_AT`] for `subject` from `issuer`.
    pub fn new(issuer: &str, subject: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            not_before: SIGNED_AT - 60,
            not_after: SIGNED_AT + 540,
            code_signing: true,
            legacy_issuer: false,
            key_seed: 7,
            sct: true,
        }
    }
}

/// An issued leaf and its private key.
pub struct Leaf {
    /// The certificate's DER.
    pub der: Vec<u8>,
    /// The certificate's PEM.
    pub pem: String,
    /// The key it certifies.
    pub key: SigningKey,
}

impl Leaf {
    /// DER ECDSA P-256 over SHA-256 of `message`, as cosign signs a payload.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }

    /// DER ECDSA over an already computed SHA-256 (a blob signed by its digest).
    pub fn sign_digest(&self, digest: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign_prehash(digest).unwrap();
        signature.to_der().as_bytes().to_vec()
    }
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn ca_params(name: &str, role: &str, path_len: Option<u8>) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "sigstore.test");
    dn.push(DnType::CommonName, format!("{name} {role}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(path_len.map_or(BasicConstraints::Unconstrained, BasicConstraints::Constrained));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = at(CA_FROM);
    params.not_after = at(CA_UNTIL);
    params
}

/// DER UTF8String of `text` (short or one-byte long form: issuers are short).
fn der_utf8(text: &str) -> Vec<u8> {
    let len = text.len();
    let mut out = vec![0x0c];
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        out.extend([0x81, u8::try_from(len).unwrap()]);
    }
    out.extend_from_slice(text.as_bytes());
    out
}

impl TestFulcio {
    /// A new root and intermediate named after `name`.
    pub fn new(name: &str) -> Self {
        let root_params = ca_params(name, "root", None);
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let root_der = root_params.self_signed(&root_key).unwrap().der().to_vec();
        let root = Issuer::new(root_params, root_key);
        let mut intermediate_params = ca_params(name, "intermediate", Some(0));
        intermediate_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let intermediate_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let intermediate_der = intermediate_params
            .signed_by(&intermediate_key, &root)
            .unwrap()
            .der()
            .to_vec();
        Self {
            name: name.to_owned(),
            intermediate: Issuer::new(intermediate_params, intermediate_key),
            root_der,
            intermediate_der,
        }
    }

    /// The CA's URI in the trusted root.
    pub fn uri(&self) -> String {
        format!("https://{}.fulcio.test", self.name)
    }

    /// Its `certificateAuthorities[]` entry: intermediate first, root last.
    pub fn authority(&self) -> Value {
        json!({
            "subject": { "organization": "sigstore.test", "commonName": self.name },
            "uri": self.uri(),
            "certChain": { "certificates": [
                { "rawBytes": STANDARD.encode(&self.intermediate_der) },
                { "rawBytes": STANDARD.encode(&self.root_der) },
            ] },
            "validFor": { "start": "2020-01-01T00:00:00Z" },
        })
    }

    /// Issues a leaf as `spec` says.
    pub fn issue(&self, spec: &LeafSpec) -> Leaf {
        let key = SigningKey::from_slice(&Sha256::digest([spec.key_seed, 0x4c])).unwrap();
        let mut params = CertificateParams::default();
        // Fulcio leaves have an empty subject; the identity is in the SAN.
        params.distinguished_name = DistinguishedName::new();
        params.not_before = at(spec.not_before);
        params.not_after = at(spec.not_after);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if spec.code_signing {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        }
        let subject = Ia5String::try_from(spec.subject.clone()).unwrap();
        params.subject_alt_names = vec![if spec.subject.contains("://") {
            SanType::URI(subject)
        } else {
            SanType::Rfc822Name(subject)
        }];
        params.custom_extensions = vec![if spec.legacy_issuer {
            CustomExtension::from_oid_content(ISSUER_V1, spec.issuer.as_bytes().to_vec())
        } else {
            CustomExtension::from_oid_content(ISSUER_V2, der_utf8(&spec.issuer))
        }];
        params.use_authority_key_identifier_extension = true;
        // Fixed, so the certificate with the SCT has the precertificate's TBS plus that extension.
        let mut serial = Sha256::digest(spec.subject.as_bytes())[..16].to_vec();
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        // rcgen takes the leaf key as PKCS#8; only its public half goes into the certificate.
        let pkcs8 = key.to_pkcs8_der().unwrap();
        let public = KeyPair::try_from(pkcs8.as_bytes()).unwrap();
        if spec.sct {
            let precert = params.signed_by(&public, &self.intermediate).unwrap();
            let sct_list = sct_list(
                &ct_log(),
                &precert_tbs(precert.der()),
                &self.intermediate_spki(),
                spec.not_before,
            );
            params.custom_extensions.push(CustomExtension::from_oid_content(
                SCT_LIST,
                der_octet_string(&sct_list),
            ));
        }
        let cert = params.signed_by(&public, &self.intermediate).unwrap();
        Leaf {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key,
        }
    }

    /// The intermediate's DER SubjectPublicKeyInfo (whose hash an SCT signs).
    fn intermediate_spki(&self) -> Vec<u8> {
        use x509_cert::der::{Decode as _, Encode as _};
        let cert = x509_cert::Certificate::from_der(&self.intermediate_der).unwrap();
        cert.tbs_certificate.subject_public_key_info.to_der().unwrap()
    }
}

/// A sigstore `trusted_root.json` with `log`, the CAs of `fulcios` and the test CT log.
pub fn trusted_root(log: &SigningKey, fulcios: &[&TestFulcio]) -> Value {
    let mut root = fx::trusted_root(log);
    root["certificateAuthorities"] = json!(fulcios.iter().map(|f| f.authority()).collect::<Vec<_>>());
    root["ctlogs"] = json!([ct_log_entry(&ct_log())]);
    root
}

/// Certificate Transparency's embedded SCT list extension (RFC 6962 §3.3).
pub const SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// The test CT log that signs the SCTs of issued leaves.
pub fn ct_log() -> SigningKey {
    fx::log_key("ctlog")
}

/// Its `ctlogs[]` entry in a trusted root.
pub fn ct_log_entry(log: &SigningKey) -> Value {
    use p256::pkcs8::EncodePublicKey as _;
    let der = log.verifying_key().to_public_key_der().unwrap();
    json!({
        "baseUrl": "https://ctfe.test",
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": STANDARD.encode(der.as_bytes()),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": { "start": "2020-01-01T00:00:00Z" },
        },
        "logId": { "keyId": STANDARD.encode(Sha256::digest(der.as_bytes())) },
    })
}

/// The TBSCertificate of a DER certificate, as a precertificate entry logs it.
fn precert_tbs(der: &[u8]) -> Vec<u8> {
    use x509_cert::der::{Decode as _, Encode as _};
    x509_cert::Certificate::from_der(der)
        .unwrap()
        .tbs_certificate
        .to_der()
        .unwrap()
}

/// A TLS-encoded `SignedCertificateTimestampList` with one v1 SCT by `log` over a precertificate
/// entry (RFC 6962 §3.2): version, type, timestamp (ms), entry type 1, issuer key hash, TBS.
fn sct_list(log: &SigningKey, tbs: &[u8], issuer_spki: &[u8], issued_at: i64) -> Vec<u8> {
    use p256::pkcs8::EncodePublicKey as _;
    let timestamp = u64::try_from(issued_at * 1000).unwrap().to_be_bytes();
    let mut signed = vec![0u8, 0u8];
    signed.extend(timestamp);
    signed.extend([0, 1]);
    signed.extend(Sha256::digest(issuer_spki));
    signed.extend(&u32::try_from(tbs.len()).unwrap().to_be_bytes()[1..]);
    signed.extend(tbs);
    signed.extend([0, 0]);
    let signature: Signature = log.sign(&signed);
    let signature = signature.to_der().as_bytes().to_vec();
    let log_id = Sha256::digest(log.verifying_key().to_public_key_der().unwrap().as_bytes());
    let mut sct = vec![0u8];
    sct.extend(log_id);
    sct.extend(timestamp);
    sct.extend([0, 0]);
    // SHA-256 (4) with ECDSA (3), then the signature with its length.
    sct.extend([4, 3]);
    sct.extend(u16::try_from(signature.len()).unwrap().to_be_bytes());
    sct.extend(signature);
    let mut list = Vec::new();
    list.extend(u16::try_from(sct.len() + 2).unwrap().to_be_bytes());
    list.extend(u16::try_from(sct.len()).unwrap().to_be_bytes());
    list.extend(sct);
    list
}

/// DER OCTET STRING of `bytes` (short or long form).
fn der_octet_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    let len = bytes.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else if len < 0x100 {
        out.extend([0x81, u8::try_from(len).unwrap()]);
    } else {
        out.extend([0x82]);
        out.extend(u16::try_from(len).unwrap().to_be_bytes());
    }
    out.extend_from_slice(bytes);
    out
}

/// The `hashedrekord` body Rekor logs for a keyless signature: the certificate PEM as its key.
pub fn hashedrekord_body(hash_hex: &str, signature: &[u8], leaf: &Leaf) -> Vec<u8> {
    fx::hashedrekord_body(hash_hex, signature, &leaf.pem)
}

/// Cosign's `dev.sigstore.cosign/bundle` annotation for `signature` over `payload`, logged by
/// `log` at `integrated_time`.
pub fn cosign_rekor_bundle(
    log: &SigningKey,
    leaf: &Leaf,
    payload: &[u8],
    signature: &[u8],
    integrated_time: i64,
) -> String {
    let body = hashedrekord_body(&hex::encode(Sha256::digest(payload)), signature, leaf);
    let set = fx::signed_entry_timestamp(log, &body, integrated_time, fx::LOG_INDEX);
    json!({
        "SignedEntryTimestamp": STANDARD.encode(set),
        "Payload": {
            "body": STANDARD.encode(&body),
            "integratedTime": integrated_time,
            "logIndex": fx::LOG_INDEX,
            "logID": fx::log_id_hex(log),
        },
    })
    .to_string()
}

/// A keyless v0.3 bundle over `blob` signed by `leaf`, logged by `log` at [`SIGNED_AT`] with a
/// SET and an inclusion proof. Answers the bundle and `sha256:<hex>` of the blob.
pub fn keyless_bundle(blob: &[u8], leaf: &Leaf, log: &SigningKey) -> (Value, String) {
    let digest = Sha256::digest(blob);
    let signature = leaf.sign_digest(&digest);
    let body = hashedrekord_body(&hex::encode(digest), &signature, leaf);
    let entry = fx::tlog_entry(log, &body, SIGNED_AT, fx::LOG_INDEX);
    let bundle = json!({
        "mediaType": fx::BUNDLE_V03,
        "verificationMaterial": {
            "certificate": { "rawBytes": STANDARD.encode(&leaf.der) },
            "tlogEntries": [entry],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(digest) },
            "signature": STANDARD.encode(&signature),
        },
    });
    (bundle, format!("sha256:{}", hex::encode(digest)))
}

/// The PEM of a DER certificate (for a chain annotation).
pub fn pem_of(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
