//! The trust material `gatehouse verify` has for one digest — an image's OCI layout or registry
//! repository, or an envelope or bundle file — handed to the server's `trust::Verifier` the way
//! admission hands it an artifact's (`src/admission/trust_material.rs`).

use std::sync::Mutex;

use serde_json::Value;

use crate::domain::{ArtifactKind, Digest, Evidence, SourceType};
use crate::trust::cosign::read_signatures;
use crate::trust::cosign_attestations::{AttestationLayer, read_attestations};
use crate::trust::evidence::{RegistryMaterial, RegistryReader};
use crate::trust::oci_layout::OciLayout;
use crate::trust::referrers::{Lookup, Referrers};
use crate::trust::{CosignError, Material, SignatureLayer, Verifier};

/// Where an image's cosign tags and referrers are read from on the command line.
pub(super) enum Source<'a> {
    /// An OCI image layout on disk (no referrers API: only cosign's tags).
    Layout(&'a OciLayout),
    /// A registry repository, read as the gateway reads it.
    Registry(RegistryReader<'a>),
    /// Nothing to read (an envelope or bundle file).
    Nothing,
}

/// The trust material the command line has for one digest, handed to [`Verifier`] as the
/// server hands it an artifact's. A read that fails is kept so the error names its cause.
pub(super) struct Offline<'a> {
    subject: &'a Digest,
    source: Source<'a>,
    attachments: Vec<Value>,
    failure: Mutex<Option<String>>,
}

impl<'a> Offline<'a> {
    pub(super) fn new(subject: &'a Digest, source: Source<'a>, attachments: Vec<Value>) -> Self {
        Self {
            subject,
            source,
            attachments,
            failure: Mutex::new(None),
        }
    }

    /// The evidence the server's verifier finds in this material: a source that cannot be read
    /// is an error naming what failed, never a failed check.
    pub(super) async fn verify(
        &self,
        verifier: &Verifier,
        kind: ArtifactKind,
        artifact_type: Option<&str>,
        image: &str,
    ) -> anyhow::Result<Vec<Evidence>> {
        match verifier
            .verify_offline(self.subject, kind, artifact_type, image, self)
            .await
        {
            Ok(evidence) => Ok(evidence),
            Err(error) => match self.failure.lock().ok().and_then(|mut f| f.take()) {
                Some(cause) => Err(anyhow::anyhow!(cause)),
                None => Err(error),
            },
        }
    }

    /// Keeps the first failed read's cause under `what`.
    fn noted<T>(&self, what: &str, read: Result<T, CosignError>) -> Result<T, CosignError> {
        read.inspect_err(|e| {
            if let Ok(mut failure) = self.failure.lock()
                && failure.is_none()
            {
                *failure = Some(format!("{what}: {e}"));
            }
        })
    }
}

#[async_trait::async_trait]
impl Material for Offline<'_> {
    type Error = anyhow::Error;

    async fn registry(&self) -> Result<Option<Box<dyn RegistryMaterial + '_>>, Self::Error> {
        Ok(match self.source {
            Source::Nothing => None,
            Source::Layout(_) | Source::Registry(_) => Some(Box::new(OfflineReads(self))),
        })
    }

    async fn source_protocol(&self, _source_type: &SourceType) -> Option<SourceType> {
        None
    }

    async fn attachments(&self) -> Result<Vec<Value>, Self::Error> {
        Ok(self.attachments.clone())
    }
}

/// The registry reads of an [`Offline`] image.
struct OfflineReads<'o, 'a>(&'o Offline<'a>);

#[async_trait::async_trait]
impl RegistryMaterial for OfflineReads<'_, '_> {
    async fn signatures(&self) -> Result<Vec<SignatureLayer>, CosignError> {
        let read = match &self.0.source {
            Source::Layout(layout) => read_signatures(*layout, self.0.subject).await,
            Source::Registry(reader) => reader.signatures().await,
            Source::Nothing => Ok(Vec::new()),
        };
        self.0.noted("cannot read the signature tag", read)
    }

    async fn referrer_bundles(&self) -> Result<Referrers, CosignError> {
        let read = match &self.0.source {
            Source::Registry(reader) => reader.referrer_bundles().await,
            // A layout has no referrers API: only cosign's tags are read, as from a registry
            // without one.
            Source::Layout(_) | Source::Nothing => Ok(Referrers {
                lookup: Lookup::Unsupported,
                bundles: Vec::new(),
                other_subject: 0,
            }),
        };
        let what = format!("cannot read the referrers of `{}`", self.0.subject);
        self.0.noted(&what, read)
    }

    async fn attestations(&self) -> Result<Vec<AttestationLayer>, CosignError> {
        let read = match &self.0.source {
            Source::Layout(layout) => read_attestations(*layout, self.0.subject).await,
            Source::Registry(reader) => reader.attestations().await,
            Source::Nothing => Ok(Vec::new()),
        };
        self.0.noted("cannot read the attestation tag", read)
    }
}
