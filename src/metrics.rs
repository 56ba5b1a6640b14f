//! Prometheus metrics. Labels carry route, status, reason and upstream
//! names only: never key material, keyids or request content.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: Arc<str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteReason {
    pub route: Arc<str>,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamKind {
    pub upstream: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadResult {
    pub result: &'static str,
}

type Seconds = Family<RouteLabel, Histogram, fn() -> Histogram>;

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub auth_failures: Family<RouteReason, Counter>,
    pub request_seconds: Seconds,
    pub upstream_seconds: Seconds,
    pub upstream_errors: Family<UpstreamKind, Counter>,
    pub responses_incomplete: Family<RouteReason, Counter>,
    pub open_connections: Gauge<i64, AtomicI64>,
    pub replay_entries: Gauge<i64, AtomicI64>,
    pub config_generation: Gauge<i64, AtomicI64>,
    pub config_reloads: Family<ReloadResult, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hmacgw");
        let requests = Family::default();
        let auth_failures = Family::default();
        let request_seconds: Seconds = Family::new_with_constructor(latency_histogram);
        let upstream_seconds: Seconds = Family::new_with_constructor(latency_histogram);
        let upstream_errors = Family::default();
        let responses_incomplete = Family::default();
        let open_connections = Gauge::default();
        let replay_entries = Gauge::default();
        let config_generation = Gauge::default();
        let config_reloads = Family::default();
        registry.register("requests", "Requests answered, by route and status", requests.clone());
        registry.register("auth_failures", "Rejected signatures, by route and reason", auth_failures.clone());
        registry.register("request_duration_seconds", "Time to answer, by route", request_seconds.clone());
        registry.register("upstream_duration_seconds", "Upstream time to response head", upstream_seconds.clone());
        registry.register("upstream_errors", "Upstream failures, by upstream and kind", upstream_errors.clone());
        registry.register(
            "responses_incomplete",
            "Answers cut short after their head was sent, by route and reason",
            responses_incomplete.clone(),
        );
        registry.register("open_connections", "Client connections open now", open_connections.clone());
        registry.register("replay_cache_entries", "Nonces held by the in-memory replay store", replay_entries.clone());
        registry.register("config_generation", "Generation of the configuration in use", config_generation.clone());
        registry.register("config_reloads", "Reload attempts, by result", config_reloads.clone());
        // Both series exist from the start, so a rate() over them works.
        for result in ["success", "failure"] {
            drop(config_reloads.get_or_create(&ReloadResult { result }));
        }
        Self {
            registry,
            requests,
            auth_failures,
            request_seconds,
            upstream_seconds,
            upstream_errors,
            responses_incomplete,
            open_connections,
            replay_entries,
            config_generation,
            config_reloads,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
