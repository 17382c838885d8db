//! `/ui/policies`: the serving set, and a what-if that replays the decision log against a
//! pasted candidate (decided as `manage_policies`, like `/v1/policies` and its simulate).

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::session::csrf_matches;
use super::signin::form_body;
use super::views::{self, csrf_field, list_or_dash, when};
use super::{ConsoleError, ConsoleState, Viewer};
use crate::admission::{SimulateInput, SimulateOutcome};
use crate::http::meta;
use crate::policy::ReplayReport;

/// The what-if form: one pasted file is the whole candidate set.
#[derive(Deserialize)]
pub struct WhatIf {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    file_name: String,
    policies: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    action: String,
}

/// `GET /ui/policies`.
pub async fn policies(State(state): State<ConsoleState>, viewer: Viewer) -> Result<Response, ConsoleError> {
    let body = serving(&state, &viewer).await?;
    let body = html! { (body) (what_if_form(&viewer, None)) };
    Ok(views::page(StatusCode::OK, "Policies", Some(&viewer), body))
}

/// `POST /ui/policies/what-if`: the decisions the candidate would change.
pub async fn run(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    form: Result<Form<WhatIf>, FormRejection>,
) -> Result<Response, ConsoleError> {
    let fields = form_body(form)?;
    if !csrf_matches(&fields.csrf, &viewer.session.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let name = if fields.file_name.trim().is_empty() {
        "candidate.cedar".to_owned()
    } else {
        fields.file_name.trim().to_owned()
    };
    let input = SimulateInput {
        files: BTreeMap::from([(name, fields.policies.clone())]),
        since: None,
        project: Some(fields.project.trim().to_owned()).filter(|p| !p.is_empty()),
        action: Some(fields.action.trim().to_owned()).filter(|a| !a.is_empty()),
        limit: None,
    };
    let outcome = state
        .api
        .admission
        .simulate_policies(&viewer.principal, input, &meta())
        .await?;
    let (status, result) = match outcome {
        SimulateOutcome::Report(report) => (StatusCode::OK, report_table(&report)),
        SimulateOutcome::Refused(error) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! {
                p.error role="alert" { "The candidate policy set is invalid; nothing was replayed." }
                ul.problems { @for problem in &error.problems { li { (problem) } } }
            },
        ),
    };
    let body = html! { (result) (what_if_form(&viewer, Some(&fields))) };
    Ok(views::page(status, "Policy what-if", Some(&viewer), body))
}

async fn serving(state: &ConsoleState, viewer: &Viewer) -> Result<Markup, ConsoleError> {
    let set = state.api.admission.policy_set(&viewer.principal, &meta()).await?;
    Ok(html! {
        dl.facts {
            dt { "Serving hash" } dd { code { (set.hash) } }
            dt { "Loaded" } dd { (when(&set.loaded_at)) }
            dt { "Files" } dd { (list_or_dash(&set.files)) }
            dt { "Policies" } dd { (list_or_dash(&set.policy_ids)) }
            dt { "Last refused reload" } dd {
                @match &set.last_reload_error { Some(e) => pre.error { (e) }, None => "none" }
            }
        }
    })
}

fn what_if_form(viewer: &Viewer, previous: Option<&WhatIf>) -> Markup {
    let text = previous.map_or("", |p| p.policies.as_str());
    let project = previous.map_or("", |p| p.project.as_str());
    let action = previous.map_or("", |p| p.action.as_str());
    html! {
        h2 { "What if" }
        form.whatif method="post" action="/ui/policies/what-if" {
            (csrf_field(viewer))
            input type="hidden" name="file_name" value="candidate.cedar";
            label for="policies" { "Candidate policy set (the whole set, Cedar text)" }
            textarea id="policies" name="policies" rows="14" spellcheck="false" required { (text) }
            label { span { "Only project" } input type="text" name="project" value=(project); }
            label { span { "Only action" } input type="text" name="action" value=(action); }
            button type="submit" { "Replay the decision log" }
        }
    }
}

fn report_table(report: &ReplayReport) -> Markup {
    html! {
        p.summary {
            "Replayed " (report.replayed) " decisions against candidate "
            code { (report.candidate_hash) } ": " strong { (report.changed) " would change" } "."
        }
        @if !report.changes.is_empty() {
            table.changes {
                thead { tr {
                    th { "Decision" } th { "When" } th { "Who" } th { "Action" } th { "Resource" }
                    th { "Change" } th { "Decided then by" } th { "Would be decided by" } th { "Reasons" }
                } }
                tbody {
                    @for change in &report.changes {
                        tr {
                            td { a href={ "/ui/decisions" @if let Some(p) = &change.project { "?project=" (views::encode(p)) } "#decision-" (change.decision_id) } { code { (change.decision_id) } } }
                            td { (when(&change.decided_at)) }
                            td { (change.actor.id) }
                            td { (change.action) }
                            td { code { (change.resource) } }
                            td { span class={ "effect " (change.old_effect) } { (change.old_effect) } " → " span class={ "effect " (change.new_effect) } { (change.new_effect) } }
                            td { (list_or_dash(&change.old_policy_ids)) }
                            td { (list_or_dash(&change.new_policy_ids)) }
                            td { (list_or_dash(&change.new_reasons)) }
                        }
                    }
                }
            }
        }
    }
}
