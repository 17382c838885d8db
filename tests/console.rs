//! The web console at `/ui`, driven over HTTP as a browser would (cookies and forms by hand):
//! sign-in and its cookie, security headers, CSRF refusals, pages that show what the API
//! shows the same caller (and refuse what it refuses), and escaping of stored text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::oidc_provider::{CLIENT_ID, Provider};
use common::{Db, TestApp, token};
use gatehouse::http::{OidcConfig, SessionToken};
use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;
use serde_json::json;

/// A browser-like client that does not follow redirects (so they can be asserted).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

async fn page(response: reqwest::Response) -> Page {
    Page {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

async fn get(app: &TestApp, path: &str, session: Option<&str>) -> Page {
    let mut request = browser().get(format!("{}{path}", app.base));
    if let Some(session) = session {
        request = request.header(header::COOKIE, format!("gatehouse_session={session}"));
    }
    page(request.send().await.unwrap()).await
}

/// POSTs a urlencoded form with the given cookie header.
async fn post_form(app: &TestApp, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Page {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .body(body)
        .send()
        .await
        .unwrap();
    page(response).await
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value of cookie `name` set by the response, with its attributes.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// The hidden `csrf` field of the first form on the page.
fn csrf_field(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Signs in through the form and answers the session cookie value.
async fn sign_in(app: &TestApp, bearer: &str) -> String {
    let form = get(app, "/ui/login", None).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let login = cookie_value(&set_cookie(&form.headers, "gatehouse_login_csrf").unwrap());
    let signed = post_form(
        app,
        "/ui/login",
        &format!("gatehouse_login_csrf={login}"),
        &[("token", bearer), ("csrf", &csrf_field(&form.body))],
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    cookie_value(&set_cookie(&signed.headers, "gatehouse_session").expect("a session cookie"))
}

/// A 429 says, in whole seconds and at least one, when to try again.
fn assert_retry_after(refused: &Page) {
    assert_eq!(refused.status, 429, "{}", refused.body);
    let retry_after: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
}

/// Text as maud writes it into HTML.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn operator(project: &str) -> String {
    token("olivia", json!({ project: ["operator"] }))
}

fn viewer(project: &str) -> String {
    token("victor", json!({ project: ["viewer"] }))
}

fn security_admin() -> String {
    let mut claims = common::user_claims("sam", json!({}));
    claims["platform_roles"] = json!(["security_admin"]);
    common::sign_es256(&claims)
}

async fn register(app: &TestApp, project: &str, seed: &str) -> String {
    app.register_oci(project, &operator(project), seed).await
}

#[tokio::test]
async fn sign_in_opens_a_strict_session_and_every_page_carries_the_security_headers() {
    let app = TestApp::spawn(Db::sqlite()).await;

    let anonymous = get(&app, "/ui", None).await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.headers[header::LOCATION], "/ui/login");

    let form = get(&app, "/ui/login", None).await;
    let csp = form.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'none'"),
        "{csp}"
    );
    assert_eq!(form.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(form.headers[header::REFERRER_POLICY], "no-referrer");
    assert!(!form.body.contains("<script"), "no script at all");

    let login = cookie_value(&set_cookie(&form.headers, "gatehouse_login_csrf").unwrap());
    let signed = post_form(
        &app,
        "/ui/login",
        &format!("gatehouse_login_csrf={login}"),
        &[("token", &viewer("team-a")), ("csrf", &csrf_field(&form.body))],
    )
    .await;
    assert_eq!(
        (signed.status, &signed.headers[header::LOCATION]),
        (303, &"/ui".parse().unwrap())
    );
    let cookie = set_cookie(&signed.headers, "gatehouse_session").unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"] {
        assert!(
            cookie.split("; ").any(|part| part == flag),
            "{flag} missing: {cookie}"
        );
    }
    // Expires with the token (issued for 600 seconds).
    let max_age: u64 = cookie
        .split("; ")
        .find_map(|part| part.strip_prefix("Max-Age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&max_age), "{cookie}");

    let projects = get(&app, "/ui", Some(&cookie_value(&cookie))).await;
    assert_eq!(projects.status, 200, "{}", projects.body);
    assert!(
        projects.body.contains(r#"href="/ui/projects/team-a""#),
        "{}",
        projects.body
    );
    assert_eq!(projects.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(projects.headers[header::CACHE_CONTROL], "no-store");

    // An unknown session id is no session.
    let forged = get(&app, "/ui", Some("not-a-session")).await;
    assert_eq!(forged.status, 303);
    app.shutdown().await;
}

#[tokio::test]
async fn forms_without_their_anti_forgery_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn(Db::sqlite()).await;

    // Sign-in: a field without the matching cookie, or no field at all.
    let form = get(&app, "/ui/login", None).await;
    let csrf = csrf_field(&form.body);
    let bare = post_form(
        &app,
        "/ui/login",
        "",
        &[("token", &viewer("team-a")), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(bare.status, 403, "{}", bare.body);
    assert!(set_cookie(&bare.headers, "gatehouse_session").is_none());
    let other = post_form(
        &app,
        "/ui/login",
        "gatehouse_login_csrf=someone-elses",
        &[("token", &viewer("team-a")), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(other.status, 403);

    // A token that does not verify is 401 with the form again, and no session.
    let login = cookie_value(&set_cookie(&form.headers, "gatehouse_login_csrf").unwrap());
    let wrong = post_form(
        &app,
        "/ui/login",
        &format!("gatehouse_login_csrf={login}"),
        &[("token", "not.a.jwt"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(set_cookie(&wrong.headers, "gatehouse_session").is_none());

    // Sign-out and what-if need the session's token.
    let session = sign_in(&app, &security_admin()).await;
    let cookie = format!("gatehouse_session={session}");
    let out = post_form(&app, "/ui/logout", &cookie, &[("csrf", "guess")]).await;
    assert_eq!(out.status, 403);
    let what_if = post_form(&app, "/ui/policies/what-if", &cookie, &[("policies", "")]).await;
    assert_eq!(what_if.status, 403, "{}", what_if.body);
    let still = get(&app, "/ui/policies", Some(&session)).await;
    assert_eq!(still.status, 200, "the session survived: {}", still.body);

    // With it, sign-out ends the session.
    let out = post_form(&app, "/ui/logout", &cookie, &[("csrf", &csrf_field(&still.body))]).await;
    assert_eq!(out.status, 303);
    assert_eq!(get(&app, "/ui", Some(&session)).await.status, 303);
    app.shutdown().await;
}

#[tokio::test]
async fn the_next_page_link_keeps_the_filters_and_the_page_size() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let mut ids = Vec::new();
    for seed in ["page-1", "page-2", "page-3"] {
        ids.push(register(&app, "team-a", seed).await);
    }
    let session = sign_in(&app, &viewer("team-a")).await;
    let rows = |html: &str| {
        ids.iter()
            .filter(|id| html.contains(&format!("/ui/artifacts/{id}")))
            .count()
    };

    let first = get(&app, "/ui/projects/team-a?limit=1&app=trainer", Some(&session)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(rows(&first.body), 1, "{}", first.body);
    let next = next_link(&first.body);
    assert!(next.contains("app=trainer") && next.contains("limit=1"), "{next}");
    let second = get(&app, &format!("/ui/projects/team-a{next}"), Some(&session)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(rows(&second.body), 1, "one artifact a page: {}", second.body);
    assert_ne!(
        ids.iter().position(|id| first.body.contains(id.as_str())),
        ids.iter().position(|id| second.body.contains(id.as_str())),
        "the second page is the next artifact"
    );
    app.shutdown().await;
}

/// The page's `rel="next"` link, unescaped.
fn next_link(html: &str) -> String {
    let start = html.find(r#"rel="next" href=""#).expect("a next link") + r#"rel="next" href=""#.len();
    html[start..].split('"').next().unwrap().replace("&amp;", "&")
}

#[tokio::test]
async fn the_decisions_page_takes_a_page_size_and_keeps_it_in_the_next_link() {
    let app = TestApp::spawn(Db::sqlite()).await;
    for seed in ["decided-1", "decided-2", "decided-3"] {
        register(&app, "team-a", seed).await;
    }
    let session = sign_in(&app, &viewer("team-a")).await;
    let articles = |html: &str| html.matches(r#"<article class="decision""#).count();
    let ids = |html: &str| -> Vec<String> {
        html.split(r#"<article class="decision" id=""#)
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    };

    let all = get(
        &app,
        "/ui/decisions?project=team-a&action=register",
        Some(&session),
    )
    .await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(articles(&all.body), 3, "the default page holds them all");

    let first = get(
        &app,
        "/ui/decisions?project=team-a&action=register&limit=2",
        Some(&session),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(articles(&first.body), 2, "{}", first.body);
    let next = next_link(&first.body);
    assert!(
        next.contains("limit=2") && next.contains("project=team-a") && next.contains("action=register"),
        "{next}"
    );
    let second = get(&app, &format!("/ui/decisions{next}"), Some(&session)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(articles(&second.body), 1, "{}", second.body);
    let mut seen = ids(&first.body);
    seen.extend(ids(&second.body));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "the pages are disjoint: {seen:?}");

    // Above the API's cap, refused as `GET /v1/decisions` refuses it, naming the field.
    let above = get(&app, "/ui/decisions?project=team-a&limit=501", Some(&session)).await;
    assert_eq!(above.status, 422, "{}", above.body);
    assert!(above.body.contains("limit"), "{}", above.body);
    let (status, _) = app
        .get("/v1/decisions?project=team-a&limit=501", &viewer("team-a"))
        .await;
    assert_eq!(status, 422);
    app.shutdown().await;
}

#[tokio::test]
async fn a_viewer_of_one_project_is_refused_what_the_api_refuses() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let theirs = register(&app, "team-b", "b-1").await;
    let bearer = viewer("team-a");
    let session = sign_in(&app, &bearer).await;

    // Another project's artifacts are as unknown as missing ones (404); the platform-wide views
    // are refused (403).
    let cases = [
        (
            format!("/ui/artifacts/{theirs}"),
            format!("/v1/artifacts/{theirs}"),
            404,
        ),
        (
            "/ui/projects/team-b".to_owned(),
            "/v1/projects/team-b/artifacts".to_owned(),
            404,
        ),
        ("/ui/decisions".to_owned(), "/v1/decisions".to_owned(), 403),
        (
            "/ui/decisions?project=team-b".to_owned(),
            "/v1/decisions?project=team-b".to_owned(),
            403,
        ),
        ("/ui/audit".to_owned(), "/v1/audit".to_owned(), 403),
        ("/ui/policies".to_owned(), "/v1/policies".to_owned(), 403),
    ];
    for (ui, api, expected) in cases {
        let (api_status, _) = app.get(&api, &bearer).await;
        let shown = get(&app, &ui, Some(&session)).await;
        assert_eq!(api_status, expected, "{api}");
        assert_eq!(
            shown.status, api_status,
            "{ui} answers as {api} does: {}",
            shown.body
        );
        assert!(!shown.body.contains("trainer"), "{ui} shows nothing of team-b");
    }
    // Another project's decision, by id: as unknown as a missing one.
    let (status, log) = app.get("/v1/decisions?project=team-b", &operator("team-b")).await;
    assert_eq!(status, 200, "{log}");
    let their_decision = log["items"][0]["id"].as_str().unwrap().to_owned();
    let hidden = get(&app, &format!("/ui/decisions/{their_decision}"), Some(&session)).await;
    assert_eq!(hidden.status, 404, "{}", hidden.body);
    assert!(!hidden.body.contains("team-b"), "{}", hidden.body);
    let missing = get(
        &app,
        "/ui/decisions/00000000-0000-7000-8000-000000000000",
        Some(&session),
    )
    .await;
    assert_eq!(missing.status, 404);
    // A platform reader sees it, as in the platform-wide log.
    let auditor = sign_in(&app, &common::auditor_token()).await;
    let audited = get(&app, &format!("/ui/decisions/{their_decision}"), Some(&auditor)).await;
    assert_eq!(audited.status, 200, "{}", audited.body);
    assert!(audited.body.contains("team-b"), "{}", audited.body);
    // An id in another spelling is as unknown as in the API.
    let upper = get(
        &app,
        &format!("/ui/artifacts/{}", theirs.to_uppercase()),
        Some(&session),
    )
    .await;
    assert_eq!(upper.status, 404);
    app.shutdown().await;
}

#[tokio::test]
async fn the_timeline_shows_a_denied_promotion_with_its_reason_and_escapes_stored_text() {
    timeline_flow(Db::sqlite()).await;
}

#[tokio::test]
async fn the_timeline_shows_a_denied_promotion_on_postgres() {
    if let Some(db) = common::pg::fresh_db().await {
        timeline_flow(Db::Postgres(db)).await;
    }
}

async fn timeline_flow(db: Db) {
    let app = TestApp::spawn(db).await;
    let id = register(&app, "team-a", "a-1").await;
    let op = operator("team-a");
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &op,
            json!({ "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, denied) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &op,
            json!({ "channel": "staging" }),
        )
        .await;
    assert_eq!((status, &denied["decision"]), (403, &json!("deny")), "{denied}");
    let hostile = r#"<script>alert("owned")</script>"#;
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/deprecate"),
            &op,
            json!({ "reason": hostile }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let session = sign_in(&app, &viewer("team-a")).await;
    let list = get(&app, "/ui/projects/team-a", Some(&session)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains(&format!(r#"href="/ui/artifacts/{id}""#)),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("deprecated") && list.body.contains("dev"),
        "{}",
        list.body
    );
    let filtered = get(
        &app,
        "/ui/projects/team-a?lifecycle_state=published&app=",
        Some(&session),
    )
    .await;
    assert_eq!(filtered.status, 200);
    assert!(
        !filtered.body.contains(&id),
        "the filter applies: {}",
        filtered.body
    );
    let invalid = get(&app, "/ui/projects/team-a?trust_state=trusted", Some(&session)).await;
    assert_eq!(
        invalid.status, 422,
        "bad input is named as by the API: {}",
        invalid.body
    );

    let timeline = get(&app, &format!("/ui/artifacts/{id}"), Some(&session)).await;
    assert_eq!(timeline.status, 200, "{}", timeline.body);
    let html = &timeline.body;
    for reason in denied["reasons"].as_array().unwrap() {
        assert!(
            html.contains(&escaped(reason.as_str().unwrap())),
            "reason {reason} shown: {html}"
        );
    }
    assert!(html.contains("entry decision deny"), "{html}");
    assert!(html.contains("Promoted to <strong>dev</strong>"), "{html}");
    assert!(html.contains("app_artifact.register"), "{html}");
    assert!(html.contains(&escaped(hostile)), "the reason is shown as text");
    assert!(!html.contains("<script"), "no markup from stored text: {html}");
    // Newest first: the deprecation comes before the registration.
    assert!(html.find("app_artifact.deprecate").unwrap() < html.find("app_artifact.register").unwrap());
    // Each audit record links to its row in the audit page, and the link works for the same
    // viewer: it names the project, whose log a project reader may see.
    let marker = r#"<a href="/ui/audit?"#;
    let start = html.find(marker).expect("a link to the audit page") + r#"<a href=""#.len();
    let link = html[start..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(
        link.starts_with(&format!("/ui/audit?project=team-a&artifact_id={id}#audit-")),
        "{link}"
    );
    let (path, anchor) = link.split_once('#').unwrap();
    let followed = get(&app, path, Some(&session)).await;
    assert_eq!(followed.status, 200, "{link}: {}", followed.body);
    assert!(
        followed.body.contains(&format!(r#"id="{anchor}""#)),
        "{link}: {}",
        followed.body
    );
    // Each decision on the timeline links to its own page.
    let (status, denials) = app
        .get("/v1/decisions?project=team-a&decision=deny", &viewer("team-a"))
        .await;
    assert_eq!(status, 200, "{denials}");
    let denial = &denials["items"][0];
    let denial_id = denial["id"].as_str().unwrap();
    assert!(
        html.contains(&format!(r#"href="/ui/decisions/{denial_id}""#)),
        "links to the denial's page: {html}"
    );
    let page_of = get(&app, &format!("/ui/decisions/{denial_id}"), Some(&session)).await;
    assert_eq!(page_of.status, 200, "{}", page_of.body);
    let shown = &page_of.body;
    for policy in denial["policy_ids"].as_array().unwrap() {
        assert!(shown.contains(policy.as_str().unwrap()), "{policy}: {shown}");
    }
    for reason in denial["reasons"].as_array().unwrap() {
        assert!(
            shown.contains(&escaped(reason.as_str().unwrap())),
            "{reason}: {shown}"
        );
    }
    assert!(shown.contains(denial["policy_hash"].as_str().unwrap()), "{shown}");
    assert!(shown.contains(r#"<pre class="request">"#) && shown.contains(r#"<pre class="entities">"#));
    assert!(
        shown.contains(r#"<span class="effect deny">deny</span>"#),
        "{shown}"
    );
    // The entity slice as recorded: the artifact's entity is in it.
    assert!(shown.contains(&id), "{shown}");

    let decisions = get(
        &app,
        "/ui/decisions?project=team-a&action=promote&effect=deny&principal=olivia",
        Some(&session),
    )
    .await;
    assert_eq!(decisions.status, 200, "{}", decisions.body);
    assert_eq!(
        decisions.body.matches(r#"<article class="decision""#).count(),
        1,
        "{}",
        decisions.body
    );
    let audit = get(
        &app,
        &format!("/ui/audit?project=team-a&artifact_id={id}"),
        Some(&session),
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.contains("app_artifact.promote"), "{}", audit.body);
    app.shutdown().await;
}

/// A forbid on registration, added to the serving set as a candidate.
const FREEZE: &str = "@id(\"freeze-registration\")\n@reason(\"registration is frozen\")\nforbid (principal, action == Gatehouse::Action::\"register\", resource);\n";

/// The serving set's files, in name order.
fn policy_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(common::repo_path("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
        .collect();
    files.sort();
    files
}

/// The decision ids a what-if report lists, sorted.
fn changed_rows(html: &str) -> Vec<String> {
    let table = &html[html.find("<table class=\"changes\"").unwrap_or(html.len())..];
    let mut ids: Vec<String> = table
        .split(r#"href="/ui/decisions/"#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// POSTs a multipart form as a browser sends the what-if form with files chosen.
async fn post_multipart(
    app: &TestApp,
    path: &str,
    cookie: &str,
    csrf: &str,
    files: &[(String, String)],
) -> Page {
    let boundary = "----gatehouse-test-boundary";
    let mut body = String::new();
    let mut field = |disposition: String, value: &str| {
        body.push_str(&format!("--{boundary}\r\nContent-Disposition: {disposition}\r\n"));
        if disposition.contains("filename=") {
            body.push_str("Content-Type: application/octet-stream\r\n");
        }
        body.push_str(&format!("\r\n{value}\r\n"));
    };
    field(r#"form-data; name="csrf""#.to_owned(), csrf);
    for (name, text) in files {
        field(format!(r#"form-data; name="files"; filename="{name}""#), text);
    }
    field(r#"form-data; name="policies""#.to_owned(), "");
    field(r#"form-data; name="project""#.to_owned(), "");
    field(r#"form-data; name="action""#.to_owned(), "");
    body.push_str(&format!("--{boundary}--\r\n"));
    let response = browser()
        .post(format!("{}{path}", app.base))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::COOKIE, cookie)
        .body(body)
        .send()
        .await
        .unwrap();
    page(response).await
}

#[tokio::test]
async fn a_what_if_lists_exactly_the_decisions_the_api_says_would_change() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let id = register(&app, "team-a", "w-1").await;
    register(&app, "team-a", "w-2").await;
    app.post(
        &format!("/v1/artifacts/{id}/promote"),
        &operator("team-a"),
        json!({ "channel": "dev" }),
    )
    .await;

    // The serving set plus a forbid on registration, pasted as one file.
    let mut candidate = String::new();
    for file in policy_files() {
        candidate.push_str(&std::fs::read_to_string(file).unwrap());
        candidate.push('\n');
    }
    candidate.push_str(FREEZE);
    let admin = security_admin();
    let (status, api) = app
        .post(
            "/v1/policies/simulate",
            &admin,
            json!({ "files": { "candidate.cedar": candidate } }),
        )
        .await;
    assert_eq!(status, 200, "{api}");
    let mut expected: Vec<String> = api["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["decision_id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 2, "both registrations change: {api}");

    let session = sign_in(&app, &admin).await;
    let policies = get(&app, "/ui/policies", Some(&session)).await;
    assert_eq!(policies.status, 200, "{}", policies.body);
    let cookie = format!("gatehouse_session={session}");
    let csrf = csrf_field(&policies.body);
    let report = post_form(
        &app,
        "/ui/policies/what-if",
        &cookie,
        &[
            ("csrf", &csrf),
            ("file_name", "candidate.cedar"),
            ("policies", &candidate),
        ],
    )
    .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(changed_rows(&report.body), expected, "{}", report.body);
    assert!(
        report.body.contains("freeze-registration"),
        "the deciding policy is named"
    );

    // The same candidate uploaded as files (multipart): the serving set's files plus one more.
    let mut parts: Vec<(String, String)> = policy_files()
        .into_iter()
        .map(|path| {
            (
                path.file_name().unwrap().to_str().unwrap().to_owned(),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    parts.push(("freeze.cedar".to_owned(), FREEZE.to_owned()));
    let uploaded = post_multipart(&app, "/ui/policies/what-if", &cookie, &csrf, &parts).await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.body);
    assert_eq!(changed_rows(&uploaded.body), expected, "{}", uploaded.body);
    assert!(uploaded.body.contains("freeze.cedar"), "the files are named");
    // Without the form's token, an upload is refused like any form.
    let forged = post_multipart(&app, "/ui/policies/what-if", &cookie, "guess", &parts).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    // Too large a candidate is 413, before anything is replayed.
    let huge = vec![("big.cedar".to_owned(), "/".repeat(600 * 1024))];
    let too_large = post_multipart(&app, "/ui/policies/what-if", &cookie, &csrf, &huge).await;
    assert_eq!(too_large.status, 413, "{}", too_large.body);

    // An invalid candidate is 422 listing the problem, and nothing is replayed.
    let refused = post_form(
        &app,
        "/ui/policies/what-if",
        &cookie,
        &[
            ("csrf", &csrf),
            ("policies", "permit (principal, action, resource"),
        ],
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("candidate.cedar"), "{}", refused.body);
    app.shutdown().await;
}

#[tokio::test]
async fn the_audit_page_shows_the_chain_status_the_api_reports_and_a_break() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let id = register(&app, "team-a", "c-1").await;
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator("team-a"),
            json!({ "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let auditor = common::auditor_token();
    let (status, chain) = app.get("/v1/audit/chain", &auditor).await;
    assert_eq!(status, 200, "{chain}");
    assert_eq!(
        (&chain["intact"], &chain["pending"]),
        (&json!(true), &json!(0)),
        "{chain}"
    );
    let records = chain["records"].as_i64().unwrap();
    assert!(records >= 2, "registration and promotion are chained: {chain}");
    let head = chain["head_hash"].as_str().unwrap().to_owned();
    // Platform-wide, so a project viewer is refused as for the unfiltered audit log.
    let (status, _) = app.get("/v1/audit/chain", &viewer("team-a")).await;
    assert_eq!(status, 403);

    let session = sign_in(&app, &auditor).await;
    let audit = get(&app, "/ui/audit", Some(&session)).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let html = &audit.body;
    assert!(html.contains(r#"<span class="state">intact</span>"#), "{html}");
    assert!(html.contains(&format!("<dd>{records}</dd>")), "{html}");
    assert!(
        html.contains(&format!(r#"<code class="head">{head}</code>"#)),
        "{html}"
    );
    // A project's view of the log does not claim anything about the whole chain.
    let project_viewer = sign_in(&app, &viewer("team-a")).await;
    let scoped = get(&app, "/ui/audit?project=team-a", Some(&project_viewer)).await;
    assert_eq!(scoped.status, 200, "{}", scoped.body);
    assert!(!scoped.body.contains("Hash chain"), "{}", scoped.body);

    // Edit the first record behind the gateway's back: the API and the page both say where.
    let Db::Sqlite(dir) = &app.db else { unreachable!() };
    let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("update audit_records set actor_id = 'mallory' where seq = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let (status, chain) = app.get("/v1/audit/chain", &auditor).await;
    assert_eq!(status, 200, "{chain}");
    assert_eq!(
        (&chain["intact"], &chain["records"]),
        (&json!(false), &json!(0)),
        "{chain}"
    );
    let broken = chain["broken"].as_str().unwrap();
    assert!(broken.contains("seq 1") && broken.contains("altered"), "{chain}");
    let audit = get(&app, "/ui/audit", Some(&session)).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(
        audit.body.contains(r#"<span class="state">broken</span>"#),
        "{}",
        audit.body
    );
    assert!(audit.body.contains(&escaped(broken)), "{}", audit.body);
    assert!(
        !audit.body.contains(r#"<code class="head">"#),
        "no head claimed: {}",
        audit.body
    );
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Sign-in with an OpenID Connect provider (authorization code + PKCE) against a test provider.

/// A gateway whose console signs in with a provider the test runs.
async fn with_provider() -> (TestApp, Provider) {
    with_provider_and(|_| {}).await
}

/// `with_provider` with `adjust` applied to the gateway's configuration.
async fn with_provider_and(adjust: impl FnOnce(&mut gatehouse::config::Config)) -> (TestApp, Provider) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/ui/oidc/callback", listener.local_addr().unwrap());
    let provider = Provider::start(&callback).await;
    provider.sign_in_as("alice", json!({ "team-a": ["viewer"] }));
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.auth.issuers.push(provider.issuer_config());
    config.console.oidc = Some(oidc_config(&provider.issuer, &callback));
    adjust(&mut config);
    (TestApp::spawn_on(db, config, listener).await, provider)
}

/// Starts a sign-in from the loopback address `from`, with `X-Forwarded-For: forwarded` if
/// given: the status (303 started, 429 refused).
async fn start_from(app: &TestApp, from: [u8; 4], forwarded: Option<&str>) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap();
    let mut request = client.get(format!("{}/ui/oidc/login", app.base));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Starts sign-ins until one is refused (429); fails if a hundred are not. `forwarded(i)` is
/// the `X-Forwarded-For` of the i-th attempt.
async fn start_until_refused(app: &TestApp, from: [u8; 4], forwarded: impl Fn(usize) -> Option<String>) {
    for i in 0..100 {
        match start_from(app, from, forwarded(i).as_deref()).await {
            429 => return,
            303 => {}
            other => panic!("starting a sign-in answered {other}"),
        }
    }
    panic!("a hundred sign-ins from one client were never limited");
}

fn oidc_config(issuer: &str, callback: &str) -> OidcConfig {
    OidcConfig {
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: None,
        redirect_url: callback.to_owned(),
        scopes: vec!["openid".to_owned(), "profile".to_owned()],
        session_token: SessionToken::AccessToken,
        display_name: Some("Test SSO".to_owned()),
    }
}

/// Starts a sign-in: the state cookie's value and where the console sent the browser.
async fn start_oidc(app: &TestApp) -> (String, String) {
    let started = get(app, "/ui/oidc/login", None).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let cookie = set_cookie(&started.headers, "gatehouse_oidc_state").expect("a state cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/ui/oidc"] {
        assert!(
            cookie.split("; ").any(|part| part == flag),
            "{flag} missing: {cookie}"
        );
    }
    let location = started.headers[header::LOCATION].to_str().unwrap().to_owned();
    (cookie_value(&cookie), location)
}

/// Has the provider answer the authorization request: the callback URL it redirects to.
async fn authorize(location: &str) -> String {
    let answer = browser().get(location).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 302, "{}", answer.text().await.unwrap());
    answer.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

/// Calls the callback as the browser would, with the state cookie if given.
async fn callback(url: &str, state_cookie: Option<&str>) -> Page {
    let mut request = browser().get(url);
    if let Some(value) = state_cookie {
        request = request.header(header::COOKIE, format!("gatehouse_oidc_state={value}"));
    }
    page(request.send().await.unwrap()).await
}

/// The query parameter `name` of a URL.
fn param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} in {url}"))
}

#[tokio::test]
async fn oidc_sign_in_with_pkce_lands_on_the_console_as_the_apis_principal() {
    let (app, provider) = with_provider().await;
    let form = get(&app, "/ui/login", None).await;
    assert!(
        form.body.contains(r#"href="/ui/oidc/login""#) && form.body.contains("Sign in with Test SSO"),
        "{}",
        form.body
    );

    let (state, location) = start_oidc(&app).await;
    assert!(
        location.starts_with(&format!("{}/authorize?", provider.issuer)),
        "{location}"
    );
    assert_eq!(
        param(&location, "state"),
        state,
        "the cookie holds the state sent"
    );
    assert_eq!(param(&location, "code_challenge_method"), "S256");
    assert_eq!(param(&location, "code_challenge").len(), 43);
    assert_eq!(param(&location, "client_id"), CLIENT_ID);
    assert_eq!(param(&location, "scope"), "openid profile");
    assert!(!param(&location, "nonce").is_empty());

    let back = authorize(&location).await;
    assert!(
        back.starts_with(&format!("{}/ui/oidc/callback?", app.base)),
        "{back}"
    );
    let signed = callback(&back, Some(&state)).await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.headers[header::REFRESH], "0; url=/ui");
    let session = set_cookie(&signed.headers, "gatehouse_session").expect("a session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"] {
        assert!(
            session.split("; ").any(|part| part == flag),
            "{flag} missing: {session}"
        );
    }
    let spent = set_cookie(&signed.headers, "gatehouse_oidc_state").unwrap();
    assert!(
        spent.contains("Max-Age=0"),
        "the state cookie is cleared: {spent}"
    );

    // Signed in as the provider's user, with the roles its access token grants the API.
    let projects = get(&app, "/ui", Some(&cookie_value(&session))).await;
    assert_eq!(projects.status, 200, "{}", projects.body);
    assert!(
        projects.body.contains(r#"<span class="who">alice</span>"#),
        "{}",
        projects.body
    );
    assert!(
        projects.body.contains(r#"href="/ui/projects/team-a""#),
        "{}",
        projects.body
    );
    app.shutdown().await;
}

#[tokio::test]
async fn oidc_callbacks_that_fail_a_check_open_no_session() {
    let (app, provider) = with_provider().await;
    let no_session = |page: &Page| set_cookie(&page.headers, "gatehouse_session").is_none();

    // Wrong state: the cookie of this browser's attempt, the state of another.
    let (state, location) = start_oidc(&app).await;
    let back = authorize(&location).await;
    let (other, _) = start_oidc(&app).await;
    let wrong = callback(&back, Some(&other)).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("state does not match"), "{}", wrong.body);
    assert!(no_session(&wrong));
    let cookieless = callback(&back, None).await;
    assert_eq!(cookieless.status, 400);
    assert!(no_session(&cookieless));
    assert_eq!(provider.token_requests(), 0, "no code was exchanged");

    // The right one still works once; replayed, it is refused and exchanges nothing.
    let first = callback(&back, Some(&state)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = callback(&back, Some(&state)).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("already completed"), "{}", replay.body);
    assert!(no_session(&replay));
    assert_eq!(provider.token_requests(), 1);

    // A verifier that does not match the challenge: the provider refuses, the page says so.
    provider.corrupt_challenges(true);
    let (state, location) = start_oidc(&app).await;
    let refused = callback(&authorize(&location).await, Some(&state)).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused.body.contains("invalid_grant") && refused.body.contains("PKCE verification failed"),
        "{}",
        refused.body
    );
    assert!(no_session(&refused));
    provider.corrupt_challenges(false);

    // An ID token for another sign-in (its nonce differs).
    provider.wrong_nonce(true);
    let (state, location) = start_oidc(&app).await;
    let replayed_token = callback(&authorize(&location).await, Some(&state)).await;
    assert_eq!(replayed_token.status, 401, "{}", replayed_token.body);
    assert!(replayed_token.body.contains("nonce"), "{}", replayed_token.body);
    assert!(no_session(&replayed_token));
    provider.wrong_nonce(false);

    // The provider's own refusal (the user said no) is shown, escaped, with no session.
    provider.deny(true);
    let (state, location) = start_oidc(&app).await;
    let denied = callback(&authorize(&location).await, Some(&state)).await;
    assert_eq!(denied.status, 401, "{}", denied.body);
    assert!(denied.body.contains("access_denied"), "{}", denied.body);
    assert!(no_session(&denied));
    app.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_sign_ins_from_one_client_is_limited_while_another_client_signs_in() {
    let (app, _provider) = with_provider().await;
    // This client (127.0.0.1) starts sign-ins until it is refused; none is ever completed.
    let mut refused = None;
    for _ in 0..100 {
        let started = get(&app, "/ui/oidc/login", None).await;
        if started.status == 429 {
            refused = Some(started);
            break;
        }
        assert_eq!(started.status, 303, "{}", started.body);
    }
    let refused = refused.expect("a burst from one client is limited");
    assert_eq!(refused.headers[header::CONTENT_TYPE], "application/problem+json");
    assert_retry_after(&refused);
    let problem: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(problem["status"], 429, "{problem}");
    assert_eq!(problem["type"], "urn:gatehouse:problem:rate-limited", "{problem}");
    assert!(set_cookie(&refused.headers, "gatehouse_oidc_state").is_none());

    // Another client (another loopback address) still signs in all the way.
    let other = reqwest::Client::builder()
        .redirect(Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let started = page(
        other
            .get(format!("{}/ui/oidc/login", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let state = cookie_value(&set_cookie(&started.headers, "gatehouse_oidc_state").unwrap());
    let location = started.headers[header::LOCATION].to_str().unwrap();
    let back = authorize(location).await;
    let signed = page(
        other
            .get(&back)
            .header(header::COOKIE, format!("gatehouse_oidc_state={state}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert!(set_cookie(&signed.headers, "gatehouse_session").is_some());
    // The limited client is still refused: the other's sign-in spent nothing of its own.
    assert_eq!(get(&app, "/ui/oidc/login", None).await.status, 429);
    app.shutdown().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_sign_in_limit() {
    let (app, _provider) = with_provider_and(|config| {
        config.http.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    const PROXY: [u8; 4] = [127, 0, 0, 1];
    // One client behind the proxy (which appends it after whatever the client sent) spends its
    // own limit, whatever it writes in front of the proxy's entry.
    start_until_refused(&app, PROXY, |i| {
        Some(format!("10.9.{}.{}, 203.0.113.7", i / 250, i % 250))
    })
    .await;
    assert_eq!(start_from(&app, PROXY, Some("203.0.113.7")).await, 429);
    // Another client behind the same proxy still starts sign-ins.
    assert_eq!(start_from(&app, PROXY, Some("203.0.113.8")).await, 303);
    // A peer that is not a trusted proxy cannot name itself: however it fills the header, it is
    // limited as itself.
    const DIRECT: [u8; 4] = [127, 0, 0, 2];
    start_until_refused(&app, DIRECT, |i| Some(format!("198.51.100.{}", i % 250))).await;
    assert_eq!(start_from(&app, DIRECT, None).await, 429);
    app.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_sign_in_posts_from_one_client_is_limited_while_another_signs_in() {
    let app = TestApp::spawn(Db::sqlite()).await;
    // A form, posted from `from` with a token that does not verify.
    async fn guess(app: &TestApp, from: [u8; 4]) -> Page {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .local_address(std::net::IpAddr::from(from))
            .build()
            .unwrap();
        let form = page(client.get(format!("{}/ui/login", app.base)).send().await.unwrap()).await;
        let login = cookie_value(&set_cookie(&form.headers, "gatehouse_login_csrf").unwrap());
        let body = format!("token=not.a.jwt&csrf={}", encode(&csrf_field(&form.body)));
        let request = client
            .post(format!("{}/ui/login", app.base))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("gatehouse_login_csrf={login}"))
            .body(body);
        page(request.send().await.unwrap()).await
    }
    let mut refused = None;
    for _ in 0..100 {
        let answer = guess(&app, [127, 0, 0, 3]).await;
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    let refused = refused.expect("a flood of sign-in posts from one client is limited");
    assert_retry_after(&refused);
    assert!(refused.body.contains("Too many sign-ins"), "{}", refused.body);
    assert!(set_cookie(&refused.headers, "gatehouse_session").is_none());
    // Another client is untouched: its guess is checked (401), and a real sign-in works.
    assert_eq!(guess(&app, [127, 0, 0, 4]).await.status, 401);
    let session = sign_in(&app, &viewer("team-a")).await;
    assert!(!session.is_empty());
    // The flooding client is still refused, whatever it sends.
    assert_eq!(guess(&app, [127, 0, 0, 3]).await.status, 429);
    app.shutdown().await;
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_header_names_no_client() {
    let (app, _provider) = with_provider().await;
    start_until_refused(&app, [127, 0, 0, 1], |i| Some(format!("198.51.100.{}", i % 250))).await;
    assert_eq!(start_from(&app, [127, 0, 0, 1], Some("203.0.113.9")).await, 429);
    app.shutdown().await;
}

#[tokio::test]
async fn an_unusable_trusted_proxy_entry_stops_start_up() {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.http.trusted_proxies = vec!["10.0.0.0/33".to_owned()];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = gatehouse::Application::build_on(config, listener)
        .await
        .err()
        .expect("start-up refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("http.trusted_proxies") && message.contains("10.0.0.0/33"),
        "{message}"
    );
}

#[tokio::test]
async fn an_oidc_issuer_the_api_does_not_trust_stops_start_up() {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.console.oidc = Some(oidc_config(
        "https://unknown.issuer.test",
        "https://gatehouse.test/ui/oidc/callback",
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = gatehouse::Application::build_on(config, listener)
        .await
        .err()
        .expect("start-up refused")
        .to_string();
    assert!(error.contains("console.oidc.issuer"), "{error}");

    let mut config = common::test_config(&db);
    config.console.oidc = Some(oidc_config(common::ES_ISSUER, "https://gatehouse.test/callback"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = gatehouse::Application::build_on(config, listener)
        .await
        .err()
        .expect("start-up refused")
        .to_string();
    assert!(error.contains("console.oidc.redirect_url"), "{error}");
}
