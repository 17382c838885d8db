//! HISTORY BENCH — targets gatehouse commit 380c58f (the hand-written sigstore verifier, before
//! the move onto `sigstore-verify`). It is NOT compiled on main: `benches/verify_compare.sh`
//! copies it to `benches/verify_before.rs` of a temporary worktree at that commit and registers
//! it there. Against main's API it does not build.
//!
//! The closest equivalents of main's `benches/verify.rs`, through the old
//! `gatehouse::trust::bundle::verify_blob_bundle` with a `BundleTrust` built as the old gateway
//! built it at start-up (`app.rs::trust_setup`: a `TrustedRoot` read once, its logs for keyed
//! bundles, `Keyless::new(&root, identities)`, `require_tlog = true`), over bundles made by the
//! old tests' own helpers (`tests/common/{fulcio,sigstore_fixtures}.rs` of that commit):
//!
//! - `verify_before/keyed_bundle_cold` — v0.3 bundle, managed P-256 key, Rekor v1 hashedrekord
//!   entry: signature with the configured key, entry body matches (digest, signature, key), SET by
//!   the trusted root's log, Merkle inclusion proof up to the proof's own `rootHash`. The old
//!   helpers write an empty checkpoint and the old verifier never read it.
//! - `verify_before/keyless_bundle_cold` — the same over a test Fulcio leaf (P-384 root and
//!   intermediate, intermediate→root checked once at load): leaf signature, leaf issued by the
//!   intermediate (one P-384 verification), code-signing EKU / not a CA / no unknown critical
//!   extension, the entry checks above with the certificate as signer, the SET time inside the
//!   leaf's and the CA's validity, and the identity against a `subject_regex`. No SCT: the old
//!   helpers did not embed one and the old verifier did not check one.
//! - `verify_before/cached_result` — that keyless check answered by the old `VerificationCache`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse::domain::Digest;
use gatehouse::trust::bundle::{BundleTrust, verify_blob_bundle};
use gatehouse::trust::cache::{VerificationCache, trust_config_hash};
use gatehouse::trust::identity::{Identities, KeylessIdentity};
use gatehouse::trust::{Keyless, TrustKeys, TrustedRoot};

#[path = "../tests/common/fulcio.rs"]
mod fulcio;
#[path = "../tests/common/sigstore_fixtures.rs"]
#[allow(dead_code, reason = "shared with the tests, which use the rest")]
mod sigstore_fixtures;

use fulcio::{LeafSpec, OIDC_ISSUER, TestFulcio, WORKFLOW};
use sigstore_fixtures as fx;

/// What the old fixtures call to find `fixtures/cosign/cosign.{key,pub}`.
fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

const BLOB: &[u8] = b"model weights";

fn bench_verify_before(c: &mut Criterion) {
    let log = fx::log_key("rekor");
    let ca = TestFulcio::new("fulcio");
    // Read once, as the old gateway read `trust.trusted_root_file` at start-up.
    let root = TrustedRoot::from_json(&fulcio::trusted_root(&log, &[&ca])).unwrap();

    let keyed = fx::keyed_bundle(BLOB, &log);
    let keys = TrustKeys::from_pems([("cosign.pub", fx::signing_public_pem().as_str())]).unwrap();
    let no_identities = Keyless::new(&root, Identities::default());
    let keyed_trust = BundleTrust {
        keys: &keys,
        logs: &root.logs,
        keyless: &no_identities,
        require_tlog: true,
    };
    let digest: Digest = keyed.digest.parse().unwrap();
    let evidence = verify_blob_bundle(&keyed_trust, &digest, &keyed.bundle);
    assert_eq!(evidence.details["check"], "verified", "{}", evidence.reason);
    assert_eq!(evidence.details["tlog_entries"][0]["inclusion_proof"], true);
    c.bench_function("verify_before/keyed_bundle_cold", |b| {
        b.iter(|| verify_blob_bundle(&keyed_trust, black_box(&digest), black_box(&keyed.bundle)));
    });

    let leaf = ca.issue(&LeafSpec::new(OIDC_ISSUER, WORKFLOW));
    let (keyless, keyless_digest) = fulcio::keyless_bundle(BLOB, &leaf, &log);
    let identities = Identities::compile(&[KeylessIdentity {
        issuer: OIDC_ISSUER.to_owned(),
        subject: None,
        subject_regex: Some(r"https://github\.com/acme/.+".to_owned()),
    }])
    .unwrap();
    let keyless_config = Keyless::new(&root, identities);
    let no_keys = TrustKeys::default();
    let keyless_trust = BundleTrust {
        keys: &no_keys,
        logs: &root.logs,
        keyless: &keyless_config,
        require_tlog: true,
    };
    let keyless_digest: Digest = keyless_digest.parse().unwrap();
    let evidence = verify_blob_bundle(&keyless_trust, &keyless_digest, &keyless);
    assert_eq!(evidence.details["check"], "verified", "{}", evidence.reason);
    assert_eq!(evidence.details["tlog_entries"][0]["inclusion_proof"], true);
    c.bench_function("verify_before/keyless_bundle_cold", |b| {
        b.iter(|| verify_blob_bundle(&keyless_trust, black_box(&keyless_digest), black_box(&keyless)));
    });

    // A hit: the old cache key is (configuration, check kind, digest, exact material), as on main.
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cache = VerificationCache::new(trust_config_hash([b"bench".as_slice()]));
    let material = serde_json::to_vec(&keyless).unwrap();
    runtime.block_on(cache.get_or_verify("attachment", &keyless_digest, &material, || {
        verify_blob_bundle(&keyless_trust, &keyless_digest, &keyless)
    }));
    c.bench_function("verify_before/cached_result", |b| {
        b.iter(|| {
            runtime.block_on(
                cache.get_or_verify("attachment", black_box(&keyless_digest), &material, || {
                    panic!("a cached result is answered without verifying")
                }),
            )
        });
    });
}

criterion_group!(benches, bench_verify_before);
criterion_main!(benches);
