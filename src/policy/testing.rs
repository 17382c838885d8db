//! Policy tests as data: JSON files of domain-level cases, run through the same entity builder
//! and engine that serve requests, so a passing test means the served decision is the same.

use std::collections::BTreeSet;
use std::path::Path;

use super::engine::PolicyEngine;
use super::request::{Action, Caller, Decision, PolicyRequest, Resource};
use super::test_case::{CaseFile, CaseResource, Effect, TestCase, build_artifact, build_principal};
use super::verdict_cache::CacheUse;
use crate::domain::{ActorType, Scope};

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

/// One case that ran, passed or not (for per-case reports such as JUnit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// The file holding the case.
    pub file: String,
    /// The case name.
    pub name: String,
    /// Expected versus got when it failed; `None` when it passed.
    pub failure: Option<String>,
}

/// The outcome of a test run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// How many cases ran.
    pub total: usize,
    /// The cases that failed.
    pub failures: Vec<TestFailure>,
    /// Every case in the order run.
    pub cases: Vec<CaseOutcome>,
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
            let failure = run_case(engine, &case);
            if let Some(diff) = &failure {
                report.failures.push(TestFailure {
                    file: file.clone(),
                    name: case.name.clone(),
                    diff: diff.clone(),
                });
            }
            report.cases.push(CaseOutcome {
                file: file.clone(),
                name: case.name.clone(),
                failure,
            });
        }
    }
    Ok(report)
}

/// Runs one case; `None` when it passed, else a readable diff.
fn run_case(engine: &PolicyEngine, case: &TestCase) -> Option<String> {
    let decision = match decide_case(engine, case) {
        Ok(decision) => decision,
        Err(diff) => return Some(diff),
    };
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

/// Decides one case through the serving path; `Err` says why the case itself is unusable.
pub(crate) fn decide_case(engine: &PolicyEngine, case: &TestCase) -> Result<Decision, String> {
    decide_case_noting_cache(engine, case).map(|(decision, _)| decision)
}

/// [`decide_case`], saying whether the verdict came from the engine's cache.
pub(crate) fn decide_case_noting_cache(
    engine: &PolicyEngine,
    case: &TestCase,
) -> Result<(Decision, CacheUse), String> {
    let Some(action) = Action::parse(&case.action) else {
        return Err(format!("  unknown action `{}`", case.action));
    };
    if let Err(e) = case.provenance_config.check() {
        return Err(format!("  invalid provenance_config `{}`: {e}", e.key));
    }
    let principal = match build_principal(&case.principal) {
        Ok(p) => p,
        Err(reason) => return Err(format!("  invalid principal: {reason}")),
    };
    let caller = match case.principal.actor_type {
        ActorType::Registry => Caller::Registry {
            name: &case.principal.id,
        },
        ActorType::KubernetesApiServer => Caller::KubernetesApiServer {
            name: &case.principal.id,
            issuer: &case.principal.issuer,
        },
        _ => Caller::Principal(&principal),
    };
    let artifact = match &case.resource {
        CaseResource::Artifact(a) => match build_artifact(a) {
            Ok(artifact) => Some(artifact),
            Err(reason) => return Err(format!("  invalid artifact: {reason}")),
        },
        _ => None,
    };
    let scope = match &case.resource {
        CaseResource::Repository {
            visibility, tenant, ..
        } => Scope::new(*visibility, tenant.clone()).map_err(|e| format!("  invalid repository: {e}"))?,
        _ => Scope::Project,
    };
    let app = match &case.resource {
        CaseResource::App(app) => Some(app.facts()),
        CaseResource::AppVersion(v) => Some(v.app.facts()),
        _ => None,
    };
    let version = match &case.resource {
        CaseResource::AppVersion(v) => Some(v.facts()),
        _ => None,
    };
    let resource = match (&case.resource, &artifact, &app, &version) {
        (_, _, Some(app), Some(version)) => Resource::AppVersion { app, version },
        (_, _, Some(app), None) => Resource::App(app),
        (_, Some(a), _, _) => Resource::Artifact(a),
        (CaseResource::Repository { project, path, .. }, ..) => Resource::Repository {
            project,
            path,
            scope: &scope,
        },
        (CaseResource::Project(slug), ..) => Resource::Project(slug),
        (CaseResource::CatalogEntry(e), ..) => Resource::CatalogEntry {
            id: &e.id,
            family: &e.family,
            owner_product: &e.owner_product,
            status: &e.status,
        },
        _ => Resource::Platform,
    };
    let request = PolicyRequest {
        caller,
        action,
        resource,
        context: case.context.clone(),
    };
    Ok(engine.decide_with(&request, &case.provenance_config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Over the shipped policies' cases: a decision from the cache (twice: kept, then served)
    /// is the decision with the cache off, field for field, and the repeat is a hit.
    #[test]
    fn every_shipped_case_decides_the_same_from_the_cache_as_without_it() {
        let schema = crate::repo_path("schemas/gatehouse.cedarschema");
        let policies = crate::repo_path("policies");
        let cached = PolicyEngine::load(&schema, &policies)
            .unwrap()
            .with_decision_cache(crate::policy::DEFAULT_DECISION_CACHE_ENTRIES);
        // A loaded set keeps no verdicts until configured to.
        let uncached = PolicyEngine::load(&schema, &policies).unwrap();
        assert_eq!(uncached.decision_cache_entries(), 0);
        let cases = crate::policy::test_case::shipped_cases();
        assert!(cases.len() > 50, "{} cases", cases.len());
        let mut hits = 0;
        for case in &cases {
            let (want, off) = decide_case_noting_cache(&uncached, case).unwrap();
            assert_eq!(off, CacheUse::Bypassed, "{}", case.name);
            let want = serde_json::to_value(want).unwrap();
            let (first, _) = decide_case_noting_cache(&cached, case).unwrap();
            let (second, used) = decide_case_noting_cache(&cached, case).unwrap();
            assert_eq!(serde_json::to_value(first).unwrap(), want, "{}", case.name);
            assert_eq!(serde_json::to_value(second).unwrap(), want, "{}", case.name);
            hits += usize::from(used == CacheUse::Hit);
        }
        // Every case reaches Cedar (the corpus has no unbuildable request), so every repeat hits.
        assert_eq!(hits, cases.len());
    }
}
