//! The policy engine's vocabulary: actions, callers, resources, context and decisions.

use serde::{Deserialize, Serialize};

use crate::audit::JsonText;
use crate::domain::{AppFacts, AppVersionFacts, Artifact, Principal, ProjectSlug, RepositoryPath, Scope};

/// An action named in the Cedar schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Ask for a push credential to a repository.
    RequestPublishIntent,
    /// Register an artifact by digest.
    Register,
    /// A registry notification about a repository.
    Notify,
    /// Read an artifact or project.
    Read,
    /// Run the trust checks on an artifact.
    Verify,
    /// Promote an artifact to a channel.
    Promote,
    /// Deprecate an artifact.
    Deprecate,
    /// Retire an artifact.
    Retire,
    /// Revoke trust in an artifact.
    Revoke,
    /// Ask for a pull credential for an artifact.
    RequestPullIntent,
    /// Admission check for a deploy or pull.
    Admit,
    /// The source-type allowlist check recorded by verification.
    AcceptSource,
    /// Register an app.
    RegisterApp,
    /// Register an app version.
    RegisterAppVersion,
    /// Publish an app version.
    PublishAppVersion,
    /// Grant a project an entitlement to an app.
    GrantEntitlement,
    /// Read platform-wide audit and decisions.
    ReadPlatform,
    /// Read, reload and simulate the policy set.
    ManagePolicies,
    /// Read the gateway's public facts (registry endpoint, channels, source types).
    Describe,
    /// Contribute a catalog entry (pending until approved).
    ContributeCatalogEntry,
    /// Approve a pending catalog entry.
    ApproveCatalogEntry,
    /// Enable or disable a catalog entry.
    ManageCatalog,
    /// Define a platform release.
    PublishRelease,
}

impl Action {
    /// Every action, in schema order.
    pub const ALL: &'static [Action] = &[
        Self::RequestPublishIntent,
        Self::Register,
        Self::Notify,
        Self::Read,
        Self::Verify,
        Self::Promote,
        Self::Deprecate,
        Self::Retire,
        Self::Revoke,
        Self::RequestPullIntent,
        Self::Admit,
        Self::AcceptSource,
        Self::RegisterApp,
        Self::RegisterAppVersion,
        Self::PublishAppVersion,
        Self::GrantEntitlement,
        Self::ReadPlatform,
        Self::ManagePolicies,
        Self::Describe,
        Self::ContributeCatalogEntry,
        Self::ApproveCatalogEntry,
        Self::ManageCatalog,
        Self::PublishRelease,
    ];

    /// The schema name, e.g. `request_pull_intent`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RequestPublishIntent => "request_publish_intent",
            Self::Register => "register",
            Self::Notify => "notify",
            Self::Read => "read",
            Self::Verify => "verify",
            Self::Promote => "promote",
            Self::Deprecate => "deprecate",
            Self::Retire => "retire",
            Self::Revoke => "revoke",
            Self::RequestPullIntent => "request_pull_intent",
            Self::Admit => "admit",
            Self::AcceptSource => "accept_source",
            Self::RegisterApp => "register_app",
            Self::RegisterAppVersion => "register_app_version",
            Self::PublishAppVersion => "publish_app_version",
            Self::GrantEntitlement => "grant_entitlement",
            Self::ReadPlatform => "read_platform",
            Self::ManagePolicies => "manage_policies",
            Self::Describe => "describe",
            Self::ContributeCatalogEntry => "contribute_catalog_entry",
            Self::ApproveCatalogEntry => "approve_catalog_entry",
            Self::ManageCatalog => "manage_catalog",
            Self::PublishRelease => "publish_release",
        }
    }

    /// Parses the schema name; unknown names are `None` so callers fail closed.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asks: an authenticated principal or the registry calling back.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A user or service account with verified claims.
    Principal(&'a Principal),
    /// The registry, named by its configured name.
    Registry {
        /// The registry's configured name.
        name: &'a str,
    },
    /// The Kubernetes API server calling the admission webhook.
    KubernetesApiServer {
        /// `kube-apiserver` (bearer token) or the client certificate's matched name.
        name: &'a str,
        /// How it was authenticated: `token` or `client_certificate`.
        issuer: &'a str,
    },
}

