//! The served `/openapi.json`: valid OpenAPI 3.1 (checked against the official schema, committed
//! as `fixtures/openapi-3.1-schema.json`), and in step with the router: every routed path and
//! method is documented, nothing documented is unrouted, and the statuses the server answers are
//! the ones the document lists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Db, TestApp};
use serde_json::{Value, json};

async fn served_document(app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let (status, doc) = common::read(response).await;
    assert_eq!(status, 200);
    doc
}

fn platform_admin() -> String {
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    common::sign_es256(&claims)
}

/// Paths as the router holds them. axum does not list its routes, but its `Debug` output names
/// every path it matches; the fallback's catch-all paths are not routes.
fn routed_paths() -> BTreeSet<String> {
    let (router, _) = gatehouse::http::routes().split_for_parts();
    let debug = format!("{router:?}");
    let routes = debug
        .split("fallback_router")
        .next()
        .unwrap_or_default()
        .to_owned();
    let pattern = regex::Regex::new(r#"RouteId\(\d+\): "([^"]+)""#).unwrap();
    let paths: BTreeSet<String> = pattern.captures_iter(&routes).map(|c| c[1].to_owned()).collect();
    assert!(paths.len() > 30, "the router's paths were not found: {debug}");
    paths
}

/// `path` with each `{param}` filled with a value the route accepts in form.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" => "0190f3c8-4e5b-7a00-8000-000000000000",
            "{project}" => "team-a",
            "{family}" => "artifact_types",
            s if s.starts_with('{') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let doc = served_document(&app).await;
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_path("fixtures/openapi-3.1-schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["bearerFormat"],
        "JWT"
    );
    // Every `$ref` resolves inside the document.
    let text = doc.to_string();
    let refs = regex::Regex::new(r##""\$ref":"#/components/schemas/([^"]+)""##).unwrap();
    for r in refs.captures_iter(&text) {
        assert!(
            doc["components"]["schemas"][&r[1]].is_object(),
            "dangling $ref {}",
            &r[1]
        );
    }
    // Request bodies come from the Rust types, serde names and all.
    let register = &doc["components"]["schemas"]["RegisterInput"];
    assert!(register["properties"]["artifact_kind"].is_object(), "{register}");
    assert!(doc["components"]["schemas"]["Problem"]["properties"]["type"].is_object());
    app.shutdown().await;
}

/// A document that is not OpenAPI fails the same validation (the check is not vacuous).
#[test]
fn the_schema_check_refuses_a_broken_document() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_path("fixtures/openapi-3.1-schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let mut doc = serde_json::to_value(gatehouse::http::openapi_document()).unwrap();
    assert!(validator.is_valid(&doc));
    doc["paths"]["/healthz"]["get"]["responses"] = json!("ok");
    assert!(!validator.is_valid(&doc));
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_path_is_routed() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let doc = served_document(&app).await;
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let routed = routed_paths();
    assert_eq!(routed, documented, "routed paths and documented paths differ");
    for path in [
        "/k8s/admission",
        "/v1/artifacts/{id}/vsa",
        "/v1/vsa/public-key",
        "/metrics",
        "/healthz",
        "/readyz",
        "/v1/registry/token",
        "/v1/webhooks/registry",
        "/openapi.json",
    ] {
        assert!(documented.contains(path), "openapi lacks {path}");
    }

    // Methods, asked of the served router: 405 means the path has no such method.
    let admin = platform_admin();
    for path in &routed {
        let url = format!("{}{}", app.base, concrete(path));
        for method in METHODS {
            let response = app
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            let routed_method = response.status().as_u16() != 405;
            let operation = &doc["paths"][path][method];
            assert_eq!(
                routed_method,
                operation.is_object(),
                "{method} {path}: routed {routed_method}, documented {}",
                operation.is_object()
            );
            if !routed_method {
                continue;
            }
            // Each operation lists its statuses, a success among them.
            let statuses: BTreeMap<String, Value> =
                serde_json::from_value(operation["responses"].clone()).unwrap();
            assert!(
                statuses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: {statuses:?}"
            );
            // What the server answers, unauthenticated and as a platform admin with an empty
            // request, is a documented status.
            let status = response.status().as_u16().to_string();
            assert!(
                statuses.contains_key(&status),
                "{method} {path} answered {status} unauthenticated; documented {:?}",
                statuses.keys()
            );
            let response = app
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16().to_string();
            assert!(
                statuses.contains_key(&status),
                "{method} {path} answered {status} to a platform admin; documented {:?}",
                statuses.keys()
            );
        }
    }
    app.shutdown().await;
}

/// The document the server serves is the one the code generates.
#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let doc = served_document(&app).await;
    assert_eq!(
        doc,
        serde_json::to_value(gatehouse::http::openapi_document()).unwrap()
    );
    app.shutdown().await;
}

/// Response bodies typed in Rust appear with their serde names: an app's creator is an `Actor`
/// whose kind serializes as `type`.
#[test]
fn typed_response_bodies_follow_serde() {
    let doc = serde_json::to_value(gatehouse::http::openapi_document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["Actor"]["properties"]["type"].is_object(),
        "{}",
        schemas["Actor"]
    );
    assert!(schemas["Actor"]["properties"].get("actor_type").is_none());
    let created =
        &doc["paths"]["/v1/apps"]["post"]["responses"]["201"]["content"]["application/json"]["schema"];
    assert_eq!(created["$ref"], "#/components/schemas/AppRegistration");
    let release = &doc["paths"]["/v1/platform/releases/{version}"]["get"]["responses"]["200"];
    assert_eq!(
        release["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Release"
    );
}
