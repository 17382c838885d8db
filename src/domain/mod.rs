//! Pure domain types: parsed newtypes and the lifecycle and trust state machines. No I/O.

mod app;
mod artifact;
mod catalog_name;
mod channel;
mod digest;
mod filters;
mod ids;
mod intent;
mod kinds;
mod lifecycle;
mod policy_file;
mod principal;
mod provenance_trust;
mod registry_repository;
mod release;
mod review;
mod slugs;
mod source_location;
mod source_repository;
mod source_text;
mod tag;
mod text;
pub(crate) mod time_text;
mod trust;
mod trust_facts;
mod verification;
mod visibility;

pub use app::{
    App, AppError, AppFacts, AppVersion, AppVersionFacts, AppVersionStatus, Entitlement, LinkedArtifact,
    VersionNumber,
};
pub use artifact::{Actor, ActorType, Artifact, ArtifactId, Evidence, EvidenceResult, Promotion, Source};
pub use catalog_name::{CatalogIdError, ContributedName, is_catalog_id};
pub use channel::{Channel, ChannelOrder, ChannelOrderError};
pub use digest::{Digest, DigestError};
pub use filters::{Cursor, CursorError, Effect, EffectError, Timestamp, TimestampError};
pub use ids::{CanonicalUuid, IdError, Lookup, parse_canonical_uuid};
pub use intent::{
    AccessGrant, EventStatus, IntentKind, IssuedToken, PublishIntent, PullIntent, RegistryAction,
    RegistryEvent, UnregisteredPush,
};
pub use kinds::{ArtifactKind, ArtifactType, KindError, SourceType};
pub use lifecycle::{LifecycleError, LifecycleMove, LifecycleState};
pub use policy_file::{PolicyFileName, PolicyFileNameError, PolicyText, policy_file_set, policy_files};
pub use principal::{CiClaims, Principal, Role};
pub use provenance_trust::{ProjectProvenance, ProvenanceTrust, ProvenanceTrustError};
pub use registry_repository::RegistryRepository;
pub use release::{
    PlatformLabel, Release, ReleaseArtifact, ReleaseFieldError, ReleaseFileName, ReleaseSummary,
    ReleaseVersion, check_name, check_platform_label, check_version,
};
pub use review::{ReviewAction, ReviewActionError};
pub use slugs::{AppSlug, EnvironmentSlug, ProjectSlug, RepositoryPath, SlugError, TenantSlug};
pub use source_location::{MAX_LOCATION_LEN, SourceRefusal, check_source};
pub use source_repository::{MAX_SOURCE_URI_LEN, SourceUri, normalise_source_uri};
pub use source_text::{
    SourceLocation, SourceLocationError, SourceRevision, SourceRevisionError, check_location,
};
pub use tag::{Tag, TagError};
pub use text::{
    ContentEncoding, Label, LabelError, MAX_LABEL_LEN, MAX_REASON_LEN, MediaTypeText, OneLine, OneLineError,
    Reason, ReasonError, is_refused_control, is_single_line, is_storable_text, json_may_hold_control,
    refused_text_path,
};
pub use trust::{TrustError, TrustMove, TrustState};
pub use trust_facts::{Provenance, SignerIdentity, TrustFacts};
pub use verification::VerificationJob;
pub use visibility::{RepositoryRoots, Scope, Visibility, VisibilityError};

/// Deserializes a string through `FromStr` inside the visitor, so the deserializer that asked
/// (a JSON body, a path, a query) names the failing field with the type's own message.
pub struct FromStrVisitor<T>(std::marker::PhantomData<T>);

impl<T> Default for FromStrVisitor<T> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T> serde::de::Visitor<'_> for FromStrVisitor<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<T, E> {
        raw.parse().map_err(E::custom)
    }
}

/// Reads an optional request field through `FromStr` (`#[serde(default, deserialize_with =
/// "crate::domain::optional_from_str")]`), for a type whose own `Deserialize` is not the
/// request's reading (an [`ArtifactId`] in a stored row): the failing field is named with the
/// type's message, as through [`FromStrVisitor`].
pub fn optional_from_str<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    struct Parsed<T>(T);
    impl<'de, T> serde::Deserialize<'de> for Parsed<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(FromStrVisitor::<T>::default()).map(Parsed)
        }
    }
    <Option<Parsed<T>> as serde::Deserialize>::deserialize(d).map(|parsed| parsed.map(|p| p.0))
}

/// `as_str` and `into_string` for a checked text newtype `struct T(String)`: the text is only
/// read, never built, through them.
macro_rules! string_newtype_text {
    ($ty:ty) => {
        impl $ty {
            /// The text as checked.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text as checked, owned (where it is kept as text).
            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}
pub(crate) use string_newtype_text;

/// Implements `Serialize` as the string form and `Deserialize` through `FromStr`, so a value of
/// the type can never be built from unchecked input.
macro_rules! string_newtype_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::domain::FromStrVisitor::<$ty>::default())
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        $crate::domain::string_schema!($ty);
    };
}
pub(crate) use string_newtype_serde;

/// The OpenAPI schema of a type that serializes as a string (`/openapi.json`).
macro_rules! string_schema {
    ($ty:ty) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}
pub(crate) use string_schema;
