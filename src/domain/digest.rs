//! Content digests: the only identity an artifact is admitted, promoted or pulled by.

use std::str::FromStr;

/// A canonical content digest: `sha256:` + 64 lowercase hex or `sha512:` + 128 lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a string is not a canonical digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The algorithm prefix is missing or not one we accept.
    #[error("digest must start with `sha256:` or `sha512:`")]
    UnknownAlgorithm,
    /// The hex part has the wrong length for its algorithm.
    #[error("a `{algorithm}` digest needs {expected} hex characters, got {actual}")]
    WrongLength {
        /// The algorithm named by the prefix.
        algorithm: &'static str,
        /// The length that algorithm requires.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
    /// The hex part holds something other than lowercase hex.
    #[error("digest hex must be lowercase `0-9a-f` only")]
    NotLowercaseHex,
}

impl Digest {
    /// The digest as `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The algorithm part (`sha256` or `sha512`).
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (algorithm, expected, hex) = if let Some(hex) = raw.strip_prefix("sha256:") {
            ("sha256", 64, hex)
        } else if let Some(hex) = raw.strip_prefix("sha512:") {
            ("sha512", 128, hex)
        } else {
            return Err(DigestError::UnknownAlgorithm);
        };
        if hex.len() != expected {
            return Err(DigestError::WrongLength {
                algorithm,
                expected,
                actual: hex.len(),
            });
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(DigestError::NotLowercaseHex);
        }
        Ok(Self(raw.to_owned()))
    }
}

super::string_newtype_serde!(Digest);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_canonical_sha256_and_sha512() {
        let d: Digest = format!("sha256:{HEX64}").parse().unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex(), HEX64);
        assert!(format!("sha512:{HEX64}{HEX64}").parse::<Digest>().is_ok());
    }

    #[test]
    fn refuses_uppercase_short_long_and_unknown() {
        let upper = format!("sha256:{}", HEX64.to_uppercase());
        assert_eq!(upper.parse::<Digest>(), Err(DigestError::NotLowercaseHex));
        assert!(matches!(
            "sha256:abc".parse::<Digest>(),
            Err(DigestError::WrongLength { actual: 3, .. })
        ));
        assert!(format!("sha256:{HEX64}0").parse::<Digest>().is_err());
        assert_eq!(
            format!("md5:{HEX64}").parse::<Digest>(),
            Err(DigestError::UnknownAlgorithm)
        );
        assert_eq!("latest".parse::<Digest>(), Err(DigestError::UnknownAlgorithm));
        assert!(format!("sha512:{HEX64}").parse::<Digest>().is_err());
        assert!(format!("sha256:{}g", &HEX64[..63]).parse::<Digest>().is_err());
    }

    #[test]
    fn deserializes_through_the_parser() {
        let bad: Result<Digest, _> = serde_json::from_str("\"sha256:ABC\"");
        assert!(bad.is_err());
        let good: Digest = serde_json::from_str(&format!("\"sha256:{HEX64}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&good).unwrap(),
            format!("\"sha256:{HEX64}\"")
        );
    }
}
