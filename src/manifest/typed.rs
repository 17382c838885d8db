//! The typed view of a valid manifest: the fields the gateway acts on, parsed into domain types.
//! The layers are also kept whole, as registered.

use serde::Deserialize;
use serde_json::Value;

use super::Fault;
use super::vocabulary::{self, VocabularyUse};
use crate::domain::{AppSlug, ArtifactKind, Digest, ProjectSlug, RepositoryPath, VersionNumber};

/// A valid manifest package.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The app layer.
    pub app: AppLayer,
    /// The version layer.
    pub version: VersionLayer,
    /// Every vocabulary value it uses, each to be checked against its catalog family.
    pub vocabulary: Vec<VocabularyUse>,
}

/// The app layer's identifying fields and the layer itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AppLayer {
    /// The app's slug.
    pub slug: AppSlug,
    /// The owning project, when the manifest names one.
    pub project: Option<ProjectSlug>,
    /// Human-readable name.
    pub display_name: String,
    /// The whole layer.
    pub document: Value,
}

/// The version layer's identifying fields, its artifact references, and the layer itself.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionLayer {
    /// The version.
    pub version: VersionNumber,
    /// Artifact references, in manifest order.
    pub artifacts: Vec<ArtifactRef>,
    /// The whole layer.
    pub document: Value,
}

/// A reference to a registered artifact, by digest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ArtifactRef {
    /// The manifest's name for it.
    pub name: String,
    /// `oci` or `blob`.
    pub artifact_kind: ArtifactKind,
    /// Where its bytes live: a `source_types` catalog id (checked against the catalog, so a
    /// contributed and approved source type needs no code change).
    pub source_type: String,
    /// Its `artifact_types` catalog id, when the manifest names one.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The canonical repository it is registered in.
    pub repository: RepositoryPath,
    /// Its digest.
    pub digest: Digest,
}

#[derive(Deserialize)]
struct RawApp {
    slug: AppSlug,
    project: Option<ProjectSlug>,
    display_name: String,
}

#[derive(Deserialize)]
struct RawVersion {
    version: VersionNumber,
    artifacts: Vec<ArtifactRef>,
}

fn member<T: for<'de> Deserialize<'de>>(document: &Value, pointer: &str) -> Result<T, Fault> {
    let value = document.pointer(pointer).cloned().unwrap_or(Value::Null);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            pointer.to_owned()
        } else {
            // serde's path is `artifacts[0].digest`; make it a JSON pointer under `pointer`.
            let rest = path.replace('[', ".").replace(']', "").replace('.', "/");
            format!("{pointer}/{rest}")
        };
        Fault::new(at, "format", e.into_inner().to_string())
    })
}

impl Manifest {
    /// Reads the typed fields of a document that passed the schema.
    pub(super) fn from_value(document: &Value) -> Result<Self, Vec<Fault>> {
        let app: Result<RawApp, Fault> = member(document, "/app");
        let version: Result<RawVersion, Fault> = member(document, "/version");
        match (app, version) {
            (Ok(app), Ok(version)) => Ok(Self {
                app: AppLayer {
                    slug: app.slug,
                    project: app.project,
                    display_name: app.display_name,
                    document: document.get("app").cloned().unwrap_or(Value::Null),
                },
                version: VersionLayer {
                    version: version.version,
                    artifacts: version.artifacts,
                    document: document.get("version").cloned().unwrap_or(Value::Null),
                },
                vocabulary: vocabulary::uses(document),
            }),
            (app, version) => Err([app.err(), version.err()].into_iter().flatten().collect()),
        }
    }
}
