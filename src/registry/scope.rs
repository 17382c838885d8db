//! Docker registry token scopes: parsing what a client asks for, and granting exactly the
//! intersection with what its credential allows.
//!
//! Grammar (distribution `docs/spec/auth/scope.md`): `type[(class)]:name:actions`, several
//! scopes separated by spaces or given as repeated `scope=` query values. The name may itself
//! hold `:` (`localhost:5000/foo/bar`), so the type ends at the first `:` and the actions start
//! after the last one.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::AccessGrant;

/// The only resource type the gateway ever grants.
pub const REPOSITORY: &str = "repository";

/// One scope a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    /// Resource type (`repository`, `registry`, …); the `(class)` suffix is dropped.
    pub resource_type: String,
    /// Resource name (repository path, possibly with a `host:port/` prefix).
    pub name: String,
    /// Requested actions (`pull`, `push`, `delete`, `*`…).
    pub actions: BTreeSet<String>,
}

/// Why a scope string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not `type:name:actions`.
    #[error("scope `{0}` is not of the form `type:name:actions`")]
    Malformed(String),
    /// An empty type, name or action list.
    #[error("scope `{0}` has an empty type, name or action")]
    Empty(String),
}

/// Parses every scope in `raw` (each value may hold several, space-separated).
pub fn parse_scopes(raw: &[String]) -> Result<Vec<ScopeRequest>, ScopeError> {
    RequestedScopes::read(raw.iter().map(String::as_str)).checked()
}

fn parse_one(scope: &str) -> Result<ScopeRequest, ScopeError> {
    let malformed = || ScopeError::Malformed(scope.to_owned());
    let (resource_type, rest) = scope.split_once(':').ok_or_else(malformed)?;
    let (name, actions) = rest.rsplit_once(':').ok_or_else(malformed)?;
    // `repository(plugin)` names a class of the type; the class grants nothing extra.
    let resource_type = match resource_type.split_once('(') {
        Some((base, class)) if class.ends_with(')') => base,
        Some(_) => return Err(malformed()),
        None => resource_type,
    };
    let actions: BTreeSet<String> = actions.split(',').map(str::to_owned).collect();
    if resource_type.is_empty() || name.is_empty() || actions.iter().any(String::is_empty) {
        return Err(ScopeError::Empty(scope.to_owned()));
    }
    Ok(ScopeRequest {
        resource_type: resource_type.to_owned(),
        name: name.to_owned(),
        actions,
    })
}

/// The scopes of one token request, read from its `scope` query values where the request
/// arrives. A malformed scope refuses the whole request (422 naming `scope`), but only after the
/// endpoint's earlier checks (signer, service), so the reading's outcome is carried as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedScopes(Result<Vec<ScopeRequest>, ScopeError>);

impl RequestedScopes {
    /// Reads every value (each may hold several scopes, space-separated).
    pub fn read<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            values
                .into_iter()
                .flat_map(str::split_whitespace)
                .map(parse_one)
                .collect(),
        )
    }

    /// The scopes asked for, or why one of them is malformed.
    pub fn checked(self) -> Result<Vec<ScopeRequest>, ScopeError> {
        self.0
    }
}

/// The `service` a token request names, compared with the configured one (any text may be
/// asked for; only the configured service is served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedService(String);

impl RequestedService {
    /// The service named.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for RequestedService {
    fn from(service: String) -> Self {
        Self(service)
    }
}

