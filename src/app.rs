//! The server, built from configuration: `Application::build` then `run_until_stopped`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admission::{Admission, RegistryInfo};
use crate::audit::DecisionLogWriter;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::domain::{ArtifactKind, SourceType};
use crate::http::{AppState, Limits};
use crate::metrics::Metrics;
use crate::policy::PolicyEngine;

/// A built, bound, not yet serving gateway.
pub struct Application {
    listener: TcpListener,
    router: Router,
    decision_writer: JoinHandle<()>,
}

/// Loads and validates the policy set; the error lists every problem with file and line.
pub fn load_policies(config: &Config) -> anyhow::Result<PolicyEngine> {
    PolicyEngine::load(&config.schema_file, &config.policy_dir).map_err(|e| {
        anyhow::anyhow!(
            "the policy set in `{}` is invalid; refusing to start:\n{e}",
            config.policy_dir.display()
        )
    })
}

impl Application {
    /// Loads policies and keys, opens and migrates the database, binds the listener. Anything
    /// wrong stops here: the gateway never starts half-configured.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        if config.registry.verify_manifest_on_register {
            bail!(
                "config key `registry.verify_manifest_on_register`: checking the registry on registration \
                 is not available in this version; set it to false"
            );
        }
        let channels = config.channel_order()?;
        let engine = Arc::new(load_policies(&config)?);
        let auth =
            Authenticator::from_config(&config.auth, Path::new(".")).map_err(|e| anyhow::anyhow!("{e}"))?;
        if config.auth.issuers.is_empty() {
            tracing::warn!(
                "no token issuers are configured under [[auth.issuers]]: every /v1 request will be refused"
            );
        }
        let store = crate::store::connect(&config.database_url)
            .await
            .context("cannot open the database")?;
        store.migrate().await.context("cannot migrate the database")?;
        let metrics = Arc::new(Metrics::default());
        let (decisions, decision_writer) =
            DecisionLogWriter::spawn(Arc::clone(&store), config.http.decision_batch_max);
        let registry = RegistryInfo {
            registry: config.registry.public_host.clone(),
            root: config.registry.root.clone(),
            token_realm: "/v1/registry/token".to_owned(),
            token_service: config.registry.service.clone(),
            supported_kinds: ArtifactKind::ALL.iter().map(|k| k.as_str().to_owned()).collect(),
            source_types: SourceType::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            channels: channels.channels().iter().map(ToString::to_string).collect(),
        };
        tracing::info!(
            policy_hash = engine.hash(),
            files = engine.files().len(),
            "policy set loaded"
        );
        let admission = Arc::new(Admission::new(
            store,
            engine,
            decisions,
            channels,
            registry,
            Arc::clone(&metrics),
        ));
        let state = AppState {
            admission,
            auth: Arc::new(auth),
            metrics,
        };
        let limits = Limits {
            body_bytes: config.http.body_limit_bytes,
            timeout: Duration::from_secs(config.http.request_timeout_seconds),
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on `{}` (config key `listen`)", config.listen))?;
        Ok(Self {
            listener,
            router: crate::http::router(state, limits),
            decision_writer,
        })
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
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("server failed")?;
        // The router (and with it every writer handle) is gone: the writer drains and stops.
        self.decision_writer.await.context("decision log writer failed")?;
        Ok(())
    }
}

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
