//! `GET /ui/decisions/{id}`: one decision — the request, the entity slice, the deciding
//! policies, the policy-set hash, effect and reasons. Shown to whoever the API's decision log
//! shows it (`read` on the decision's project, or `read_platform` for the platform-wide log);
//! to anyone else it is 404, as an unknown id.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::views::{self, list_or_dash, when};
use super::{ConsoleError, ConsoleState, Viewer};
use crate::audit::JsonText;
use crate::domain::{CanonicalUuid, Lookup};
use crate::http::extract::PathParams;
use crate::http::meta;

/// The page.
pub async fn page(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    PathParams(id): PathParams<Lookup<CanonicalUuid>>,
) -> Result<Response, ConsoleError> {
    let decision = state
        .api
        .admission
        .decision(&viewer.principal, &id, &meta())
        .await?;
    let body = html! {
        article.decision.single id={ "decision-" (decision.id) } {
            dl.facts {
                dt { "Effect" } dd { span class={ "effect " (decision.effect) } { (decision.effect) } }
                dt { "Action" } dd { (decision.action) }
                dt { "Principal" } dd { (decision.actor.id) }
                dt { "Decided" } dd { (when(&decision.decided_at)) }
                dt { "Project" } dd {
                    @match &decision.project {
                        Some(project) => a href={ "/ui/projects/" (views::encode(project)) } { (project) },
                        None => "—",
                    }
                }
                dt { "Artifact" } dd {
                    @match decision.artifact_id {
                        Some(artifact) => a href={ "/ui/artifacts/" (artifact) } { code { (artifact) } },
                        None => "—",
                    }
                }
                dt { "Resource" } dd { code { (decision.resource) } }
                dt { "Deciding policies" } dd.policies { (list_or_dash(&decision.policy_ids)) }
                dt { "Reasons" } dd.reasons {
                    @if decision.reasons.is_empty() { "—" } @else { (decision.reasons.join("; ")) }
                }
                @if !decision.errors.is_empty() {
                    dt { "Errors" } dd.error { (decision.errors.join("; ")) }
                }
                dt { "Policy set" } dd { code.hash { (decision.policy_hash) } }
                dt { "Request id" } dd { code { (decision.correlation_id) } }
            }
            h2 { "Request" }
            pre.request { (pretty(&decision.request)) }
            h2 { "Entity slice" }
            pre.entities { (pretty(&decision.entities)) }
        }
    };
    Ok(views::page(
        StatusCode::OK,
        &format!("Decision {}", decision.id),
        Some(&viewer),
        body,
    ))
}

fn pretty(value: &JsonText) -> String {
    serde_json::to_string_pretty(&value.to_value()).unwrap_or_default()
}
