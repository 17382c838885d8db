//! The server, built from configuration: `Application::build` then `run_until_stopped`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admission::{
    Admission, AdmissionParts, KubernetesSetup, RegistryInfo, RegistrySettings, RegistrySetup, run_worker,
};
use crate::artifact_store::{ObjectTokens, StoreLocation};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::domain::ArtifactKind;
use crate::http::{AppState, ConnectionLimits, HeadLimits, Limits, RateLimiter};
use crate::metrics::Metrics;
use crate::policy::PolicyEngine;
use crate::registry::{RegistryClient, TokenSigner};
use crate::store::DecisionLogWriter;
use crate::store::PolicyChangeListener;
use crate::trust::cache::{VerificationCache, trust_config_hash};
use crate::trust::content::ContentFetcher;
use crate::trust::{Identities, LoadedRoot, SigstoreVerifier, TrustKeys};
use crate::vsa::{VsaKeyError, VsaSigner};

/// A built, bound, not yet serving gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    connection_limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    decision_writer: JoinHandle<()>,
    worker: Option<JoinHandle<()>>,
    stop_worker: watch::Sender<bool>,
}

/// Loads and validates the policy set; the error lists every problem with file and line.
pub fn load_policies(config: &Config) -> anyhow::Result<PolicyEngine> {
    let engine = PolicyEngine::load(&config.schema_file, &config.policy_dir).map_err(|e| {
        anyhow::anyhow!(
            "the policy set in `{}` is invalid; refusing to start:\n{e}",
            config.policy_dir.display()
        )
    })?;
    Ok(engine
        .with_dry_run_channels(config.policy_dry_run_channels.iter().map(ToString::to_string))
        .with_provenance_trust(Arc::new(config.trust.provenance.clone()))
        .with_decision_cache(config.policy_decision_cache_entries))
}

/// Validates the compiled-in catalog seed (`schemas/catalog.yaml`) and upserts it; refuses a
/// seed that would change what a published id means.
pub async fn seed_catalog(store: &dyn crate::store::Store) -> anyhow::Result<()> {
    let schemas = crate::catalog::EntrySchemas::embedded().map_err(anyhow::Error::msg)?;
    let seed = crate::catalog::Seed::embedded(&schemas)?;
    let plan = crate::store::seed_catalog(store, &seed)
        .await
        .context("cannot seed the catalog")?;
    if !plan.inserts.is_empty() || !plan.updates.is_empty() {
        tracing::info!(
            inserted = plan.inserts.len(),
            updated = plan.updates.len(),
            "catalog seeded"
        );
    }
    Ok(())
}