/// What the action is about.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// A registered artifact (its repository and project become its parents).
    Artifact(&'a Artifact),
    /// A repository within a project.
    Repository {
        /// The owning project.
        project: &'a ProjectSlug,
        /// The canonical repository path.
        path: &'a RepositoryPath,
        /// Its visibility class.
        scope: &'a Scope,
    },
    /// A project as a whole.
    Project(&'a ProjectSlug),
    /// The platform, for platform-wide actions.
    Platform,
    /// A catalog entry (its id is unique across families).
    CatalogEntry {
        /// Stable id.
        id: &'a str,
        /// Family wire name, e.g. `artifact_types`.
        family: &'a str,
        /// Owning product.
        owner_product: &'a str,
        /// `active`, `pending` or `retired`.
        status: &'a str,
    },
    /// An app (its owning project and entitled projects are attributes).
    App(&'a AppFacts),
    /// One version of an app (the app is its parent).
    AppVersion {
        /// The app.
        app: &'a AppFacts,
        /// The version.
        version: &'a AppVersionFacts,
    },
}

/// The Cedar context record; a `None` field is left out of the record, never sent as null.
#[derive(Default, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestContext {
    /// `oci` or `blob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_kind: Option<String>,
    /// The source type asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// The target channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The target environment, e.g. `prod-eu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_environment: Option<String>,
    /// The channel before `channel` in the configured order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_channel: Option<String>,
    /// For admit: `deploy`, `pull`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_action: Option<String>,
    /// The runtime asking, e.g. `k8s-gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class: Option<String>,
    /// Whether the request follows a registry notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_registry_notification: Option<bool>,
    /// Whether an override with a justification was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<bool>,
}

/// A context's fields by name: its strings, then its flags.
pub(crate) type ContextFields<'a> = (
    [(&'static str, Option<&'a str>); 7],
    [(&'static str, Option<bool>); 2],
);

impl RequestContext {
    /// The context as a Cedar record of its set fields, built as Cedar's own values: what
    /// `Context::from_pairs(self.cedar_pairs())` evaluates to (a test compares them), without
    /// building and evaluating a record expression per decision. The schema check happens in
    /// `Request::new`.
    pub(crate) fn cedar_context(&self) -> cedar_policy::Context {
        use cedar_policy_core::ast::{Context, Value};
        let (strings, flags) = self.fields();
        // Each field name appears once (the fields are the struct's), so no key is repeated.
        let strings = strings
            .into_iter()
            .filter_map(|(name, value)| Some((name.into(), Value::from(value?))));
        let flags = flags
            .into_iter()
            .filter_map(|(name, value)| Some((name.into(), Value::from(value?))));
        Context::Value(std::sync::Arc::new(strings.chain(flags).collect())).into()
    }

    /// The context record's fields as Cedar expressions, unset ones left out (the tests'
    /// reference form of [`Self::cedar_context`]).
    #[cfg(test)]
    pub(crate) fn cedar_pairs(&self) -> Vec<(String, cedar_policy::RestrictedExpression)> {
        use cedar_policy::RestrictedExpression;
        let (strings, flags) = self.fields();
        let strings = strings.into_iter().filter_map(|(name, value)| {
            Some((
                name.to_owned(),
                RestrictedExpression::new_string(value?.to_owned()),
            ))
        });
        let flags = flags
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), RestrictedExpression::new_bool(value?))));
        strings.chain(flags).collect()
    }

    /// The context's fields by name, strings then flags, in the schema's order.
    pub(crate) fn fields(&self) -> ContextFields<'_> {
        // Destructured whole: a field added to the context must be added here too.
        let Self {
            artifact_kind,
            source_type,
            channel,
            target_environment,
            previous_channel,
            deploy_action,
            runtime_class,
            via_registry_notification,
            break_glass,
        } = self;
        (
            [
                ("artifact_kind", artifact_kind.as_deref()),
                ("source_type", source_type.as_deref()),
                ("channel", channel.as_deref()),
                ("target_environment", target_environment.as_deref()),
                ("previous_channel", previous_channel.as_deref()),
                ("deploy_action", deploy_action.as_deref()),
                ("runtime_class", runtime_class.as_deref()),
            ],
            [
                ("via_registry_notification", *via_registry_notification),
                ("break_glass", *break_glass),
            ],
        )
    }
}

/// One authorization question.
#[derive(Debug, Clone)]
pub struct PolicyRequest<'a> {
    /// Who asks.
    pub caller: Caller<'a>,
    /// What they want to do.
    pub action: Action,
    /// What it is about.
    pub resource: Resource<'a>,
    /// Facts about the request.
    pub context: RequestContext,
}

/// The answer, with everything needed to explain and replay it.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// True only when a permit matched, no forbid matched and no policy errored.
    pub allowed: bool,
    /// The determining policy ids (matching forbids or erroring policies on deny).
    pub policy_ids: Vec<String>,
    /// Human-readable reasons for a deny.
    pub reasons: Vec<String>,
    /// Evaluation or construction errors; any error makes the decision a deny.
    pub errors: Vec<String>,
    /// Hash of the policy set that answered.
    pub policy_hash: String,
    /// `{principal, action, resource, context}` with uids as Cedar strings, as JSON text.
    pub request: JsonText,
    /// The entity slice the request was evaluated over, as Cedar entities-JSON text.
    pub entities: JsonText,
    /// The resource's Cedar uid, e.g. `Gatehouse::Artifact::"…"` (`request`'s `resource`, kept
    /// apart so the log record needs no parse of `request`; empty where it has none).
    #[serde(skip)]
    pub resource: String,
    /// Dry-run (`@mode("warn")`) forbids that would have denied this allowed request.
    pub would_deny: Vec<String>,
}

impl Decision {
    /// `"allow"` or `"deny"`, the form the API and the audit trail use.
    pub fn effect(&self) -> &'static str {
        if self.allowed { "allow" } else { "deny" }
    }
}
