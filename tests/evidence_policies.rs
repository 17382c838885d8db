//! Policies that read evidence, end to end over HTTP: an artifact verified with an SLSA
//! provenance attestation (made by PyPI securesystemslib, `fixtures/evidence_policies/make.py`)
//! reaches prod only when its builder and source repository are the ones configured in
//! `[trust.provenance]`; a denial names the shipped policy; GET shows the facts; a failed
//! verification or a revocation leaves none behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::stack::{promote_to_prod, releaser};
use common::{Db, TestApp, repo_path, token};
use gatehouse::domain::{ProjectProvenance, ProvenanceTrust};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const TRUSTED_BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0";
const SOURCE: &str = "https://github.com/octo/web";
const COMMIT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

fn fixture(name: &str) -> std::path::PathBuf {
    repo_path("fixtures/evidence_policies").join(name)
}

fn envelope(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

/// The digest of the bytes a fixture's statement is about.
fn subject(bytes: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes.as_bytes())))
}

/// The fixture key's id as the gateway names configured keys: `sha256:<hex of DER SPKI>`.
fn fixture_key_id() -> String {
    let pem = std::fs::read_to_string(fixture("attest.pub.pem")).unwrap();
    let key = p256::PublicKey::from_public_key_pem(&pem).unwrap();
    let der = key.to_public_key_der().unwrap();
    format!("sha256:{}", hex::encode(Sha256::digest(der.as_bytes())))
}

/// Trusts the fixture key, the slsa-github-generator builder, and `octo/web` for `team-a`.
fn config(db: &Db) -> gatehouse::Config {
    let mut config = common::test_config(db);
    config.trust.cosign_public_key_files = vec![fixture("attest.pub.pem")];
    config.trust.provenance = ProvenanceTrust {
        builders: vec![TRUSTED_BUILDER.to_owned()],
        projects: [(
            "team-a".parse().unwrap(),
            ProjectProvenance {
                source_repositories: vec![SOURCE.to_owned()],
                builders: None,
            },
        )]
        .into(),
    };
    config
}

/// Registers a blob of `bytes` and verifies it with the fixture envelope `name`.
async fn register_and_verify(app: &TestApp, bytes: &str, name: &str) -> Value {
    let (status, registered) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &releaser("team-a"),
            json!({
                "app": "web", "artifact_kind": "blob", "digest": subject(bytes),
                "source": { "source_type": "https", "uri": format!("https://downloads.example/{name}") },
            }),
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["id"].as_str().unwrap();
    let (status, verified) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &releaser("team-a"),
            json!({ "attestations": [envelope(name)] }),
        )
        .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["trust_state"], "verified", "{verified}");
    verified
}

async fn provenance_decides_prod(db: Db) {
    let config = config(&db);
    let app = TestApp::spawn_with(db, config).await;

    // The trusted builder, from the project's repository: the facts are on the artifact and in
    // the evidence, and prod is allowed.
    let trusted = register_and_verify(
        &app,
        "gatehouse evidence: trusted build",
        "provenance-trusted.dsse.json",
    )
    .await;
    let expected = json!({
        "builder_id": TRUSTED_BUILDER,
        "build_type": "https://actions.github.io/buildtypes/workflow/v1",
        "source_repository": SOURCE,
        "source_ref": "refs/heads/main",
        "source_commit": COMMIT,
    });
    assert_eq!(trusted["provenance"], expected, "{trusted}");
    assert_eq!(trusted["signer_key_ids"], json!([fixture_key_id()]), "{trusted}");
    assert_eq!(trusted["signer_identities"], json!([]), "{trusted}");
    let attestation = trusted["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "attestation")
        .unwrap();
    assert_eq!(attestation["details"]["provenance"], expected, "{attestation}");
    assert_eq!(attestation["details"]["builder_id"], TRUSTED_BUILDER);
    let id = trusted["id"].as_str().unwrap().to_owned();
    let (status, shown) = app.get(&format!("/v1/artifacts/{id}"), &releaser("team-a")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["provenance"], expected, "{shown}");
    assert_eq!(shown["signer_key_ids"], trusted["signer_key_ids"], "{shown}");
    let (status, promoted) = promote_to_prod(&app, "team-a", &id).await;
    assert_eq!(status, 200, "{promoted}");
    assert_eq!(promoted["channels"], json!(["dev", "test", "staging", "prod"]));

    // Another builder: verified all the same, but prod is denied naming the builder rule.
    let other = register_and_verify(
        &app,
        "gatehouse evidence: other builder",
        "provenance-other-builder.dsse.json",
    )
    .await;
    let (status, denied) = promote_to_prod(&app, "team-a", other["id"].as_str().unwrap()).await;
    assert_eq!(status, 403, "{denied}");
    assert_eq!(
        denied["policy_ids"],
        json!(["prod-provenance-trusted-builder"]),
        "{denied}"
    );

    // The trusted builder, but from a fork: denied naming the source rule.
    let fork = register_and_verify(
        &app,
        "gatehouse evidence: fork build",
        "provenance-fork.dsse.json",
    )
    .await;
    assert_eq!(
        fork["provenance"]["source_repository"],
        "https://github.com/evil/web"
    );
    let (status, denied) = promote_to_prod(&app, "team-a", fork["id"].as_str().unwrap()).await;
    assert_eq!(status, 403, "{denied}");
    assert_eq!(
        denied["policy_ids"],
        json!(["prod-provenance-project-source"]),
        "{denied}"
    );

    // A verification that fails (an attached envelope by an unknown key) clears the facts, and
    // the deploy gate no longer sees a trusted provenance.
    let (status, failed) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &releaser("team-a"),
            json!({ "attestations": [envelope("provenance-unknown-key.dsse.json")] }),
        )
        .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["trust_state"], "failed_verification", "{failed}");
    assert_eq!(failed["provenance"], Value::Null, "{failed}");
    assert_eq!(failed["signer_key_ids"], json!([]), "{failed}");
    let (status, review) = app
        .post(
            "/v1/admission/review",
            &releaser("team-a"),
            json!({ "project": "team-a", "artifact_id": id, "action": "deploy", "channel": "prod" }),
        )
        .await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(review["decision"], "deny", "{review}");
    let ids = review["policy_ids"].as_array().unwrap();
    assert!(
        ids.contains(&json!("prod-provenance-trusted-builder")),
        "{review}"
    );

    // Revocation clears what a passing verification left.
    let fork_id = fork["id"].as_str().unwrap();
    let admin = token("ada", json!({ "team-a": ["admin"] }));
    let (status, revoked) = app
        .post(
            &format!("/v1/artifacts/{fork_id}/revoke"),
            &admin,
            json!({ "reason": "built from a fork" }),
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["provenance"], Value::Null, "{revoked}");
    assert_eq!(revoked["signer_key_ids"], json!([]), "{revoked}");
    app.shutdown().await;
}