impl Application {
    /// Loads policies and keys, opens and migrates the database, binds the listener. Anything
    /// wrong stops here: the gateway never starts half-configured.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on `{}` (config key `listen`)", config.listen))?;
        Self::build_on(config, listener).await
    }

    /// Like `build`, on a listener the caller bound (tests bind first so a registry can be
    /// pointed at the gateway before the gateway is configured with the registry).
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        config.check_serving_safety()?;
        warn_dev_mode(&config);
        let channels = config.channel_order()?;
        let tls = config.tls.acceptor()?;
        let engine = Arc::new(load_policies(&config)?);
        let auth = Authenticator::from_config(&config.auth, Path::new("."))?;
        let console_oidc = match &config.console.oidc {
            Some(oidc) => Some(Arc::new(crate::http::OidcClient::from_config(oidc, &auth)?)),
            None => None,
        };
        if config.auth.issuers.is_empty() {
            tracing::warn!(
                "no token issuers are configured under [[auth.issuers]]: every /v1 request will be refused"
            );
        }
        let acquire_timeout = Duration::from_millis(config.database_acquire_timeout_ms);
        let store = crate::store::connect_sized(
            &config.database_url,
            acquire_timeout,
            config.database_max_connections,
        )
        .await
        .context("cannot open the database")?;
        store.migrate().await.context("cannot migrate the database")?;
        // A crash between a mutation's commit and its audit seal leaves the record unsealed:
        // chain it before serving, so the trail is whole when the first request arrives.
        let sealed = store
            .seal_audit_backlog()
            .await
            .context("cannot seal the audit records an earlier run left unsealed")?;
        if sealed > 0 {
            tracing::warn!(
                records = sealed,
                "sealed audit records an earlier run left unsealed"
            );
        }
        seed_catalog(&*store).await?;
        let metrics = Arc::new(Metrics::default());
        let (decisions, decision_writer) =
            DecisionLogWriter::spawn(Arc::clone(&store), config.http.decision_batch_max);
        let registry = RegistryInfo {
            registry: config.registry.public_host.clone().or_else(|| {
                let url = config.registry.url.as_deref()?;
                Some(
                    url.trim_start_matches("http://")
                        .trim_start_matches("https://")
                        .trim_end_matches('/')
                        .to_owned(),
                )
            }),
            root: config.registry.root.clone(),
            platform_root: config.registry.platform_root.clone(),
            tenant_root: config.registry.tenant_root.clone(),
            token_realm: "/v1/registry/token".to_owned(),
            token_service: config.registry.service.clone(),
            supported_kinds: ArtifactKind::ALL.iter().map(|k| k.as_str().to_owned()).collect(),
            // Read from the catalog on each request (`describe_registry`).
            source_types: Vec::new(),
            channels: channels.channels().iter().map(ToString::to_string).collect(),
        };
        tracing::info!(
            policy_hash = engine.hash(),
            files = engine.files().len(),
            "policy set loaded"
        );
        warn_if_webhook_cannot_admit(&config, &engine);
        engine.warn_uncovered_actions();
        let admission = Arc::new(Admission::new(AdmissionParts {
            store,
            policy: engine,
            decisions,
            channels,
            registry,
            registry_setup: registry_setup(&config)?,
            trust: trust_setup(&config)?,
            metrics: Arc::clone(&metrics),
            kubernetes: kubernetes_setup(&config)?,
            vsa: vsa_signer(&config)?,
        }));
        let state = AppState {
            admission,
            auth: Arc::new(auth),
            metrics,
            rate_limiter: Arc::new(RateLimiter::new(
                config.http.rate_limit_per_second,
                config.http.rate_limit_burst,
            )),
        };
        // Checked with the configuration too; a configuration built in code meets it here.
        let trusted_proxies = crate::http::TrustedProxies::parse(&config.http.trusted_proxies)
            .map_err(|reason| anyhow::anyhow!("http.trusted_proxies: {reason}"))?;
        let trusted_proxies = Arc::new(trusted_proxies);
        let limits = Limits {
            body_bytes: config.http.body_limit_bytes,
            timeout: Duration::from_secs(config.http.request_timeout_seconds),
            head: HeadLimits {
                uri_bytes: config.http.max_uri_bytes,
                header_bytes: config.http.max_header_bytes,
                headers: config.http.max_headers,
            },
            in_flight: config.http.max_requests_in_flight,
        };
        state
            .admission
            .refresh_catalog()
            .await
            .context("cannot read the catalog")?;
        state.admission.warn_unusable_channels().await;
        for mismatch in state
            .admission
            .catalog()
            .await
            .trust_mismatches(&config.trust.required)
        {
            tracing::warn!(%mismatch, "the trust configuration disagrees with the catalog");
        }
        #[cfg(unix)]
        tokio::spawn(reload_on_sighup(Arc::downgrade(&state.admission)));
        state
            .admission
            .activate_serving_policy()
            .await
            .context("cannot record the serving policy set in the database")?;
        if config.policy_sync_seconds > 0 {
            let every = Duration::from_secs(config.policy_sync_seconds);
            tokio::spawn(adopt_active_policies(Arc::downgrade(&state.admission), every));
        }
        if config.policy_watch_seconds > 0 {
            let every = Duration::from_secs(config.policy_watch_seconds);
            tokio::spawn(reload_on_edit(Arc::downgrade(&state.admission), every));
        }
        let (stop_worker, stop) = watch::channel(false);
        let worker = config
            .registry
            .apply_notifications
            .then(|| tokio::spawn(run_worker(Arc::clone(&state.admission), stop)));
        Ok(Self {
            listener,
            router: crate::http::router(state, limits, console_oidc, trusted_proxies),
            connection_limits: connection_limits(&config),
            tls,
            decision_writer,
            worker,
            stop_worker,
        })
    }

    /// `https` when `[tls]` is configured (the listener then speaks nothing else), else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and drains the
    /// decision log.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::http::warn_if_above_descriptor_limit(self.connection_limits.max_connections);
        crate::http::serve(
            self.listener,
            self.router,
            self.connection_limits,
            self.tls,
            shutdown,
        )
        .await;
        // The worker finishes the event in hand, then stops; an unapplied event stays queued.
        let _ = self.stop_worker.send(true);
        if let Some(worker) = self.worker {
            worker.await.context("notification worker failed")?;
        }
        // The router and the worker (and with them every writer handle) are gone: the writer
        // drains and stops.
        self.decision_writer.await.context("decision log writer failed")?;
        Ok(())
    }
}

