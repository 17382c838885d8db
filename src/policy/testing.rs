//! Policy tests as data: JSON files of domain-level cases, run through the same entity builder
//! and engine that serve requests, so a passing test means the served decision is the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::engine::PolicyEngine;
use super::request::{Action, Caller, PolicyRequest, RequestContext, Resource};
use crate::domain::{
    Actor, ActorType, AppSlug, Artifact, ArtifactId, ArtifactKind, ArtifactType, Channel, CiClaims, Digest,
    LifecycleState, Principal, ProjectSlug, RepositoryPath, Role, Source, SourceType, TrustState,
};

/// A test file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTestError {
    /// The file (or directory) at fault.
    pub file: String,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for PolicyTestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.reason)
    }
}

impl std::error::Error for PolicyTestError {}

/// One case whose decision differed from its expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// The file holding the case.
    pub file: String,
    /// The case name.
    pub name: String,
    /// Expected versus got, with reasons and errors.
    pub diff: String,
}

/// The outcome of a test run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// How many cases ran.
    pub total: usize,
    /// The cases that failed.
    pub failures: Vec<TestFailure>,
}

impl TestReport {
    /// How many cases passed.
    pub fn passed(&self) -> usize {
        self.total - self.failures.len()
    }
}

impl std::fmt::Display for TestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for failure in &self.failures {
            writeln!(f, "FAIL {} — {}\n{}", failure.file, failure.name, failure.diff)?;
        }
        write!(
            f,
            "{} passed, {} failed, {} total",
            self.passed(),
            self.failures.len(),
            self.total
        )
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CaseFile {
    Many(Vec<TestCase>),
    One(Box<TestCase>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    principal: CasePrincipal,
    action: String,
    resource: CaseResource,
    #[serde(default)]
    context: RequestContext,
    expect: Expectation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePrincipal {
    #[serde(rename = "type")]
    actor_type: ActorType,
    id: String,
    #[serde(default = "default_issuer")]
    issuer: String,
    #[serde(default)]
    projects: BTreeMap<ProjectSlug, Vec<String>>,
    #[serde(default)]
    platform_roles: BTreeSet<String>,
    #[serde(default)]
    ci: BTreeMap<String, String>,
}

fn default_issuer() -> String {
    "https://issuer.test".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum CaseResource {
    Platform,
    Project(ProjectSlug),
    Repository {
        project: ProjectSlug,
        path: RepositoryPath,
    },
    Artifact(Box<CaseArtifact>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseArtifact {
    project: ProjectSlug,
    app: AppSlug,
    kind: ArtifactKind,
    #[serde(default)]
    artifact_type: Option<ArtifactType>,
    source_type: SourceType,
    #[serde(default)]
    repository: Option<RepositoryPath>,
    #[serde(default)]
    digest: Option<Digest>,
    trust_state: TrustState,
    lifecycle_state: LifecycleState,
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    signature_verified: bool,
    #[serde(default)]
    attestations: Vec<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
enum Effect {
    Allow,
    Deny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    decision: Effect,
    /// Compared as a set when given; left unchecked when absent.
    #[serde(default)]
    policy_ids: Option<Vec<String>>,
}

/// Runs every `*.json` case file in `dir` (sorted, non-recursive) against `engine`.
pub fn run_policy_tests(engine: &PolicyEngine, dir: &Path) -> Result<TestReport, PolicyTestError> {
    let shown = dir.display().to_string();
    let fail = |file: &str, reason: String| PolicyTestError {
        file: file.to_owned(),
        reason,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| fail(&shown, format!("cannot read test directory: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| fail(&shown, format!("cannot list test directory: {e}")))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut report = TestReport::default();
    for path in paths {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let text =
            std::fs::read_to_string(&path).map_err(|e| fail(&file, format!("cannot read test file: {e}")))?;
        let cases = match serde_json::from_str::<CaseFile>(&text) {
            Ok(CaseFile::Many(cases)) => cases,
            Ok(CaseFile::One(case)) => vec![*case],
            // Untagged errors are vague, so retry as a list to report the real cause and line.
            Err(_) => serde_json::from_str::<Vec<TestCase>>(&text)
                .map_err(|e| fail(&file, format!("invalid test file: {e}")))?,
        };
        for case in cases {
            report.total += 1;
            if let Some(diff) = run_case(engine, &case) {
                report.failures.push(TestFailure {
                    file: file.clone(),
                    name: case.name.clone(),
                    diff,
                });
            }
        }
    }
    Ok(report)
}

/// Runs one case; `None` when it passed, else a readable diff.
fn run_case(engine: &PolicyEngine, case: &TestCase) -> Option<String> {
    let Some(action) = Action::parse(&case.action) else {
        return Some(format!("  unknown action `{}`", case.action));
    };
    let principal = match build_principal(&case.principal) {
        Ok(p) => p,
        Err(reason) => return Some(format!("  invalid principal: {reason}")),
    };
    let caller = match case.principal.actor_type {
        ActorType::Registry => Caller::Registry {
            name: &case.principal.id,
        },
        _ => Caller::Principal(&principal),
    };
    let artifact = match &case.resource {
        CaseResource::Artifact(a) => match build_artifact(a) {
            Ok(artifact) => Some(artifact),
            Err(reason) => return Some(format!("  invalid artifact: {reason}")),
        },
        _ => None,
    };
    let resource = match (&case.resource, &artifact) {
        (_, Some(a)) => Resource::Artifact(a),
        (CaseResource::Repository { project, path }, _) => Resource::Repository { project, path },
        (CaseResource::Project(slug), _) => Resource::Project(slug),
        _ => Resource::Platform,
    };
    let request = PolicyRequest {
        caller,
        action,
        resource,
        context: case.context.clone(),
    };
    let decision = engine.decide(&request);

    let got_effect = if decision.allowed {
        Effect::Allow
    } else {
        Effect::Deny
    };
    let got_ids: BTreeSet<&str> = decision.policy_ids.iter().map(String::as_str).collect();
    let ids_ok = case.expect.policy_ids.as_ref().is_none_or(|want| {
        let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
        want == got_ids
    });
    if got_effect == case.expect.decision && ids_ok && decision.errors.is_empty() {
        return None;
    }
    let want_ids = case
        .expect
        .policy_ids
        .as_ref()
        .map_or_else(|| "(any)".to_owned(), |ids| format!("{ids:?}"));
    let mut diff = format!(
        "  decision:   expected {:?}, got {:?}\n  policy_ids: expected {want_ids}, got {:?}",
        case.expect.decision, got_effect, decision.policy_ids
    );
    for reason in &decision.reasons {
        diff.push_str(&format!("\n  reason: {reason}"));
    }
    for error in &decision.errors {
        diff.push_str(&format!("\n  error: {error}"));
    }
    Some(diff)
}

fn build_principal(p: &CasePrincipal) -> Result<Principal, String> {
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

fn build_artifact(a: &CaseArtifact) -> Result<Artifact, String> {
    // A fixed id and time keep decisions, and so failure output, identical across runs.
    let at = DateTime::<Utc>::UNIX_EPOCH;
    let repository = match &a.repository {
        Some(path) => path.clone(),
        None => {
            let root: RepositoryPath = "gpuaas/apps".parse().map_err(|e| format!("{e}"))?;
            RepositoryPath::canonical(&root, &a.project, &a.app)
        }
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
            .unwrap_or_else(|| ArtifactType::default_for(a.kind)),
        repository,
        digest,
        tag: None,
        media_type: None,
        source: Source {
            source_type: a.source_type,
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
        created_by: Actor {
            actor_type: ActorType::User,
            id: "test".into(),
        },
        created_at: at,
        updated_at: at,
        version: 1,
    })
}
