//! The admission service: the one place that sequences a request — decide with Cedar, apply the
//! state machines, persist the change with its audit and decision records.

mod app_links;
mod app_queries;
mod app_version_view;
mod apps;
mod artifact_ref;
mod blob_pull;
mod catalog;
mod credentials;
mod decide;
mod error;
mod intents;
mod kubernetes;
mod lifecycle;
mod notifications;
mod policies;
mod policy_sync;
mod pull_answers;
mod queries;
mod register;
mod registry_setup;
mod registry_token;
mod releases;
mod reregistration;
mod review;
mod single_flight;
mod summaries;
mod trust_inputs;
mod trust_material;
mod verify;
mod worker;

use std::sync::{Arc, RwLock};

use crate::domain::{ChannelOrder, RepositoryPath};
use crate::metrics::Metrics;
use crate::policy::PolicyEngine;
use crate::store::DecisionLogWriter;
use crate::store::Store;

/// Store types that admission's answers carry as they are (the HTTP layer names them from here,
/// never from the store).
pub use crate::store::{ChainStatus, Page};
pub use app_queries::{AppListQuery, EntitlementInput, VersionListQuery};
pub use app_version_view::{AppVersionView, LinkedArtifactView};
pub use apps::{AppRegistration, Outcome};
pub use catalog::{CATALOG_MAX_AGE, CatalogChangeInput, CatalogEntryView, CatalogList};
pub use credentials::Credential;
pub use decide::noting_would_deny;
pub use error::AdmissionError;
pub use intents::{PublishIntentAnswer, PublishIntentInput, PullIntentInput};
pub use kubernetes::{KubernetesCaller, KubernetesSetup, TOKEN_CALLER};
pub use lifecycle::{LifecycleInput, PromoteInput};
pub use notifications::IntakeOutcome;
pub use policies::{
    ReloadOutcome, ReloadReport, SIMULATE_MAX_DECISIONS, SimulateInput, SimulateOutcome, signal_actor,
};
pub use pull_answers::{BlobPullAnswer, ObjectCredential, PullAnswer, PullIntentAnswer};
pub use queries::{
    ArtifactView, Explanation, ListQuery, LogQuery, PolicySetView, RegistryInfo, RegistryTrail,
};
pub use register::{RegisterInput, RegisterOutcome, SourceInput};
pub use registry_setup::{PlatformConfig, RegistrySettings, RegistrySetup};
pub use registry_token::{TokenCaller, TokenRequest};
pub use releases::{
    DownloadStream, RELEASE_AUDIT_ACTION, ReleaseArtifactInput, ReleaseDownload, ReleaseInput, ReleaseList,
};
pub use review::{ReviewInput, ReviewOutcome};
pub use verify::VerifyInput;
pub use worker::run_worker;

/// Facts about the HTTP request that travel into audit and decision records.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// The request id; becomes the audit `correlation_id`.
    pub correlation_id: String,
    /// A break-glass justification (`Gatehouse-Break-Glass` header), if the caller sent one.
    pub break_glass: Option<String>,
}

impl RequestMeta {
    /// Metadata of work the gateway does on its own (workers, signals): never break-glass.
    pub fn internal(correlation_id: String) -> Self {
        Self {
            correlation_id,
            break_glass: None,
        }
    }
}

/// Everything the admission service needs, built once at start-up.
pub struct Admission {
    store: Arc<dyn Store>,
    policy: RwLock<Arc<PolicyEngine>>,
    decisions: DecisionLogWriter,
    channels: ChannelOrder,
    registry: RegistryInfo,
    registry_setup: RegistrySetup,
    trust: crate::trust::Verifier,
    metrics: Arc<Metrics>,
    /// Signs verification summaries; `None` when `[vsa]` is not configured.
    vsa: Option<crate::vsa::VsaSigner>,
    /// Woken when notifications are queued, so the local worker applies them at once.
    events_waiting: tokio::sync::Notify,
    /// Held through a reload; also records when the set was loaded and the last refusal.
    policy_status: tokio::sync::Mutex<policies::PolicyStatus>,
    /// The catalog privileged paths check, cached (empty, so refusing, until first read).
    catalog: crate::catalog::CatalogCache,
    /// Verifications of one artifact take turns in this process (calls and queued jobs alike).
    verification_turns: single_flight::ArtifactTurns,
    /// The Kubernetes admission webhook's configuration and token.
    kubernetes: KubernetesSetup,
}

/// Everything the admission service is built from, loaded once at start-up.
pub struct AdmissionParts {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// The validated policy set.
    pub policy: Arc<PolicyEngine>,
    /// The group-committing decision log.
    pub decisions: DecisionLogWriter,
    /// Channel order.
    pub channels: ChannelOrder,
    /// Public registry facts.
    pub registry: RegistryInfo,
    /// Token signer, registry client, webhook secret.
    pub registry_setup: RegistrySetup,
    /// Trust keys and rules.
    pub trust: crate::trust::Verifier,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// The Kubernetes admission webhook's configuration and token.
    pub kubernetes: KubernetesSetup,
    /// Signs verification summaries (config `[vsa]`); without it none are produced.
    pub vsa: Option<crate::vsa::VsaSigner>,
}

impl Admission {
    /// Assembles the service from its parts.
    pub fn new(parts: AdmissionParts) -> Self {
        let AdmissionParts {
            store,
            policy,
            decisions,
            channels,
            registry,
            registry_setup,
            trust,
            metrics,
            kubernetes,
            vsa,
        } = parts;
        Self {
            store,
            policy: RwLock::new(policy),
            decisions,
            channels,
            registry,
            registry_setup,
            trust,
            metrics,
            vsa,
            events_waiting: tokio::sync::Notify::new(),
            policy_status: tokio::sync::Mutex::new(policies::PolicyStatus::new()),
            catalog: crate::catalog::CatalogCache::new(CATALOG_MAX_AGE),
            verification_turns: single_flight::ArtifactTurns::default(),
            kubernetes,
        }
    }

    /// The policy set serving now. Each request takes one snapshot, so a later reload can never
    /// mix two sets within one decision.
    pub fn policy(&self) -> Arc<PolicyEngine> {
        match self.policy.read() {
            Ok(guard) => Arc::clone(&guard),
            // A poisoned lock still holds the last good set; keep serving it.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The configured channel order.
    pub fn channels(&self) -> &ChannelOrder {
        &self.channels
    }

    /// The roots of the three visibility classes.
    pub fn repository_roots(&self) -> crate::domain::RepositoryRoots {
        crate::domain::RepositoryRoots {
            project: self.registry.root.clone(),
            platform: self.registry.platform_root.clone(),
            tenants: self.registry.tenant_root.clone(),
        }
    }

    /// The registry root repositories live under.
    pub fn registry_root(&self) -> &RepositoryPath {
        &self.registry.root
    }

    /// Whether the registry webhook's shared secret matches (constant time); no configured secret
    /// refuses every call.
    pub fn webhook_secret_matches(&self, presented: &str) -> bool {
        self.registry_setup.webhook_secret_matches(presented)
    }

    /// Queue depths and oldest entries (metrics), or `None` if the database does not answer.
    pub async fn queue_figures(&self) -> Option<crate::store::QueueFigures> {
        self.store.queue_figures().await.ok()
    }

    /// Database connection pools (metrics).
    pub fn pool_figures(&self) -> Vec<crate::store::PoolFigures> {
        self.store.pool_figures()
    }

    /// Whether the database answers (for readiness).
    pub async fn database_ready(&self) -> bool {
        self.store.ping().await.is_ok()
    }
}
