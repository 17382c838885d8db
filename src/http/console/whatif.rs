//! `/ui/policies`: the serving set, and a what-if that replays the decision log against a
//! pasted or uploaded candidate (decided as `manage_policies`, like `/v1/policies` and its simulate).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::session::csrf_matches;
use super::upload::{MAX_CANDIDATE_BYTES, MAX_FILES, WhatIf};
use super::views::{self, csrf_field, list_or_dash, when};
use super::{ConsoleError, ConsoleState, Viewer};
use crate::admission::{SimulateInput, SimulateOutcome};
use crate::http::{ApiError, meta};
use crate::policy::ReplayReport;

/// A form field read as its domain type: empty means "no filter", a refused value is the
/// field's 422 as in the API.
fn form_value<T>(field: &str, raw: &str) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|e: T::Err| ApiError::Invalid {
        field: field.to_owned(),
        reason: e.to_string(),
    })
}

/// `GET /ui/policies`.
pub async fn policies(State(state): State<ConsoleState>, viewer: Viewer) -> Result<Response, ConsoleError> {
    let body = serving(&state, &viewer).await?;
    let body = html! { (body) (what_if_form(&viewer, None)) };
    Ok(views::page(StatusCode::OK, "Policies", Some(&viewer), body))
}

/// `POST /ui/policies/what-if`: the decisions the candidate (pasted, uploaded or both) would
/// change. urlencoded or multipart; the candidate is bounded by [`MAX_CANDIDATE_BYTES`].
pub async fn run(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    request: Request,
) -> Result<Response, ConsoleError> {
    let fields = WhatIf::read(request).await?;
    if !csrf_matches(&fields.csrf, &viewer.session.csrf) {
        return Err(ConsoleError::Csrf);
    }
    let input = SimulateInput {
        files: crate::domain::policy_file_set(fields.candidate()?).map_err(|e| {
            ConsoleError::Api(ApiError::Invalid {
                field: "files".to_owned(),
                reason: e.to_string(),
            })
        })?,
        since: None,
        project: form_value("project", &fields.project)?,
        action: form_value("action", &fields.action)?,
        limit: None,
    };
    let names: Vec<String> = input.files.keys().map(|n| n.as_str().to_owned()).collect();
    let outcome = state
        .api
        .admission
        .simulate_policies(&viewer.principal, input, &meta())
        .await?;
    let (status, result) = match outcome {
        SimulateOutcome::Report(report) => (StatusCode::OK, report_table(&report, &names)),
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
        form.whatif method="post" action="/ui/policies/what-if" enctype="multipart/form-data" {
            (csrf_field(viewer))
            label for="files" { "Candidate policy files (the whole set: several " code { ".cedar" } " files, or one file)" }
            input id="files" type="file" name="files" multiple accept=".cedar,text/plain";
            label for="policies" { "Or paste the candidate (Cedar text; added to any files chosen)" }
            textarea id="policies" name="policies" rows="14" spellcheck="false" { (text) }
            label { span { "Only project" } input type="text" name="project" value=(project); }
            label { span { "Only action" } input type="text" name="action" value=(action); }
            p.hint { "At most " (MAX_CANDIDATE_BYTES / 1024) " KiB and " (MAX_FILES) " files." }
            button type="submit" { "Replay the decision log" }
        }
    }
}

fn report_table(report: &ReplayReport, files: &[String]) -> Markup {
    html! {
        p.files { "Candidate files: " (list_or_dash(files)) }
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
                            td { a href={ "/ui/decisions/" (change.decision_id) } { code { (change.decision_id) } } }
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