/// With `dev_mode`, says so at every start, naming each issuer whose key is a development key.
fn warn_dev_mode(config: &Config) {
    if !config.dev_mode {
        return;
    }
    tracing::warn!("dev_mode = true: this gateway is configured for local development only");
    for (_, issuer, key) in config.dev_issuers() {
        tracing::warn!(
            issuer,
            key = %key.display(),
            "dev_mode: accepting tokens of an issuer whose private key is a local file; never expose this gateway"
        );
    }
}

/// The connection limits from `[http]`. The HTTP library's own head limits are set above the
/// gateway's, so an oversized head meets the gateway's problem+json answer first.
fn connection_limits(config: &Config) -> ConnectionLimits {
    let http = &config.http;
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(http.header_read_timeout_seconds),
        idle_timeout: Duration::from_secs(http.keep_alive_idle_timeout_seconds),
        max_connections: http.max_connections,
        library_max_headers: http.max_headers.saturating_mul(2).max(100),
        library_max_buf_size: (http.max_uri_bytes + http.max_header_bytes)
            .saturating_mul(2)
            .max(LIBRARY_DEFAULT_BUF_SIZE),
    }
}

/// hyper's default read buffer limit (8 KiB + 100 × 4 KiB).
const LIBRARY_DEFAULT_BUF_SIZE: usize = 8192 + 4096 * 100;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Reloads the policy set on every SIGHUP, exactly as `POST /v1/policies/reload` does. It holds
/// the service weakly: a strong handle would keep the decision log writer from draining at
/// shutdown, and once the service is gone the next signal ends the task.
#[cfg(unix)]
async fn reload_on_sighup(admission: std::sync::Weak<Admission>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; reload policies over HTTP instead");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        let Some(admission) = admission.upgrade() else {
            return;
        };
        let meta = crate::admission::RequestMeta::internal(format!("sighup-{}", uuid::Uuid::now_v7()));
        let actor = crate::admission::signal_actor();
        if let Err(error) = admission.reload_policies(&actor, None, &meta).await {
            tracing::error!(%error, "policy reload on SIGHUP failed");
        }
    }
}

/// Follows the policy set activated in the shared database by any instance.
async fn adopt_active_policies(admission: std::sync::Weak<Admission>, every: Duration) {
    let mut listener: Option<Box<dyn PolicyChangeListener>> = None;
    loop {
        if listener.is_none() {
            let Some(strong) = admission.upgrade() else {
                return;
            };
            listener = strong.listen_policy_changes().await.unwrap_or_else(|error| {
                tracing::warn!(?error, "cannot listen for policy activations; polling only");
                None
            });
            if listener.is_some() {
                tracing::info!("listening for policy activations");
            }
        }
        // Woken by an announcement or the interval, whichever comes first.
        match listener.as_mut() {
            Some(changes) => tokio::select! {
                woken = changes.next() => if let Err(error) = woken {
                    tracing::warn!(?error, "lost the policy activation listener; will listen again");
                    listener = None;
                },
                () = tokio::time::sleep(every) => {}
            },
            None => tokio::time::sleep(every).await,
        }
        let Some(admission) = admission.upgrade() else {
            return;
        };
        if let Err(error) = admission.adopt_active_policy().await {
            tracing::warn!(?error, "cannot check the active policy set; will retry");
        }
    }
}

/// Watches `policy_dir` by polling its content hash (portable, no inotify limits) and reloads
/// when it changes, as SIGHUP does. A refused set is not retried until the files change again.
async fn reload_on_edit(admission: std::sync::Weak<Admission>, every: Duration) {
    let mut last_tried: Option<String> = None;
    loop {
        tokio::time::sleep(every).await;
        let Some(admission) = admission.upgrade() else {
            return;
        };
        let serving = admission.policy();
        let Ok(on_disk) = serving.content_hash_on_disk() else {
            // Unreadable right now (e.g. mid-edit): the next tick looks again.
            continue;
        };
        if on_disk == serving.hash() || last_tried.as_deref() == Some(on_disk.as_str()) {
            continue;
        }
        last_tried = Some(on_disk);
        let meta = crate::admission::RequestMeta::internal(format!("policy-watch-{}", uuid::Uuid::now_v7()));
        let actor = crate::domain::Actor {
            actor_type: crate::domain::ActorType::ServiceAccount,
            id: "gatehouse-policy-watch".to_owned(),
        };
        if let Err(error) = admission.reload_policies(&actor, None, &meta).await {
            tracing::error!(%error, "policy reload after an edit failed");
        }
    }
}

