//! Every default the config applies, in one place. docs/configuration.md quotes
//! these values; a setting absent from `gateway.yaml` takes the one here.

use std::time::Duration;

use super::{Limits, Timeouts};
use crate::scheme::Window;
use crate::scheme::rfc9421::Component;

/// RFC 9421: `created` up to 5 minutes old, 30 s ahead.
pub const RFC9421: Window = Window { max_age: Duration::from_secs(300), max_ahead: Duration::from_secs(30) };
/// AWS: 15 minutes either way (`RequestTimeTooSkewed`).
pub const SIGV4: Window = Window::symmetric(900);
/// Kong's and APISIX's `clock_skew` default.
pub const COMPAT: Window = Window::symmetric(300);
/// Stripe's, Slack's and Standard Webhooks' recommended tolerance.
pub const WEBHOOK: Window = Window::symmetric(300);
/// GitHub and Shopify sign no timestamp: how long a delivery id is kept.
pub const WEBHOOK_REPLAY_TTL: Duration = Duration::from_secs(3600);
/// Components every RFC 9421 route requires unless it lists its own.
pub const COMPONENTS: [Component; 4] = [Component::Method, Component::Authority, Component::Path, Component::Query];

/// Request limits (`limits:`; `max_body_bytes` also per route).
pub const LIMITS: Limits =
    Limits { max_body_bytes: 1024 * 1024, max_header_bytes: 32 * 1024, max_headers: 100, max_uri_bytes: 8 * 1024 };
/// Open client connections per listener (`limits.max_connections`).
pub const MAX_CONNECTIONS: usize = 10_000;

/// Timeouts (`timeouts:`).
pub const TIMEOUTS: Timeouts = Timeouts {
    header_read: Duration::from_secs(10),
    body_read: Duration::from_secs(60),
    body_idle: Duration::from_secs(10),
    tls_handshake: Duration::from_secs(10),
    upstream_connect: Duration::from_secs(2),
    upstream_response: Duration::from_secs(15),
    shutdown_grace: Duration::from_secs(30),
    h2_idle: Duration::from_secs(60),
    h2_keepalive_interval: Duration::from_secs(20),
    h2_keepalive_timeout: Duration::from_secs(20),
    send_idle: Duration::from_secs(60),
    upstream_body_idle: Duration::from_secs(60),
    tunnel_idle: Duration::from_secs(300),
};

/// Live entries the memory replay store holds (`replay.capacity`).
pub const REPLAY_CAPACITY: usize = 1_000_000;
/// How long one Redis command may take (`replay.timeout`).
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// Prefix of every Redis key (`replay.key_prefix`).
pub const REDIS_KEY_PREFIX: &str = "hmacgw:";

/// Worker threads (`workers`): one per core the process may use.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
