//! Replays stored decisions against a candidate policy set and reports the ones that would
//! change, so a policy change can be judged (and gated in CI) before it ships.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::engine::PolicyEngine;
use crate::audit::DecisionRecord;
use crate::domain::Actor;

/// One stored decision whose effect the candidate would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayChange {
    /// The stored decision's id.
    pub decision_id: Uuid,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// Who asked.
    pub actor: Actor,
    /// The Cedar action.
    pub action: String,
    /// The resource uid.
    pub resource: String,
    /// The resource's project, where it has one.
    pub project: Option<String>,
    /// `allow` or `deny`, as recorded.
    pub old_effect: String,
    /// `allow` or `deny` under the candidate.
    pub new_effect: String,
    /// The policies that decided it then.
    pub old_policy_ids: Vec<String>,
    /// The policies that decide it under the candidate.
    pub new_policy_ids: Vec<String>,
    /// The candidate's reasons (for a new deny).
    pub new_reasons: Vec<String>,
}

/// What replaying a decision log against a candidate found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The candidate set's hash.
    pub candidate_hash: String,
    /// Decisions re-evaluated.
    pub replayed: usize,
    /// Decisions whose effect would change.
    pub changed: usize,
    /// The changing decisions, in log order.
    pub changes: Vec<ReplayChange>,
}

impl ReplayReport {
    /// An empty report for `candidate`, to be fed page by page with [`ReplayReport::add`].
    pub fn new(candidate: &PolicyEngine) -> Self {
        Self {
            candidate_hash: candidate.hash().to_owned(),
            ..Self::default()
        }
    }

    /// Re-decides one stored decision and keeps it if its effect changes.
    pub fn add(&mut self, candidate: &PolicyEngine, record: &DecisionRecord) {
        self.replayed += 1;
        let now = candidate.decide_stored(&record.request.to_value(), &record.entities.to_value());
        if now.effect() == record.effect {
            return;
        }
        self.changed += 1;
        self.changes.push(ReplayChange {
            decision_id: record.id,
            decided_at: record.decided_at,
            actor: record.actor.clone(),
            action: record.action.clone(),
            resource: record.resource.clone(),
            project: record.project.clone(),
            old_effect: record.effect.clone(),
            new_effect: now.effect().to_owned(),
            old_policy_ids: record.policy_ids.clone(),
            new_policy_ids: now.policy_ids,
            new_reasons: now.reasons,
        });
    }
}

/// Replays `decisions` against `candidate`, listing only the decisions whose effect changes.
pub fn replay(candidate: &PolicyEngine, decisions: &[DecisionRecord]) -> ReplayReport {
    let mut report = ReplayReport::new(candidate);
    for record in decisions {
        report.add(candidate, record);
    }
    report
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replayed {} decisions against candidate {}: {} would change",
            self.replayed, self.candidate_hash, self.changed
        )?;
        if self.changes.is_empty() {
            return Ok(());
        }
        let rows: Vec<[String; 7]> = self
            .changes
            .iter()
            .map(|c| {
                [
                    c.decided_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    c.actor.id.clone(),
                    c.action.clone(),
                    c.project.clone().unwrap_or_else(|| "-".to_owned()),
                    c.resource.clone(),
                    format!("{} -> {}", c.old_effect, c.new_effect),
                    format!("{} -> {}", ids(&c.old_policy_ids), ids(&c.new_policy_ids)),
                ]
            })
            .collect();
        let header = [
            "DECIDED AT",
            "ACTOR",
            "ACTION",
            "PROJECT",
            "RESOURCE",
            "EFFECT",
            "POLICIES",
        ];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            writeln!(f, "{}", padded.join("  ").trim_end())
        };
        line(f, &header)?;
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}

