//! The Redis replay store on managed-Redis terms, against a real
//! `redis-server` started here: TLS with a private CA (rustls), a client
//! certificate the server requires, and an ACL user whose password comes
//! from a secret. Replicas share replay state through it; a wrong CA, a
//! wrong password or a missing client certificate fail closed (503
//! `replay_store_unavailable`, not ready) and never leak the URL or
//! password.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::redis_servers::{RedisServer, free_port, require_redis};
use crate::common::tls::{Pki, TempDir, pki, temp_dir};
use crate::common::*;
use http::StatusCode;

const PASSWORD: &str = "s3cret-Pa55-for-tests";

/// A TLS-only server that requires client certificates from `client`'s CA
/// and knows one ACL user, `gateway`, limited to the test's keys.
struct TlsRedis {
    server: RedisServer,
    /// Issued the server's certificate.
    server_pki: Pki,
    /// Issued the client certificate the gateway presents.
    client_pki: Pki,
    /// Holds both PKIs' files; removed with the server.
    dir: TempDir,
}

fn tls_redis() -> TlsRedis {
    let dir = temp_dir("redis-tls");
    let server_pki = pki(&dir, "server", vec!["127.0.0.1".into(), "localhost".into()]);
    let client_pki = pki(&dir, "client", vec!["gateway.internal".into()]);
    let port = free_port();
    let path = |p: &Path| p.display().to_string();
    let args = [
        "--port".into(),
        "0".into(),
        "--tls-port".into(),
        port.to_string(),
        "--tls-cert-file".into(),
        path(&server_pki.cert_pem),
        "--tls-key-file".into(),
        path(&server_pki.key_pem),
        "--tls-ca-cert-file".into(),
        path(&client_pki.ca_pem),
        "--tls-auth-clients".into(),
        "yes".into(),
        // No anonymous access; `gateway` may touch only the test's keys,
        // with the commands the store sends (docs/guides/managed-redis.md).
        "--user".into(),
        "default".into(),
        "off".into(),
        "--user".into(),
        "gateway".into(),
        "on".into(),
        format!(">{PASSWORD}"),
        "~hmacgw-test:*".into(),
        "+set".into(),
        "+del".into(),
        "+ping".into(),
        // For the test's own look at the keys.
        "--user".into(),
        "inspector".into(),
        "on".into(),
        ">inspector-pass".into(),
        "~*".into(),
        "+@all".into(),
    ];
    let server = RedisServer::start(port, &temp_dir("redis-tls-data").keep(), args.to_vec());
    TlsRedis { server, server_pki, client_pki, dir }
}

impl TlsRedis {
    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.server.port)
    }
}

/// What a gateway is given to reach the server; each test changes one thing.
struct Access<'a> {
    url: String,
    password: &'a str,
    ca: &'a Path,
    client: Option<&'a Pki>,
    extra: &'a str,
}

impl<'a> Access<'a> {
    fn correct(redis: &'a TlsRedis) -> Self {
        Self {
            url: redis.url(),
            password: PASSWORD,
            ca: &redis.server_pki.ca_pem,
            client: Some(&redis.client_pki),
            extra: "",
        }
    }

    fn yaml(&self, upstream: &Upstream, prefix: &str) -> String {
        let client = self.client.map_or(String::new(), |c| {
            format!(", client_cert: \"{}\", client_key: \"{}\"", c.cert_pem.display(), c.key_pem.display())
        });
        let replay = format!(
            "admin: {{ bind: \"127.0.0.1:0\" }}\nreplay: {{ store: redis, url_secret: redis-url, username: gateway, \
             password_secret: redis-pass, ca: \"{}\"{client}, key_prefix: \"{prefix}\", timeout: 1s{} }}",
            self.ca.display(),
            self.extra
        );
        verify_yaml(&format!("http://{}", upstream.addr), "", &replay).replace(
            "secrets:\n",
            &format!(
                "secrets:\n  redis-url: {{ value: \"{}\" }}\n  redis-pass: {{ value: \"{}\" }}\n",
                self.url, self.password
            ),
        )
    }
}

fn unique_prefix(test: &str) -> String {
    format!("hmacgw-test:{test}:{}:", hmac_gateway::testing::fresh_nonce().unwrap())
}

async fn ready(gw: &hmac_gateway::server::RunningGateway) -> StatusCode {
    let admin = gw.addr("admin").unwrap();
    send(admin, &Req::get(admin, "/readyz")).await.status
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn replicas_share_replay_state_over_tls_with_a_client_certificate_and_acl_credentials() {
    require_redis();
    let redis = tls_redis();
    let upstream = Upstream::start().await;
    let yaml = Access::correct(&redis).yaml(&upstream, &unique_prefix("tls"));
    let (first, second) = (gateway(&yaml).await, gateway(&yaml).await);
    let (a, b) = (first.addr("ingress").unwrap(), second.addr("ingress").unwrap());
    let mut req = Req::post(a, "/_functions/pay", b"{\"amount\": 10}");
    req.authority = "api.example".into();
    let req = signed(req);
    let got = send(a, &req).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.json());
    let replay = send(b, &req).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.error_code(), "replayed_request");
    assert_eq!(upstream.count(), 1);
    assert_eq!(ready(&first).await, StatusCode::OK);
    assert_eq!(ready(&second).await, StatusCode::OK);
    // The claim is in this server, under the prefix, with its TTL.
    let keys = redis.server.cli(&[
        "--tls",
        "--cacert",
        &redis.server_pki.ca_pem.display().to_string(),
        "--cert",
        &redis.client_pki.cert_pem.display().to_string(),
        "--key",
        &redis.client_pki.key_pem.display().to_string(),
        "--user",
        "inspector",
        "--pass",
        "inspector-pass",
        "--no-auth-warning",
        "--scan",
        "--pattern",
        "hmacgw-test:tls:*",
    ]);
    assert_eq!(keys.lines().count(), 1, "one claim stored: {keys:?}");
}

