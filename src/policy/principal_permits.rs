//! A targeted coverage check: whether any permit names a principal type in its scope for an
//! action, so start-up can warn when a caller type the gateway serves can never be allowed.

use cedar_policy::{ActionConstraint, Effect, EntityUid, PrincipalConstraint};

use super::{Action, PolicyEngine};

impl PolicyEngine {
    /// Whether a permit's scope names principals of type `principal_type` (e.g.
    /// `KubernetesApiServer`, by `is`, `==` or `in`) for `action` (by `==`, `in [...]`, or any
    /// action). A permit whose principal scope is open is not counted: its conditions are about
    /// roles such a caller does not hold.
    pub fn permits_principal_type(&self, principal_type: &str, action: Action) -> bool {
        let qualified = format!("Gatehouse::{principal_type}");
        let names_type = |uid: &EntityUid| uid.type_name().to_string() == qualified;
        let names_action = |uid: &EntityUid| {
            uid.type_name().to_string() == "Gatehouse::Action" && uid.id().unescaped() == action.as_str()
        };
        self.policies().policies().any(|policy| {
            let principal = match policy.principal_constraint() {
                PrincipalConstraint::Is(ty) | PrincipalConstraint::IsIn(ty, _) => ty.to_string() == qualified,
                PrincipalConstraint::Eq(uid) | PrincipalConstraint::In(uid) => names_type(&uid),
                PrincipalConstraint::Any => false,
            };
            let action = match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(uid) => names_action(&uid),
                ActionConstraint::In(uids) => uids.iter().any(names_action),
            };
            policy.effect() == Effect::Permit && principal && action
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn engine(policies: &str) -> PolicyEngine {
        let root = &crate::repo_path("");
        PolicyEngine::load_bundle(
            &root.join("schemas/gatehouse.cedarschema"),
            root,
            vec![("p.cedar".to_owned(), policies.to_owned())],
        )
        .unwrap()
    }

    #[test]
    fn only_a_permit_naming_the_type_and_action_counts() {
        let shipped = PolicyEngine::load(
            &crate::repo_path("schemas/gatehouse.cedarschema"),
            &crate::repo_path("policies"),
        )
        .unwrap();
        assert!(shipped.permits_principal_type("KubernetesApiServer", Action::Admit));
        let open =
            engine("@id(\"open\")\npermit (principal, action == Gatehouse::Action::\"admit\", resource);");
        assert!(!open.permits_principal_type("KubernetesApiServer", Action::Admit));
        let forbid = engine(
            "@id(\"f\")\nforbid (principal is Gatehouse::KubernetesApiServer, action == Gatehouse::Action::\"admit\", resource);",
        );
        assert!(!forbid.permits_principal_type("KubernetesApiServer", Action::Admit));
        let listed = engine(
            "@id(\"l\")\npermit (principal is Gatehouse::KubernetesApiServer, action in [Gatehouse::Action::\"admit\"], resource);",
        );
        assert!(listed.permits_principal_type("KubernetesApiServer", Action::Admit));
    }
}
