//! `GET /ui/artifacts/{id}`: one artifact as a timeline, newest first, built from what
//! `GET /v1/artifacts/{id}/explain` answers (so it is decided as `read` on the artifact).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::views::{self, json_details, label, list_or_dash, query_string, when};
use super::{ConsoleError, ConsoleState, Viewer};
use crate::admission::Explanation;
use crate::audit::{AuditRecord, DecisionRecord};
use crate::domain::{Artifact, ArtifactId, Evidence, Lookup};
use crate::http::extract::{PathParams, artifact_id};
use crate::http::meta;

/// One dated entry of the timeline.
struct Entry {
    at: DateTime<Utc>,
    markup: Markup,
}

/// The page.
pub async fn page(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    PathParams(id): PathParams<Lookup<ArtifactId>>,
) -> Result<Response, ConsoleError> {
    let id = artifact_id(id)?;
    let explanation = state
        .api
        .admission
        .explain(&viewer.principal, id, &meta())
        .await?;
    let artifact = &explanation.view.artifact;
    let title = format!("{} {}", artifact.app, artifact.tag.clone().unwrap_or_default());
    let body = html! {
        (summary(&explanation))
        h2 { "Timeline" }
        ol.timeline reversed {
            @for entry in entries(&explanation) {
                li { (entry.markup) }
            }
        }
    };
    Ok(views::page(StatusCode::OK, title.trim(), Some(&viewer), body))
}

fn summary(explanation: &Explanation) -> Markup {
    let artifact = &explanation.view.artifact;
    let trail = &explanation.registry_trail;
    html! {
        dl.facts {
            dt { "Project" } dd { a href={ "/ui/projects/" (artifact.project) } { (artifact.project) } }
            dt { "Repository" } dd { code { (artifact.repository) } }
            dt { "Digest" } dd { code { (artifact.digest) } }
            dt { "Kind" } dd { (label(&artifact.artifact_kind)) " · " (label(&artifact.artifact_type)) }
            dt { "Source" } dd { (label(&artifact.source.source_type)) " " code { (artifact.source.uri) } }
            dt { "Lifecycle" } dd { span.state { (label(&artifact.lifecycle_state)) } }
            dt { "Trust" } dd { span.state { (label(&artifact.trust_state)) } }
            dt { "Channels" } dd { (list_or_dash(&artifact.channels.iter().map(label).collect::<Vec<_>>())) }
            dt { "Registry trail" } dd {
                @match &trail.publish_intent {
                    Some(intent) => (json_details("publish intent", &serde_json::to_value(intent).unwrap_or_default())),
                    None => "no publish intent",
                }
                " · " (trail.tokens.len()) " registry token(s)"
                @if let Some(event) = &trail.event {
                    (json_details("push event", &serde_json::to_value(event).unwrap_or_default()))
                }
                @if let Some(presence) = &trail.registry_presence { " · " (presence) " in the registry" }
            }
        }
    }
}

/// Audit records (with the decision of the same request), verification runs, and decisions
/// that changed nothing (denials, reviews), newest first.
fn entries(explanation: &Explanation) -> Vec<Entry> {
    let artifact = &explanation.view.artifact;
    let audited: Vec<&str> = explanation
        .audit
        .iter()
        .map(|record| record.body.correlation_id.as_str())
        .collect();
    let mut entries: Vec<Entry> = explanation
        .audit
        .iter()
        .map(|record| {
            let decision = explanation
                .decisions
                .iter()
                .find(|d| d.correlation_id == record.body.correlation_id);
            audit_entry(artifact, record, decision)
        })
        .collect();
    entries.extend(
        explanation
            .decisions
            .iter()
            // An allow that changed state is already shown by its audit record.
            .filter(|d| d.effect != "allow" || !audited.contains(&d.correlation_id.as_str()))
            .map(decision_entry),
    );
    entries.extend(verification_runs(&explanation.view.evidence));
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.at));
    entries
}

fn audit_entry(artifact: &Artifact, record: &AuditRecord, decision: Option<&DecisionRecord>) -> Entry {
    let body = &record.body;
    // Scoped to the artifact's project: the log of one project is what its readers may see
    // (`read` on the project); without it the page would ask for the platform-wide log.
    let audit_link = format!(
        "/ui/audit{}#audit-{}",
        query_string(&[
            ("project", Some(artifact.project.as_str())),
            ("artifact_id", Some(&artifact.id.to_string())),
        ]),
        record.seq
    );
    let markup = html! {
        article.entry.audit {
            h3 { (body.action) " by " (body.actor.id) }
            p.meta { (when(&record.occurred_at)) }
            @if let Some(t) = &body.transition {
                p { (t.from) " → " (t.to) @if let Some(reason) = &t.reason { " — " (reason) } }
            }
            @if let Some(p) = &body.promotion {
                p { "Promoted to " strong { (p.channel) }
                    @if let Some(env) = &p.target_environment { " (" (env) ")" } }
            }
            @if let Some(d) = &body.decision {
                p { "Decided " (d.effect) " by " (list_or_dash(&d.policy_ids)) }
            }
            p.links {
                a href=(audit_link) { "audit record #" (record.seq) }
                @if let Some(d) = decision {
                    " · " a href=(decision_link(d)) { "decision" }
                }
            }
        }
    };
    Entry {
        at: record.occurred_at,
        markup,
    }
}

fn decision_entry(decision: &DecisionRecord) -> Entry {
    let markup = html! {
        article class={ "entry decision " (decision.effect) } {
            h3 { span class={ "effect " (decision.effect) } { (decision.effect) } " " (decision.action) " by " (decision.actor.id) }
            p.meta { (when(&decision.decided_at)) }
            @if !decision.reasons.is_empty() { p.reasons { (decision.reasons.join("; ")) } }
            p { "Deciding policies: " (list_or_dash(&decision.policy_ids)) }
            p.links { a href=(decision_link(decision)) { "decision" } }
        }
    };
    Entry {
        at: decision.decided_at,
        markup,
    }
}

fn decision_link(decision: &DecisionRecord) -> String {
    format!("/ui/decisions/{}", decision.id)
}

/// Evidence items checked at the same instant are one verification run.
fn verification_runs(evidence: &[Evidence]) -> Vec<Entry> {
    let mut runs: BTreeMap<DateTime<Utc>, Vec<&Evidence>> = BTreeMap::new();
    for item in evidence {
        runs.entry(item.checked_at).or_default().push(item);
    }
    runs.into_iter()
        .map(|(at, items)| Entry {
            at,
            markup: html! {
                article.entry.verification {
                    h3 { "Verification run" }
                    p.meta { (when(&at)) }
                    ul.evidence {
                        @for item in items {
                            li class=(label(&item.result)) {
                                strong { (label(&item.result)) } " " (item.evidence_type) " — " (item.reason)
                                @if !item.details.is_null() { (json_details("details", &item.details)) }
                            }
                        }
                    }
                }
            },
        })
        .collect()
}
