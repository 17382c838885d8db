//! The policy test data format: domain-level cases, and how each becomes domain values so it
//! goes through the same entity builder as a served request.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::request::RequestContext;
use crate::domain::{
    Actor, ActorType, AppFacts, AppSlug, AppVersionFacts, AppVersionStatus, Artifact, ArtifactId,
    ArtifactKind, ArtifactType, Channel, CiClaims, Digest, LifecycleState, Principal, ProjectSlug,
    Provenance, ProvenanceTrust, RepositoryPath, RepositoryRoots, Role, Scope, SignerIdentity, Source,
    SourceType, TenantSlug, TrustFacts, TrustState, VersionNumber, Visibility,
};

/// A test file holds one case or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum CaseFile {
    Many(Vec<TestCase>),
    One(Box<TestCase>),
}

/// One case: who, what, on what, in which context, and the expected answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestCase {
    pub(crate) name: String,
    pub(crate) principal: CasePrincipal,
    pub(crate) action: String,
    pub(crate) resource: CaseResource,
    #[serde(default)]
    pub(crate) context: RequestContext,
    /// The `[trust.provenance]` configuration the case is decided under (none by default), so a
    /// case never depends on the configuration of whoever runs it.
    #[serde(default)]
    pub(crate) provenance_config: ProvenanceTrust,
    pub(crate) expect: Expectation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CasePrincipal {
    #[serde(rename = "type")]
    pub(crate) actor_type: ActorType,
    pub(crate) id: String,
    #[serde(default = "default_issuer")]
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) projects: BTreeMap<ProjectSlug, Vec<String>>,
    #[serde(default)]
    pub(crate) platform_roles: BTreeSet<String>,
    #[serde(default)]
    pub(crate) ci: BTreeMap<String, String>,
}

fn default_issuer() -> String {
    "https://issuer.test".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
/// `"platform"`, `{"project": slug}`, `{"repository": {project, path}}`, `{"artifact": {…}}`,
/// `{"app": {…}}` or `{"app_version": {app, version, status, …}}`.
pub(crate) enum CaseResource {
    Platform,
    Project(ProjectSlug),
    Repository {
        project: ProjectSlug,
        path: RepositoryPath,
        #[serde(default)]
        visibility: Visibility,
        #[serde(default)]
        tenant: Option<TenantSlug>,
    },
    Artifact(Box<CaseArtifact>),
    CatalogEntry(CaseCatalogEntry),
    App(CaseApp),
    AppVersion(Box<CaseAppVersion>),
}

/// A catalog entry as a test case names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseCatalogEntry {
    pub(crate) id: String,
    pub(crate) family: String,
    pub(crate) owner_product: String,
    #[serde(default = "pending")]
    pub(crate) status: String,
}

fn pending() -> String {
    "pending".into()
}

/// An app's policy-relevant facts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseApp {
    pub(crate) slug: AppSlug,
    pub(crate) owner_project: ProjectSlug,
    #[serde(default)]
    pub(crate) entitled_projects: BTreeSet<ProjectSlug>,
}

impl CaseApp {
    pub(crate) fn facts(&self) -> AppFacts {
        AppFacts {
            slug: self.slug.clone(),
            owner_project: self.owner_project.clone(),
            entitled_projects: self.entitled_projects.clone(),
        }
    }
}

/// An app version's policy-relevant facts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseAppVersion {
    pub(crate) app: CaseApp,
    pub(crate) version: VersionNumber,
    pub(crate) status: AppVersionStatus,
    #[serde(default)]
    pub(crate) artifact_trust_states: BTreeSet<String>,
    #[serde(default)]
    pub(crate) artifact_lifecycle_states: BTreeSet<String>,
}

impl CaseAppVersion {
    pub(crate) fn facts(&self) -> AppVersionFacts {
        AppVersionFacts {
            version: self.version.clone(),
            status: self.status,
            artifact_trust_states: self.artifact_trust_states.clone(),
            artifact_lifecycle_states: self.artifact_lifecycle_states.clone(),
        }
    }
}