/// The verification summary signer from `[vsa]`; a bad key or verifier id stops start-up.
fn vsa_signer(config: &Config) -> anyhow::Result<Option<VsaSigner>> {
    let (Some(file), Some(verifier_id)) = (&config.vsa.key_file, &config.vsa.verifier_id) else {
        tracing::info!(
            "no `[vsa]` key is configured: verifications produce no signed summary and `GET /v1/artifacts/{{id}}/vsa` answers 404"
        );
        return Ok(None);
    };
    let signer = VsaSigner::load(file, verifier_id).map_err(|e| {
        let key = match e {
            VsaKeyError::VerifierId => "vsa.verifier_id",
            _ => "vsa.key_file",
        };
        anyhow::Error::new(e).context(format!("config key `{key}`"))
    })?;
    tracing::info!(
        key_id = signer.key_id(),
        verifier_id = signer.verifier_id(),
        "verification summaries are signed"
    );
    Ok(Some(signer))
}

/// Builds the registry parts from `[registry]`; a bad key or secret file stops start-up.
fn registry_setup(config: &Config) -> anyhow::Result<RegistrySetup> {
    let r = &config.registry;
    let signer = match (&r.token_key_file, &r.token_cert_file) {
        (Some(key), Some(cert)) => Some(
            TokenSigner::from_files(key, cert, r.token_issuer.clone(), r.service.clone())
                .context("config keys `registry.token_key_file`/`registry.token_cert_file`")?,
        ),
        _ => None,
    };
    let client = match &r.url {
        Some(url) => Some(RegistryClient::new(url).context("config key `registry.url`")?),
        None => None,
    };
    let webhook_secret = match &r.webhook_secret_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!(
                    "config key `registry.webhook_secret_file`: cannot read `{}`",
                    file.display()
                )
            })?;
            let secret = text.trim().to_owned();
            if secret.len() < 16 {
                bail!("config key `registry.webhook_secret_file`: the secret must be at least 16 characters");
            }
            Some(SecretString::from(secret))
        }
        None => None,
    };
    if r.verifies_manifests() && signer.is_none() {
        bail!(
            "config key `registry.verify_manifest_on_register` needs `registry.token_key_file` to read from the registry"
        );
    }
    let store = &config.artifact_store;
    let artifact_store = store
        .url
        .as_deref()
        .map(StoreLocation::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("config key `artifact_store.url`: {e}"))?;
    let object_tokens = object_tokens(config)?;
    Ok(RegistrySetup {
        signer,
        client,
        webhook_secret,
        artifact_store,
        object_tokens,
        settings: RegistrySettings {
            intent_ttl_default_seconds: r.intent_ttl_default_seconds,
            intent_ttl_max_seconds: r.intent_ttl_max_seconds,
            token_ttl_seconds: r.token_ttl_seconds,
            service: r.service.clone(),
            verify_manifests: r.verifies_manifests(),
            download_max_bytes: config.platform.download_max_bytes,
        },
    })
}

/// Reads `[kubernetes] token_file`; a missing, unreadable or short token stops start-up.
fn kubernetes_setup(config: &Config) -> anyhow::Result<KubernetesSetup> {
    let k8s = &config.kubernetes;
    let token = match &k8s.token_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| {
                format!(
                    "config key `kubernetes.token_file`: cannot read `{}`",
                    file.display()
                )
            })?;
            let token = text.trim().to_owned();
            if token.len() < 16 {
                bail!("config key `kubernetes.token_file`: the token must be at least 16 characters");
            }
            Some(SecretString::from(token))
        }
        None => None,
    };
    if !k8s.client_cert_names.is_empty() && config.tls.client_ca_file.is_none() {
        bail!(
            "config key `kubernetes.client_cert_names` needs `tls.client_ca_file` to verify client certificates"
        );
    }
    Ok(KubernetesSetup {
        token,
        config: k8s.clone(),
    })
}

