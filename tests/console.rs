//! The web console at `/ui`, driven over HTTP as a browser would (cookies and forms by hand):
//! sign-in and its cookie, security headers, CSRF refusals, pages that show what the API
//! shows the same caller (and refuse what it refuses), and escaping of stored text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, digest, oci_registration, token};
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
    let (status, body) = app
        .post(
            &format!("/v1/projects/{project}/artifacts"),
            &operator(project),
            oci_registration("trainer", &digest(seed)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
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
async fn a_viewer_of_one_project_is_refused_what_the_api_refuses() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let theirs = register(&app, "team-b", "b-1").await;
    let bearer = viewer("team-a");
    let session = sign_in(&app, &bearer).await;

    let cases = [
        (
            format!("/ui/artifacts/{theirs}"),
            format!("/v1/artifacts/{theirs}"),
        ),
        (
            "/ui/projects/team-b".to_owned(),
            "/v1/projects/team-b/artifacts".to_owned(),
        ),
        ("/ui/decisions".to_owned(), "/v1/decisions".to_owned()),
        (
            "/ui/decisions?project=team-b".to_owned(),
            "/v1/decisions?project=team-b".to_owned(),
        ),
        ("/ui/audit".to_owned(), "/v1/audit".to_owned()),
        ("/ui/policies".to_owned(), "/v1/policies".to_owned()),
    ];
    for (ui, api) in cases {
        let (api_status, _) = app.get(&api, &bearer).await;
        let shown = get(&app, &ui, Some(&session)).await;
        assert!(matches!(api_status, 403 | 404), "{api}: {api_status}");
        assert_eq!(
            shown.status, api_status,
            "{ui} answers as {api} does: {}",
            shown.body
        );
        assert!(!shown.body.contains("trainer"), "{ui} shows nothing of team-b");
    }
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
    assert!(
        html.contains(&format!("/ui/audit?artifact_id={id}#audit-")),
        "links to audit"
    );
    assert!(
        html.contains(&format!("/ui/decisions?artifact_id={id}#decision-")),
        "links to decisions"
    );

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
    let mut files: Vec<_> = std::fs::read_dir(common::repo_path("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
        .collect();
    files.sort();
    for file in files {
        candidate.push_str(&std::fs::read_to_string(file).unwrap());
        candidate.push('\n');
    }
    candidate.push_str(
        "@id(\"freeze-registration\")\n@reason(\"registration is frozen\")\nforbid (principal, action == Gatehouse::Action::\"register\", resource);\n",
    );
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
    let mut shown: Vec<String> = report
        .body
        .split("#decision-")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    shown.sort();
    assert_eq!(shown, expected, "{}", report.body);
    assert!(
        report.body.contains("freeze-registration"),
        "the deciding policy is named"
    );

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
