//! Prometheus metrics through `prometheus-client`, labelled by route template, status class,
//! action, effect and outcome — never by raw URI, principal or digest, so label sets stay small.
//! Figures the database holds (queues, pools) are read at scrape time and rendered beside the
//! process's own counters.

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::store::{PoolFigures, QueueFigures};

/// The `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A verification checks signatures, logs and sometimes downloads: seconds to minutes.
const VERIFICATION_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    action: String,
    effect: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

fn verification_histogram() -> Histogram {
    Histogram::new(VERIFICATION_BUCKETS.iter().copied())
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The process's counters and histograms, rendered at `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    decisions: Family<DecisionLabels, Counter>,
    policy_reloads: Family<OutcomeLabels, Counter>,
    decision_cache: Family<ResultLabels, Counter>,
    verifications: Family<ResultLabels, Counter>,
    verification_seconds: HistogramFamily<ResultLabels>,
    shed: Counter,
    rate_limited: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let decisions = Family::<DecisionLabels, Counter>::default();
        let policy_reloads = Family::<OutcomeLabels, Counter>::default();
        let decision_cache = Family::<ResultLabels, Counter>::default();
        let verifications = Family::<ResultLabels, Counter>::default();
        let verification_seconds: HistogramFamily<ResultLabels> =
            Family::new_with_constructor(verification_histogram);
        let shed = Counter::default();
        let rate_limited = Counter::default();
        let mut registry = Registry::default();
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "gatehouse_http_requests",
            "HTTP requests by route template, method and status class",
            requests.clone(),
        );
        registry.register(
            "gatehouse_http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "gatehouse_http_requests_shed",
            "Requests answered 503 at once because max_requests_in_flight were being handled",
            shed.clone(),
        );
        registry.register(
            "gatehouse_http_requests_rate_limited",
            "Requests answered 429 by the per-principal rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "gatehouse_decisions",
            "Policy decisions by action and effect (allow, deny, would_deny, break_glass)",
            decisions.clone(),
        );
        registry.register(
            "gatehouse_policy_reloads",
            "Policy reloads by outcome",
            policy_reloads.clone(),
        );
        registry.register(
            "gatehouse_policy_decision_cache",
            "Live decisions by verdict cache result (hit: Cedar skipped, miss: evaluated and kept)",
            decision_cache.clone(),
        );
        registry.register(
            "gatehouse_verifications",
            "Verifications by result (verified, failed_verification, denied, error)",
            verifications.clone(),
        );
        registry.register(
            "gatehouse_verification_duration_seconds",
            "Time one verification took, by result",
            verification_seconds.clone(),
        );
        registry.register(
            "gatehouse_build",
            "The running gateway's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
        );
        Self {
            registry,
            requests,
            latency,
            decisions,
            policy_reloads,
            decision_cache,
            verifications,
            verification_seconds,
            shed,
            rate_limited,
        }
    }
}

impl Metrics {
    /// Counts one HTTP request and its latency.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status: format!("{}xx", status / 100),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one policy decision.
    pub fn count_decision(&self, action: &str, effect: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                action: action.to_owned(),
                effect: effect.to_owned(),
            })
            .inc();
    }

    /// Counts one policy reload, `applied`, `refused` or `adopted`.
    pub fn count_policy_reload(&self, outcome: &str) {
        self.policy_reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one live decision's use of the verdict cache, `hit` or `miss`.
    pub fn count_decision_cache(&self, result: &str) {
        self.decision_cache
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts one finished verification and its duration.
    pub fn observe_verification(&self, result: &str, seconds: f64) {
        let labels = ResultLabels {
            result: result.to_owned(),
        };
        self.verifications.get_or_create(&labels).inc();
        self.verification_seconds.get_or_create(&labels).observe(seconds);
    }

    /// Counts one request shed with 503.
    pub fn count_shed(&self) {
        self.shed.inc();
    }

    /// Counts one request refused with 429.
    pub fn count_rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// The Prometheus text exposition: the process's metrics, then the figures read at scrape
    /// time (a series is left out when its figure could not be read in time).
    pub fn render(&self, scraped: &Scraped) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_text::encode(&mut out, &scraped.registry());
        out
    }
}

/// Figures read from the database when `/metrics` is scraped.
#[derive(Debug, Clone, Default)]
pub struct Scraped {
    /// Queue depths and oldest entries; `None` when the database did not answer in time.
    pub queues: Option<QueueFigures>,
    /// Connection pools.
    pub pools: Vec<PoolFigures>,
    /// When the figures were read (ages are measured from it).
    pub at: Option<DateTime<Utc>>,
}

