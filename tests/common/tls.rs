//! A test PKI made with rcgen: a CA, a server certificate for 127.0.0.1 and client certificates
//! it signs, written as PEM files the gateway's `[tls]` keys point at, and HTTPS clients.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// One CA with its server certificate, in a temporary directory.
pub struct Pki {
    /// Holds the PEM files.
    pub dir: tempfile::TempDir,
    /// The CA's certificate (PEM): the server's trust anchor and the `client_ca_file`.
    pub ca_pem: String,
    ca: CertifiedIssuer<'static, KeyPair>,
    /// The server certificate (PEM) file.
    pub server_cert: PathBuf,
    /// Its key (PEM) file.
    pub server_key: PathBuf,
    /// The CA file.
    pub ca_file: PathBuf,
}

impl Pki {
    /// A fresh CA named `name` and a server certificate for `127.0.0.1` and `localhost`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let ca_pem = ca.pem();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        let mut pki = Self {
            server_cert: dir.path().join("server.crt"),
            server_key: dir.path().join("server.key"),
            dir,
            ca_pem,
            ca,
            ca_file,
        };
        let (cert, key) = pki.leaf("gatehouse", vec!["127.0.0.1".to_owned(), "localhost".to_owned()]);
        std::fs::write(&pki.server_cert, cert).unwrap();
        std::fs::write(&pki.server_key, key).unwrap();
        pki
    }

    /// A certificate (PEM) and key (PEM) with common name `cn` and these DNS/IP names.
    pub fn leaf(&mut self, cn: &str, names: Vec<String>) -> (String, String) {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The `[tls]` section serving the server certificate, optionally verifying clients.
    pub fn tls_config(&self, verify_clients: bool) -> gatehouse::http::TlsConfig {
        gatehouse::http::TlsConfig {
            cert_file: Some(self.server_cert.clone()),
            key_file: Some(self.server_key.clone()),
            client_ca_file: verify_clients.then(|| self.ca_file.clone()),
            ..Default::default()
        }
    }

    /// An HTTPS client trusting only this CA, presenting `identity` (a client certificate
    /// issued by `leaf`) when given.
    pub fn client(&self, identity: Option<(&str, &str)>) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap();
        let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
        if let Some((cert, key)) = identity {
            let pem = format!("{cert}\n{key}");
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }
}

/// The same gateway reached over HTTPS: the base URL with `https://`, and the client given.
pub fn over_https(mut app: super::TestApp, client: reqwest::Client) -> super::TestApp {
    app.base = app.base.replacen("http://", "https://", 1);
    app.http = client;
    app
}
