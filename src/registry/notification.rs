//! Registry notifications: the CNCF distribution envelope and Harbor's default webhook payload,
//! normalised into [`RegistryEvent`]s for the queue.
//!
//! Formats, as their sources define them:
//! - distribution (`notifications/event.go`): `{"events": [{id, timestamp, action, target:
//!   {mediaType, size, digest, length, repository, url, tag}, request, actor: {name},
//!   source}]}`, sent as `application/vnd.docker.distribution.events.v1+json` (v2 in 3.x).
//!   It sends events for blob pushes and pulls too, hence [`is_manifest_push`].
//! - Harbor "Default" payload: `{type: PUSH_ARTIFACT | PULL_ARTIFACT | DELETE_ARTIFACT | …,
//!   occur_at: <unix seconds>, operator, event_data: {resources: [{digest, tag, resource_url}],
//!   repository: {name, namespace, repo_full_name, repo_type}}}`, as `application/json`.
//!
//! The payload is refused only when it is not JSON or not one of these shapes. A single event
//! whose digest is not canonical is kept with `digest: None` (recorded, so it can be seen) and
//! the worker ignores it; events of other kinds (Harbor scans, quotas…) are skipped.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::domain::{Digest, EventStatus, RegistryAction, RegistryEvent};

/// Distribution's envelope media type (2.x).
pub const DISTRIBUTION_EVENTS_V1: &str = "application/vnd.docker.distribution.events.v1+json";
/// Distribution's envelope media type (3.x).
pub const DISTRIBUTION_EVENTS_V2: &str = "application/vnd.docker.distribution.events.v2+json";

/// Manifest and index media types: a push of one of these is an artifact push.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Why a notification body was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The content type is neither a distribution envelope nor JSON.
    #[error("unsupported content type `{0}`")]
    UnsupportedContentType(String),
    /// The body is not JSON.
    #[error("notification body is not JSON")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but neither a distribution envelope nor a Harbor payload.
    #[error("notification body is neither a distribution envelope nor a Harbor payload")]
    UnknownShape,
}

