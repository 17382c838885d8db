//! The provenance an operator trusts (configuration `[trust.provenance]`): which builders may
//! have built a project's artifacts and from which source repositories. Policies read it as the
//! `trusted_builders` and `source_repositories` of each `Project`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ProjectSlug;
use super::source_repository::normalise_source_uri;

/// `[trust.provenance]`: trusted builder ids, and per project its source repositories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvenanceTrust {
    /// Builder ids (SLSA `builder.id`) trusted for every project without its own list.
    pub builders: Vec<String>,
    /// Per project: `[trust.provenance.projects.<slug>]`.
    pub projects: BTreeMap<ProjectSlug, ProjectProvenance>,
}

/// One project's provenance trust.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectProvenance {
    /// Repositories (normalised, e.g. `https://github.com/org/repo`) its artifacts may be built from.
    pub source_repositories: Vec<String>,
    /// Builder ids trusted for this project instead of the global `builders`.
    pub builders: Option<Vec<String>>,
}

/// A configured value that cannot be used: the key (below `trust.provenance`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ProvenanceTrustError {
    /// e.g. `projects.team-a.source_repositories[0]`.
    pub key: String,
    /// Why.
    pub reason: String,
}

impl ProvenanceTrust {
    /// The builder ids trusted for `project`: its own list, else the global one.
    pub fn builders_for(&self, project: &ProjectSlug) -> &[String] {
        self.projects
            .get(project)
            .and_then(|p| p.builders.as_deref())
            .unwrap_or(&self.builders)
    }

    /// The source repositories configured for `project` (none when it has no entry).
    pub fn sources_for(&self, project: &ProjectSlug) -> &[String] {
        self.projects
            .get(project)
            .map_or(&[], |p| p.source_repositories.as_slice())
    }

    /// Refuses values a policy could never match, or that would silently weaken a rule.
    pub fn check(&self) -> Result<(), ProvenanceTrustError> {
        let error = |key: String, reason: &str| ProvenanceTrustError {
            key,
            reason: reason.to_owned(),
        };
        check_builders("builders", &self.builders)?;
        for (slug, project) in &self.projects {
            if let Some(builders) = &project.builders {
                let key = format!("projects.{slug}.builders");
                if builders.is_empty() {
                    // An empty override would switch the provenance rules off for the project.
                    return Err(error(key, "must not be empty (leave it out to use `builders`)"));
                }
                check_builders(&key, builders)?;
            }
            for (i, source) in project.source_repositories.iter().enumerate() {
                let key = format!("projects.{slug}.source_repositories[{i}]");
                match normalise_source_uri(source) {
                    Some(uri) if uri.repository == *source && uri.git_ref.is_none() => {}
                    Some(uri) => {
                        let reason = format!(
                            "write it as provenance is compared, `{}` (no `git+`, `@ref`, `.git` or user info; lower-case scheme and host)",
                            uri.repository
                        );
                        return Err(ProvenanceTrustError { key, reason });
                    }
                    None => return Err(error(key, "is not a repository URI (`https://host/path`)")),
                }
            }
        }
        Ok(())
    }
}

fn check_builders(key: &str, builders: &[String]) -> Result<(), ProvenanceTrustError> {
    match builders.iter().position(|b| b.is_empty() || b.trim() != b) {
        Some(i) => Err(ProvenanceTrustError {
            key: format!("{key}[{i}]"),
            reason: "must be a builder id without surrounding spaces".to_owned(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(text: &str) -> ProvenanceTrust {
        toml::from_str(text).unwrap()
    }

    fn slug(s: &str) -> ProjectSlug {
        s.parse().unwrap()
    }

    #[test]
    fn a_project_list_replaces_the_global_builders_and_sources_are_per_project() {
        let t = trust(
            r#"
            builders = ["https://builder.example/global"]
            [projects.team-a]
            source_repositories = ["https://github.com/org/web"]
            [projects.team-b]
            builders = ["https://builder.example/b"]
            "#,
        );
        assert!(t.check().is_ok());
        assert_eq!(
            t.builders_for(&slug("team-a")),
            ["https://builder.example/global"]
        );
        assert_eq!(t.builders_for(&slug("team-b")), ["https://builder.example/b"]);
        assert_eq!(t.builders_for(&slug("other")), ["https://builder.example/global"]);
        assert_eq!(t.sources_for(&slug("team-a")), ["https://github.com/org/web"]);
        assert!(t.sources_for(&slug("team-b")).is_empty());
    }

    #[test]
    fn values_no_provenance_could_match_are_refused_naming_the_key() {
        for (text, key, needle) in [
            (
                "[projects.a]\nsource_repositories = [\"git+https://github.com/org/web@main\"]",
                "projects.a.source_repositories[0]",
                "`https://github.com/org/web`",
            ),
            (
                "[projects.a]\nsource_repositories = [\"https://github.com/org/web.git\"]",
                "projects.a.source_repositories[0]",
                "`https://github.com/org/web`",
            ),
            (
                "[projects.a]\nsource_repositories = [\"github.com/org/web\"]",
                "projects.a.source_repositories[0]",
                "not a repository URI",
            ),
            ("builders = [\"\"]", "builders[0]", "builder id"),
            (
                "[projects.a]\nbuilders = []",
                "projects.a.builders",
                "must not be empty",
            ),
            (
                "[projects.a]\nbuilders = [\" b\"]",
                "projects.a.builders[0]",
                "builder id",
            ),
        ] {
            let err = trust(text).check().unwrap_err();
            assert_eq!(err.key, key, "{text}");
            assert!(err.reason.contains(needle), "{text}: {}", err.reason);
        }
        assert!(toml::from_str::<ProvenanceTrust>("[projects.a]\nsources = []").is_err());
        assert!(toml::from_str::<ProvenanceTrust>("[projects.\"Bad Slug\"]").is_err());
    }
}
