//! How a request names one artifact: by id or by digest, never both, never neither.

use super::AdmissionError;
use crate::domain::Digest;

/// The artifact a request names. The id is as the endpoint reads it: an `ArtifactId` where a
/// non-canonical spelling is an invalid field, a `Lookup<ArtifactId>` where it is an unknown artifact.
pub(super) enum ArtifactRef<I> {
    /// By `artifact_id`.
    Id(I),
    /// By `digest`.
    Digest(Digest),
}

impl<I> ArtifactRef<I> {
    /// Exactly one of `artifact_id` or `digest`; otherwise 422 naming `blame` (each endpoint
    /// keeps the field it has always named).
    pub(super) fn exactly_one(
        artifact_id: Option<I>,
        digest: Option<Digest>,
        blame: Blame,
    ) -> Result<Self, AdmissionError> {
        match (artifact_id, digest) {
            (Some(id), None) => Ok(Self::Id(id)),
            (None, Some(digest)) => Ok(Self::Digest(digest)),
            _ => Err(match blame {
                Blame::ArtifactId => {
                    AdmissionError::invalid("artifact_id", "give exactly one of `artifact_id` or `digest`")
                }
                Blame::Digest => {
                    AdmissionError::invalid("digest", "give exactly one of `digest` or `artifact_id`")
                }
            }),
        }
    }
}

/// The field a request naming both or neither is refused on.
pub(super) enum Blame {
    /// `artifact_id` (pull intents).
    ArtifactId,
    /// `digest` (admission review).
    Digest,
}