impl Scraped {
    fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        if let Some(q) = &self.queues {
            let at = self.at.unwrap_or_else(Utc::now);
            let age = |oldest: Option<DateTime<Utc>>| {
                // An empty queue has no oldest entry: its age is 0.
                oldest.map_or(0.0, |t| (at - t).num_milliseconds().max(0) as f64 / 1000.0)
            };
            let gauges: [(&str, &str, f64); 4] = [
                (
                    "gatehouse_notification_queue_depth",
                    "Registry events queued and not yet applied",
                    q.events_pending as f64,
                ),
                (
                    "gatehouse_notification_queue_oldest_age_seconds",
                    "Age of the oldest registry event not yet applied (0 when none)",
                    age(q.oldest_event),
                ),
                (
                    "gatehouse_verification_queue_depth",
                    "Verification jobs queued and not yet finished",
                    q.jobs_pending as f64,
                ),
                (
                    "gatehouse_verification_queue_oldest_age_seconds",
                    "Age of the oldest verification job not yet finished (0 when none)",
                    age(q.oldest_job),
                ),
            ];
            for (name, help, value) in gauges {
                // Depths are whole numbers and render as such.
                if name.ends_with("_depth") {
                    let g = Gauge::<i64>::default();
                    g.set(value as i64);
                    registry.register(name, help, g);
                } else {
                    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
                    g.set(value);
                    registry.register(name, help, g);
                }
            }
        }
        if !self.pools.is_empty() {
            let pool_gauge = || Family::<PoolLabels, Gauge>::default();
            let (size, idle, in_use, max) = (pool_gauge(), pool_gauge(), pool_gauge(), pool_gauge());
            for p in &self.pools {
                let labels = PoolLabels {
                    pool: p.pool.to_owned(),
                };
                size.get_or_create(&labels).set(i64::from(p.size));
                idle.get_or_create(&labels).set(i64::from(p.idle));
                in_use
                    .get_or_create(&labels)
                    .set(i64::from(p.size.saturating_sub(p.idle)));
                max.get_or_create(&labels).set(i64::from(p.max));
            }
            registry.register("gatehouse_db_pool_size", "Database connections open", size);
            registry.register(
                "gatehouse_db_pool_idle",
                "Database connections open and idle",
                idle,
            );
            registry.register("gatehouse_db_pool_in_use", "Database connections in use", in_use);
            registry.register(
                "gatehouse_db_pool_max",
                "Most database connections the pool opens",
                max,
            );
        }
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_buckets_and_decisions() {
        let m = Metrics::default();
        m.observe_request("/v1/artifacts/{id}", "GET", 200, 0.003);
        m.observe_request("/v1/artifacts/{id}", "GET", 404, 0.2);
        m.count_decision("promote", "deny");
        m.count_policy_reload("refused");
        m.observe_verification("verified", 0.3);
        m.count_shed();
        m.count_decision_cache("hit");
        m.count_decision_cache("hit");
        m.count_decision_cache("miss");
        let text = m.render(&Scraped::default());
        assert!(text.contains(r#"gatehouse_policy_reloads_total{outcome="refused"} 1"#));
        assert!(
            text.contains(r#"gatehouse_policy_decision_cache_total{result="hit"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"gatehouse_policy_decision_cache_total{result="miss"} 1"#),
            "{text}"
        );
        assert!(text.contains(
            r#"gatehouse_http_requests_total{route="/v1/artifacts/{id}",method="GET",status="2xx"} 1"#
        ));
        assert!(text.contains(
            r#"gatehouse_http_requests_total{route="/v1/artifacts/{id}",method="GET",status="4xx"} 1"#
        ));
        assert!(text.contains(r#"le="0.005"} 1"#), "{text}");
        assert!(text.contains(r#"le="+Inf"} 2"#), "{text}");
        assert!(text.contains(r#"gatehouse_decisions_total{action="promote",effect="deny"} 1"#));
        assert!(text.contains(r#"gatehouse_verifications_total{result="verified"} 1"#));
        assert!(
            text.contains(r#"gatehouse_verification_duration_seconds_bucket{result="verified",le="0.5"} 1"#)
        );
        assert!(text.contains("gatehouse_http_requests_shed_total 1"));
        assert!(text.contains("gatehouse_http_requests_rate_limited_total 0"));
        assert!(text.contains(&format!(
            r#"gatehouse_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        )));
        assert!(!text.contains("queue_depth"), "no figures, no series: {text}");
    }

    #[test]
    fn scraped_figures_render_depths_ages_and_pools() {
        let at = Utc::now();
        let scraped = Scraped {
            queues: Some(QueueFigures {
                events_pending: 2,
                oldest_event: Some(at - chrono::Duration::seconds(90)),
                jobs_pending: 0,
                oldest_job: None,
            }),
            pools: vec![PoolFigures {
                pool: "primary",
                size: 3,
                idle: 1,
                max: 10,
            }],
            at: Some(at),
        };
        let text = Metrics::default().render(&scraped);
        for line in [
            "gatehouse_notification_queue_depth 2",
            "gatehouse_notification_queue_oldest_age_seconds 90",
            "gatehouse_verification_queue_depth 0",
            "gatehouse_verification_queue_oldest_age_seconds 0",
            r#"gatehouse_db_pool_size{pool="primary"} 3"#,
            r#"gatehouse_db_pool_idle{pool="primary"} 1"#,
            r#"gatehouse_db_pool_in_use{pool="primary"} 2"#,
            r#"gatehouse_db_pool_max{pool="primary"} 10"#,
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }
}
