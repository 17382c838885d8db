//! The web console in a real browser: headless Chromium, driven over WebDriver by chromedriver,
//! against a gateway holding real data. A reviewer signs in through the form using only the
//! keyboard, opens a project and an artifact, reads a denied promotion's reason on its
//! timeline, and signs out. Screenshots of each page land in the test's temp dir.
//!
//! Chromium and chromedriver are Debian packages (`chromium`, `chromium-driver`). Under
//! `CI=true` a missing one is a failure; elsewhere the test is skipped with a notice.
//! `GATEHOUSE_TEST_CHROMIUM` / `GATEHOUSE_TEST_CHROMEDRIVER` point at other binaries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::oidc_provider::{CLIENT_ID, Provider};
use common::{Db, TestApp, digest, oci_registration, token};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use gatehouse::http::{OidcConfig, SessionToken};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// The browser and its driver, or `None` (skip) when either is missing outside CI.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = binary("GATEHOUSE_TEST_CHROMIUM", "/usr/bin/chromium");
    let driver = binary("GATEHOUSE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    let missing: Vec<String> = [&chromium, &driver]
        .into_iter()
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some((chromium, driver));
    }
    let missing = missing.join(", ");
    common::skip::missing(
        &format!("{missing} not found (apt-get install chromium chromium-driver)"),
        "the browser tests",
    );
    None
}

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A chromedriver process on its own port, killed when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    async fn start(driver: &Path) -> Self {
        // A port the kernel just handed out; chromedriver binds it right after.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(driver)
            .arg(format!("--port={port}"))
            // Its own process group, so the browser it launches ends with it even when a
            // failed assertion skips closing the session.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let this = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        // Ready once it accepts connections (bounded, so a broken driver fails the test).
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return this;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not listen on port {port}");
    }

    /// A headless Chromium session with a throwaway profile.
    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Containers run tests as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session from chromedriver: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group this test started: chromedriver and the Chromium processes under it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.process.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Waits (bounded) until the browser shows `path`, after a click or a submit.
