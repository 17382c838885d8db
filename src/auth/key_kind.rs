//! What kind a verification key is (RSA, EC on which curve, Ed25519) and whether it can verify
//! an algorithm: shared by static issuer keys (`issuer`) and JWKS keys (`jwks`).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// What a verification key is, precisely enough to match it to an algorithm.
pub(crate) enum KeyKind {
    /// An RSA key of any size (aws-lc refuses keys below 2048 bits at verification).
    Rsa,
    /// An EC key on the given curve, if recognised.
    Ec(Option<EllipticCurve>),
    /// An Ed25519 key.
    Ed,
    /// A shared secret or anything else: never usable here.
    Other,
}

impl KeyKind {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Rsa => "an RSA key".to_owned(),
            Self::Ec(Some(curve)) => format!("an EC {curve:?} key"),
            Self::Ec(None) => "an EC key on an unsupported curve".to_owned(),
            Self::Ed => "an Ed25519 key".to_owned(),
            Self::Other => "a key of an unsupported type".to_owned(),
        }
    }
}

/// Classifies a decoding key; EC curves are read back through jsonwebtoken's JWK export.
pub(crate) fn key_kind(key: &DecodingKey) -> KeyKind {
    match key.family() {
        AlgorithmFamily::Rsa => KeyKind::Rsa,
        AlgorithmFamily::Ed => KeyKind::Ed,
        AlgorithmFamily::Hmac => KeyKind::Other,
        AlgorithmFamily::Ec => match Jwk::from_decoding_key(key, None).map(|jwk| jwk.algorithm) {
            Ok(AlgorithmParameters::EllipticCurve(params)) => KeyKind::Ec(Some(params.curve)),
            _ => KeyKind::Ec(None),
        },
    }
}

/// Whether a key of this kind can verify `alg` (family and, for EC, curve).
pub(crate) fn key_fits(kind: &KeyKind, alg: Algorithm) -> bool {
    match (kind, alg) {
        (KeyKind::Ec(Some(EllipticCurve::P256)), Algorithm::ES256)
        | (KeyKind::Ec(Some(EllipticCurve::P384)), Algorithm::ES384)
        | (KeyKind::Ed, Algorithm::EdDSA) => true,
        (KeyKind::Rsa, alg) => alg.family() == AlgorithmFamily::Rsa,
        _ => false,
    }
}