fn ids(ids: &[String]) -> String {
    if ids.is_empty() {
        "(none)".to_owned()
    } else {
        ids.join(",")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::domain::ActorType;
    use crate::policy::testing::decide_case;

    fn repo(rel: &str) -> PathBuf {
        crate::repo_path(rel)
    }

    fn engine(dir: &std::path::Path) -> PolicyEngine {
        PolicyEngine::load(&repo("schemas/gatehouse.cedarschema"), dir).unwrap()
    }

    /// Every decision the policy test cases produce, as the decision log would store it.
    fn stored_decisions(engine: &PolicyEngine) -> Vec<DecisionRecord> {
        let mut records = Vec::new();
        for case in crate::policy::test_case::shipped_cases() {
            let d = decide_case(engine, &case).unwrap();
            records.push(DecisionRecord {
                id: Uuid::now_v7(),
                decided_at: Utc::now(),
                correlation_id: case.name.clone(),
                actor: Actor {
                    actor_type: ActorType::User,
                    id: case.principal.id.clone(),
                },
                action: case.action.clone(),
                project: None,
                artifact_id: None,
                resource: d.request.to_value()["resource"].as_str().unwrap().to_owned(),
                effect: d.effect().to_owned(),
                policy_ids: d.policy_ids,
                reasons: d.reasons,
                errors: d.errors,
                policy_hash: d.policy_hash,
                request: d.request,
                entities: d.entities,
            });
        }
        records
    }

    #[test]
    fn a_stored_decision_re_decides_to_the_same_effect_and_policies() {
        let engine = engine(&repo("policies"));
        let records = stored_decisions(&engine);
        assert!(records.len() > 20, "the policy tests should yield many decisions");
        for r in &records {
            let again = engine.decide_stored(&r.request.to_value(), &r.entities.to_value());
            assert_eq!(again.effect(), r.effect, "{}", r.correlation_id);
            // Cedar reports determining policies in no fixed order: compare them as sets.
            let sorted = |ids: &[String]| ids.iter().cloned().collect::<std::collections::BTreeSet<_>>();
            assert_eq!(
                sorted(&again.policy_ids),
                sorted(&r.policy_ids),
                "{}",
                r.correlation_id
            );
            assert!(
                again.errors.is_empty(),
                "{}: {:?}",
                r.correlation_id,
                again.errors
            );
        }
        assert_eq!(replay(&engine, &records).changed, 0);
    }

    #[test]
    fn a_stored_record_that_no_longer_fits_is_a_deny_with_the_error() {
        let engine = engine(&repo("policies"));
        let request = serde_json::json!({
            "principal": "Gatehouse::User::\"a\"", "action": "Gatehouse::Action::\"no_such\"",
            "resource": "Gatehouse::Platform::\"platform\"", "context": {},
        });
        let d = engine.decide_stored(&request, &serde_json::json!([]));
        assert!(!d.allowed && d.errors[0].contains("no_such"));
        let d = engine.decide_stored(&serde_json::json!("garbage"), &serde_json::json!({"x": 1}));
        assert!(!d.allowed && !d.errors.is_empty());
        // The webhook's refusals taken before any policy (src/admission/kubernetes.rs) replay
        // as denies under every candidate.
        let refusal = serde_json::json!({"refused_before_policy": true, "image": "x:latest"});
        let d = engine.decide_stored(&refusal, &serde_json::json!([]));
        assert!(!d.allowed && !d.errors.is_empty());
    }

    #[test]
    fn a_forbidding_candidate_lists_exactly_the_allows_it_turns_into_denies() {
        let current = engine(&repo("policies"));
        let records = stored_decisions(&current);
        let dir = std::env::temp_dir().join(format!("gatehouse-replay-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(repo("policies")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cedar") {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::write(
            dir.join("freeze.cedar"),
            "@id(\"freeze-promotions\")\nforbid (principal, action == Gatehouse::Action::\"promote\", resource);\n",
        )
        .unwrap();
        let candidate = engine(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let report = replay(&candidate, &records);
        let allowed_promotions = records
            .iter()
            .filter(|r| r.action == "promote" && r.effect == "allow")
            .count();
        assert!(allowed_promotions > 0);
        assert_eq!(report.replayed, records.len());
        assert_eq!(report.changed, allowed_promotions);
        for change in &report.changes {
            assert_eq!(
                (change.old_effect.as_str(), change.new_effect.as_str()),
                ("allow", "deny")
            );
            assert!(change.new_policy_ids.contains(&"freeze-promotions".to_owned()));
        }
        let table = report.to_string();
        assert!(
            table.contains("allow -> deny") && table.contains("freeze-promotions"),
            "{table}"
        );
    }
}