#[derive(Deserialize)]
struct Envelope {
    events: Vec<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DistEvent {
    id: Option<String>,
    timestamp: Option<String>,
    action: Option<String>,
    target: DistTarget,
    actor: DistActor,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct DistTarget {
    media_type: Option<String>,
    size: Option<i64>,
    length: Option<i64>,
    digest: Option<String>,
    repository: Option<String>,
    tag: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DistActor {
    name: Option<String>,
}

#[derive(Deserialize)]
struct HarborPayload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    occur_at: Option<i64>,
    #[serde(default)]
    operator: Option<String>,
    event_data: HarborData,
}

#[derive(Deserialize)]
struct HarborData {
    #[serde(default)]
    resources: Vec<HarborResource>,
    repository: HarborRepository,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HarborResource {
    digest: Option<String>,
    tag: Option<String>,
}

#[derive(Deserialize)]
struct HarborRepository {
    repo_full_name: String,
}

/// Parses a notification body into events (possibly none), all `Pending` and received `now`.
pub fn parse_notification(
    content_type: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<RegistryEvent>, NotificationError> {
    let essence = content_type
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(body).map_err(NotificationError::NotJson)?;
    match essence.as_str() {
        DISTRIBUTION_EVENTS_V1 | DISTRIBUTION_EVENTS_V2 => distribution(value, now),
        // Plain JSON (Harbor sends it; some proxies relabel distribution's): sniff the shape.
        "" | "application/json" => {
            if value.get("events").is_some() {
                distribution(value, now)
            } else if value.get("event_data").is_some() {
                harbor(value, now)
            } else {
                Err(NotificationError::UnknownShape)
            }
        }
        other => Err(NotificationError::UnsupportedContentType(other.to_owned())),
    }
}

fn distribution(value: Value, now: DateTime<Utc>) -> Result<Vec<RegistryEvent>, NotificationError> {
    let envelope: Envelope = serde_json::from_value(value).map_err(|_| NotificationError::UnknownShape)?;
    let mut out = Vec::with_capacity(envelope.events.len());
    for raw in envelope.events {
        // An event that is not an object, or has no action or repository, says nothing usable.
        let Ok(event) = serde_json::from_value::<DistEvent>(raw.clone()) else {
            continue;
        };
        let Some(action) = event.action.as_deref().and_then(action_from_distribution) else {
            continue;
        };
        let Some(repository) = event.target.repository.filter(|r| !r.is_empty()) else {
            continue;
        };
        // Distribution always sends an id; if one is missing, the event's own bytes stand in
        // so a redelivery still dedups.
        let id = match event.id.filter(|id| !id.is_empty()) {
            Some(id) => id,
            None => format!("distribution-{}", sha256_hex(&[&raw.to_string()])),
        };
        out.push(RegistryEvent {
            id,
            source: "distribution".to_owned(),
            action,
            repository: repository.into(),
            digest: event.target.digest.and_then(|d| d.parse::<Digest>().ok()),
            media_type: event.target.media_type.filter(|m| !m.is_empty()),
            size: event.target.size.or(event.target.length),
            tag: event.target.tag.filter(|t| !t.is_empty()),
            actor_name: event.actor.name.filter(|n| !n.is_empty()),
            occurred_at: event
                .timestamp
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc)),
            received_at: now,
            status: EventStatus::Pending,
            attempts: 0,
            result: Value::Null,
        });
    }
    Ok(out)
}

fn action_from_distribution(action: &str) -> Option<RegistryAction> {
    match action {
        "push" => Some(RegistryAction::Push),
        "pull" => Some(RegistryAction::Pull),
        "delete" => Some(RegistryAction::Delete),
        "mount" => Some(RegistryAction::Mount),
        _ => None,
    }
}

fn harbor(value: Value, now: DateTime<Utc>) -> Result<Vec<RegistryEvent>, NotificationError> {
    let payload: HarborPayload =
        serde_json::from_value(value).map_err(|_| NotificationError::UnknownShape)?;
    let action = match payload.kind.as_str() {
        "PUSH_ARTIFACT" => RegistryAction::Push,
        "PULL_ARTIFACT" => RegistryAction::Pull,
        "DELETE_ARTIFACT" => RegistryAction::Delete,
        // Scans, quotas, replication…: not artifact movements.
        _ => return Ok(Vec::new()),
    };
    let occurred_at = payload
        .occur_at
        .and_then(|secs| Utc.timestamp_opt(secs, 0).single());
    let repository = payload.event_data.repository.repo_full_name;
    let occur_at = payload.occur_at.map(|s| s.to_string()).unwrap_or_default();
    Ok(payload
        .event_data
        .resources
        .into_iter()
        .map(|resource| {
            let raw_digest = resource.digest.unwrap_or_default();
            let tag = resource.tag.filter(|t| !t.is_empty());
            // Harbor sends no event id: hash what identifies the event, so a redelivery of the
            // same payload gets the same id and dedups.
            let id = format!(
                "harbor-{}",
                sha256_hex(&[
                    &payload.kind,
                    &occur_at,
                    &repository,
                    &raw_digest,
                    tag.as_deref().unwrap_or(""),
                ])
            );
            RegistryEvent {
                id,
                source: "harbor".to_owned(),
                action,
                repository: repository.as_str().into(),
                digest: raw_digest.parse::<Digest>().ok(),
                // Harbor names artifacts, never blobs, and sends no media type.
                media_type: None,
                size: None,
                tag,
                actor_name: payload.operator.clone().filter(|o| !o.is_empty()),
                occurred_at,
                received_at: now,
                status: EventStatus::Pending,
                attempts: 0,
                result: Value::Null,
            }
        })
        .collect())
}

/// SHA-256 hex of the parts, each followed by a NUL so that ("ab","c") ≠ ("a","bc").
fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(hasher.finalize())
}

/// Whether the event is about a cosign signature, attestation or SBOM, or a sigstore bundle,
/// rather than an artifact of its own: the worker must not register those as artifacts.
pub fn is_signature_or_attestation(ev: &RegistryEvent) -> bool {
    let cosign_tag = ev.tag.as_deref().is_some_and(|tag| {
        let Some(rest) = tag.strip_prefix("sha256-") else {
            return false;
        };
        let Some((hex, suffix)) = rest.split_once('.') else {
            return false;
        };
        hex.len() == 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && matches!(suffix, "sig" | "att" | "sbom")
    });
    let trust_media_type = ev.media_type.as_deref().is_some_and(|mt| {
        let mt = mt.to_ascii_lowercase();
        mt.starts_with("application/vnd.dev.sigstore.")
            || mt.starts_with("application/vnd.dev.cosign.")
            || mt.starts_with("application/vnd.in-toto")
            || mt.starts_with("application/vnd.dsse.")
    });
    cosign_tag || trust_media_type
}

/// What a pushed manifest is to the artifact it is about, found from its tag or its `subject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustInputKind {
    /// cosign's `sha256-<hex>.sig`.
    CosignSignature,
    /// cosign's `sha256-<hex>.att`.
    CosignAttestation,
    /// cosign's `sha256-<hex>.sbom`.
    CosignSbom,
    /// The OCI referrers tag schema's index, `sha256-<hex>` (registries without a referrers API).
    ReferrersIndex,
    /// An OCI 1.1 manifest whose `subject` names the artifact.
    Referrer,
}

