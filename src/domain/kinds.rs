//! Artifact kinds, artifact types (catalog ids) and source types.

use std::str::FromStr;

use super::ContributedName;

/// Why a kind, type or source type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    /// Not `oci` or `blob`.
    #[error("unknown artifact kind `{0}` (expected `oci` or `blob`)")]
    UnknownKind(String),
    /// Neither a built-in source type nor a catalog id.
    #[error(
        "`{0}` is not a source type: expected a built-in one (`oci_registry`, `s3`, `gcs`, \
         `azure_blob`, `https`, `huggingface`, `artifact_store`) or a catalog id (lower-case \
         `a-z 0-9 _ -` segments joined by `.`, 2 to 128 characters)"
    )]
    UnknownSourceType(String),
    /// Not an artifact type id.
    #[error(
        "`{0}` is not an artifact type: expected a catalog id such as `oci.image` or \
         `blob.model_weights` (lower-case `a-z 0-9 _ -` segments joined by `.`, 2 to 128 characters)"
    )]
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

/// The built-in values of an open vocabulary, plus any catalog id a product contributed. Only
/// the built-ins carry behaviour in code; a contributed value is usable when the catalog says so.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident, $err:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = $text] $variant,)+
            /// A contributed catalog id (the catalog decides whether it is usable).
            Contributed(ContributedName),
        }

        impl $name {
            /// Every built-in value, in declaration order.
            pub const BUILTIN: &'static [$name] = &[$($name::$variant),+];

            /// The wire form.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Contributed(name) => name.as_str(),
                }
            }

            /// Whether the value is built in (its behaviour is in code), not contributed.
            pub fn is_builtin(&self) -> bool {
                !matches!(self, $name::Contributed(_))
            }
        }

        impl FromStr for $name {
            type Err = KindError;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                match raw {
                    $($text => Ok($name::$variant),)+
                    other => ContributedName::parse(other)
                        .map($name::Contributed)
                        .ok_or_else(|| KindError::$err(other.to_owned())),
                }
            }
        }

        super::string_newtype_serde!($name);
    };
}

open_enum!(
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

open_enum!(
    /// Catalog id of an artifact type; a built-in one's prefix names its kind.
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
    /// The kind of a built-in type; a contributed type's kind is its catalog entry's `kind`.
    pub fn builtin_kind(&self) -> Option<ArtifactKind> {
        match self {
            Self::Contributed(_) => None,
            t if t.as_str().starts_with("oci.") => Some(ArtifactKind::Oci),
            _ => Some(ArtifactKind::Blob),
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
    /// `contributed_kind` reads a contributed type's kind from the catalog; a type the catalog
    /// does not know passes here and is refused by the catalog check, which names the entry.
    pub fn resolve(
        kind: ArtifactKind,
        given: Option<ArtifactType>,
        contributed_kind: impl FnOnce(&ContributedName) -> Option<ArtifactKind>,
    ) -> Result<Self, KindError> {
        let Some(t) = given else {
            return Ok(Self::default_for(kind));
        };
        let its_kind = match &t {
            Self::Contributed(name) => contributed_kind(name),
            builtin => builtin.builtin_kind(),
        };
        match its_kind {
            Some(k) if k != kind => Err(KindError::TypeKindMismatch {
                artifact_type: t.as_str().to_owned(),
                kind: kind.as_str().to_owned(),
            }),
            _ => Ok(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_catalog(_: &ContributedName) -> Option<ArtifactKind> {
        None
    }

    #[test]
    fn parses_built_in_and_contributed_values_and_names_invalid_ones() {
        assert_eq!("oci".parse::<ArtifactKind>(), Ok(ArtifactKind::Oci));
        assert_eq!(
            "artifact_store".parse::<SourceType>(),
            Ok(SourceType::ArtifactStore)
        );
        let minio = "minio_eu".parse::<SourceType>().unwrap_or(SourceType::S3);
        assert!(!minio.is_builtin());
        assert_eq!(minio.as_str(), "minio_eu");
        assert_eq!(minio.to_string(), "minio_eu");
        for bad in ["FTP", "ftp://x", "", "a"] {
            let err = bad.parse::<SourceType>().unwrap_err();
            assert_eq!(err, KindError::UnknownSourceType(bad.into()));
            assert!(err.to_string().contains("catalog id"), "{err}");
        }
        assert!("Blob.X".parse::<ArtifactType>().is_err());
        assert!("OCI".parse::<ArtifactKind>().is_err());
        assert_eq!(SourceType::BUILTIN.len(), 7);
        assert!(SourceType::BUILTIN.iter().all(SourceType::is_builtin));
        // The wire form of every built-in value is unchanged by parsing through it.
        for t in ArtifactType::BUILTIN {
            assert_eq!(t.as_str().parse::<ArtifactType>().as_ref(), Ok(t));
        }
    }

    #[test]
    fn artifact_type_must_match_kind() {
        assert_eq!(
            ArtifactType::resolve(ArtifactKind::Oci, None, no_catalog),
            Ok(ArtifactType::OciImage)
        );
        assert!(
            ArtifactType::resolve(ArtifactKind::Oci, Some(ArtifactType::BlobTarball), no_catalog).is_err()
        );
        assert_eq!(
            ArtifactType::resolve(
                ArtifactKind::Blob,
                Some(ArtifactType::BlobModelWeights),
                no_catalog
            ),
            Ok(ArtifactType::BlobModelWeights)
        );
    }

    #[test]
    fn a_contributed_type_takes_its_kind_from_the_catalog() {
        let wasm: ArtifactType = "oci.wasm_module".parse().unwrap_or(ArtifactType::OciImage);
        assert_eq!(wasm.builtin_kind(), None);
        let catalog_says = |k| move |_: &ContributedName| Some(k);
        // The catalog's kind wins over the id's prefix.
        assert!(
            ArtifactType::resolve(
                ArtifactKind::Oci,
                Some(wasm.clone()),
                catalog_says(ArtifactKind::Blob)
            )
            .is_err()
        );
        assert_eq!(
            ArtifactType::resolve(
                ArtifactKind::Blob,
                Some(wasm.clone()),
                catalog_says(ArtifactKind::Blob)
            ),
            Ok(wasm.clone())
        );
        // Unknown to the catalog: passes here; the catalog check refuses it by name.
        assert_eq!(
            ArtifactType::resolve(ArtifactKind::Oci, Some(wasm.clone()), no_catalog),
            Ok(wasm)
        );
    }
}
