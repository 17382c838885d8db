//! SLSA provenance facts from a verified in-toto statement: builder, build type and source.
//!
//! The statement is signed, but the signer may be a builder that is merely configured, not one a
//! policy trusts, so every field is read defensively: a missing field, a field of the wrong type,
//! an over-long or control-character string is absent, never a guess and never a panic.
//!
//! Where the source comes from:
//! - v1: `buildDefinition.externalParameters.workflow.{repository, ref}` when stated (GitHub
//!   Actions builders), the commit then from the `resolvedDependencies` entry naming that same
//!   repository; otherwise the first `git+` entry of `resolvedDependencies` (repository and the
//!   `@ref` of its URI, `digest.gitCommit` or `digest.sha1`).
//! - v0.2: `invocation.configSource.{uri, digest}`; otherwise the first `git+` entry of `materials`.
//!
//! Repositories are normalised by [`normalise_source_uri`].

use serde_json::Value;

use crate::domain::{Provenance, SourceUri, normalise_source_uri};

/// The SLSA provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The SLSA provenance v0.2 predicate type.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// Longest string fact kept; a longer one is absent rather than cut, so two values never collide.
pub const MAX_FACT_LEN: usize = 1024;
/// Most dependencies or materials looked at for the source.
const MAX_DEPENDENCIES: usize = 64;

/// The facts of an SLSA provenance predicate; `None` for other predicate types.
pub fn provenance_facts(predicate_type: &str, predicate: Option<&Value>) -> Option<Provenance> {
    let predicate = predicate.filter(|p| p.is_object());
    match predicate_type {
        SLSA_PROVENANCE_V1 => Some(predicate.map(v1).unwrap_or_default()),
        SLSA_PROVENANCE_V02 => Some(predicate.map(v02).unwrap_or_default()),
        _ => None,
    }
}

/// A source: where it came from and the commit, when stated.
struct Source {
    uri: SourceUri,
    commit: Option<String>,
}

fn v1(predicate: &Value) -> Provenance {
    let definition = predicate.get("buildDefinition");
    let dependencies = git_sources(definition.and_then(|d| d.get("resolvedDependencies")));
    let workflow = definition.and_then(|d| d.pointer("/externalParameters/workflow"));
    let workflow_repository =
        text(workflow.and_then(|w| w.get("repository"))).and_then(|r| normalise_source_uri(&r));
    let (repository, git_ref, commit) = match workflow_repository {
        Some(stated) => {
            // The workflow names the repository; the commit only counts from the same one.
            let same = dependencies
                .into_iter()
                .find(|d| d.uri.repository == stated.repository);
            let git_ref = text(workflow.and_then(|w| w.get("ref")))
                .or(stated.git_ref)
                .or_else(|| same.as_ref().and_then(|d| d.uri.git_ref.clone()));
            (Some(stated.repository), git_ref, same.and_then(|d| d.commit))
        }
        None => first_source(dependencies),
    };
    Provenance {
        builder_id: text(predicate.pointer("/runDetails/builder/id")),
        build_type: text(definition.and_then(|d| d.get("buildType"))),
        source_repository: repository,
        source_ref: git_ref,
        source_commit: commit,
    }
}

fn v02(predicate: &Value) -> Provenance {
    let config = predicate.pointer("/invocation/configSource");
    let config_source = text(config.and_then(|c| c.get("uri")))
        .and_then(|uri| normalise_source_uri(&uri))
        .map(|uri| Source {
            uri,
            commit: commit(config.and_then(|c| c.get("digest"))),
        });
    let (repository, git_ref, commit) = match config_source {
        Some(source) => (Some(source.uri.repository), source.uri.git_ref, source.commit),
        None => first_source(git_sources(predicate.get("materials"))),
    };
    Provenance {
        builder_id: text(predicate.pointer("/builder/id")),
        build_type: text(predicate.get("buildType")),
        source_repository: repository,
        source_ref: git_ref,
        source_commit: commit,
    }
}