/// An artifact's policy-relevant facts; the rest gets fixed defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseArtifact {
    pub(crate) project: ProjectSlug,
    pub(crate) app: AppSlug,
    pub(crate) kind: ArtifactKind,
    #[serde(default)]
    pub(crate) artifact_type: Option<ArtifactType>,
    pub(crate) source_type: SourceType,
    #[serde(default)]
    pub(crate) repository: Option<RepositoryPath>,
    #[serde(default)]
    pub(crate) visibility: Visibility,
    #[serde(default)]
    pub(crate) tenant: Option<TenantSlug>,
    #[serde(default)]
    pub(crate) digest: Option<Digest>,
    pub(crate) trust_state: TrustState,
    pub(crate) lifecycle_state: LifecycleState,
    #[serde(default)]
    pub(crate) channels: Vec<Channel>,
    #[serde(default)]
    pub(crate) signature_verified: bool,
    #[serde(default)]
    pub(crate) attestations: Vec<String>,
    #[serde(default)]
    pub(crate) signer_identities: Vec<SignerIdentity>,
    #[serde(default)]
    pub(crate) signer_key_ids: Vec<String>,
    #[serde(default)]
    pub(crate) provenance: Option<Provenance>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Effect {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expectation {
    pub(crate) decision: Effect,
    /// Compared as a set when given; left unchecked when absent.
    #[serde(default)]
    pub(crate) policy_ids: Option<Vec<String>>,
}

pub(crate) fn build_principal(p: &CasePrincipal) -> Result<Principal, String> {
    let mut project_roles = BTreeMap::new();
    for (project, roles) in &p.projects {
        let parsed: Result<BTreeSet<Role>, String> = roles
            .iter()
            .map(|r| Role::parse(r).ok_or_else(|| format!("unknown role `{r}`")))
            .collect();
        project_roles.insert(project.clone(), parsed?);
    }
    let ci = |key: &str| p.ci.get(key).cloned();
    Ok(Principal {
        actor: Actor {
            actor_type: p.actor_type,
            id: p.id.clone(),
        },
        issuer: p.issuer.clone(),
        project_roles,
        platform_roles: p.platform_roles.clone(),
        ci: CiClaims {
            repository: ci("repository"),
            git_ref: ci("ref"),
            workflow: ci("workflow"),
        },
    })
}

pub(crate) fn build_artifact(a: &CaseArtifact) -> Result<Artifact, String> {
    // A fixed id and time keep decisions, and so failure output, identical across runs.
    let at = DateTime::<Utc>::UNIX_EPOCH;
    let scope = Scope::new(a.visibility, a.tenant.clone()).map_err(|e| format!("{e}"))?;
    let repository = match &a.repository {
        Some(path) => path.clone(),
        None => RepositoryRoots::default().path(&scope, &a.project, &a.app),
    };
    let digest = match &a.digest {
        Some(d) => d.clone(),
        None => format!("sha256:{}", "0".repeat(64))
            .parse()
            .map_err(|e| format!("{e}"))?,
    };
    Ok(Artifact {
        id: ArtifactId(Uuid::from_u128(1)),
        project: a.project.clone(),
        app: a.app.clone(),
        artifact_kind: a.kind,
        artifact_type: a
            .artifact_type
            .clone()
            .unwrap_or_else(|| ArtifactType::default_for(a.kind)),
        repository,
        scope,
        digest,
        tag: None,
        media_type: None,
        source: Source {
            source_type: a.source_type.clone(),
            uri: "test://source".into(),
            source_ref: None,
            size_bytes: None,
            content_encoding: None,
        },
        lifecycle_state: a.lifecycle_state,
        trust_state: a.trust_state,
        channels: a.channels.clone(),
        signature_verified: a.signature_verified,
        attestations: a.attestations.clone(),
        trust_facts: TrustFacts {
            signer_identities: a.signer_identities.clone(),
            signer_key_ids: a.signer_key_ids.clone(),
            provenance: a.provenance.clone(),
        },
        created_by: Actor {
            actor_type: ActorType::User,
            id: "test".into(),
        },
        created_at: at,
        updated_at: at,
        version: 1,
    })
}

/// The shipped policies' test cases (`policies/tests/*.json`, files in name order): the corpus
/// the engine's own tests ask. A file that does not parse fails the test naming it.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
pub(crate) fn shipped_cases() -> Vec<TestCase> {
    let mut files: Vec<_> = std::fs::read_dir(crate::repo_path("policies/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(
            |file| match serde_json::from_str::<CaseFile>(&std::fs::read_to_string(file).unwrap()) {
                Ok(CaseFile::Many(cases)) => cases,
                Ok(CaseFile::One(case)) => vec![*case],
                Err(e) => panic!("{}: {e}", file.display()),
            },
        )
        .collect()
}
