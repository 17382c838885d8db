//! Each policy's `@reason`, read once at load.
//!
//! Cedar's `Policy::annotation(key)` parses the key with its policy parser on every call; a deny
//! decided by two forbids spent more on reading their reasons than on evaluating them.

use std::collections::HashMap;

use cedar_policy::PolicySet;

/// The `@reason` annotation of every policy that has one, by policy id.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reasons(HashMap<String, String>);

impl Reasons {
    /// Reads the reasons of every policy of `policies`.
    pub(crate) fn of(policies: &PolicySet) -> Self {
        Self(
            policies
                .policies()
                .filter_map(|policy| {
                    let reason = policy.annotation("reason")?;
                    Some((policy.id().to_string(), reason.to_owned()))
                })
                .collect(),
        )
    }

    /// Why policy `id` forbids: its `@reason`, or a sentence naming it when it has none.
    pub(crate) fn of_policy(&self, id: &str) -> String {
        self.0
            .get(id)
            .map_or_else(|| format!("forbidden by policy `{id}`"), String::clone)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use cedar_policy::{Policy, PolicyId};

    use super::*;

    /// The texts are what Cedar's own annotation lookup gives, for every shipped policy and for
    /// a reason that is empty, one that is absent and an id the set does not hold.
    #[test]
    fn a_reason_is_the_annotation_cedar_reads_or_names_the_policy() {
        let mut text = String::new();
        for entry in std::fs::read_dir(crate::repo_path("policies")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cedar") {
                text.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
        let mut policies = PolicySet::from_str(&text).unwrap();
        for (id, text) in [
            ("empty", "@reason forbid (principal, action, resource);"),
            ("none", "forbid (principal, action, resource);"),
        ] {
            policies
                .add(Policy::parse(Some(PolicyId::new(id)), text).unwrap())
                .unwrap();
        }
        let ids: Vec<String> = policies.policies().map(|p| p.id().to_string()).collect();
        let reasons = Reasons::of(&policies);
        let mut annotated = 0;
        for id in ids.iter().map(String::as_str).chain(["not-in-the-set"]) {
            let cedar = policies
                .policy(&PolicyId::new(id))
                .and_then(|p| p.annotation("reason"))
                .map(str::to_owned);
            annotated += usize::from(cedar.is_some());
            let expected = cedar.unwrap_or_else(|| format!("forbidden by policy `{id}`"));
            assert_eq!(reasons.of_policy(id), expected, "policy {id}");
        }
        assert!(annotated > 10, "the shipped forbids carry reasons");
        assert_eq!(reasons.of_policy("empty"), "");
        assert_eq!(reasons.of_policy("none"), "forbidden by policy `none`");
    }
}