/// Fails closed with `on_error: reject` (503, not ready), and passes with
/// `on_error: allow`: what a misconfigured or unreachable store gives.
async fn assert_fails_closed(access: Access<'_>, what: &str) {
    let upstream = Upstream::start().await;
    let strict = gateway(&access.yaml(&upstream, &unique_prefix(what))).await;
    let s = strict.addr("ingress").unwrap();
    let got = send(s, &signed(Req::get(s, "/_functions/a"))).await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(got.error_code(), "replay_store_unavailable", "{what}");
    let body = got.json().to_string();
    for leak in [PASSWORD, "127.0.0.1", "rediss://"] {
        assert!(!body.contains(leak), "{what}: `{leak}` in the answer: {body}");
    }
    assert_eq!(ready(&strict).await, StatusCode::SERVICE_UNAVAILABLE, "{what}: not ready");
    let lenient = gateway(&Access { extra: ", on_error: allow", ..access }.yaml(&upstream, &unique_prefix(what))).await;
    let l = lenient.addr("ingress").unwrap();
    assert_eq!(send(l, &signed(Req::get(l, "/_functions/b"))).await.status, StatusCode::OK, "{what}: allow");
    assert_eq!(upstream.count(), 1, "{what}: only the lenient request went through");
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_server_certificate_from_another_ca_fails_closed() {
    require_redis();
    let redis = tls_redis();
    let stranger = pki(&redis.dir, "stranger", vec!["127.0.0.1".into()]);
    assert_fails_closed(Access { ca: &stranger.ca_pem, ..Access::correct(&redis) }, "wrong-ca").await;
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_wrong_password_fails_closed() {
    require_redis();
    let redis = tls_redis();
    assert_fails_closed(Access { password: "not-the-password", ..Access::correct(&redis) }, "wrong-pass").await;
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn a_missing_client_certificate_fails_closed() {
    require_redis();
    let redis = tls_redis();
    assert_fails_closed(Access { client: None, ..Access::correct(&redis) }, "no-client-cert").await;
}

/// The running binary, refused by the server (the password is in the URL
/// this time), logs why without the URL or the password.
#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn logs_never_show_the_url_or_password() {
    require_redis();
    let redis = tls_redis();
    let upstream = Upstream::start().await;
    let url = format!("rediss://gateway:{PASSWORD}-wrong@127.0.0.1:{}", redis.server.port);
    let yaml = Access { url, password: "unused", ..Access::correct(&redis) }
        .yaml(&upstream, &unique_prefix("logs"))
        .replace(" password_secret: redis-pass,", "")
        .replace(" username: gateway,", "")
        .replace("  redis-pass: { value: \"unused\" }\n", "")
        .replace("admin: { bind: \"127.0.0.1:0\" }\n", "");
    let path = redis.dir.join("gw.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut gw = binary::spawn(&path).await;
    let got = send(gw.addr, &signed(Req::get(gw.addr, "/_functions/a"))).await;
    assert_eq!(got.error_code(), "replay_store_unavailable");
    gw.child.kill().await.unwrap();
    let mut logs = String::new();
    while let Ok(Some(line)) = gw.lines.next_line().await {
        logs.push_str(&line);
        logs.push('\n');
    }
    assert!(logs.contains("replay store unreachable"), "the outage is logged: {logs}");
    assert!(!logs.contains(PASSWORD), "the password leaked into the logs: {logs}");
    assert!(!logs.contains("rediss://"), "the URL leaked into the logs: {logs}");
}

#[tokio::test]
#[ignore = "needs redis-server and redis-cli (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn the_gateway_reconnects_over_tls_after_an_outage() {
    require_redis();
    let mut redis = tls_redis();
    let upstream = Upstream::start().await;
    let gw = gateway(&Access::correct(&redis).yaml(&upstream, &unique_prefix("tls-outage"))).await;
    let addr = gw.addr("ingress").unwrap();
    assert_eq!(send(addr, &signed(Req::get(addr, "/_functions/a"))).await.status, StatusCode::OK);

    redis.server.kill();
    assert_eq!(send(addr, &signed(Req::get(addr, "/_functions/b"))).await.error_code(), "replay_store_unavailable");
    assert_eq!(ready(&gw).await, StatusCode::SERVICE_UNAVAILABLE);

    redis.server.restart();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while send(addr, &signed(Req::get(addr, "/_functions/c"))).await.status != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "no reconnect over TLS");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(ready(&gw).await, StatusCode::OK);
}
