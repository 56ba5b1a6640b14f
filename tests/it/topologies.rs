//! The shipped topologies (`examples/topologies/`), each run end to end with
//! the real binary for every site and a real upstream: app → consumer gateway
//! (sign) → host gateway (verify) → API. The test loads the shipped files
//! themselves, only moving their `127.0.0.1` ports to free ones and setting
//! the secrets' variables, so a broken example fails here.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::binary::{Binary, spawn_with_env};
use crate::common::*;
use http::StatusCode;

const TOPOLOGIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topologies");
const LOOPBACK: &str = "127.0.0.1:";

/// Every shipped file, and the secrets' variables the examples read.
const FILES: [&str; 7] = [
    "one-host-one-consumer/host.yaml",
    "one-host-one-consumer/consumer.yaml",
    "one-host-many-consumers/host.yaml",
    "one-host-many-consumers/consumer-a.yaml",
    "one-host-many-consumers/consumer-b.yaml",
    "two-way/site-a.yaml",
    "two-way/site-b.yaml",
];
const SECRETS: [(&str, &str); 5] = [
    ("HMACGW_SITE_B_KEY", KEY_B64),
    ("HMACGW_PARTNER_A_KEY", KEY_B64),
    ("HMACGW_PARTNER_B_KEY", OTHER_KEY_B64),
    ("HMACGW_A_TO_B_KEY", KEY_B64),
    ("HMACGW_B_TO_A_KEY", OTHER_KEY_B64),
];

/// One topology's sites, running from its shipped files.
struct Topology {
    source: PathBuf,
    scratch: PathBuf,
    /// Each port the shipped files name → where it is in this run.
    ports: HashMap<u16, SocketAddr>,
    sites: Vec<Binary>,
}

