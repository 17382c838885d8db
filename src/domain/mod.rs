//! Pure domain types: parsed newtypes and the lifecycle and trust state machines. No I/O.

mod app;
mod artifact;
mod catalog_name;
mod channel;
mod digest;
mod ids;
mod intent;
mod kinds;
mod lifecycle;
mod principal;
mod provenance_trust;
mod release;
mod slugs;
mod source_location;
mod source_repository;
mod tag;
mod text;
mod trust;
mod trust_facts;
mod verification;
mod visibility;

pub use app::{
    App, AppError, AppFacts, AppVersion, AppVersionFacts, AppVersionStatus, Entitlement, LinkedArtifact,
    VersionNumber,
};
pub use artifact::{Actor, ActorType, Artifact, ArtifactId, Evidence, EvidenceResult, Promotion, Source};
pub use catalog_name::{ContributedName, is_catalog_id};
pub use channel::{Channel, ChannelOrder, ChannelOrderError};
pub use digest::{Digest, DigestError};
pub use ids::parse_canonical_uuid;
pub use intent::{
    AccessGrant, EventStatus, IntentKind, IssuedToken, PublishIntent, PullIntent, RegistryAction,
    RegistryEvent, UnregisteredPush,
};
pub use kinds::{ArtifactKind, ArtifactType, KindError, SourceType};
pub use lifecycle::{LifecycleError, LifecycleMove, LifecycleState};
pub use principal::{CiClaims, Principal, Role};
pub use provenance_trust::{ProjectProvenance, ProvenanceTrust, ProvenanceTrustError};
pub use release::{
    Release, ReleaseArtifact, ReleaseFieldError, ReleaseSummary, check_name, check_platform_label,
    check_version,
};
pub use slugs::{AppSlug, ProjectSlug, RepositoryPath, SlugError, TenantSlug};
pub use source_location::{MAX_LOCATION_LEN, SourceRefusal, check_source};
pub use source_repository::{MAX_SOURCE_URI_LEN, SourceUri, normalise_source_uri};
pub use tag::{Tag, TagError};
pub use text::{
    is_refused_control, is_single_line, is_storable_text, json_may_hold_control, refused_text_path,
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
