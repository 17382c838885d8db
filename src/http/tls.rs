//! TLS for the listener (`[tls]`): with a certificate and key the gateway speaks HTTPS only;
//! with `client_ca_file` it verifies the client certificates presented against those CAs.
//! rustls with the aws-lc-rs provider, the same stack the HTTP clients and sqlx use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;
use x509_cert::der::Decode;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Whether a client must present a certificate when `client_ca_file` is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// A client may connect without one; one it presents must verify (the default, so token
    /// callers and certificate callers can share one listener).
    #[default]
    Optional,
    /// Every connection must present a certificate that verifies (mutual TLS for everything).
    Required,
}

/// The `[tls]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of the leaf certificate.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates client certificates are verified against.
    pub client_ca_file: Option<PathBuf>,
    /// `optional` (default) or `required`; only with `client_ca_file`.
    pub client_auth: ClientAuth,
}

/// Why the `[tls]` section cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("config key `tls.{key}`: {reason}")]
pub struct TlsSetupError {
    /// The key under `[tls]`, e.g. `key_file`.
    pub key: &'static str,
    /// Why.
    pub reason: String,
}

fn refuse(key: &'static str, reason: impl Into<String>) -> TlsSetupError {
    TlsSetupError {
        key,
        reason: reason.into(),
    }
}

impl TlsConfig {
    /// Whether the listener speaks HTTPS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Checks the keys that must come together (no file is read here).
    pub fn check(&self) -> Result<(), TlsSetupError> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => return Err(refuse("key_file", "is required with `tls.cert_file`")),
            (None, Some(_)) => return Err(refuse("cert_file", "is required with `tls.key_file`")),
            _ => {}
        }
        if self.client_ca_file.is_some() && !self.enabled() {
            return Err(refuse(
                "client_ca_file",
                "needs `tls.cert_file` and `tls.key_file`",
            ));
        }
        if self.client_auth == ClientAuth::Required && self.client_ca_file.is_none() {
            return Err(refuse("client_auth", "`required` needs `tls.client_ca_file`"));
        }
        Ok(())
    }

    /// Reads the files and builds the acceptor; `None` when TLS is not configured. A missing or
    /// unreadable file, a file with no usable PEM, or a key that does not match the certificate
    /// is an error naming its key.
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>, TlsSetupError> {
        self.check()?;
        let (Some(cert_file), Some(key_file)) = (&self.cert_file, &self.key_file) else {
            return Ok(None);
        };
        let chain = read_certificates(cert_file, "cert_file")?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
            refuse(
                "key_file",
                format!("`{}` holds no usable PEM private key: {e}", key_file.display()),
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| refuse("cert_file", format!("no usable TLS protocol version: {e}")))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let mut roots = RootCertStore::empty();
                for ca in read_certificates(ca_file, "client_ca_file")? {
                    roots.add(ca).map_err(|e| {
                        refuse(
                            "client_ca_file",
                            format!(
                                "`{}` holds a certificate that is not a usable CA: {e}",
                                ca_file.display()
                            ),
                        )
                    })?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match self.client_auth {
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                    ClientAuth::Required => verifier,
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| refuse("client_ca_file", format!("cannot verify clients with it: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            refuse(
                "key_file",
                format!(
                    "`{}` is not the private key of the certificate in `tls.cert_file`: {e}",
                    key_file.display()
                ),
            )
        })?;
        // The server loop speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }
}

fn read_certificates(file: &Path, key: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let unusable = |e: &dyn std::fmt::Display| {
        refuse(
            key,
            format!("`{}` holds no usable PEM certificate: {e}", file.display()),
        )
    };
    let certificates = CertificateDer::pem_file_iter(file)
        .map_err(|e| unusable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(&e))?;
    if certificates.is_empty() {
        return Err(unusable(&"no `CERTIFICATE` block"));
    }
    Ok(certificates)
}

/// The verified client certificate of a connection, as handlers see it (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject's common names and DNS subject alternative names: what a route that
    /// authenticates by certificate matches against its configured names.
    pub names: Vec<String>,
}

impl ClientCertificate {
    /// The names of the leaf certificate rustls verified; an unparsable one has none (and so
    /// authenticates nothing).
    pub fn from_der(der: &[u8]) -> Self {
        let Ok(certificate) = x509_cert::Certificate::from_der(der) else {
            return Self { names: Vec::new() };
        };
        let tbs = &certificate.tbs_certificate;
        let mut names: Vec<String> = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .filter(|attribute| attribute.oid == x509_cert::der::oid::db::rfc4519::CN)
            .filter_map(|attribute| directory_string(&attribute.value))
            .collect();
        if let Ok(Some((_, san))) = tbs.get::<SubjectAltName>() {
            names.extend(san.0.iter().filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(dns.as_str().to_owned()),
                _ => None,
            }));
        }
        Self { names }
    }
}

/// A common name's text (UTF8String, PrintableString or IA5String).
fn directory_string(value: &x509_cert::der::Any) -> Option<String> {
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    value
        .decode_as::<Utf8StringRef<'_>>()
        .map(|s| s.as_str().to_owned())
        .or_else(|_| {
            value
                .decode_as::<PrintableStringRef<'_>>()
                .map(|s| s.as_str().to_owned())
        })
        .or_else(|_| {
            value
                .decode_as::<Ia5StringRef<'_>>()
                .map(|s| s.as_str().to_owned())
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_come_together_are_named() {
        let cert_only = TlsConfig {
            cert_file: Some("server.crt".into()),
            ..TlsConfig::default()
        };
        assert_eq!(cert_only.check().unwrap_err().key, "key_file");
        let ca_only = TlsConfig {
            client_ca_file: Some("ca.pem".into()),
            ..TlsConfig::default()
        };
        assert_eq!(ca_only.check().unwrap_err().key, "client_ca_file");
        assert!(TlsConfig::default().acceptor().unwrap().is_none());
    }

    #[test]
    fn a_certificate_names_its_common_name_and_dns_names() {
        let mut params = rcgen::CertificateParams::new(vec!["webhook.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let names = ClientCertificate::from_der(cert.der()).names;
        assert_eq!(names, ["kube-apiserver", "webhook.example"]);
        assert!(ClientCertificate::from_der(b"junk").names.is_empty());
    }
}
