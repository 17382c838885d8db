//! PostgreSQL: a change's evidence and promotion rows written by its audit record's statement
//! (data-modifying `with` items before the audit and decision inserts), so a verification or a
//! promotion sends its history rows and its log rows in one round trip, not two.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::types::Json;

use super::rows::{actor_type_str, result_str};
use super::{ArtifactChange, sql};

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Binds the history rows' parameters of a `history_items` statement, in their order.
pub(super) type BindHistory = Box<dyn for<'q> FnOnce(PgQuery<'q>) -> PgQuery<'q> + Send>;

/// The statement that writes an audit record, `decisions` (one or two) and `change`'s evidence
/// (one `unnest`, in order) and promotion, with what binds the history rows' parameters (after
/// the audit record's and the decisions'); `None` when the change writes neither, or carries
/// another number of decisions.
pub(super) fn history_items(
    change: &ArtifactChange,
    decisions: usize,
) -> Option<(&'static str, BindHistory)> {
    if (change.evidence.is_empty() && change.promotion.is_none()) || !matches!(decisions, 1 | 2) {
        return None;
    }
    let text = STATEMENTS[shape(decisions, !change.evidence.is_empty(), change.promotion.is_some())].as_str();
    let id = change.artifact.id.0;
    let evidence = (!change.evidence.is_empty()).then(|| {
        let types: Vec<String> = change.evidence.iter().map(|e| e.evidence_type.clone()).collect();
        let results: Vec<&'static str> = change.evidence.iter().map(|e| result_str(e.result)).collect();
        let reasons: Vec<String> = change.evidence.iter().map(|e| e.reason.clone()).collect();
        let times: Vec<DateTime<Utc>> = change.evidence.iter().map(|e| e.checked_at).collect();
        let details: Vec<String> = change.evidence.iter().map(|e| e.details.to_string()).collect();
        (types, results, reasons, times, details)
    });
    let promotion = change.promotion.clone();
    let bind: BindHistory = Box::new(move |mut query: PgQuery<'_>| {
        if let Some((types, results, reasons, times, details)) = evidence {
            query = query
                .bind(id)
                .bind(types)
                .bind(results)
                .bind(reasons)
                .bind(times)
                .bind(details);
        }
        if let Some(p) = promotion {
            query = query
                .bind(id)
                .bind(p.channel.as_str().to_owned())
                .bind(p.target_environment)
                .bind(actor_type_str(p.actor.actor_type))
                .bind(p.actor.id)
                .bind(p.promoted_at)
                .bind(Json(p.decision))
                .bind(p.reason);
        }
        query
    });
    Some((text, bind))
}

/// Every statement `history_items` answers, by `shape`: built once, so each is one prepared
/// statement per connection.
static STATEMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut all = Vec::with_capacity(8);
    for decisions in 1..=2 {
        for evidence in [false, true] {
            for promotion in [false, true] {
                all.push(statement(decisions, evidence, promotion));
            }
        }
    }
    all
});

fn shape(decisions: usize, evidence: bool, promotion: bool) -> usize {
    (decisions - 1) * 4 + usize::from(evidence) * 2 + usize::from(promotion)
}

/// `INSERT_UNSEALED_AUDIT_WITH_DECISION` (or `_TWO_DECISIONS`) with the history rows' `with`
/// items before its own, their parameters numbered after its last.
fn statement(decisions: usize, evidence: bool, promotion: bool) -> String {
    let audit = if decisions == 1 {
        sql::INSERT_UNSEALED_AUDIT_WITH_DECISION
    } else {
        sql::INSERT_UNSEALED_AUDIT_WITH_TWO_DECISIONS
    };
    let mut next = 16 + 16 * decisions;
    let mut params = |n: usize| {
        let list: Vec<String> = (next..next + n).map(|i| format!("${i}")).collect();
        next += n;
        list
    };
    let mut items = String::new();
    if evidence {
        let p = params(6);
        items.push_str(&format!(
            "evidence as (insert into artifact_evidence (artifact_id, evidence_type, result, reason, \
             checked_at, details) select {}, t, r, why, at, d::jsonb from unnest({}::text[], \
             {}::text[], {}::text[], {}::timestamptz[], {}::text[]) with ordinality \
             as e(t, r, why, at, d, n) order by n), ",
            p[0], p[1], p[2], p[3], p[4], p[5]
        ));
    }
    if promotion {
        let p = params(8);
        items.push_str(&format!(
            "promotion as (insert into artifact_promotions (artifact_id, channel, \
             target_environment, actor_type, actor_id, promoted_at, decision, reason) \
             values ({})), ",
            p.join(", ")
        ));
    }
    // The audit statement starts `with audit as (…)`: the items go before that item.
    format!("with {items}{}", audit.trim_start_matches("with "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_parameters_follow_the_decisions() {
        let text = statement(2, true, true);
        assert!(
            text.starts_with("with evidence as (insert into artifact_evidence"),
            "{text}"
        );
        assert!(text.contains("select $48, t, r"), "{text}");
        assert!(
            text.contains("values ($54, $55, $56, $57, $58, $59, $60, $61))"),
            "{text}"
        );
        assert!(text.contains("), audit as (insert into audit_pending"), "{text}");
        assert!(
            text.ends_with(
                "($32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47)"
            )
        );
        assert!(statement(1, false, true).contains("values ($32, $33,"));
    }
}