impl Topology {
    /// Prepares `name`: the files' API ports go to `apis`' upstreams, every
    /// other port to a free one.
    fn new(name: &str, apis: &[(u16, &Upstream)]) -> Self {
        let source = Path::new(TOPOLOGIES).join(name);
        let mut ports: HashMap<u16, SocketAddr> = apis.iter().map(|(port, api)| (*port, api.addr)).collect();
        for path in yaml_files(&source) {
            let text = std::fs::read_to_string(path).unwrap();
            for port in loopback_ports(&text) {
                ports.entry(port).or_insert_with(free_port);
            }
        }
        let scratch = std::env::temp_dir().join(format!("hmacgw-topology-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        Self { source, scratch, ports, sites: Vec::new() }
    }

    /// Where the shipped files' `127.0.0.1:port` is in this run.
    fn addr(&self, port: u16) -> SocketAddr {
        self.ports[&port]
    }

    /// Starts the gateway of one site on its shipped file, ports moved.
    async fn start(&mut self, file: &str) {
        let text = std::fs::read_to_string(self.source.join(file)).unwrap();
        let path = self.scratch.join(file);
        std::fs::write(&path, move_ports(&text, &self.ports)).unwrap();
        self.sites.push(spawn_with_env(&path, &SECRETS).await);
    }

    /// Waits until every address the sites bind accepts connections.
    async fn ready(&self) {
        for addr in self.ports.values() {
            for _ in 0..100 {
                if tokio::net::TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.sites.clear(); // the gateways stop before their config files go
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The `.yaml` files in `dir`.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let paths = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path());
    paths.filter(|path| path.extension().is_some_and(|e| e == "yaml")).collect()
}

/// The ports of every `127.0.0.1:PORT` in `text`.
fn loopback_ports(text: &str) -> Vec<u16> {
    text.match_indices(LOOPBACK).filter_map(|(at, _)| port_at(&text[at + LOOPBACK.len()..]).map(|(p, _)| p)).collect()
}

/// The port at the start of `rest`, and how many digits it takes.
fn port_at(rest: &str) -> Option<(u16, usize)> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok().map(|port| (port, digits))
}

/// `text` with each `127.0.0.1:PORT` replaced by where `ports` says; nothing else changes.
fn move_ports(text: &str, ports: &HashMap<u16, SocketAddr>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(LOOPBACK) {
        out.push_str(&rest[..at]);
        let after = &rest[at + LOOPBACK.len()..];
        let (port, digits) = port_at(after).unwrap();
        out.push_str(&ports[&port].to_string());
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// A loopback address for a site's listener, which the other site's file names
/// before either starts.
fn free_port() -> SocketAddr {
    ports::unused_addr()
}

/// Asserts `got` is the gateway's JSON refusal `status`/`code`.
fn assert_refused(got: &Got, status: StatusCode, code: &str) {
    assert_eq!(got.status, status, "{:?}", got.body);
    assert_eq!(got.json()["error"], code, "{:?}", got.body);
}

/// A request signed here, not by a gateway: `keyid` with the key `key_b64`.
fn signed_by(addr: SocketAddr, target: &str, keyid: &str, key_b64: &'static str) -> Req {
    let mut req = Req::get(addr, target);
    sign(&mut req, &SignOpts { keyid: keyid.into(), key_b64, ..SignOpts::default() });
    req
}

#[tokio::test]
async fn one_host_one_consumer() {
    let api = Upstream::start().await;
    let mut topology = Topology::new("one-host-one-consumer", &[(9000, &api)]);
    topology.start("host.yaml").await;
    topology.start("consumer.yaml").await;
    topology.ready().await;
    let (host, consumer) = (topology.addr(8080), topology.addr(8081));

    let got = send(consumer, &Req::get(consumer, "/api/stats?day=1")).await;
    assert_eq!((got.status, &got.body[..]), (StatusCode::OK, &b"upstream says hi"[..]));
    let seen = api.last();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("GET", "/api/stats?day=1"));
    assert_eq!(seen.headers["x-consumer-id"], "site-b");
    let body = br#"{"order":42}"#;
    assert_eq!(send(consumer, &Req::post(consumer, "/api/orders", body)).await.status, StatusCode::OK);
    assert_eq!((api.last().target, &api.last().body[..]), ("/api/orders".into(), &body[..]));

    // Straight to the host: unsigned, or signed with a key it does not hold.
    let before = api.count();
    assert_refused(&send(host, &Req::get(host, "/api/stats")).await, StatusCode::UNAUTHORIZED, "missing_signature");
    let forged = signed_by(host, "/api/stats", "site-b-1", OTHER_KEY_B64);
    assert_refused(&send(host, &forged).await, StatusCode::UNAUTHORIZED, "invalid_signature");
    assert_eq!(api.count(), before, "a refused request reached the API");
}

#[tokio::test]
async fn one_host_many_consumers() {
    let api = Upstream::start().await;
    let mut topology = Topology::new("one-host-many-consumers", &[(9000, &api)]);
    for file in ["host.yaml", "consumer-a.yaml", "consumer-b.yaml"] {
        topology.start(file).await;
    }
    topology.ready().await;
    let (host, partner_a, partner_b) = (topology.addr(8080), topology.addr(8081), topology.addr(8082));

    // Each partner on its own routes and the shared one, known by its own key.
    for (gateway, own, who) in
        [(partner_a, "/partner-a/orders", "partner-a"), (partner_b, "/partner-b/orders", "partner-b")]
    {
        let body = format!(r#"{{"from":"{who}"}}"#);
        assert_eq!(send(gateway, &Req::post(gateway, own, body.as_bytes())).await.status, StatusCode::OK);
        let seen = api.last();
        assert_eq!((seen.target.as_str(), &seen.body[..]), (own, body.as_bytes()));
        assert_eq!(seen.headers["x-consumer-id"], who);
        assert_eq!(send(gateway, &Req::get(gateway, "/shared/status")).await.status, StatusCode::OK);
        assert_eq!(api.last().headers["x-consumer-id"], who);
    }

    // Another partner's route: a valid signature, but not allowed there.
    let before = api.count();
    for (gateway, other) in [(partner_a, "/partner-b/orders"), (partner_b, "/partner-a/orders")] {
        let got = send(gateway, &Req::get(gateway, other)).await;
        assert_refused(&got, StatusCode::FORBIDDEN, "consumer_not_allowed");
    }
    // A key the host does not know.
    let stranger = signed_by(host, "/shared/status", "partner-c-1", KEY_B64);
    assert_refused(&send(host, &stranger).await, StatusCode::UNAUTHORIZED, "invalid_signature");
    assert_refused(&send(host, &Req::get(host, "/shared/status")).await, StatusCode::UNAUTHORIZED, "missing_signature");
    assert_eq!(api.count(), before, "a refused request reached the API");
}

#[tokio::test]
async fn two_way() {
    let (api_a, api_b) = (Upstream::start().await, Upstream::start().await);
    let mut topology = Topology::new("two-way", &[(9000, &api_a), (9001, &api_b)]);
    topology.start("site-a.yaml").await;
    topology.start("site-b.yaml").await;
    topology.ready().await;
    let (a_in, a_out, b_in, b_out) =
        (topology.addr(8080), topology.addr(8081), topology.addr(8090), topology.addr(8091));

    // A's application calls B's API through both gateways, and the other way.
    assert_eq!(send(a_out, &Req::get(a_out, "/api/inventory?sku=7")).await.status, StatusCode::OK);
    assert_eq!(api_b.last().target, "/api/inventory?sku=7");
    assert_eq!(api_b.last().headers["x-consumer-id"], "site-a");
    let body = br#"{"invoice":9}"#;
    assert_eq!(send(b_out, &Req::post(b_out, "/api/invoices", body)).await.status, StatusCode::OK);
    assert_eq!((api_a.last().target, &api_a.last().body[..]), ("/api/invoices".into(), &body[..]));
    assert_eq!(api_a.last().headers["x-consumer-id"], "site-b");
    assert_eq!((api_a.count(), api_b.count()), (1, 1), "each call reached only its own API");

    // Two secrets: B's keyid with the A→B secret does not pass at A.
    let crossed = signed_by(a_in, "/api/invoices", "site-b-1", KEY_B64);
    assert_refused(&send(a_in, &crossed).await, StatusCode::UNAUTHORIZED, "invalid_signature");
    for ingress in [a_in, b_in] {
        let unsigned = send(ingress, &Req::get(ingress, "/api/inventory")).await;
        assert_refused(&unsigned, StatusCode::UNAUTHORIZED, "missing_signature");
    }
    assert_eq!((api_a.count(), api_b.count()), (1, 1), "a refused request reached an API");
}

/// Every shipped file passes `hmac-gateway check` as it is, with its secrets'
/// variables set, and the check's output shows none of them.
#[test]
fn every_shipped_file_passes_check() {
    let dirs = std::fs::read_dir(TOPOLOGIES).unwrap().map(|entry| entry.unwrap().path());
    let mut shipped: Vec<String> = dirs
        .filter(|dir| dir.is_dir())
        .flat_map(|dir| yaml_files(&dir))
        .map(|path| path.strip_prefix(TOPOLOGIES).unwrap().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    let mut expected = FILES.map(String::from).to_vec();
    expected.sort();
    assert_eq!(shipped, expected, "a topology file without a test");
    for file in FILES {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
            .args(["check", "--config"])
            .arg(Path::new(TOPOLOGIES).join(file))
            .envs(SECRETS)
            .output()
            .unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{file}: {printed}");
        assert!(printed.contains(": OK"), "{file}: {printed}");
        for (_, secret) in SECRETS {
            assert!(!printed.contains(secret), "{file}: check printed a secret");
        }
    }
}
