//! The coverage lint: every action the gateway asks that no `permit` in the set can allow.
//!
//! Syntactic on purpose: a permit covers an action when its action scope names it (directly,
//! through an action group of the schema, or with an unconstrained `action`), whatever its
//! conditions say. An action no permit names is denied on every request, which is rarely what
//! an author meant (a set written before the action existed, or one that forgot it).

use cedar_policy::{ActionConstraint, Effect, Entities, EntityUid, PolicySet};

use super::entities::Uid;
use super::request::Action;

/// The gated actions (in schema order) that no permit in `policies` names; `actions` are the
/// schema's action entities, to see through action groups.
pub(crate) fn uncovered_actions(policies: &PolicySet, actions: Option<&Entities>) -> Vec<Action> {
    let scopes: Vec<ActionConstraint> = policies
        .policies()
        .filter(|p| p.effect() == Effect::Permit)
        .map(cedar_policy::Policy::action_constraint)
        .collect();
    Action::ALL
        .iter()
        .copied()
        .filter(|action| {
            // An action without a Cedar uid cannot be allowed by anything: uncovered.
            let Ok(uid) = Uid::new("Action", action.as_str()).to_cedar() else {
                return true;
            };
            !scopes.iter().any(|scope| covers(scope, &uid, actions))
        })
        .collect()
}

fn covers(scope: &ActionConstraint, action: &EntityUid, groups: Option<&Entities>) -> bool {
    match scope {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(named) => named == action,
        ActionConstraint::In(named) => named.iter().any(|n| {
            n == action
                || groups
                    .and_then(|g| g.ancestors(action))
                    .is_some_and(|mut ancestors| ancestors.any(|a| a == n))
        }),
    }
}

/// What a set that cannot allow `action` does to users, for the warning.
pub fn uncovered_consequence(action: Action) -> &'static str {
    match action {
        Action::AcceptSource => {
            "every verification records a failing `source_policy` check, so no artifact becomes verified"
        }
        _ => "every request for it is denied",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::str::FromStr;

    use super::*;

    fn uncovered(text: &str) -> Vec<&'static str> {
        let set = PolicySet::from_str(text).unwrap();
        let schema = std::fs::read_to_string(crate::repo_path("schemas/gatehouse.cedarschema")).unwrap();
        let (schema, _) = cedar_policy::Schema::from_cedarschema_str(&schema).unwrap();
        let actions = schema.action_entities().unwrap();
        uncovered_actions(&set, Some(&actions))
            .into_iter()
            .map(|a| a.as_str())
            .collect()
    }

    fn all_but(covered: &[&str]) -> Vec<&'static str> {
        Action::ALL
            .iter()
            .map(Action::as_str)
            .filter(|a| !covered.contains(a))
            .collect()
    }

    #[test]
    fn an_unconstrained_permit_covers_every_action() {
        assert!(uncovered("permit (principal, action, resource) when { false };").is_empty());
    }

    #[test]
    fn a_permit_covers_the_actions_its_scope_names_and_no_other() {
        let text = r#"
            permit (principal, action == Gatehouse::Action::"read", resource);
            permit (principal, action in [Gatehouse::Action::"verify", Gatehouse::Action::"accept_source"], resource);
        "#;
        assert_eq!(uncovered(text), all_but(&["read", "verify", "accept_source"]));
    }

    #[test]
    fn forbids_cover_nothing_and_an_empty_set_covers_nothing() {
        let forbid = r#"forbid (principal, action == Gatehouse::Action::"read", resource);"#;
        assert_eq!(uncovered(forbid), all_but(&[]));
        assert_eq!(uncovered(""), all_but(&[]));
    }

    #[test]
    fn an_empty_action_list_covers_nothing() {
        assert_eq!(
            uncovered("permit (principal, action in [], resource);"),
            all_but(&[])
        );
    }

    #[test]
    fn a_permit_on_an_action_group_covers_its_members() {
        let schema = r#"namespace Gatehouse {
            entity User;
            entity Artifact;
            action readers;
            action read in [readers] appliesTo { principal: [User], resource: [Artifact] };
            action verify appliesTo { principal: [User], resource: [Artifact] };
        }"#;
        let (schema, _) = cedar_policy::Schema::from_cedarschema_str(schema).unwrap();
        let actions = schema.action_entities().unwrap();
        let set =
            PolicySet::from_str(r#"permit (principal, action in Gatehouse::Action::"readers", resource);"#)
                .unwrap();
        let uncovered = uncovered_actions(&set, Some(&actions));
        assert!(!uncovered.contains(&Action::Read), "{uncovered:?}");
        assert!(uncovered.contains(&Action::Verify), "{uncovered:?}");
    }
}