/// The `git+` entries of a dependency or material list, in order.
fn git_sources(list: Option<&Value>) -> Vec<Source> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .take(MAX_DEPENDENCIES)
        .filter_map(|entry| {
            let uri = text(entry.get("uri")).filter(|u| u.starts_with("git+"))?;
            Some(Source {
                uri: normalise_source_uri(&uri)?,
                commit: commit(entry.get("digest")),
            })
        })
        .collect()
}

fn first_source(sources: Vec<Source>) -> (Option<String>, Option<String>, Option<String>) {
    match sources.into_iter().next() {
        Some(s) => (Some(s.uri.repository), s.uri.git_ref, s.commit),
        None => (None, None, None),
    }
}

/// A git commit from a digest set: `gitCommit`, else `sha1`; 40 or 64 hex digits, lower-cased.
fn commit(digest: Option<&Value>) -> Option<String> {
    let digest = digest?;
    ["gitCommit", "sha1"]
        .iter()
        .find_map(|name| digest.get(*name).and_then(Value::as_str))
        .filter(|hex| matches!(hex.len(), 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

/// A string fact: non-empty, at most [`MAX_FACT_LEN`] bytes, no control characters.
fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= MAX_FACT_LEN && !s.chars().any(char::is_control))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COMMIT: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678";
    const BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0";

    fn v1_github() -> Value {
        json!({
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {
                    "ref": "refs/heads/main",
                    "repository": "https://github.com/octo/web",
                    "path": ".github/workflows/release.yml"
                }},
                "resolvedDependencies": [
                    {"uri": "pkg:docker/alpine@3.19", "digest": {"sha256": "00"}},
                    {"uri": "git+https://github.com/octo/web@refs/heads/main", "digest": {"gitCommit": COMMIT}}
                ]
            },
            "runDetails": {"builder": {"id": BUILDER}}
        })
    }

    fn facts(predicate_type: &str, predicate: &Value) -> Provenance {
        provenance_facts(predicate_type, Some(predicate)).unwrap()
    }

    #[test]
    fn v1_reads_builder_build_type_and_the_workflow_source_with_its_commit() {
        assert_eq!(
            facts(SLSA_PROVENANCE_V1, &v1_github()),
            Provenance {
                builder_id: Some(BUILDER.to_owned()),
                build_type: Some("https://actions.github.io/buildtypes/workflow/v1".to_owned()),
                source_repository: Some("https://github.com/octo/web".to_owned()),
                source_ref: Some("refs/heads/main".to_owned()),
                source_commit: Some(COMMIT.to_ascii_lowercase()),
            }
        );
    }

    #[test]
    fn v1_without_a_workflow_takes_the_first_git_dependency() {
        let mut p = v1_github();
        p["buildDefinition"]["externalParameters"] = json!({});
        p["buildDefinition"]["resolvedDependencies"][1]["uri"] =
            json!("git+https://GitHub.com/octo/web.git@refs/tags/v1");
        p["buildDefinition"]["resolvedDependencies"][1]["digest"] = json!({"sha1": COMMIT});
        let f = facts(SLSA_PROVENANCE_V1, &p);
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://github.com/octo/web")
        );
        assert_eq!(f.source_ref.as_deref(), Some("refs/tags/v1"));
        assert_eq!(f.source_commit, Some(COMMIT.to_ascii_lowercase()));
    }

    #[test]
    fn v1_workflow_repository_wins_and_a_commit_of_another_repository_is_not_taken() {
        let mut p = v1_github();
        p["buildDefinition"]["resolvedDependencies"][1]["uri"] =
            json!("git+https://github.com/evil/fork@refs/heads/main");
        let f = facts(SLSA_PROVENANCE_V1, &p);
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://github.com/octo/web")
        );
        assert_eq!(f.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(f.source_commit, None);
    }

    #[test]
    fn v02_reads_config_source_then_materials() {
        let p = json!({
            "builder": {"id": "https://cloudbuild.googleapis.com/GoogleHostedWorker"},
            "buildType": "https://cloudbuild.googleapis.com/CloudBuildYaml@v1",
            "invocation": {"configSource": {
                "uri": "git+https://gitlab.example/group/app@refs/heads/release",
                "digest": {"sha1": COMMIT},
                "entryPoint": "cloudbuild.yaml"
            }},
            "materials": [{"uri": "git+https://gitlab.example/other/repo", "digest": {"sha1": COMMIT}}]
        });
        let f = facts(SLSA_PROVENANCE_V02, &p);
        assert_eq!(
            f.builder_id.as_deref(),
            Some("https://cloudbuild.googleapis.com/GoogleHostedWorker")
        );
        assert_eq!(
            f.build_type.as_deref(),
            Some("https://cloudbuild.googleapis.com/CloudBuildYaml@v1")
        );
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://gitlab.example/group/app")
        );
        assert_eq!(f.source_ref.as_deref(), Some("refs/heads/release"));
        assert_eq!(f.source_commit, Some(COMMIT.to_ascii_lowercase()));

        let mut no_config = p.clone();
        no_config["invocation"] = json!({"configSource": {"uri": 7}});
        let f = facts(SLSA_PROVENANCE_V02, &no_config);
        assert_eq!(
            f.source_repository.as_deref(),
            Some("https://gitlab.example/other/repo")
        );
        assert_eq!(f.source_ref, None);
    }

    #[test]
    fn other_predicates_have_no_provenance_and_empty_ones_have_no_facts() {
        assert_eq!(
            provenance_facts("https://spdx.dev/Document", Some(&v1_github())),
            None
        );
        for predicate in [
            None,
            Some(json!(null)),
            Some(json!("x")),
            Some(json!([])),
            Some(json!({})),
        ] {
            let f = provenance_facts(SLSA_PROVENANCE_V1, predicate.as_ref()).unwrap();
            assert!(f.is_empty(), "{predicate:?}");
        }
    }

    #[test]
    fn hostile_fields_are_absent_never_guessed() {
        let huge = "h".repeat(MAX_FACT_LEN + 1);
        let p = json!({
            "buildDefinition": {
                "buildType": huge,
                "externalParameters": {"workflow": {"repository": ["https://github.com/octo/web"], "ref": 7}},
                "resolvedDependencies": [
                    {"uri": "git+https://github.com/octo/web\n@main", "digest": {"gitCommit": COMMIT}},
                    {"uri": {"nested": true}},
                    {"uri": "git+https://github.com/octo/web", "digest": {"gitCommit": "not-hex-at-all-not-hex-at-all-not-hex-at"}},
                ]
            },
            "runDetails": {"builder": {"id": "builder\u{0}id"}}
        });
        let f = facts(SLSA_PROVENANCE_V1, &p);
        assert_eq!(
            f,
            Provenance {
                source_repository: Some("https://github.com/octo/web".to_owned()),
                ..Provenance::default()
            }
        );
        // Dependencies are read only up to a bound: a source past it is not found.
        let mut many = vec![json!({"uri": "pkg:npm/x@1"}); MAX_DEPENDENCIES];
        many.push(json!({"uri": "git+https://github.com/octo/web"}));
        let p = json!({"buildDefinition": {"resolvedDependencies": many}});
        assert_eq!(facts(SLSA_PROVENANCE_V1, &p).source_repository, None);
        // Short commits and digests of other algorithms are not commits.
        let p = json!({"buildDefinition": {"resolvedDependencies": [
            {"uri": "git+https://github.com/octo/web", "digest": {"gitCommit": "a1b2c3d", "sha256": COMMIT}}
        ]}});
        assert_eq!(facts(SLSA_PROVENANCE_V1, &p).source_commit, None);
    }
}