impl TrustInputKind {
    /// The name recorded in an event's result.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CosignSignature => "cosign_signature",
            Self::CosignAttestation => "cosign_attestation",
            Self::CosignSbom => "cosign_sbom",
            Self::ReferrersIndex => "referrers_index",
            Self::Referrer => "referrer",
        }
    }
}

/// The digest a trust-input tag is about: cosign's `sha256-<hex>.sig|.att|.sbom`, or the
/// referrers tag schema's bare `sha256-<hex>`. Any other tag names no subject.
pub fn trust_tag_subject(tag: &str) -> Option<(Digest, TrustInputKind)> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, kind) = match rest.split_once('.') {
        None => (rest, TrustInputKind::ReferrersIndex),
        Some((hex, "sig")) => (hex, TrustInputKind::CosignSignature),
        Some((hex, "att")) => (hex, TrustInputKind::CosignAttestation),
        Some((hex, "sbom")) => (hex, TrustInputKind::CosignSbom),
        Some(_) => return None,
    };
    let digest = format!("sha256:{hex}").parse().ok()?;
    Some((digest, kind))
}

/// Whether the pushed manifest may carry an OCI 1.1 `subject` (an OCI manifest or index; Harbor
/// sends no media type, so its pushes may too). Docker schema 2 manifests have no such field.
pub fn may_have_subject(ev: &RegistryEvent) -> bool {
    match ev.media_type.as_deref() {
        None => true,
        Some(mt) => {
            let essence = mt.split(';').next().unwrap_or("").trim();
            MANIFEST_MEDIA_TYPES[..2]
                .iter()
                .any(|m| m.eq_ignore_ascii_case(essence))
        }
    }
}

/// The `subject.digest` of a manifest or index as the registry holds it: set, it makes the
/// manifest a referrer of that digest. A subject that is not a canonical digest is none.
pub fn manifest_subject(manifest: &[u8]) -> Option<Digest> {
    #[derive(Deserialize)]
    struct WithSubject {
        subject: Option<Subject>,
    }
    #[derive(Deserialize)]
    struct Subject {
        digest: String,
    }
    let parsed: WithSubject = serde_json::from_slice(manifest).ok()?;
    parsed.subject?.digest.parse().ok()
}

