//! Artifact kinds, artifact types (catalog ids) and source types.

use std::str::FromStr;

/// Why a kind, type or source type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    /// Not `oci` or `blob`.
    #[error("unknown artifact kind `{0}` (expected `oci` or `blob`)")]
    UnknownKind(String),
    /// Not one of the known source types.
    #[error("unknown source type `{0}`")]
    UnknownSourceType(String),
    /// Not a catalog artifact type.
    #[error("unknown artifact type `{0}`")]
    UnknownArtifactType(String),
    /// The artifact type belongs to the other kind.
    #[error("artifact type `{artifact_type}` is not of kind `{kind}`")]
    TypeKindMismatch {
        /// The type given.
        artifact_type: String,
        /// The kind given.
        kind: String,
    },
}

macro_rules! closed_enum {
    ($(#[$doc:meta])* $name:ident, $err:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $(#[doc = $text] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire form.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = KindError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    other => Err(KindError::$err(other.to_owned())),
                }
            }
        }

        super::string_newtype_serde!($name);
    };
}

closed_enum!(
    /// `oci` images and other OCI artifacts, or non-OCI `blob`s.
    ArtifactKind, UnknownKind, { Oci => "oci", Blob => "blob" }
);

closed_enum!(
    /// Where an artifact's bytes live; explicit on every artifact and subject to policy.
    SourceType, UnknownSourceType, {
        OciRegistry => "oci_registry",
        S3 => "s3",
        Gcs => "gcs",
        AzureBlob => "azure_blob",
        Https => "https",
        Huggingface => "huggingface",
        ArtifactStore => "artifact_store",
    }
);

closed_enum!(
    /// Catalog id of an artifact type; its prefix names its kind.
    ArtifactType, UnknownArtifactType, {
        OciImage => "oci.image",
        OciHelmChart => "oci.helm_chart",
        OciArtifact => "oci.artifact",
        BlobModelWeights => "blob.model_weights",
        BlobCheckpoint => "blob.checkpoint",
        BlobTarball => "blob.tarball",
        BlobConfigBundle => "blob.config_bundle",
    }
);

impl ArtifactType {
    /// The kind this type belongs to.
    pub fn kind(&self) -> ArtifactKind {
        if self.as_str().starts_with("oci.") {
            ArtifactKind::Oci
        } else {
            ArtifactKind::Blob
        }
    }

    /// The default type for a kind when a registration names none.
    pub fn default_for(kind: ArtifactKind) -> Self {
        match kind {
            ArtifactKind::Oci => ArtifactType::OciImage,
            ArtifactKind::Blob => ArtifactType::BlobTarball,
        }
    }

    /// Resolves an optional type against a kind, refusing a type of the other kind.
    pub fn resolve(kind: ArtifactKind, given: Option<ArtifactType>) -> Result<Self, KindError> {
        match given {
            None => Ok(Self::default_for(kind)),
            Some(t) if t.kind() == kind => Ok(t),
            Some(t) => Err(KindError::TypeKindMismatch {
                artifact_type: t.as_str().to_owned(),
                kind: kind.as_str().to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_values_and_names_unknown_ones() {
        assert_eq!("oci".parse::<ArtifactKind>(), Ok(ArtifactKind::Oci));
        assert_eq!(
            "ftp".parse::<SourceType>(),
            Err(KindError::UnknownSourceType("ftp".into()))
        );
        assert_eq!(
            "artifact_store".parse::<SourceType>(),
            Ok(SourceType::ArtifactStore)
        );
        assert!("OCI".parse::<ArtifactKind>().is_err());
        assert_eq!(SourceType::ALL.len(), 7);
    }

    #[test]
    fn artifact_type_must_match_kind() {
        assert_eq!(
            ArtifactType::resolve(ArtifactKind::Oci, None),
            Ok(ArtifactType::OciImage)
        );
        assert!(ArtifactType::resolve(ArtifactKind::Oci, Some(ArtifactType::BlobTarball)).is_err());
        assert_eq!(
            ArtifactType::resolve(ArtifactKind::Blob, Some(ArtifactType::BlobModelWeights)),
            Ok(ArtifactType::BlobModelWeights)
        );
    }
}