#[tokio::test]
async fn provenance_decides_prod_on_sqlite() {
    provenance_decides_prod(Db::sqlite()).await;
}

#[tokio::test]
async fn provenance_decides_prod_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    provenance_decides_prod(Db::Postgres(db)).await;
}

/// A policy set of the shipped schema holding only `text`.
fn engine_with(text: &str) -> (tempfile::TempDir, gatehouse::policy::PolicyEngine) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signers.cedar"), text).unwrap();
    let engine =
        gatehouse::policy::PolicyEngine::load(&repo_path("schemas/gatehouse.cedarschema"), dir.path())
            .unwrap();
    (dir, engine)
}

#[test]
fn policies_compare_signers_and_see_them_only_while_verified() {
    use gatehouse::domain::{Actor, ActorType, CiClaims, Principal, SignerIdentity, TrustState};
    use gatehouse::policy::{Action, Caller, PolicyRequest, RequestContext, Resource};

    let (_dir, engine) = engine_with(
        r#"
        @id("release-workflow")
        permit (principal, action == Gatehouse::Action::"promote", resource)
        when {
          resource has signer_identities &&
          resource.signer_identities.contains({issuer: "https://token.actions.githubusercontent.com",
            subject: "https://github.com/octo/web/.github/workflows/release.yml@refs/heads/main"})
        };
        @id("release-key")
        permit (principal, action == Gatehouse::Action::"promote", resource)
        when { resource has signer_key_ids && resource.signer_key_ids.contains("sha256:release") };
        "#,
    );
    let principal = Principal {
        actor: Actor {
            actor_type: ActorType::User,
            id: "rita".into(),
        },
        issuer: "https://issuer.test".into(),
        project_roles: Default::default(),
        platform_roles: Default::default(),
        ci: CiClaims::default(),
    };
    let decide = |identity: Option<(&str, &str)>, key: Option<&str>, trust: TrustState| {
        let mut artifact =
            common::store_harness::artifact("team-a", "web", 1, gatehouse::domain::ArtifactKind::Oci);
        artifact.trust_state = trust;
        artifact.trust_facts.signer_identities = identity
            .map(|(issuer, subject)| SignerIdentity {
                issuer: issuer.into(),
                subject: subject.into(),
            })
            .into_iter()
            .collect();
        artifact.trust_facts.signer_key_ids = key.map(str::to_owned).into_iter().collect();
        let decision = engine.decide(&PolicyRequest {
            caller: Caller::Principal(&principal),
            action: Action::Promote,
            resource: Resource::Artifact(&artifact),
            context: RequestContext::default(),
        });
        assert!(decision.errors.is_empty(), "{:?}", decision.errors);
        decision.policy_ids
    };
    let issuer = "https://token.actions.githubusercontent.com";
    let release = "https://github.com/octo/web/.github/workflows/release.yml@refs/heads/main";
    assert_eq!(
        decide(Some((issuer, release)), None, TrustState::Verified),
        ["release-workflow"]
    );
    assert_eq!(
        decide(None, Some("sha256:release"), TrustState::Verified),
        ["release-key"]
    );
    // Another workflow of the same repository, or the right subject from another issuer: no.
    let nightly = "https://github.com/octo/web/.github/workflows/nightly.yml@refs/heads/main";
    assert!(decide(Some((issuer, nightly)), None, TrustState::Verified).is_empty());
    assert!(decide(Some(("https://issuer.evil", release)), None, TrustState::Verified).is_empty());
    // Facts of an artifact that is not verified (now) are not shown to policies.
    for trust in [
        TrustState::Unverified,
        TrustState::FailedVerification,
        TrustState::Revoked,
    ] {
        assert!(
            decide(Some((issuer, release)), Some("sha256:release"), trust).is_empty(),
            "{trust}"
        );
    }
}
