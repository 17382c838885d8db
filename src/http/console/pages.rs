//! List pages: projects, a project's artifacts, the decision log and the audit trail. Each
//! calls the admission method its JSON twin calls, so the same Cedar action decides it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::views::{self, label, list_or_dash, query_string, short_digest, when};
use super::{ConsoleError, ConsoleState, Query, Viewer};
use crate::admission::ChainStatus;
use crate::admission::{ListQuery, LogQuery};
use crate::domain::ProjectSlug;
use crate::http::extract::PathParams;
use crate::http::{ApiError, meta};

/// `GET /ui`: the projects the signed-in token names, with its roles in each.
pub async fn projects(viewer: Viewer) -> Result<Response, ConsoleError> {
    let principal = &viewer.principal;
    let body = html! {
        @if principal.project_roles.is_empty() {
            p { "Your token names no project roles." }
        } @else {
            table {
                thead { tr { th { "Project" } th { "Your roles" } } }
                tbody {
                    @for (project, roles) in &principal.project_roles {
                        tr {
                            td { a href={ "/ui/projects/" (project) } { (project) } }
                            td { (roles.iter().map(label).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
        @if !principal.platform_roles.is_empty() {
            p { "Platform roles: " (principal.platform_roles.iter().cloned().collect::<Vec<_>>().join(", ")) }
        }
    };
    Ok(views::page(StatusCode::OK, "Projects", Some(&viewer), body))
}

/// `GET /ui/projects/{project}`: artifacts with the API's filters and paging.
pub async fn artifacts(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    PathParams(project): PathParams<String>,
    Query(query): Query<ArtifactSearch>,
) -> Result<Response, ConsoleError> {
    // Read here, not by the extractor: a refused slug is a console page, not problem+json.
    let project: ProjectSlug = project
        .parse()
        .map_err(|e: crate::domain::SlugError| ApiError::Invalid {
            field: "project".to_owned(),
            reason: e.to_string(),
        })?;
    let filters = [
        ("app", nonempty(&query.app)),
        ("artifact_kind", nonempty(&query.artifact_kind)),
        ("lifecycle_state", nonempty(&query.lifecycle_state)),
        ("trust_state", nonempty(&query.trust_state)),
        ("channel", nonempty(&query.channel)),
        ("digest", nonempty(&query.digest)),
    ];
    let filters: Vec<(&str, Option<&str>)> = filters.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    let mut typed = filters.clone();
    typed.push(("cursor", query.cursor.as_deref()));
    let limit = query.limit.map(|l| l.to_string());
    typed.push(("limit", limit.as_deref()));
    let page = state
        .api
        .admission
        .list_artifacts(
            &viewer.principal,
            &project,
            api_query::<ListQuery>(&typed)?,
            &meta(),
        )
        .await?;
    let body = html! {
        (filter_form(&format!("/ui/projects/{project}"), &filters))
        @if page.items.is_empty() {
            p { "No artifacts match." }
        } @else {
            table.artifacts {
                thead { tr {
                    th { "App" } th { "Kind" } th { "Type" } th { "Source" } th { "Digest" }
                    th { "Lifecycle" } th { "Trust" } th { "Channels" } th { "Registered" }
                } }
                tbody {
                    @for artifact in &page.items {
                        tr {
                            td { a href={ "/ui/artifacts/" (artifact.id) } { (artifact.app) } }
                            td { (label(&artifact.artifact_kind)) }
                            td { (label(&artifact.artifact_type)) }
                            td { (label(&artifact.source.source_type)) }
                            td { (short_digest(&artifact.digest.to_string())) }
                            td { span.state { (label(&artifact.lifecycle_state)) } }
                            td { span.state { (label(&artifact.trust_state)) } }
                            td { (list_or_dash(&artifact.channels.iter().map(label).collect::<Vec<_>>())) }
                            td { (when(&artifact.created_at)) }
                        }
                    }
                }
            }
        }
        (next_link(&filters, query.limit, page.next_cursor.as_deref()))
    };
    Ok(views::page(
        StatusCode::OK,
        &format!("Artifacts of {project}"),
        Some(&viewer),
        body,
    ))
}

/// A GET form of text filters (GET changes nothing, so it carries no CSRF token).
fn filter_form(action: &str, filters: &[(&str, Option<&str>)]) -> Markup {
    html! {
        form.filters method="get" action=(action) {
            @for (name, value) in filters {
                label {
                    span { (name.replace('_', " ")) }
                    input type="text" name=(name) value=(value.unwrap_or_default());
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// The link to the next page, keeping the filters and the page size.
fn next_link(filters: &[(&str, Option<&str>)], limit: Option<u32>, cursor: Option<&str>) -> Markup {
    let limit = limit.map(|limit| limit.to_string());
    let mut pairs = filters.to_vec();
    pairs.push(("limit", limit.as_deref()));
    pairs.push(("cursor", cursor));
    html! {
        @if cursor.is_some() {
            p.paging { a rel="next" href=(query_string(&pairs)) { "Next page →" } }
        }
    }
}

/// The decision search's query string: the names (`effect`, `principal`) over the API's.
#[derive(Debug, Default, Deserialize)]
pub struct DecisionSearch {
    project: Option<String>,
    action: Option<String>,
    effect: Option<String>,
    principal: Option<String>,
    artifact_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Page size, as `GET /v1/decisions` takes it (same default and cap).
    limit: Option<u32>,
    cursor: Option<String>,
}

/// `GET /ui/decisions`: the decision log, decided as `read` on the project (or
/// `read_platform` without one), exactly as `GET /v1/decisions`.
pub async fn decisions(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(search): Query<DecisionSearch>,
) -> Result<Response, ConsoleError> {
    let filters = [
        ("project", search.project.as_deref()),
        ("action", search.action.as_deref()),
        ("effect", search.effect.as_deref()),
        ("principal", search.principal.as_deref()),
        ("artifact_id", search.artifact_id.as_deref()),
        ("since", search.since.as_deref()),
        ("until", search.until.as_deref()),
    ];
    let limit = search.limit.map(|l| l.to_string());
    // The API's names for the issue's: `effect` is `decision`, `principal` is `actor`.
    let query: LogQuery = api_query(&[
        ("project", search.project.as_deref()),
        ("artifact_id", search.artifact_id.as_deref()),
        ("action", search.action.as_deref()),
        ("actor", search.principal.as_deref()),
        ("since", search.since.as_deref()),
        ("until", search.until.as_deref()),
        ("decision", search.effect.as_deref()),
        ("limit", limit.as_deref()),
        ("cursor", search.cursor.as_deref()),
    ])?;
    let page = state
        .api
        .admission
        .decision_log(&viewer.principal, query, &meta())
        .await?;
    let body = html! {
        (filter_form("/ui/decisions", &filters))
        @if page.items.is_empty() { p { "No decisions match." } }
        @for decision in &page.items {
            article.decision id={ "decision-" (decision.id) } {
                h2 {
                    span class={ "effect " (decision.effect) } { (decision.effect) }
                    " " (decision.action) " by " (decision.actor.id)
                }
                p.meta {
                    (when(&decision.decided_at))
                    @if let Some(project) = &decision.project { " · project " (project) }
                    @if let Some(artifact) = decision.artifact_id {
                        " · " a href={ "/ui/artifacts/" (artifact) } { "artifact" }
                    }
                    " · request " code { (decision.correlation_id) }
                    " · " a.open href={ "/ui/decisions/" (decision.id) } { "open decision" }
                }
                p { "Resource: " code { (decision.resource) } }
                p { "Deciding policies: " (list_or_dash(&decision.policy_ids)) }
                @if !decision.reasons.is_empty() { p { "Reasons: " (decision.reasons.join("; ")) } }
                @if !decision.errors.is_empty() { p.error { "Errors: " (decision.errors.join("; ")) } }
                p { "Policy set " code { (decision.policy_hash) } }
                (views::json_details("Request", &decision.request.to_value()))
                (views::json_details("Entity slice", &decision.entities.to_value()))
            }
        }
        (next_link(&filters, search.limit, page.next_cursor.as_deref()))
    };
    Ok(views::page(StatusCode::OK, "Decisions", Some(&viewer), body))
}

/// `GET /ui/audit`: audit records with the API's filters, decided as `GET /v1/audit` is.
pub async fn audit(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<AuditSearch>,
) -> Result<Response, ConsoleError> {
    let query = AuditSearch {
        project: nonempty(&query.project),
        artifact_id: nonempty(&query.artifact_id),
        action: nonempty(&query.action),
        actor: nonempty(&query.actor),
        since: nonempty(&query.since),
        until: nonempty(&query.until),
        limit: query.limit,
        cursor: nonempty(&query.cursor),
    };
    let filters = [
        ("project", query.project.clone()),
        ("artifact_id", query.artifact_id.clone()),
        ("action", query.action.clone()),
        ("actor", query.actor.clone()),
        ("since", query.since.clone()),
        ("until", query.until.clone()),
    ];
    let filters: Vec<(&str, Option<&str>)> = filters.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    let mut typed = filters.clone();
    typed.push(("cursor", query.cursor.as_deref()));
    let limit = query.limit.map(|l| l.to_string());
    typed.push(("limit", limit.as_deref()));
    let page = state
        .api
        .admission
        .audit_log(&viewer.principal, api_query::<LogQuery>(&typed)?, &meta())
        .await?;
    // The chain spans every project, so it belongs to the platform-wide view, which the log
    // above has already decided as `read_platform` (asking on a project view would only log
    // a denial per page).
    let chain = if query.project.is_none() {
        Some(
            state
                .api
                .admission
                .audit_chain(&viewer.principal, &meta())
                .await?,
        )
    } else {
        None
    };
    let body = html! {
        @if let Some(chain) = &chain { (chain_status(chain)) }
        (filter_form("/ui/audit", &filters))
        @if page.items.is_empty() { p { "No audit records match." } }
        @else {
            table.audit {
                thead { tr {
                    th { "Seq" } th { "When" } th { "Actor" } th { "Action" } th { "Project" }
                    th { "Artifact" } th { "Change" } th { "Decision" } th { "Hash" }
                } }
                tbody {
                    @for record in &page.items {
                        tr id={ "audit-" (record.seq) } {
                            td { (record.seq) }
                            td { (when(&record.occurred_at)) }
                            td { (record.body.actor.id) }
                            td { (record.body.action) }
                            td { (record.body.project.clone().unwrap_or_default()) }
                            td { @if let Some(id) = record.body.artifact_id {
                                a href={ "/ui/artifacts/" (id) } { "open" }
                            } }
                            td {
                                @if let Some(t) = &record.body.transition { (t.from) " → " (t.to) }
                                @if let Some(p) = &record.body.promotion { " to " (p.channel) }
                            }
                            td { @if let Some(d) = &record.body.decision {
                                (d.effect) " (" (list_or_dash(&d.policy_ids)) ")"
                            } }
                            td { code title=(record.hash) { (record.hash.chars().take(12).collect::<String>()) } }
                        }
                    }
                }
            }
        }
        (next_link(&filters, query.limit, page.next_cursor.as_deref()))
    };
    Ok(views::page(StatusCode::OK, "Audit", Some(&viewer), body))
}

/// The artifact search's query string as the form sends it (empty fields included).
#[derive(Debug, Default, Deserialize)]
pub struct ArtifactSearch {
    app: Option<String>,
    artifact_kind: Option<String>,
    lifecycle_state: Option<String>,
    trust_state: Option<String>,
    channel: Option<String>,
    digest: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The audit search's query string as the form sends it (empty fields included).
#[derive(Debug, Default, Deserialize)]
pub struct AuditSearch {
    project: Option<String>,
    artifact_id: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The API's typed query from the form's filled-in fields, parsed exactly as the API parses its
/// query string (same field, same message on a refused value).
fn api_query<T: serde::de::DeserializeOwned>(pairs: &[(&str, Option<&str>)]) -> Result<T, ApiError> {
    let given: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(name, value)| value.filter(|v| !v.trim().is_empty()).map(|v| (*name, v)))
        .collect();
    let text = serde_urlencoded::to_string(&given)
        .map_err(|_| ApiError::BadRequest("the filters cannot be read".to_owned()))?;
    crate::http::extract::parse_query(&text)
}

/// An empty form field means "no filter", as leaving the query parameter out would.
fn nonempty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.trim().is_empty()).cloned()
}

/// The chain's status as `gatehouse audit verify` reports it.
fn chain_status(chain: &ChainStatus) -> Markup {
    html! {
        section.chain aria-labelledby="chain" {
            h2 id="chain" { "Hash chain" }
            dl.facts {
                dt { "Status" }
                @if let Some(broken) = &chain.broken {
                    dd.error role="alert" { span.state { "broken" } " — " (broken) }
                } @else {
                    dd { span.state { "intact" } }
                }
                dt { "Verified records" } dd { (chain.records) }
                dt { "Verified head" }
                dd { @match &chain.head_hash { Some(hash) => { code.head { (hash) } }, None => { "none yet" } } }
                dt { "Pending" }
                dd { (chain.pending) " committed, not yet sealed into the chain (not verified)" }
            }
        }
    }
}