/// What to grant: for each requested `repository` scope, the actions both asked for and
/// allowed for that same name. Nothing else — `*` in a request is not a wildcard, unknown
/// types are never granted, and entries left with no action are dropped.
pub fn intersect(requested: &[ScopeRequest], allowed: &[AccessGrant]) -> Vec<AccessGrant> {
    // Merge per name so a request that names a repository twice yields one grant.
    let mut granted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for request in requested.iter().filter(|r| r.resource_type == REPOSITORY) {
        for grant in allowed
            .iter()
            .filter(|g| g.resource_type == REPOSITORY && g.name == request.name)
        {
            for action in &grant.actions {
                if request.actions.contains(action) {
                    granted.entry(&request.name).or_default().insert(action);
                }
            }
        }
    }
    granted
        .into_iter()
        .map(|(name, actions)| AccessGrant {
            resource_type: REPOSITORY.to_owned(),
            name: name.to_owned(),
            actions: actions.into_iter().map(str::to_owned).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant(name: &str, actions: &[&str]) -> AccessGrant {
        AccessGrant {
            resource_type: REPOSITORY.to_owned(),
            name: name.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn scopes(raw: &[&str]) -> Vec<ScopeRequest> {
        parse_scopes(&raw.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn name_may_hold_host_and_port() {
        let parsed = scopes(&["repository:localhost:5000/foo/bar:pull,push"]);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].resource_type, "repository");
        assert_eq!(parsed[0].name, "localhost:5000/foo/bar");
        assert_eq!(
            parsed[0].actions,
            BTreeSet::from(["pull".to_owned(), "push".to_owned()])
        );
    }

    #[test]
    fn several_scopes_per_value_and_per_request() {
        let parsed = scopes(&["repository:a/b:pull repository:c/d:push", "registry:catalog:*"]);
        let names: Vec<&str> = parsed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a/b", "c/d", "catalog"]);
        assert_eq!(parsed[2].resource_type, "registry");
    }

    #[test]
    fn class_suffix_is_dropped() {
        let parsed = scopes(&["repository(plugin):a/b:pull"]);
        assert_eq!(parsed[0].resource_type, "repository");
    }

    #[test]
    fn empty_scope_list_parses_to_nothing_and_grants_nothing() {
        assert!(scopes(&[]).is_empty());
        assert!(scopes(&["", "   "]).is_empty());
        assert!(intersect(&[], &[grant("a/b", &["pull"])]).is_empty());
    }

    #[test]
    fn junk_is_refused() {
        for junk in [
            "repository",
            "repository:a/b",
            ":a/b:pull",
            "repository::pull",
            "repository:a/b:",
            "repository:a/b:pull,,push",
            "repo(x:a/b:pull",
        ] {
            assert!(
                parse_scopes(&[junk.to_owned()]).is_err(),
                "`{junk}` should be refused"
            );
        }
    }

    #[test]
    fn grants_only_the_intersection() {
        let requested = scopes(&["repository:a/b:pull,push,delete repository:c/d:pull"]);
        let allowed = [grant("a/b", &["pull", "push"]), grant("x/y", &["pull"])];
        assert_eq!(intersect(&requested, &allowed), [grant("a/b", &["pull", "push"])]);
    }

    #[test]
    fn star_is_not_a_wildcard_and_unknown_types_are_never_granted() {
        let requested = scopes(&["repository:a/b:* registry:catalog:*"]);
        let allowed = [
            grant("a/b", &["pull", "push"]),
            AccessGrant {
                resource_type: "registry".to_owned(),
                name: "catalog".to_owned(),
                actions: vec!["*".to_owned()],
            },
        ];
        assert!(intersect(&requested, &allowed).is_empty());
    }

    #[test]
    fn repeated_names_merge() {
        let requested = scopes(&["repository:a/b:pull", "repository:a/b:push"]);
        let allowed = [grant("a/b", &["push", "pull"])];
        assert_eq!(intersect(&requested, &allowed), [grant("a/b", &["pull", "push"])]);
    }

    fn arb_grant() -> impl Strategy<Value = AccessGrant> {
        (
            prop::sample::select(vec!["repository", "registry"]),
            prop::sample::select(vec!["a/b", "c/d", "h:5000/a/b"]),
            prop::collection::vec(prop::sample::select(vec!["pull", "push", "delete", "*"]), 0..4),
        )
            .prop_map(|(t, n, a)| AccessGrant {
                resource_type: t.to_owned(),
                name: n.to_owned(),
                actions: a.into_iter().map(str::to_owned).collect(),
            })
    }

    proptest! {
        #[test]
        fn result_is_a_subset_of_both(
            requested in prop::collection::vec(arb_grant(), 0..5),
            allowed in prop::collection::vec(arb_grant(), 0..5),
        ) {
            let requested: Vec<ScopeRequest> = requested
                .into_iter()
                .map(|g| ScopeRequest {
                    resource_type: g.resource_type,
                    name: g.name,
                    actions: g.actions.into_iter().collect(),
                })
                .collect();
            for out in intersect(&requested, &allowed) {
                prop_assert_eq!(&out.resource_type, REPOSITORY);
                prop_assert!(!out.actions.is_empty());
                for action in &out.actions {
                    prop_assert!(requested.iter().any(|r| r.resource_type == REPOSITORY
                        && r.name == out.name && r.actions.contains(action)));
                    prop_assert!(allowed.iter().any(|g| g.resource_type == REPOSITORY
                        && g.name == out.name && g.actions.contains(action)));
                }
            }
        }
    }
}
