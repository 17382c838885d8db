//! Prometheus metrics, labelled by route template, status class, action and decision — never by
//! raw URI or digest, so label sets stay small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, String), u64>,
    latency: BTreeMap<String, Histogram>,
    decisions: BTreeMap<(String, String), u64>,
    policy_reloads: BTreeMap<String, u64>,
}

/// In-process counters and histograms rendered at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // Metrics must never take a request down: a poisoned lock still holds usable counts.
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Counts one HTTP request and its latency.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let class = format!("{}xx", status / 100);
        self.with(|m| {
            *m.requests
                .entry((route.to_owned(), method.to_owned(), class))
                .or_default() += 1;
            let h = m.latency.entry(route.to_owned()).or_default();
            if h.buckets.is_empty() {
                h.buckets = vec![0; LATENCY_BUCKETS.len()];
            }
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.buckets[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        });
    }

    /// Counts one policy decision.
    pub fn count_decision(&self, action: &str, effect: &str) {
        self.with(|m| {
            *m.decisions
                .entry((action.to_owned(), effect.to_owned()))
                .or_default() += 1
        });
    }

    /// Counts one policy reload, `applied` or `refused`.
    pub fn count_policy_reload(&self, outcome: &str) {
        self.with(|m| *m.policy_reloads.entry(outcome.to_owned()).or_default() += 1);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            out.push_str("# HELP gatehouse_http_requests_total HTTP requests by route template, method and status class.\n");
            out.push_str("# TYPE gatehouse_http_requests_total counter\n");
            for ((route, method, class), n) in &m.requests {
                let _ = writeln!(
                    out,
                    "gatehouse_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{class}\"}} {n}"
                );
            }
            out.push_str("# HELP gatehouse_http_request_duration_seconds HTTP request latency by route template.\n");
            out.push_str("# TYPE gatehouse_http_request_duration_seconds histogram\n");
            for (route, h) in &m.latency {
                for (bound, n) in LATENCY_BUCKETS.iter().zip(&h.buckets) {
                    let _ = writeln!(
                        out,
                        "gatehouse_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "gatehouse_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "gatehouse_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
                let _ = writeln!(out, "gatehouse_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
            }
            out.push_str("# HELP gatehouse_decisions_total Policy decisions by action and effect.\n");
            out.push_str("# TYPE gatehouse_decisions_total counter\n");
            for ((action, effect), n) in &m.decisions {
                let _ = writeln!(out, "gatehouse_decisions_total{{action=\"{action}\",effect=\"{effect}\"}} {n}");
            }
            out.push_str("# HELP gatehouse_policy_reloads_total Policy reloads by outcome.\n");
            out.push_str("# TYPE gatehouse_policy_reloads_total counter\n");
            for (outcome, n) in &m.policy_reloads {
                let _ = writeln!(out, "gatehouse_policy_reloads_total{{outcome=\"{outcome}\"}} {n}");
            }
            out
        })
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
        let text = m.render();
        assert!(text.contains(r#"gatehouse_policy_reloads_total{outcome="refused"} 1"#));
        assert!(text.contains(
            r#"gatehouse_http_requests_total{route="/v1/artifacts/{id}",method="GET",status="2xx"} 1"#
        ));
        assert!(text.contains(
            r#"gatehouse_http_requests_total{route="/v1/artifacts/{id}",method="GET",status="4xx"} 1"#
        ));
        assert!(text.contains(r#"le="0.005"} 1"#));
        assert!(text.contains(r#"le="+Inf"} 2"#));
        assert!(text.contains(r#"gatehouse_decisions_total{action="promote",effect="deny"} 1"#));
    }
}
