//! The gateway's integration tests, in one test binary.
//!
//! Each module starts the real gateway (in process, or the built binary) with
//! real upstreams, clients, Redis servers and peer implementations on loopback
//! ports. They share one binary rather than one per file: 39 binaries, each
//! linking the whole gateway, took most of CI's disk and link time.

mod common;

mod access_log;
mod admin;
mod cli;
mod config;
mod config_replay;
mod config_schemes;
mod container;
mod deploy_examples;
mod edge;
mod example_clients;
mod explain;
mod explain_agreement;
mod explain_webhooks;
mod framing;
mod h2_abuse;
mod h2_timeouts;
mod http10_upstream;
mod idle_park;
mod interop;
mod interop_python;
mod paths;
mod redis_cluster;
mod redis_replay;
mod redis_tls;
mod reload;
mod replay_capacity;
mod replay_release;
mod schema;
mod sig_crate_client;
mod sign;
mod signature_caps;
mod sigv4_gateway;
mod sigv4_suite;
mod slow_peers;
mod tls_timeouts;
mod topologies;
mod transport;
mod upstream_pool;
mod verify;
mod webhooks;
mod websocket;
