//! Registry tokens and notifications against a real CNCF distribution 2.8 registry and skopeo:
//! what the gateway's `TokenSigner` and `intersect` grant is exactly what the registry lets
//! through, and what the registry notifies parses into the events the worker expects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::registry::{
    Auth, Credential, Recorder, RegistryOptions, TestRegistry, fixture_signer, layout_has_blob, skopeo_pull,
    skopeo_push, start_token_realm, tools_available, untrusted_signer, write_oci_image,
};
use gatehouse::domain::{AccessGrant, Digest, RegistryAction};
use gatehouse::registry::notification::DISTRIBUTION_EVENTS_V1;
use gatehouse::registry::{RegistryClient, is_manifest_push, parse_notification};

const REPO_A: &str = "gpuaas/apps/demo/web";
const REPO_B: &str = "gpuaas/apps/other/web";
const NOTIFY_SECRET: &str = "notify-secret-for-tests";

fn grant(name: &str, actions: &[&str]) -> AccessGrant {
    AccessGrant {
        resource_type: "repository".to_owned(),
        name: name.to_owned(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    }
}

struct Setup {
    registry: TestRegistry,
    recorder: Recorder,
}

/// A registry whose realm knows `pusher` (push+pull on A), `puller` (pull on A) and `nobody`
/// (nothing). `None` when the tools are missing outside CI.
async fn setup() -> Option<Setup> {
    if !tools_available() {
        return None;
    }
    let users = HashMap::from([
        credential("pusher", "subject-pusher", vec![grant(REPO_A, &["pull", "push"])]),
        credential("puller", "subject-puller", vec![grant(REPO_A, &["pull"])]),
        credential("nobody", "subject-nobody", vec![]),
    ]);
    let realm = start_token_realm(fixture_signer(), users).await;
    let recorder = Recorder::start().await;
    let registry = TestRegistry::start(&RegistryOptions {
        realm,
        notify_url: recorder.url.clone(),
        notify_secret: NOTIFY_SECRET.to_owned(),
    });
    Some(Setup { registry, recorder })
}

fn credential(user: &str, subject: &str, allowed: Vec<AccessGrant>) -> (String, Credential) {
    (
        user.to_owned(),
        Credential {
            password: format!("{user}-password"),
            subject: subject.to_owned(),
            allowed,
        },
    )
}

fn creds(user: &str) -> (String, String) {
    (user.to_owned(), format!("{user}-password"))
}

/// The skopeo run failed because the registry refused access, not for some other reason.
fn assert_denied<T: std::fmt::Debug>(result: Result<T, String>) {
    let error = result.expect_err("the registry should have refused");
    let lower = error.to_lowercase();
    assert!(
        lower.contains("denied") || lower.contains("unauthorized") || lower.contains("401"),
        "refused for another reason: {error}"
    );
}

/// Status of a bearer GET straight to the registry, bypassing any client's token dance.
async fn registry_status(registry: &TestRegistry, path: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}{path}", registry.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn granted_push_and_pull_work_and_another_repository_is_refused_by_the_registry() {
    let Some(s) = setup().await else { return };
    let image = write_oci_image("push-and-pull", "v1");
    let (user, pass) = creds("pusher");

    let pushed = skopeo_push(&image, &s.registry.host, REPO_A, &Auth::Creds(&user, &pass))
        .await
        .unwrap_or_else(|e| panic!("push to A refused: {e}\nregistry log:\n{}", s.registry.logs()));
    assert_eq!(pushed, image.manifest_digest);

    let pulled = skopeo_pull(&s.registry.host, REPO_A, &pushed, &Auth::Creds(&user, &pass))
        .await
        .unwrap();
    assert!(layout_has_blob(&pulled, &pushed));
    let _ = std::fs::remove_dir_all(pulled);

    let refused = skopeo_push(&image, &s.registry.host, REPO_B, &Auth::Creds(&user, &pass)).await;
    assert_denied(refused);

    // The realm grants nothing for B (intersection is empty); the registry is what says no.
    let token_for_b = fixture_signer()
        .sign("subject-pusher", &[], Duration::from_secs(60))
        .unwrap();
    assert_eq!(
        registry_status(
            &s.registry,
            &format!("/v2/{REPO_B}/tags/list"),
            &token_for_b.token
        )
        .await,
        401
    );
    let token_for_a = fixture_signer()
        .sign(
            "subject-pusher",
            &[grant(REPO_A, &["pull"])],
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(
        registry_status(
            &s.registry,
            &format!("/v2/{REPO_A}/tags/list"),
            &token_for_a.token
        )
        .await,
        200
    );
    assert_eq!(
        registry_status(
            &s.registry,
            &format!("/v2/{REPO_B}/tags/list"),
            &token_for_a.token
        )
        .await,
        401
    );
}

#[tokio::test]
async fn pull_only_cannot_push_and_empty_grant_cannot_pull() {
    let Some(s) = setup().await else { return };
    let image = write_oci_image("pull-only", "v1");
    let (pusher, pusher_pass) = creds("pusher");
    let digest = skopeo_push(
        &image,
        &s.registry.host,
        REPO_A,
        &Auth::Creds(&pusher, &pusher_pass),
    )
    .await
    .unwrap();

    let (puller, puller_pass) = creds("puller");
    let other = write_oci_image("pull-only-other", "v2");
    assert_denied(
        skopeo_push(
            &other,
            &s.registry.host,
            REPO_A,
            &Auth::Creds(&puller, &puller_pass),
        )
        .await,
    );
    let pulled = skopeo_pull(
        &s.registry.host,
        REPO_A,
        &digest,
        &Auth::Creds(&puller, &puller_pass),
    )
    .await
    .unwrap();
    assert!(layout_has_blob(&pulled, &digest));
    let _ = std::fs::remove_dir_all(pulled);

    let (nobody, nobody_pass) = creds("nobody");
    assert_denied(
        skopeo_pull(
            &s.registry.host,
            REPO_A,
            &digest,
            &Auth::Creds(&nobody, &nobody_pass),
        )
        .await,
    );
}

#[tokio::test]
async fn a_token_signed_by_an_untrusted_key_is_refused() {
    let Some(s) = setup().await else { return };
    let image = write_oci_image("untrusted", "v1");
    let full = [grant(REPO_A, &["pull", "push"])];
    let forged = untrusted_signer()
        .sign("subject-pusher", &full, Duration::from_secs(60))
        .unwrap();
    assert_denied(skopeo_push(&image, &s.registry.host, REPO_A, &Auth::Token(&forged.token)).await);
    assert_eq!(
        registry_status(&s.registry, &format!("/v2/{REPO_A}/tags/list"), &forged.token).await,
        401
    );

    // The same claims signed by the trusted key, sent as a bearer token directly, go through.
    let genuine = fixture_signer()
        .sign("subject-pusher", &full, Duration::from_secs(60))
        .unwrap();
    let pushed = skopeo_push(&image, &s.registry.host, REPO_A, &Auth::Token(&genuine.token))
        .await
        .unwrap();
    assert_eq!(pushed, image.manifest_digest);
}

#[tokio::test]
async fn push_notification_reaches_the_endpoint_and_parses_and_manifest_info_answers() {
    let Some(s) = setup().await else { return };
    let image = write_oci_image("notified", "v1");
    let (user, pass) = creds("pusher");
    let pushed = skopeo_push(&image, &s.registry.host, REPO_A, &Auth::Creds(&user, &pass))
        .await
        .unwrap();
    let digest: Digest = pushed.parse().unwrap();

    let hit = s
        .recorder
        .wait_for(Duration::from_secs(20), |r| {
            parse_notification(r.content_type.as_deref(), &r.body, chrono::Utc::now()).is_ok_and(|evs| {
                evs.iter()
                    .any(|e| is_manifest_push(e) && e.digest.as_ref() == Some(&digest))
            })
        })
        .await
        .unwrap_or_else(|| panic!("no manifest push notification; got {:#?}", s.recorder.all()));
    assert_eq!(
        hit.authorization.as_deref(),
        Some(format!("Bearer {NOTIFY_SECRET}").as_str())
    );
    assert_eq!(hit.content_type.as_deref(), Some(DISTRIBUTION_EVENTS_V1));
    let events = parse_notification(hit.content_type.as_deref(), &hit.body, chrono::Utc::now()).unwrap();
    let manifest = events.iter().find(|e| is_manifest_push(e)).unwrap();
    assert_eq!(manifest.action, RegistryAction::Push);
    assert_eq!(manifest.repository, REPO_A);
    assert_eq!(manifest.digest.as_ref(), Some(&digest));
    assert_eq!(
        manifest.media_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    assert_eq!(manifest.actor_name.as_deref(), Some("subject-pusher"));
    assert_eq!(manifest.size, Some(i64::try_from(image.manifest_size).unwrap()));

    // Every request must carry the secret, and blob pushes are not manifest pushes.
    for recorded in s.recorder.all() {
        assert_eq!(
            recorded.authorization.as_deref(),
            Some(format!("Bearer {NOTIFY_SECRET}").as_str())
        );
    }
    if let Ok(dir) = std::env::var("GATEHOUSE_CAPTURE_NOTIFICATIONS") {
        for (i, recorded) in s.recorder.all().iter().enumerate() {
            std::fs::write(format!("{dir}/notification-{i}.json"), &recorded.body).unwrap();
        }
    }

    // The gateway mints itself a pull token and asks the registry about the digest.
    let token = fixture_signer()
        .sign("gatehouse", &[grant(REPO_A, &["pull"])], Duration::from_secs(60))
        .unwrap();
    let client = RegistryClient::new(&s.registry.url).unwrap();
    let info = client
        .manifest_info(REPO_A, &digest, &token.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.media_type, "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(info.size, u64::try_from(image.manifest_size).unwrap());
    assert_eq!(info.digest, digest);
    let unknown: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
    assert_eq!(
        client
            .manifest_info(REPO_A, &unknown, &token.token)
            .await
            .unwrap(),
        None
    );
    // A token without pull on the repository is an error, not "absent".
    let empty = fixture_signer()
        .sign("gatehouse", &[], Duration::from_secs(60))
        .unwrap();
    assert!(client.manifest_info(REPO_A, &digest, &empty.token).await.is_err());
}

/// libtrust's key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, in
/// groups of four joined by `:` — what distribution 2.8 matches a `kid` header against.
fn libtrust_kid(cert_pem: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let body: String = cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    // A P-256 SubjectPublicKeyInfo always starts with these bytes and holds a 65-byte point.
    let prefix = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    let at = der.windows(prefix.len()).position(|w| w == prefix).unwrap();
    let spki = &der[at..at + prefix.len() + 65];
    let hash = sha2::Sha256::digest(spki);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = String::new();
    for byte in &hash[..30] {
        bits = (bits << 8) | u32::from(*byte);
        nbits += 8;
        while nbits >= 5 {
            nbits -= 5;
            out.push(char::from(alphabet[((bits >> nbits) & 31) as usize]));
        }
    }
    let chars: Vec<char> = out.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

#[tokio::test]
async fn distribution_finds_the_key_by_x5c_or_libtrust_kid_and_refuses_neither() {
    let Some(s) = setup().await else { return };
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": common::registry::ISSUER, "sub": "s", "aud": common::registry::SERVICE,
        "iat": now, "nbf": now, "exp": now + 60, "jti": "j",
        "access": [grant(REPO_A, &["pull"])],
    });
    let key = jsonwebtoken::EncodingKey::from_ec_pem(
        &std::fs::read(common::repo_path("fixtures/registry/token.key")).unwrap(),
    )
    .unwrap();
    let path = format!("/v2/{REPO_A}/tags/list");
    // Neither x5c nor kid: the registry cannot find a key.
    let bare = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    let token = jsonwebtoken::encode(&bare, &claims, &key).unwrap();
    assert_eq!(registry_status(&s.registry, &path, &token).await, 401);
    // kid = libtrust fingerprint of a key in rootcertbundle: the alternative to x5c.
    let cert = std::fs::read_to_string(common::repo_path("fixtures/registry/token.crt")).unwrap();
    let mut with_kid = bare.clone();
    with_kid.kid = Some(libtrust_kid(&cert));
    let token = jsonwebtoken::encode(&with_kid, &claims, &key).unwrap();
    // 404: authorised, the repository just has nothing yet.
    assert_eq!(registry_status(&s.registry, &path, &token).await, 404);
    // And what TokenSigner sends (x5c) is accepted the same way.
    let signed = fixture_signer()
        .sign("s", &[grant(REPO_A, &["pull"])], Duration::from_secs(60))
        .unwrap();
    assert_eq!(registry_status(&s.registry, &path, &signed.token).await, 404);
}