async fn arrive(browser: &Client, path: &str) {
    let mut seen = String::new();
    for _ in 0..200 {
        let url = browser.current_url().await.unwrap();
        seen = url.path().to_owned();
        if seen == path && browser.find(Locator::Css("main h1")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the browser stayed on {seen}, expected {path}");
}

/// Writes the visible page to `dir/name.png`.
async fn screenshot(browser: &Client, dir: &Path, name: &str) -> PathBuf {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// Where a run's screenshots go: a directory under cargo's test temp dir, kept for a look.
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console_browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Clicks the element `css` names.
async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Types `keys` into the element `css` names.
async fn type_into(browser: &Client, css: &str, keys: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
        .text()
        .await
        .unwrap()
}

/// Registers an artifact, promotes it to dev, and has its staging promotion denied.
async fn artifact_with_a_denied_promotion(app: &TestApp) -> (String, Value) {
    let op = token("olivia", json!({ "team-a": ["operator"] }));
    let id = app.register_oci("team-a", &op, "browser-1").await;
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
    (id, denied)
}

#[tokio::test]
async fn a_reviewer_signs_in_by_keyboard_reads_a_denied_promotion_and_signs_out() {
    let Some((chromium, driver)) = browser_binaries() else {
        return;
    };
    let app = TestApp::spawn(Db::sqlite()).await;
    let (id, denied) = artifact_with_a_denied_promotion(&app).await;
    let shots = screenshot_dir();
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(&driver).await;
    let browser = driver.session(&chromium, profile.path()).await;

    // Not signed in: the console sends the browser to the sign-in form.
    browser.goto(&format!("{}/ui", app.base)).await.unwrap();
    arrive(&browser, "/ui/login").await;
    screenshot(&browser, &shots, "login").await;

    // Keyboard only: type the token, Tab to the button, Enter.
    let field = browser.find(Locator::Css("textarea#token")).await.unwrap();
    field.click().await.unwrap();
    let viewer = token("victor", json!({ "team-a": ["viewer"] }));
    field.send_keys(&viewer).await.unwrap();
    field.send_keys(&Key::Tab.to_string()).await.unwrap();
    let focused = browser.active_element().await.unwrap();
    assert_eq!(
        (focused.tag_name().await.unwrap(), focused.text().await.unwrap()),
        ("button".to_owned(), "Sign in".to_owned()),
        "Tab from the token field reaches the sign-in button"
    );
    focused.send_keys(&Key::Enter.to_string()).await.unwrap();
    arrive(&browser, "/ui").await;
    assert_eq!(text_of(&browser, "form.signout .who").await, "victor");
    screenshot(&browser, &shots, "projects").await;

    // Projects → the project's artifacts → the artifact's timeline, by following links.
    click(&browser, r#"a[href="/ui/projects/team-a"]"#).await;
    arrive(&browser, "/ui/projects/team-a").await;
    let row = text_of(&browser, "table.artifacts tbody tr").await;
    assert!(row.contains("trainer") && row.contains("dev"), "{row}");
    screenshot(&browser, &shots, "artifacts").await;

    click(&browser, &format!(r#"a[href="/ui/artifacts/{id}"]"#)).await;
    arrive(&browser, &format!("/ui/artifacts/{id}")).await;
    let denial = text_of(&browser, "article.entry.decision.deny").await;
    assert!(
        denial.contains("promote") && denial.contains("olivia"),
        "{denial}"
    );
    let shown = text_of(&browser, "article.entry.decision.deny p.reasons").await;
    let reasons: Vec<&str> = denied["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(!reasons.is_empty(), "the API gave reasons: {denied}");
    assert_eq!(shown, reasons.join("; "), "the timeline shows the API's reasons");
    let mut entries = Vec::new();
    for entry in browser.find_all(Locator::Css("article.entry")).await.unwrap() {
        entries.push(entry.text().await.unwrap());
    }
    assert!(
        entries.iter().any(|e| e.contains("Promoted to dev")),
        "the allowed promotion is on the timeline too: {entries:?}"
    );
    browser.set_window_size(1280, 1300).await.unwrap();
    let picture = screenshot(&browser, &shots, "timeline").await;

    // A narrow window (a phone's width): the timeline reflows instead of scrolling sideways.
    browser.set_window_size(390, 1300).await.unwrap();
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow, json!(0), "no sideways scrolling at 390px");
    screenshot(&browser, &shots, "timeline-narrow").await;
    browser.set_window_size(1280, 900).await.unwrap();

    // Sign out: back to the form, and the old session no longer opens the console.
    click(&browser, "form.signout button").await;
    arrive(&browser, "/ui/login").await;
    browser.goto(&format!("{}/ui", app.base)).await.unwrap();
    arrive(&browser, "/ui/login").await;

    // An auditor signs in and opens the audit page from the header: the chain is intact.
    type_into(&browser, "textarea#token", &common::auditor_token()).await;
    click(&browser, "form.signin button").await;
    arrive(&browser, "/ui").await;
    click(&browser, r#"nav a[href="/ui/audit"]"#).await;
    arrive(&browser, "/ui/audit").await;
    let chain = text_of(&browser, "section.chain").await;
    assert!(chain.contains("intact"), "{chain}");
    let rows = browser
        .find_all(Locator::Css("table.audit tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "registration and promotion to dev");
    let promotion = rows[1].text().await.unwrap();
    assert!(promotion.contains("published → promoted to dev"), "{promotion}");
    screenshot(&browser, &shots, "audit").await;

    // The decision log, searched for denials: the staging promotion, with its reasons.
    browser
        .goto(&format!("{}/ui/decisions?effect=deny", app.base))
        .await
        .unwrap();
    arrive(&browser, "/ui/decisions").await;
    let found = browser.find_all(Locator::Css("article.decision")).await.unwrap();
    assert_eq!(found.len(), 1, "one denial");
    let text = found[0].text().await.unwrap();
    assert!(text.contains(reasons[0]), "{text}");
    screenshot(&browser, &shots, "decisions").await;

    browser.close().await.unwrap();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("console screenshots: {}\n", picture.parent().unwrap().display()).as_bytes(),
    );
    app.shutdown().await;
}

/// The serving set as files in `dir`, with the forbids that keep an unverified artifact that
/// skipped `test` out of staging removed and a forbid on registration added: the staging
/// denial would now be allowed, and every registration denied.
fn candidate_files(dir: &Path) -> Vec<PathBuf> {
    let mut written = Vec::new();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(common::repo_path("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
        .collect();
    sources.sort();
    for source in sources {
        let mut text = std::fs::read_to_string(&source).unwrap();
        if source.ends_with("promotion.cedar") {
            for id in ["promotion-no-channel-skipping", "promotion-verified-beyond-dev"] {
                let start = text.find(&format!("@id(\"{id}\")")).unwrap();
                let end = start + text[start..].find("};").unwrap() + 2;
                text.replace_range(start..end, "");
            }
        }
        let path = dir.join(source.file_name().unwrap());
        std::fs::write(&path, text).unwrap();
        written.push(path);
    }
    let freeze = dir.join("freeze.cedar");
    std::fs::write(
        &freeze,
        "@id(\"freeze-registration\")\n@reason(\"registration is frozen\")\n\
         forbid (principal, action == Gatehouse::Action::\"register\", resource);\n",
    )
    .unwrap();
    written.push(freeze);
    written
}

/// The h1 the console shows for the status the API answered.
fn title_for(status: u16) -> &'static str {
    match status {
        403 => "Denied by policy",
        404 => "Not found",
        other => panic!("unexpected status {other}"),
    }
}

#[tokio::test]
async fn oidc_sign_in_project_walls_an_uploaded_what_if_and_a_forged_form_in_the_browser() {
    let Some((chromium, driver)) = browser_binaries() else {
        return;
    };
    // A gateway whose console signs in with a provider the test runs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/ui/oidc/callback", listener.local_addr().unwrap());
    let provider = Provider::start(&callback).await;
    provider.sign_in_as("alice", json!({ "team-a": ["viewer"] }));
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.auth.issuers.push(provider.issuer_config());
    config.console.oidc = Some(OidcConfig {
        issuer: provider.issuer.clone(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: None,
        redirect_url: callback.clone(),
        scopes: vec!["openid".to_owned()],
        session_token: SessionToken::AccessToken,
        display_name: Some("Test SSO".to_owned()),
    });
    let app = TestApp::spawn_on(db, config, listener).await;
    let (_, _) = artifact_with_a_denied_promotion(&app).await;
    let (status, body) = app
        .post(
            "/v1/projects/team-b/artifacts",
            &token("bob", json!({ "team-b": ["operator"] })),
            oci_registration("secret-model", &digest("browser-b")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let theirs = body["id"].as_str().unwrap().to_owned();

    let shots = screenshot_dir();
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver::start(&driver).await;
    let browser = driver.session(&chromium, profile.path()).await;

    // OIDC: the button, the provider's redirect back, and the console signed in as alice.
    browser.goto(&format!("{}/ui/login", app.base)).await.unwrap();
    arrive(&browser, "/ui/login").await;
    screenshot(&browser, &shots, "login-oidc").await;
    click(&browser, r#"a[href="/ui/oidc/login"]"#).await;
    arrive(&browser, "/ui").await;
    assert_eq!(text_of(&browser, "form.signout .who").await, "alice");
    assert_eq!(provider.token_requests(), 1);
    screenshot(&browser, &shots, "projects-oidc").await;

    // Project B's artifact and project pages answer as the API answers alice.
    let bearer = token("alice", json!({ "team-a": ["viewer"] }));
    for (ui, api, name) in [
        (
            format!("/ui/artifacts/{theirs}"),
            format!("/v1/artifacts/{theirs}"),
            "other-artifact",
        ),
        (
            "/ui/projects/team-b".to_owned(),
            "/v1/projects/team-b/artifacts".to_owned(),
            "other-project",
        ),
    ] {
        // As unknown as a missing one, in the API and in the console.
        let (status, _) = app.get(&api, &bearer).await;
        assert_eq!(status, 404, "{api}");
        browser.goto(&format!("{}{ui}", app.base)).await.unwrap();
        arrive(&browser, &ui).await;
        assert_eq!(text_of(&browser, "main h1").await, title_for(status), "{ui}");
        let page = text_of(&browser, "main").await;
        assert!(
            !page.contains("secret-model"),
            "{ui} shows nothing of team-b: {page}"
        );
        screenshot(&browser, &shots, name).await;
    }

    // Sign out (error pages have no header form: from the projects page); a security admin
    // signs in with a token and uploads a candidate set.
    browser.goto(&format!("{}/ui", app.base)).await.unwrap();
    arrive(&browser, "/ui").await;
    click(&browser, "form.signout button").await;
    arrive(&browser, "/ui/login").await;
    let mut admin = common::user_claims("sam", json!({}));
    admin["platform_roles"] = json!(["security_admin"]);
    let admin = common::sign_es256(&admin);
    type_into(&browser, "textarea#token", &admin).await;
    click(&browser, "form.signin button").await;
    arrive(&browser, "/ui").await;

    // What the API's simulate says the candidate would change.
    let upload = tempfile::tempdir().unwrap();
    let files = candidate_files(upload.path());
    let mut set = serde_json::Map::new();
    for path in &files {
        set.insert(
            path.file_name().unwrap().to_str().unwrap().to_owned(),
            json!(std::fs::read_to_string(path).unwrap()),
        );
    }
    let (status, api) = app
        .post("/v1/policies/simulate", &admin, json!({ "files": set }))
        .await;
    assert_eq!(status, 200, "{api}");
    let mut expected: Vec<(String, String)> = api["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["decision_id"].as_str().unwrap().to_owned(),
                format!(
                    "{} → {}",
                    c["old_effect"].as_str().unwrap(),
                    c["new_effect"].as_str().unwrap()
                ),
            )
        })
        .collect();
    expected.sort();
    assert!(expected.iter().any(|(_, c)| c == "allow → deny"), "{api}");
    assert!(expected.iter().any(|(_, c)| c == "deny → allow"), "{api}");

    browser.goto(&format!("{}/ui/policies", app.base)).await.unwrap();
    arrive(&browser, "/ui/policies").await;
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    type_into(&browser, "input#files", &paths.join("\n")).await;
    click(&browser, "form.whatif button").await;
    arrive(&browser, "/ui/policies/what-if").await;
    let mut shown = Vec::new();
    for row in browser
        .find_all(Locator::Css("table.changes tbody tr"))
        .await
        .unwrap()
    {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        let id = cells[0].text().await.unwrap();
        // Rendered text: the stylesheet upper-cases effects.
        let change = cells[5].text().await.unwrap().to_lowercase();
        let now_by = cells[7].text().await.unwrap();
        if change == "allow → deny" {
            assert!(now_by.contains("freeze-registration"), "{id}: {now_by}");
        } else {
            let then_by = cells[6].text().await.unwrap();
            assert!(
                then_by.contains("promotion-verified-beyond-dev"),
                "{id}: {then_by}"
            );
        }
        shown.push((id, change));
    }
    shown.sort();
    assert_eq!(
        shown, expected,
        "the what-if lists exactly what the API's simulate does"
    );
    browser.set_window_size(1280, 1300).await.unwrap();
    screenshot(&browser, &shots, "what-if").await;
    browser.set_window_size(1280, 900).await.unwrap();

    // A changed row opens its decision's page.
    let (denied_id, _) = expected
        .iter()
        .find(|(_, c)| c == "deny → allow")
        .unwrap()
        .clone();
    browser
        .goto(&format!("{}/ui/decisions/{denied_id}", app.base))
        .await
        .unwrap();
    arrive(&browser, &format!("/ui/decisions/{denied_id}")).await;
    let facts = text_of(&browser, "dl.facts").await.to_lowercase();
    assert!(
        facts.contains("deny")
            && facts.contains("promote")
            && facts.contains("promotion-verified-beyond-dev"),
        "{facts}"
    );
    screenshot(&browser, &shots, "decision").await;

    // The what-if form without its anti-forgery field (removed in the page): refused.
    browser.goto(&format!("{}/ui/policies", app.base)).await.unwrap();
    arrive(&browser, "/ui/policies").await;
    browser
        .execute(
            "document.querySelector('form.whatif input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    type_into(
        &browser,
        "textarea#policies",
        "permit (principal, action, resource);",
    )
    .await;
    click(&browser, "form.whatif button").await;
    arrive(&browser, "/ui/policies/what-if").await;
    assert_eq!(text_of(&browser, "main h1").await, "Form expired");
    screenshot(&browser, &shots, "csrf-refused").await;

    browser.close().await.unwrap();
    app.shutdown().await;
}
