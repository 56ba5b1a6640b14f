//! hmac-gateway: a reverse proxy that verifies HMAC-signed requests before
//! they reach an unmodified upstream, and signs requests on behalf of a
//! consumer that never sees the secret.
//!
//! # Layout
//! Lowest layer first; `scripts/module-deps.py` checks that no module uses
//! one above it (CI runs it). Public: [`cli`], [`config`], [`server`],
//! [`scheme`] (the `hmac-gateway-sig` crate) and [`testing`].
//! - [`scheme`]: signature schemes as pure functions behind one trait and one
//!   driver: RFC 9421 (native) with RFC 9530 digests, AWS SigV4, webhook
//!   providers, the Kong/APISIX dialects. Its own crate: no tokio, no hyper.
//! - `body`: the body of every answer (made here, or the upstream's) and
//!   how it ended (`body::End`): the proxy attaches its access-log record
//!   and idle limits, the connection says why when it cuts one short.
//! - `tls`: rustls configs from PEM bytes.
//! - `io_wrap`: what the byte-stream wrappers share (reads noted, writes
//!   forwarded or counted).
//! - [`config`]: files and variables read in one step (`config/inputs.rs`),
//!   YAML into raw structs (`config/raw*`), then pure validation
//!   (`config/validate*`) into the reloadable [`config::Config`] and the
//!   restart-only [`config::Startup`]; every default in `config/defaults.rs`.
//! - `replay`: the nonce store that makes each signature usable once.
//! - `error`: every rejection mapped to a status and a JSON body.
//! - `upstream`: the per-worker HTTP/1.1 pool for plain-HTTP upstreams
//!   (`upstream/pool.rs`) and hyper-util's client for HTTPS ones.
//! - `generation`: one loaded config and what is built from it (upstream
//!   pools, TLS acceptors, HTTP settings); reloads swap generations.
//! - `metrics`: the Prometheus registry (no secrets in any label).
//! - `proxy`: the request pipeline. `Proxy::handle` (`proxy/mod.rs`) owns
//!   one context per request (`RequestCtx`) and runs the phases in order:
//!   admit (`proxy/pipeline.rs`, with `proxy/hygiene.rs`) → route
//!   (`proxy/pipeline.rs`, with `proxy/route.rs`) → authenticate
//!   (`proxy/pipeline.rs` → `proxy/verify.rs`, one driver for every scheme)
//!   → claim (`proxy/pipeline.rs`) → build the upstream request once
//!   (`proxy/upstream_request.rs`; signing in `proxy/sign.rs`) → forward
//!   (`proxy/forward.rs`; websocket tunnels in `proxy/tunnel.rs`) → respond
//!   and log (`proxy/respond.rs`: metrics at the head, the access-log event
//!   when the answer ends).
//!   `proxy/explain.rs` runs the same phases step by step on a request
//!   given as text, for `hmac-gateway explain` (its variants, under which a
//!   MAC that failed would verify, in `proxy/explain/variants.rs`).
//! - `admin`: `/healthz`, `/readyz`, `/metrics` on a separate listener.
//! - `stream_tasks`: the HTTP/2 executor; each stream a task that its
//!   connection's watchdog can cut (resetting that stream alone).
//! - [`server`]: listeners, worker threads, connections (HTTP/1 in rounds
//!   with explicit states, parked while idle: `server/h1conn.rs`; HTTP/2
//!   under a watchdog: `server/h2conn.rs`; the per-answer progress both
//!   sample each tick: `server/progress.rs`), reloads, graceful shutdown.
//! - `reload`: what triggers a reload: SIGHUP and a watch on the config's
//!   files.
//! - [`cli`]: the `run`, `check`, `keygen`, `sign` and `explain` commands
//!   (`explain` reads the request text in `cli/explain.rs`).

#[macro_use]
mod io_wrap;
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
mod stream_tasks;
pub mod testing;
mod tls;
mod upstream;
