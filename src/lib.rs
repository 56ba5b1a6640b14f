//! hmac-gateway: a reverse proxy that verifies HMAC-signed requests before
//! they reach an unmodified upstream, and signs requests on behalf of a
//! consumer that never sees the secret.
//!
//! # Layout
//! - [`config`]: YAML parsing into raw structs, then validation into the typed
//!   [`config::Config`] the proxy uses; secrets and their redaction.
//! - [`scheme`]: signature schemes as pure functions (RFC 9421 signatures,
//!   RFC 9530 digests).
//! - [`replay`]: the nonce store that makes each signature usable once.
//! - [`proxy`]: the request pipeline: route, verify or sign, forward.
//! - [`upstream`]: pooled HTTP/HTTPS client with timeouts.
//! - [`server`]: listeners, connection handling, graceful shutdown.
//! - [`error`]: every rejection mapped to a status and a JSON body.
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics` on a separate listener.
//! - [`metrics`]: the Prometheus registry (no secrets in any label).
//! - [`cli`]: the `run`, `check`, `keygen` and `sign` commands.

pub mod admin;
pub mod cli;
pub mod config;
pub mod error;
pub mod metrics;
pub mod proxy;
pub mod replay;
pub mod scheme;
pub mod server;
pub mod tls;
pub mod upstream;
