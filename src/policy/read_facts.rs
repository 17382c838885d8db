//! What a policy set can see of an entity: the attribute names it reads and the entity types it
//! names a uid of. The verdict cache keys a decision by only that (`EntitySlice::write_fact_key`),
//! so artifacts whose read facts are equal share one verdict.
//!
//! Why that is sound. Cedar observes an entity's uid only by comparing it with another uid (an
//! `==`/`in` against a policy's literal, another entity's parents or attributes, the request's
//! other uids); it has no way to read the id as a string. When no policy names a uid of the
//! resource's type, renaming the resource everywhere in the input therefore changes no verdict.
//! Cedar observes an attribute only by naming it (`.name`, `has name`, `has a.b`); entity
//! equality compares uids, never attributes. An attribute whose name no policy mentions anywhere
//! changes no verdict either. Both facts are read from the parsed policies, every policy's whole
//! condition (scope included) and every linked template's slot values.

use std::collections::HashSet;

use cedar_policy::PolicySet;
use cedar_policy_core::ast::{ExprKind, Literal};

/// The attribute names and uid types a policy set mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadFacts {
    /// Every attribute or record field name some policy reads or tests, at any depth (looked
    /// up for each attribute of each decision: foldhash, not SipHash).
    attributes: HashSet<String, foldhash::fast::RandomState>,
    /// The qualified entity types (`Gatehouse::Artifact`) some policy names a uid of.
    named_types: HashSet<String>,
}

impl ReadFacts {
    /// Reads `policies` (templates through their links: a template's own slots hold no uid).
    pub(crate) fn of(policies: &PolicySet) -> Self {
        let mut facts = Self::default();
        for policy in AsRef::<cedar_policy_core::ast::PolicySet>::as_ref(policies).policies() {
            for uid in policy.env().values() {
                facts.named_types.insert(uid.entity_type().to_string());
            }
            let condition = policy.condition();
            for expr in condition.subexpressions() {
                match expr.expr_kind() {
                    ExprKind::Lit(Literal::EntityUID(uid)) => {
                        facts.named_types.insert(uid.entity_type().to_string());
                    }
                    ExprKind::GetAttr { attr, .. } | ExprKind::HasAttr { attr, .. } => {
                        facts.attributes.insert(attr.to_string());
                    }
                    ExprKind::ExtHasAttr { attrs, .. } => {
                        facts.attributes.extend(attrs.iter().map(ToString::to_string));
                    }
                    _ => {}
                }
            }
        }
        facts
    }

    /// Whether some policy reads or tests an attribute or field named `name`.
    pub(crate) fn reads(&self, name: &str) -> bool {
        self.attributes.contains(name)
    }

    /// Whether some policy names a uid of the qualified entity type `ty`.
    pub(crate) fn names_type(&self, ty: &str) -> bool {
        self.named_types.contains(ty)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    fn facts(text: &str) -> ReadFacts {
        ReadFacts::of(&PolicySet::from_str(text).unwrap())
    }

    #[test]
    fn attributes_read_or_tested_anywhere_are_found() {
        let read = facts(
            r#"permit (principal, action, resource)
               when { resource.trust_state == "verified" && context has channel
                      && resource has provenance.builder_id && principal.roles.contains("x") };"#,
        );
        for name in ["trust_state", "channel", "provenance", "builder_id", "roles"] {
            assert!(read.reads(name), "{name}");
        }
        for name in ["digest", "contains", "verified", "x"] {
            assert!(!read.reads(name), "{name}");
        }
    }

    #[test]
    fn uid_types_named_in_scopes_conditions_and_links_are_found() {
        let read = facts(
            r#"permit (principal == Gatehouse::User::"u", action == Gatehouse::Action::"read", resource in Gatehouse::Project::"p");
               forbid (principal, action, resource) when { resource == Gatehouse::Artifact::"a" };"#,
        );
        for ty in [
            "Gatehouse::User",
            "Gatehouse::Action",
            "Gatehouse::Project",
            "Gatehouse::Artifact",
        ] {
            assert!(read.names_type(ty), "{ty}");
        }
        assert!(!read.names_type("Gatehouse::Repository"));
        // `is` tests a type but names no uid of it.
        assert!(
            !facts("permit (principal, action, resource is Gatehouse::Artifact);")
                .names_type("Gatehouse::Artifact")
        );

        let mut linked = PolicySet::from_str("permit (principal, action, resource == ?resource);").unwrap();
        let template = linked.templates().next().unwrap().id().clone();
        linked
            .link(
                template,
                cedar_policy::PolicyId::new("linked"),
                [(
                    cedar_policy::SlotId::resource(),
                    cedar_policy::EntityUid::from_str(r#"Gatehouse::Artifact::"a""#).unwrap(),
                )]
                .into(),
            )
            .unwrap();
        assert!(ReadFacts::of(&linked).names_type("Gatehouse::Artifact"));
    }
}