/// Whether the event is the push of a manifest or index (an artifact), not of a blob.
/// Harbor only ever reports artifacts, so every Harbor push counts.
pub fn is_manifest_push(ev: &RegistryEvent) -> bool {
    if ev.action != RegistryAction::Push {
        return false;
    }
    if ev.source == "harbor" {
        return true;
    }
    ev.media_type.as_deref().is_some_and(|mt| {
        let essence = mt.split(';').next().unwrap_or("").trim();
        MANIFEST_MEDIA_TYPES
            .iter()
            .any(|m| m.eq_ignore_ascii_case(essence))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = &crate::repo_path("").join("fixtures/notifications").join(name);
        std::fs::read(path).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).single().unwrap()
    }

    #[test]
    fn real_distribution_manifest_push_normalises() {
        let events = parse_notification(
            Some(DISTRIBUTION_EVENTS_V1),
            &fixture("distribution-push.json"),
            now(),
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert!(is_manifest_push(ev));
        assert!(!is_signature_or_attestation(ev));
        assert_eq!(ev.id, "1811d0a1-e269-4bad-98c9-189e737484d2");
        assert_eq!(ev.source, "distribution");
        assert_eq!(ev.action, RegistryAction::Push);
        assert_eq!(ev.repository, "gpuaas/apps/demo/web");
        assert_eq!(
            ev.digest.as_ref().map(Digest::as_str),
            Some("sha256:46c5463ddc4f3a51936544c106b25ed985c69bc619e8d6505b086f658718c9bf")
        );
        assert_eq!(ev.media_type.as_deref(), Some(MANIFEST_MEDIA_TYPES[0]));
        assert_eq!(ev.size, Some(402));
        assert_eq!(ev.tag.as_deref(), Some("v1"));
        assert_eq!(ev.actor_name.as_deref(), Some("subject-pusher"));
        assert!(ev.occurred_at.is_some());
        assert_eq!(ev.received_at, now());
        assert_eq!(ev.status, EventStatus::Pending);
        assert_eq!(ev.attempts, 0);
        assert_eq!(ev.result, Value::Null);
    }

    #[test]
    fn real_distribution_blob_push_is_not_a_manifest_push() {
        let events = parse_notification(
            Some(DISTRIBUTION_EVENTS_V1),
            &fixture("distribution-blob-push.json"),
            now(),
        )
        .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, RegistryAction::Push);
        assert!(events[0].digest.is_some());
        assert!(!is_manifest_push(&events[0]));
    }

    #[test]
    fn plain_json_is_sniffed_for_both_shapes() {
        let dist = parse_notification(
            Some("application/json"),
            &fixture("distribution-push.json"),
            now(),
        )
        .unwrap();
        assert!(!dist.is_empty());
        let harbor = parse_notification(
            Some("application/json; charset=utf-8"),
            &fixture("harbor-push.json"),
            now(),
        )
        .unwrap();
        assert_eq!(harbor.len(), 1);
        assert!(parse_notification(None, &fixture("harbor-push.json"), now()).is_ok());
    }

    #[test]
    fn harbor_push_normalises_and_has_a_stable_id() {
        let body = fixture("harbor-push.json");
        let first = parse_notification(Some("application/json"), &body, now()).unwrap();
        let again = parse_notification(Some("application/json"), &body, now()).unwrap();
        assert_eq!(first[0].id, again[0].id);
        let ev = &first[0];
        assert!(ev.id.starts_with("harbor-"));
        assert_eq!(ev.source, "harbor");
        assert_eq!(ev.action, RegistryAction::Push);
        assert_eq!(ev.repository, "gpuaas/apps/demo/web");
        assert_eq!(ev.tag.as_deref(), Some("v1"));
        assert!(ev.digest.is_some());
        assert_eq!(ev.actor_name.as_deref(), Some("robot$ci"));
        assert_eq!(ev.occurred_at.map(|t| t.timestamp()), Some(1_700_000_100));
        assert!(is_manifest_push(ev));
    }

    #[test]
    fn harbor_other_types_yield_nothing_and_bad_digest_is_kept_as_none() {
        let scan = br#"{"type":"SCANNING_COMPLETED","occur_at":1,"operator":"x","event_data":{"resources":[],"repository":{"repo_full_name":"a/b"}}}"#;
        assert!(
            parse_notification(Some("application/json"), scan, now())
                .unwrap()
                .is_empty()
        );
        let bad = br#"{"type":"PUSH_ARTIFACT","occur_at":1,"operator":"x","event_data":{"resources":[{"digest":"sha256:XYZ","tag":"t"}],"repository":{"repo_full_name":"a/b"}}}"#;
        let events = parse_notification(Some("application/json"), bad, now()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].digest, None);
    }

    #[test]
    fn distribution_bad_digest_is_kept_and_ids_are_the_registry_ids() {
        let body = br#"{"events":[{"id":"e1","timestamp":"2024-01-01T00:00:00.123456789Z","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"sha256:nope","repository":"a/b","tag":"v1"},"actor":{"name":"s"}}]}"#;
        let events = parse_notification(Some(DISTRIBUTION_EVENTS_V2), body, now()).unwrap();
        assert_eq!(events[0].id, "e1");
        assert_eq!(events[0].digest, None);
        assert_eq!(events[0].size, Some(10));
        assert!(is_manifest_push(&events[0]));
    }

    #[test]
    fn junk_is_refused() {
        assert!(matches!(
            parse_notification(Some("application/json"), b"not json", now()),
            Err(NotificationError::NotJson(_))
        ));
        assert!(matches!(
            parse_notification(Some("application/json"), b"{\"hello\":1}", now()),
            Err(NotificationError::UnknownShape)
        ));
        assert!(matches!(
            parse_notification(Some(DISTRIBUTION_EVENTS_V1), b"{\"events\":3}", now()),
            Err(NotificationError::UnknownShape)
        ));
        assert!(matches!(
            parse_notification(Some("text/plain"), b"{}", now()),
            Err(NotificationError::UnsupportedContentType(_))
        ));
    }

    fn event(tag: Option<&str>, media_type: Option<&str>) -> RegistryEvent {
        RegistryEvent {
            id: "x".to_owned(),
            source: "distribution".to_owned(),
            action: RegistryAction::Push,
            repository: "a/b".into(),
            digest: None,
            media_type: media_type.map(str::to_owned),
            size: None,
            tag: tag.map(str::to_owned),
            actor_name: None,
            occurred_at: None,
            received_at: now(),
            status: EventStatus::Pending,
            attempts: 0,
            result: Value::Null,
        }
    }

    #[test]
    fn recognises_cosign_tags_and_sigstore_media_types() {
        let hex = "a".repeat(64);
        for suffix in ["sig", "att", "sbom"] {
            assert!(is_signature_or_attestation(&event(
                Some(&format!("sha256-{hex}.{suffix}")),
                None
            )));
        }
        assert!(!is_signature_or_attestation(&event(
            Some(&format!("sha256-{hex}.txt")),
            None
        )));
        assert!(!is_signature_or_attestation(&event(Some("sha256-abc.sig"), None)));
        assert!(!is_signature_or_attestation(&event(Some("v1.sig"), None)));
        assert!(is_signature_or_attestation(&event(
            None,
            Some("application/vnd.dev.sigstore.bundle.v0.3+json")
        )));
        assert!(is_signature_or_attestation(&event(
            None,
            Some("application/vnd.dev.cosign.simplesigning.v1+json")
        )));
        assert!(!is_signature_or_attestation(&event(
            Some("v1"),
            Some(MANIFEST_MEDIA_TYPES[0])
        )));
    }

    #[test]
    fn trust_tags_name_their_subject() {
        let hex = "ab".repeat(32);
        let subject: Digest = format!("sha256:{hex}").parse().unwrap();
        for (suffix, kind) in [
            (".sig", TrustInputKind::CosignSignature),
            (".att", TrustInputKind::CosignAttestation),
            (".sbom", TrustInputKind::CosignSbom),
            ("", TrustInputKind::ReferrersIndex),
        ] {
            assert_eq!(
                trust_tag_subject(&format!("sha256-{hex}{suffix}")),
                Some((subject.clone(), kind)),
                "{suffix}"
            );
        }
        for other in [
            "v1".to_owned(),
            format!("sha256-{hex}.txt"),
            format!("sha256-{}.sig", &hex[..62]),
            format!("sha256-{}.sig", hex.to_uppercase()),
            format!("sha512-{hex}.sig"),
            format!("sha256-{hex}.sig.sig"),
        ] {
            assert_eq!(trust_tag_subject(&other), None, "{other}");
        }
    }

    #[test]
    fn a_manifest_subject_is_read_only_when_canonical() {
        let hex = "cd".repeat(32);
        let referrer = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","subject":{{"mediaType":"{}","digest":"sha256:{hex}","size":1}},"layers":[]}}"#,
            MANIFEST_MEDIA_TYPES[0], MANIFEST_MEDIA_TYPES[0]
        );
        assert_eq!(
            manifest_subject(referrer.as_bytes()).map(|d| d.as_str().to_owned()),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(manifest_subject(br#"{"schemaVersion":2,"layers":[]}"#), None);
        assert_eq!(manifest_subject(br#"{"subject":{"digest":"sha256:nope"}}"#), None);
        assert_eq!(manifest_subject(br#"{"subject":null}"#), None);
        assert_eq!(manifest_subject(b"not json"), None);
    }

    #[test]
    fn only_oci_manifests_and_unlabelled_pushes_may_have_a_subject() {
        assert!(may_have_subject(&event(None, Some(MANIFEST_MEDIA_TYPES[0]))));
        assert!(may_have_subject(&event(None, Some(MANIFEST_MEDIA_TYPES[1]))));
        assert!(may_have_subject(&event(None, None)));
        assert!(!may_have_subject(&event(None, Some(MANIFEST_MEDIA_TYPES[2]))));
        assert!(!may_have_subject(&event(None, Some(MANIFEST_MEDIA_TYPES[3]))));
    }

    #[test]
    fn manifest_push_needs_a_manifest_media_type_and_a_push() {
        for mt in MANIFEST_MEDIA_TYPES {
            assert!(is_manifest_push(&event(None, Some(mt))));
        }
        assert!(!is_manifest_push(&event(None, Some("application/octet-stream"))));
        assert!(!is_manifest_push(&event(
            None,
            Some("application/vnd.oci.image.layer.v1.tar+gzip")
        )));
        assert!(!is_manifest_push(&event(None, None)));
        let mut pull = event(None, Some(MANIFEST_MEDIA_TYPES[0]));
        pull.action = RegistryAction::Pull;
        assert!(!is_manifest_push(&pull));
    }
}
