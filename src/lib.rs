//! hmac-gateway: a reverse proxy that verifies HMAC-signed requests before
//! they reach an unmodified upstream, and signs requests on behalf of a
//! consumer that never sees the secret.
//!
//! # Layout
//! - [`config`]: YAML parsing into raw structs, then validation into the typed
//!   [`config::Config`] the proxy uses; secrets and their redaction.
//! - [`scheme`]: signature schemes as pure functions behind one trait: RFC 9421
//!   (native) with RFC 9530 digests, AWS SigV4, webhook providers, and the
//!   Kong/APISIX dialects.
//! - [`replay`]: the nonce store that makes each signature usable once.
//! - [`proxy`]: the request pipeline. `Proxy::handle` (`proxy/mod.rs`) owns
//!   one context per request and runs the phases in order:
//!   admit (`proxy/pipeline.rs`, with `proxy/hygiene.rs`) → route
//!   (`proxy/pipeline.rs`, with `proxy/route.rs`) → authenticate
//!   (`proxy/pipeline.rs`; per scheme in `proxy/verify.rs`) → claim
//!   (`proxy/pipeline.rs`) → build the upstream request once
//!   (`proxy/upstream_request.rs`; signing in `proxy/sign.rs`) → forward
//!   (`proxy/forward.rs`) → respond and log (`proxy/respond.rs`).
//! - [`generation`]: one loaded config and what is built from it (upstream
//!   pools, TLS acceptors); reloads swap generations atomically.
//! - [`upstream`]: pooled HTTP/HTTPS client with timeouts.
//! - [`server`]: listeners, worker threads, connection handling, reloads
//!   (generation swap, listeners opened and closed), graceful shutdown.
//! - [`reload`]: what triggers a reload: SIGHUP and a watch on the config's
//!   files.
//! - [`error`]: every rejection mapped to a status and a JSON body.
//! - [`admin`]: `/healthz`, `/readyz`, `/metrics` on a separate listener.
//! - [`metrics`]: the Prometheus registry (no secrets in any label).
//! - [`cli`]: the `run`, `check`, `keygen` and `sign` commands.

mod admin;
mod body;
pub mod cli;
pub mod config;
mod error;
mod generation;
mod metrics;
mod proxy;
mod reload;
mod replay;
pub use hmac_gateway_sig as scheme;
pub mod server;
pub mod testing;
mod tls;
mod upstream;
