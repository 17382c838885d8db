//! Sigstore verification cost: a cold keyed bundle (managed key, Rekor v1 entry with SET,
//! inclusion proof and signed checkpoint), a cold keyless bundle (Fulcio chain, SCT, the same log
//! checks, identity match) — each through the `blob_bundle` evidence builder the gateway uses —
//! and a result answered by the verification cache. The verifier is built once, outside the
//! measured loop, as the gateway builds it at start-up; the bundles are made by the tests' own
//! Fulcio, CT log and Rekor (`tests/common`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::domain::Digest;
use gatehouse::trust::bundle::verify_blob_bundle;
use gatehouse::trust::cache::{VerificationCache, trust_config_hash};
use gatehouse::trust::identity::{Identities, KeylessIdentity};
use gatehouse::trust::{LoadedRoot, SigstoreVerifier, TrustKeys};
use serde_json::Value;

#[path = "../tests/common/fulcio.rs"]
mod fulcio;
#[path = "../tests/common/sigstore_fixtures.rs"]
#[allow(dead_code, reason = "shared with the tests, which use the rest")]
mod sigstore_fixtures;

use fulcio::{LeafSpec, OIDC_ISSUER, TestFulcio, WORKFLOW};
use sigstore_fixtures as fx;

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

const BLOB: &[u8] = b"model weights";

fn verifier(root: &Value, keys: TrustKeys, identities: Identities) -> SigstoreVerifier {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trusted_root.json");
    std::fs::write(&file, root.to_string()).unwrap();
    SigstoreVerifier::new(&LoadedRoot::load(&file).unwrap(), keys, identities, true).unwrap()
}

fn bench_verify(c: &mut Criterion) {
    let log = fx::log_key("rekor");
    let ca = TestFulcio::new("fulcio");

    let keyed = fx::keyed_bundle(BLOB, &log);
    let keys = TrustKeys::from_pems([("cosign.pub", fx::signing_public_pem().as_str())]).unwrap();
    let keyed_verifier = verifier(&fulcio::trusted_root(&log, &[&ca]), keys, Identities::default());
    let digest: Digest = keyed.digest.parse().unwrap();
    let evidence = verify_blob_bundle(&keyed_verifier, &digest, &keyed.bundle);
    assert_eq!(evidence.details["check"], "verified", "{}", evidence.reason);
    c.bench_function("verify/keyed_bundle_cold", |b| {
        b.iter(|| verify_blob_bundle(&keyed_verifier, black_box(&digest), black_box(&keyed.bundle)));
    });

    let leaf = ca.issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW));
    let (keyless, keyless_digest) = fulcio::keyless_bundle(BLOB, &leaf, &log);
    let identities = Identities::compile(&[KeylessIdentity {
        issuer: OIDC_ISSUER.to_owned(),
        subject: None,
        subject_regex: Some(r"https://github\.com/acme/.+".to_owned()),
    }])
    .unwrap();
    let keyless_verifier = verifier(
        &fulcio::trusted_root(&log, &[&ca]),
        TrustKeys::default(),
        identities,
    );
    let keyless_digest: Digest = keyless_digest.parse().unwrap();
    let evidence = verify_blob_bundle(&keyless_verifier, &keyless_digest, &keyless);
    assert_eq!(evidence.details["check"], "verified", "{}", evidence.reason);
    c.bench_function("verify/keyless_bundle_cold", |b| {
        b.iter(|| verify_blob_bundle(&keyless_verifier, black_box(&keyless_digest), black_box(&keyless)));
    });

    // A hit: the gateway's cache key is (configuration, check kind, digest, exact material).
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cache = VerificationCache::new(trust_config_hash([b"bench".as_slice()]));
    let material = serde_json::to_vec(&keyless).unwrap();
    runtime.block_on(cache.get_or_verify("attachment", &keyless_digest, &material, || {
        verify_blob_bundle(&keyless_verifier, &keyless_digest, &keyless)
    }));
    c.bench_function("verify/cached_result", |b| {
        b.iter(|| {
            runtime.block_on(
                cache.get_or_verify("attachment", black_box(&keyless_digest), &material, || {
                    panic!("a cached result is answered without verifying")
                }),
            )
        });
    });
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
