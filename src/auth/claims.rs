//! Verified token claims → `domain::Principal`. Strict on shape, never widening on content.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::AuthError;
use super::config::ClaimNames;
use crate::domain::{Actor, ActorType, CiClaims, Principal, ProjectSlug, Role, is_single_line};

/// Builds the principal from claims whose signature, issuer, audience and times are checked.
/// Errors name the logical claim (`sub`, `act_type`, …) even when its configured name differs.
pub(crate) fn principal_from_claims(
    issuer: &str,
    claims: &Map<String, Value>,
    names: &ClaimNames,
) -> Result<Principal, AuthError> {
    let subject = match claims.get(&names.subject) {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("sub")),
        // A subject is recorded on every audit row: one line, no control character (NUL would
        // fail the write on PostgreSQL only).
        Some(Value::String(s)) if !s.trim().is_empty() && is_single_line(s) => s.clone(),
        Some(_) => return Err(AuthError::InvalidClaim("sub")),
    };
    let actor_type = match claims.get(&names.actor_type) {
        None | Some(Value::Null) => ActorType::User,
        Some(Value::String(s)) if s == "user" => ActorType::User,
        Some(Value::String(s)) if s == "service_account" => ActorType::ServiceAccount,
        // `registry` is the registry calling back, never something a token may claim.
        Some(_) => return Err(AuthError::InvalidClaim("act_type")),
    };
    let ci = match actor_type {
        ActorType::ServiceAccount => CiClaims {
            repository: optional_string(claims, "repository")?,
            git_ref: optional_string(claims, "ref")?,
            workflow: optional_string(claims, "workflow")?,
        },
        _ => CiClaims::default(),
    };
    Ok(Principal {
        actor: Actor {
            actor_type,
            id: subject,
        },
        issuer: issuer.to_owned(),
        project_roles: project_roles(claims.get(&names.projects))?,
        platform_roles: platform_roles(claims.get(&names.platform_roles))?,
        ci,
    })
}

/// `{ "<project slug>": ["<role>", …] }`; unknown roles are dropped, and a project left with no
/// known role is dropped with them, so nothing unrecognised ever grants access.
fn project_roles(raw: Option<&Value>) -> Result<BTreeMap<ProjectSlug, BTreeSet<Role>>, AuthError> {
    const CLAIM: &str = "projects";
    let map = match raw {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(AuthError::InvalidClaim(CLAIM)),
    };
    let mut out = BTreeMap::new();
    for (slug, roles) in map {
        let project: ProjectSlug = slug.parse().map_err(|_| AuthError::InvalidClaim(CLAIM))?;
        let Value::Array(roles) = roles else {
            return Err(AuthError::InvalidClaim(CLAIM));
        };
        let mut known = BTreeSet::new();
        for role in roles {
            let Value::String(role) = role else {
                return Err(AuthError::InvalidClaim(CLAIM));
            };
            known.extend(Role::parse(role));
        }
        if !known.is_empty() {
            out.insert(project, known);
        }
    }
    Ok(out)
}

/// A list of strings; absent means none.
fn platform_roles(raw: Option<&Value>) -> Result<BTreeSet<String>, AuthError> {
    const CLAIM: &str = "platform_roles";
    match raw {
        None | Some(Value::Null) => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(AuthError::InvalidClaim(CLAIM))
            })
            .collect(),
        Some(_) => Err(AuthError::InvalidClaim(CLAIM)),
    }
}

fn optional_string(claims: &Map<String, Value>, name: &'static str) -> Result<Option<String>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if is_single_line(s) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::InvalidClaim(name)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn principal(claims: Value) -> Result<Principal, AuthError> {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        principal_from_claims("iss", &map, &ClaimNames::default())
    }

    #[test]
    fn control_characters_in_recorded_claims_are_refused() {
        for sub in ["ali\u{0}ce", "alice\nbob", "\u{1b}[31malice"] {
            assert!(
                matches!(
                    principal(json!({ "sub": sub })),
                    Err(AuthError::InvalidClaim("sub"))
                ),
                "{sub:?}"
            );
        }
        let ci = json!({ "sub": "ci", "act_type": "service_account", "workflow": "build\u{0}" });
        assert!(matches!(principal(ci), Err(AuthError::InvalidClaim("workflow"))));
    }

    #[test]
    fn roles_map_and_unknown_roles_never_widen() {
        let p = principal(json!({
            "sub": "alice",
            "projects": {"team-a": ["admin", "owner"], "team-b": ["superuser"]},
            "platform_roles": ["security_admin"],
        }))
        .unwrap();
        assert_eq!(
            p.actor,
            Actor {
                actor_type: ActorType::User,
                id: "alice".into()
            }
        );
        let team_a: ProjectSlug = "team-a".parse().unwrap();
        assert_eq!(p.project_roles.len(), 1);
        assert_eq!(p.project_roles[&team_a], BTreeSet::from([Role::Admin]));
        assert!(p.platform_roles.contains("security_admin"));
    }

    #[test]
    fn shapes_are_strict() {
        assert_eq!(principal(json!({})), Err(AuthError::MissingClaim("sub")));
        assert_eq!(principal(json!({"sub": 7})), Err(AuthError::InvalidClaim("sub")));
        assert_eq!(
            principal(json!({"sub": "a", "act_type": "registry"})),
            Err(AuthError::InvalidClaim("act_type"))
        );
        assert_eq!(
            principal(json!({"sub": "a", "projects": {"Team A": ["admin"]}})),
            Err(AuthError::InvalidClaim("projects"))
        );
        assert_eq!(
            principal(json!({"sub": "a", "projects": ["team-a"]})),
            Err(AuthError::InvalidClaim("projects"))
        );
        assert_eq!(
            principal(json!({"sub": "a", "platform_roles": "security_admin"})),
            Err(AuthError::InvalidClaim("platform_roles"))
        );
    }

    #[test]
    fn ci_claims_fill_service_accounts_only() {
        let ci = json!({"sub": "ci", "act_type": "service_account", "repository": "org/repo",
            "ref": "refs/heads/main", "workflow": "release"});
        let p = principal(ci.clone()).unwrap();
        assert_eq!(p.actor.actor_type, ActorType::ServiceAccount);
        assert_eq!(p.ci.repository.as_deref(), Some("org/repo"));
        assert_eq!(p.ci.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(p.ci.workflow.as_deref(), Some("release"));
        let mut user = ci;
        user["act_type"] = json!("user");
        assert_eq!(principal(user).unwrap().ci, CiClaims::default());
    }
}
