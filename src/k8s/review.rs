//! `admission.k8s.io/v1` `AdmissionReview`: the request the API server sends, checked into a
//! [`Review`], and the answer carrying the same `uid`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::is_single_line;

/// The only review version served.
pub const API_VERSION: &str = "admission.k8s.io/v1";
const KIND: &str = "AdmissionReview";
/// Longest `uid` echoed (the API server sends a UUID).
const MAX_UID_LEN: usize = 128;

/// The review as sent; only the fields the webhook reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// Must be `admission.k8s.io/v1`.
    pub api_version: String,
    /// Must be `AdmissionReview`.
    pub kind: String,
    /// The request; a review without one asks nothing.
    pub request: Option<AdmissionRequest>,
}

/// `request` of a review.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the answer.
    pub uid: String,
    /// The kind of the object.
    pub kind: GroupVersionKind,
    /// The object's namespace (absent for cluster-scoped objects).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// The object as it would be stored.
    #[serde(default)]
    pub object: Option<Value>,
    /// Whether the request will not be persisted.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// An object kind.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind {
    /// `""` for the core group.
    #[serde(default)]
    pub group: String,
    /// e.g. `v1`.
    pub version: String,
    /// e.g. `Pod`.
    pub kind: String,
}

impl std::fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.version, self.kind)
        } else {
            write!(f, "{}/{}/{}", self.group, self.version, self.kind)
        }
    }
}

/// What the request does to the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Creates it.
    Create,
    /// Changes it.
    Update,
    /// Deletes it.
    Delete,
    /// Connects to it (exec, attach, port-forward).
    Connect,
    /// Anything else (refused).
    Other(String),
}

/// A review whose envelope was checked: version, kind and `uid` are usable.
#[derive(Debug, Clone)]
pub struct Review {
    /// Echoed in the answer.
    pub uid: String,
    /// The object's kind.
    pub kind: GroupVersionKind,
    /// The object's namespace.
    pub namespace: Option<String>,
    /// The operation.
    pub operation: Operation,
    /// The object (absent on DELETE).
    pub object: Option<Value>,
    /// Whether the API server will not persist the request.
    pub dry_run: bool,
}

/// A review whose envelope is unusable: no answer can carry its `uid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct ReviewError {
    /// The field, as the review names it.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl TryFrom<AdmissionReview> for Review {
    type Error = ReviewError;

    fn try_from(review: AdmissionReview) -> Result<Self, Self::Error> {
        let refuse = |field, reason: &str| ReviewError {
            field,
            reason: reason.to_owned(),
        };
        if review.api_version != API_VERSION {
            return Err(refuse("apiVersion", "must be `admission.k8s.io/v1`"));
        }
        if review.kind != KIND {
            return Err(refuse("kind", "must be `AdmissionReview`"));
        }
        let request = review.request.ok_or_else(|| refuse("request", "is required"))?;
        if request.uid.is_empty() || request.uid.len() > MAX_UID_LEN || !is_single_line(&request.uid) {
            return Err(refuse("request.uid", "must be 1 to 128 characters on one line"));
        }
        let operation = match request.operation.as_str() {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            other => Operation::Other(other.to_owned()),
        };
        Ok(Self {
            uid: request.uid,
            kind: request.kind,
            namespace: request.namespace,
            operation,
            object: request.object,
            dry_run: request.dry_run.unwrap_or(false),
        })
    }
}

/// What the webhook decided about a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the API server may go ahead.
    pub allowed: bool,
    /// Why not (on a refusal): each refused image and its deciding policies.
    pub message: Option<String>,
    /// Shown to the client (kubectl prints them); dry-run refusals come back here.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Allowed, nothing to say.
    pub fn allow() -> Self {
        Self {
            allowed: true,
            message: None,
            warnings: Vec::new(),
        }
    }

    /// Refused, with the reason.
    pub fn deny(message: impl Into<String>) -> Self {
        Self {
            allowed: false,
            message: Some(message.into()),
            warnings: Vec::new(),
        }
    }
}

/// The review answered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReviewAnswer {
    /// `admission.k8s.io/v1`.
    pub api_version: &'static str,
    /// `AdmissionReview`.
    pub kind: &'static str,
    /// The answer.
    pub response: AdmissionResponse,
}

/// `response` of an answered review.
#[derive(Debug, Clone, Serialize)]
pub struct AdmissionResponse {
    /// The request's `uid`.
    pub uid: String,
    /// Whether the API server may go ahead.
    pub allowed: bool,
    /// Present on a refusal: code 403, reason `Forbidden`, and the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Warnings for the client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The `metav1.Status` of a refusal.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// HTTP-like code the API server answers its client with.
    pub code: u16,
    /// `Forbidden`.
    pub reason: &'static str,
    /// Why.
    pub message: String,
}

impl AdmissionReviewAnswer {
    /// The answer to the review `uid`.
    pub fn new(uid: String, verdict: Verdict) -> Self {
        let status = match (verdict.allowed, verdict.message) {
            (false, message) => Some(Status {
                code: 403,
                reason: "Forbidden",
                message: message.unwrap_or_else(|| "denied by Gatehouse".to_owned()),
            }),
            (true, _) => None,
        };
        Self {
            api_version: API_VERSION,
            kind: KIND,
            response: AdmissionResponse {
                uid,
                allowed: verdict.allowed,
                status,
                warnings: verdict.warnings,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn review(value: Value) -> Result<Review, ReviewError> {
        Review::try_from(serde_json::from_value::<AdmissionReview>(value).unwrap())
    }

    #[test]
    fn the_envelope_is_checked() {
        let request = json!({"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "ns", "operation": "CREATE", "object": {}, "dryRun": true});
        let ok = review(json!({"apiVersion": API_VERSION, "kind": KIND, "request": request})).unwrap();
        assert_eq!(
            (ok.uid.as_str(), ok.dry_run, ok.operation),
            ("u-1", true, Operation::Create)
        );
        let field = |v| review(v).unwrap_err().field;
        assert_eq!(
            field(json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": KIND, "request": request})),
            "apiVersion"
        );
        assert_eq!(
            field(json!({"apiVersion": API_VERSION, "kind": "Pod", "request": request})),
            "kind"
        );
        assert_eq!(field(json!({"apiVersion": API_VERSION, "kind": KIND})), "request");
        let mut blank = request.clone();
        blank["uid"] = json!("");
        assert_eq!(
            field(json!({"apiVersion": API_VERSION, "kind": KIND, "request": blank})),
            "request.uid"
        );
    }

    #[test]
    fn a_refusal_carries_a_forbidden_status_and_an_allow_none() {
        let denied =
            serde_json::to_value(AdmissionReviewAnswer::new("u".into(), Verdict::deny("no"))).unwrap();
        assert_eq!(
            denied["response"]["status"],
            json!({"code": 403, "reason": "Forbidden", "message": "no"})
        );
        let allowed = serde_json::to_value(AdmissionReviewAnswer::new("u".into(), Verdict::allow())).unwrap();
        assert_eq!(
            allowed,
            json!({"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": "u", "allowed": true}})
        );
    }
}