/// The webhook is configured but no permit names the API server on `admit`: every pod in a
/// mapped namespace would be refused. Said once at start-up, naming what to add.
fn warn_if_webhook_cannot_admit(config: &Config, engine: &PolicyEngine) {
    let k8s = &config.kubernetes;
    let configured =
        !k8s.namespaces.is_empty() || k8s.token_file.is_some() || !k8s.client_cert_names.is_empty();
    if configured && !engine.permits_principal_type("KubernetesApiServer", crate::policy::Action::Admit) {
        tracing::warn!(
            "no permit in the policy set names `Gatehouse::KubernetesApiServer` for action `admit`: the Kubernetes webhook will refuse every workload (see policies/kubernetes.cedar)"
        );
    }
}

/// The object-token signer: `artifact_store.token_key_file`, else the registry token key.
fn object_tokens(config: &Config) -> anyhow::Result<Option<ObjectTokens>> {
    let store = &config.artifact_store;
    let Some(key) = store
        .token_key_file
        .as_ref()
        .or(config.registry.token_key_file.as_ref())
    else {
        return Ok(None);
    };
    let tokens = ObjectTokens::from_key_file(
        key,
        config.registry.token_issuer.clone(),
        store.audience.clone(),
        store.token_ttl_seconds,
    )
    .context("config key `artifact_store.token_key_file`")?;
    Ok(Some(tokens))
}

/// Loads the trust keys, the trusted root (logs, Fulcio CAs, CT logs, timestamp authorities) and
/// the keyless identities once into the sigstore verifier; a bad file or identity stops start-up
/// naming its config key.
fn trust_setup(config: &Config) -> anyhow::Result<crate::trust::Verifier> {
    let (verifier, config_hash) = trust_verifier(config)?;
    let content = ContentFetcher::new(&config.trust.content_fetch, config.artifact_store.url.as_deref())
        .map_err(|e| anyhow::anyhow!("config key `trust.content_fetch`: {e}"))?;
    // The gateway presents an object token too, so a store that requires one serves it.
    let content = match content {
        Some(fetcher) => Some(fetcher.with_object_tokens(object_tokens(config)?)),
        None => None,
    };
    Ok(crate::trust::Verifier::new(
        verifier,
        content,
        VerificationCache::new(config_hash),
        config.trust.clone(),
    ))
}

/// The sigstore verifier `[trust]` describes (the one the gateway verifies with, and `gatehouse
/// verify` too), and the hash of every input a check's outcome depends on; a bad file or
/// identity is an error naming its config key.
pub fn trust_verifier(config: &Config) -> anyhow::Result<(SigstoreVerifier, [u8; 32])> {
    let keys = TrustKeys::load(&config.trust.cosign_public_key_files)
        .context("config key `trust.cosign_public_key_files`")?;
    let root = match &config.trust.trusted_root_file {
        Some(file) => LoadedRoot::load(file),
        None => LoadedRoot::empty(),
    }
    .context("config key `trust.trusted_root_file`")?;
    let identities = Identities::compile(&config.trust.keyless_identities)?;
    if !identities.is_empty() && !root.has_certificate_authorities() {
        bail!(
            "config key `trust.keyless_identities` needs `trust.trusted_root_file` with at least one Fulcio certificate authority"
        );
    }
    // Every input a check's outcome depends on: keys, the trusted root, the identities and the
    // log rule. The cache lives in this process only, so a Debug rendering is a stable enough key.
    let rules = format!(
        "require_tlog={} identities={:?}",
        config.trust.require_tlog, config.trust.keyless_identities
    );
    let config_hash = trust_config_hash(
        keys.keys()
            .iter()
            .map(|k| k.key_id.as_bytes())
            .chain([root.content_hash.as_slice(), rules.as_bytes()]),
    );
    let verifier =
        SigstoreVerifier::new(&root, keys, identities, config.trust.require_tlog).map_err(|e| {
            let file = config
                .trust
                .trusted_root_file
                .as_ref()
                .map_or_else(|| "(none)".to_owned(), |f| f.display().to_string());
            anyhow::anyhow!(
                "config key `trust.trusted_root_file`: `{file}` is not a usable sigstore trusted root: {e}"
            )
        })?;
    Ok((verifier, config_hash))
}
