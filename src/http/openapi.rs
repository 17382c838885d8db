//! The OpenAPI 3.1 document, generated from the routes and types: every route is registered with
//! utoipa-axum's `routes!`, which takes its path, method and responses from the handler's
//! `#[utoipa::path]`, so a route cannot exist without its entry. Bodies come from the Rust types
//! (`ToSchema`, serde renames honoured); errors are the problem+json [`Problem`] per status.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder, header::Header};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// An RFC 9457 problem, as every error answers (`application/problem+json`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // A description of what `ApiError` renders; never built.
pub struct Problem {
    /// `urn:gatehouse:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed per kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, in one line.
    pub detail: String,
    /// The request's `x-request-id`.
    pub request_id: String,
    /// 422: the invalid field.
    pub field: Option<String>,
    /// 422 invalid-manifest: every fault, each naming its JSON pointer and rule.
    pub errors: Option<Vec<crate::manifest::Fault>>,
    /// 403: always `deny`.
    pub decision: Option<String>,
    /// 403: the deciding policies.
    pub policy_ids: Option<Vec<String>>,
    /// 403: why, in words.
    pub reasons: Option<Vec<String>>,
    /// 403: the hash of the policy set that decided.
    pub policy_hash: Option<String>,
    /// 409 registration-conflict: the fields whose stored values differ.
    pub fields: Option<Vec<String>>,
}

const PROBLEM_JSON: &str = "application/problem+json";

/// A problem+json response with `description`.
pub fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, Content::new(Some(Ref::from_schema_name("Problem"))))
        .build()
        .into()
}

/// A problem+json response that also carries `Retry-After`.
fn retry_problem(description: &str) -> RefOr<Response> {
    let retry_after = Header::new(
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Integer)
            .minimum(Some(1)),
    );
    ResponseBuilder::new()
        .description(description)
        .header("Retry-After", retry_after)
        .content(PROBLEM_JSON, Content::new(Some(Ref::from_schema_name("Problem"))))
        .build()
        .into()
}

fn responses(list: &[(&str, RefOr<Response>)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(code, r)| ((*code).to_owned(), r.clone()))
        .collect()
}

/// The errors of every bearer-authenticated route: 401, 403, 429 and 503.
pub struct Authenticated;

impl IntoResponses for Authenticated {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("401", problem("no bearer token, or not a valid one")),
            (
                "403",
                problem("denied by policy: `policy_ids`, `reasons` and `policy_hash` say why"),
            ),
            ("429", retry_problem("the caller's rate limit is spent")),
            (
                "503",
                retry_problem("a dependency is unavailable, or the gateway is overloaded"),
            ),
        ])
    }
}

/// The errors of a JSON body (`JsonBody`): 400, 408, 413, 415 and 422.
pub struct JsonInput;

impl IntoResponses for JsonInput {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("400", problem("malformed JSON")),
            (
                "408",
                problem("the request body did not arrive within the request deadline"),
            ),
            ("413", problem("body above `http.body_limit_bytes`")),
            ("415", problem("a non-empty body not sent as `application/json`")),
            (
                "422",
                problem("well-formed, but a field is invalid: `field` names it"),
            ),
        ])
    }
}

/// The description of the API as a whole; paths are added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse",
        version = "1",
        description = "Artifact admission gateway. Errors are RFC 9457 problem+json with `request_id`; see API.md. Besides the statuses listed per operation, any request may answer: 404 (unknown route), 405 (known route, other method; `Allow` lists the methods), 408 (the request body arrived too slowly), 413 (body above `http.body_limit_bytes`), 414 (target above `http.max_uri_bytes`), 431 (headers above `http.max_header_bytes` or `http.max_headers`), and 503 with `Retry-After` when more than `http.max_requests_in_flight` requests are in hand (`/healthz`, `/readyz` and `/metrics` excepted). Authenticated requests may answer 429 with `Retry-After` when the caller's rate limit (`http.rate_limit_per_second`) is spent. Ids in paths are canonical lowercase hyphenated UUIDs; any other spelling is 404."
    ),
    components(schemas(Problem, crate::manifest::Fault)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "artifacts", description = "Registration, verification and lifecycle of artifacts"),
        (name = "apps", description = "App manifests, versions and entitlements"),
        (name = "catalog", description = "The catalog of artifact types, source types and other families"),
        (name = "registry", description = "Publish and pull intents, the registry token realm and notifications"),
        (name = "releases", description = "The platform release catalog"),
        (name = "policies", description = "Decisions, logs and the policy set"),
        (name = "kubernetes", description = "The Kubernetes validating admission webhook"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// `bearer`: a JWT from a configured issuer (the Kubernetes webhook takes the configured
/// `kubernetes.token_file` token the same way); `intent_basic`: an intent credential at the
/// registry token realm; `webhook_secret`: the registry notification secret as a bearer token.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut jwt = Http::new(HttpAuthScheme::Bearer);
        jwt.bearer_format = Some("JWT".to_owned());
        let mut secret = Http::new(HttpAuthScheme::Bearer);
        secret.description =
            Some("`registry.webhook_secret_file`, sent as `Authorization: Bearer <secret>`".to_owned());
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description =
            Some("an intent credential (username and password from a publish or pull intent)".to_owned());
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(jwt));
            components.add_security_scheme("intent_basic", SecurityScheme::Http(basic));
            components.add_security_scheme("webhook_secret", SecurityScheme::Http(secret));
        }
    }
}

/// The whole document: [`ApiDoc`] with every routed path.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, paths) = super::routes().split_for_parts();
    let mut doc = ApiDoc::openapi();
    doc.merge(paths);
    doc
}

/// The served document, built once.
pub static DOCUMENT_JSON: LazyLock<String> =
    LazyLock::new(|| serde_json::to_string(&document()).unwrap_or_else(|_| "{}".to_owned()));
