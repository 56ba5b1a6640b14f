//! Webhook schemes through the real gateway, checked against each
//! provider's own library: Python `standardwebhooks`, `stripe`, `slack_sdk`
//! and npm `@octokit/webhooks-methods` (`scripts/install-test-peers.sh`):
//! the tests that use them are ignored by a plain `cargo test`, run with
//! `--include-ignored`.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::common::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, Method, StatusCode};
use serde_json::{Value, json};

const PY_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/webhook_peer.py");
const JS_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/github_peer.mjs");

const GITHUB: &str = "gh-secret-0123456789abcdefghijklmnopqrstuv";
const STRIPE_OLD: &str = "whsec_old0123456789abcdefghijklmnopqrstu";
const STRIPE_NEW: &str = "whsec_new0123456789abcdefghijklmnopqrstu";
const SLACK: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const STDWH: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAAA";
const SHOPIFY: &str = "shpss_0123456789abcdef0123456789abcdef";

fn yaml(upstream: std::net::SocketAddr) -> String {
    let mut routes = String::new();
    for (provider, verify_secrets, sign_secrets) in [
        ("github", "[gh]", "[gh]"),
        ("stripe", "[stripe-old, stripe-new]", "[stripe-old, stripe-new]"),
        ("slack", "[slack]", "[slack]"),
        ("standard-webhooks", "[stdwh]", "[stdwh]"),
        ("shopify", "[shop]", "[shop]"),
    ] {
        routes.push_str(&format!(
            "  - name: in-{provider}\n    listener: hooks\n    match: {{ path_prefix: /{provider} }}\n    \
             verify: {{ scheme: {provider}, secrets: {verify_secrets} }}\n    upstream: \"http://{upstream}\"\n\
             \x20 - name: out-{provider}\n    listener: egress\n    match: {{ path_prefix: /{provider} }}\n    \
             sign: {{ scheme: {provider}, secrets: {sign_secrets} }}\n    upstream: \"http://{upstream}\"\n"
        ));
    }
    format!(
        r#"listeners:
  - {{ name: hooks, bind: "127.0.0.1:0" }}
  - {{ name: egress, bind: "127.0.0.1:0" }}
secrets:
  gh: {{ value: "{GITHUB}" }}
  stripe-old: {{ value: "{STRIPE_OLD}" }}
  stripe-new: {{ value: "{STRIPE_NEW}" }}
  slack: {{ value: "{SLACK}" }}
  stdwh: {{ value: "{STDWH}" }}
  shop: {{ value: "{SHOPIFY}" }}
routes:
{routes}"#
    )
}

fn require_peers() {
    let python = Command::new("python3")
        .args(["-c", "import standardwebhooks, stripe, slack_sdk"])
        .status()
        .is_ok_and(|s| s.success());
    let node = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/node_modules/@octokit/webhooks-methods")
        .exists();
    require_peer(python && node, "Python standardwebhooks, stripe and slack_sdk, and npm ci --prefix tests/peers");
}

/// Runs a peer script with `spec` on stdin.
fn peer(program: &str, script: &str, spec: &Value) -> (bool, String) {
    let mut command = Command::new(program);
    command.arg(script).current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers"));
    run_peer(command, spec)
}

/// The provider's library signs `body`: the headers it would send.
fn peer_sign(provider: &str, secret: &str, body: &[u8], now: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if provider == "github" {
        let (ok, sig) = peer("node", JS_PEER, &json!({"mode": "sign", "secret": secret, "body_b64": B64.encode(body)}));
        assert!(ok, "{sig}");
        headers.insert("x-hub-signature-256", sig.parse().unwrap());
        headers.insert("x-github-delivery", hmac_gateway::testing::fresh_nonce().unwrap().parse().unwrap());
        return headers;
    }
    let spec = json!({
        "mode": "sign", "provider": provider, "secret": secret, "body_b64": B64.encode(body),
        "timestamp": now, "id": format!("msg_{}", hmac_gateway::testing::fresh_nonce().unwrap()),
    });
    let (ok, out) = peer("python3", PY_PEER, &spec);
    assert!(ok, "{out}");
    let signed: Value = serde_json::from_str(&out).unwrap();
    for (name, value) in signed["headers"].as_object().unwrap() {
        headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.as_str().unwrap().parse().unwrap());
    }
    headers
}

/// Whether the provider's library accepts what the upstream received.
fn peer_verify(provider: &str, secret: &str, got: &Recorded) -> (bool, String) {
    if provider == "github" {
        let signature = got.headers["x-hub-signature-256"].to_str().unwrap();
        let spec =
            json!({"mode": "verify", "secret": secret, "body_b64": B64.encode(&got.body), "signature": signature});
        return peer("node", JS_PEER, &spec);
    }
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(n, v)| (n.as_str().to_owned(), json!(v.to_str().unwrap()))).collect();
    let spec = json!({
        "mode": "verify", "provider": provider, "secret": secret, "body_b64": B64.encode(&got.body), "headers": headers,
    });
    peer("python3", PY_PEER, &spec)
}

fn post(addr: std::net::SocketAddr, path: &str, body: &[u8], headers: HeaderMap) -> Req {
    let mut req = Req::post(addr, path, body);
    req.method = Method::POST;
    req.headers = headers;
    req
}

const LIBRARY_PROVIDERS: [(&str, &str); 4] =
    [("github", GITHUB), ("stripe", STRIPE_NEW), ("slack", SLACK), ("standard-webhooks", STDWH)];

#[tokio::test]
#[ignore = "needs the providers' libraries: Python standardwebhooks, stripe, slack_sdk; npm @octokit/webhooks-methods (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn deliveries_signed_by_each_providers_library_are_accepted_once() {
    require_peers();
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("hooks").unwrap();
    for (provider, secret) in LIBRARY_PROVIDERS {
        let body = format!(r#"{{"event": "ping", "provider": "{provider}", "n": [1, 2.50, "é"]}}"#).into_bytes();
        let headers = peer_sign(provider, secret, &body, hmac_gateway::testing::unix_now());
        let delivery = post(addr, &format!("/{provider}/events"), &body, headers.clone());
        let got = send(addr, &delivery).await;
        assert_eq!(got.status, StatusCode::OK, "{provider}: {:?}", got.body);
        let seen = upstream.last();
        assert_eq!(seen.body, body, "{provider}: the body must reach the upstream byte for byte");
        assert_eq!(seen.headers["x-consumer-id"], provider);
        let seen_count = upstream.count();
        let replayed = send(addr, &delivery).await;
        assert_eq!((replayed.status, replayed.error_code().as_str()), (StatusCode::UNAUTHORIZED, "replayed_request"));
        let mut tampered_body = body.clone();
        tampered_body[3] ^= 1;
        let tampered = send(addr, &post(addr, &format!("/{provider}/events"), &tampered_body, headers)).await;
        assert_eq!(tampered.status, StatusCode::UNAUTHORIZED, "{provider}");
        assert_eq!(upstream.count(), seen_count, "{provider}: a rejected delivery reached the upstream");
    }
}

#[tokio::test]
#[ignore = "needs the providers' libraries: Python standardwebhooks, stripe, slack_sdk; npm @octokit/webhooks-methods (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn deliveries_the_gateway_signs_verify_with_each_providers_library() {
    require_peers();
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let egress = gw.addr("egress").unwrap();
    for (provider, secret) in LIBRARY_PROVIDERS {
        let body = format!(r#"{{"relayed": "{provider}"}}"#).into_bytes();
        let got = send(egress, &post(egress, &format!("/{provider}/x"), &body, HeaderMap::new())).await;
        assert_eq!(got.status, StatusCode::OK, "{provider}");
        let seen = upstream.last();
        let (ok, out) = peer_verify(provider, secret, &seen);
        assert!(ok, "{provider}: the provider's library rejected the gateway's signature: {out}");
        let mut tampered = seen.clone();
        tampered.body = format!(r#"{{"relayed": "{provider}!"}}"#).into_bytes().into();
        assert!(!peer_verify(provider, secret, &tampered).0, "{provider}: the peer accepted a changed body");
    }
    // Stripe carries one v1 per secret during a rotation: both sides verify.
    let seen = upstream.seen.lock().unwrap().iter().find(|r| r.headers.contains_key("stripe-signature")).cloned();
    let seen = seen.unwrap();
    assert_eq!(seen.headers["stripe-signature"].to_str().unwrap().matches("v1=").count(), 2);
    assert!(peer_verify("stripe", STRIPE_OLD, &seen).0, "a receiver still on the old secret");
}

#[tokio::test]
async fn shopify_and_timestamp_windows() {
    use hmac::{KeyInit as _, Mac as _};
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("hooks").unwrap();
    let body = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SHOPIFY.as_bytes()).unwrap();
    mac.update(body);
    let mut headers = HeaderMap::new();
    headers.insert("x-shopify-hmac-sha256", B64.encode(mac.finalize().into_bytes()).parse().unwrap());
    headers.insert("x-shopify-webhook-id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".parse().unwrap());
    assert_eq!(send(addr, &post(addr, "/shopify/orders", body, headers)).await.status, StatusCode::OK);
    // The gateway's own Shopify signing goes through its verify route.
    let egress = gw.addr("egress").unwrap();
    let relayed = upstream.count();
    // (Another order: the same body again would be the same delivery, a replay.)
    let other = br#"{"id":820982911946154509,"email":"jon@example.com"}"#;
    assert_eq!(send(egress, &post(egress, "/shopify/x", other, HeaderMap::new())).await.status, StatusCode::OK);
    let signed = upstream.last();
    let again = send(addr, &post(addr, "/shopify/orders", &signed.body, signed.headers.clone())).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(upstream.count(), relayed + 2);
    // A Stripe delivery signed 301 s ago is outside the default tolerance.
    let t = hmac_gateway::testing::unix_now() - 301;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(STRIPE_NEW.as_bytes()).unwrap();
    mac.update(format!("{t}.{{}}").as_bytes());
    let mut stale = HeaderMap::new();
    stale.insert("stripe-signature", format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes())).parse().unwrap());
    let got = send(addr, &post(addr, "/stripe/x", b"{}", stale)).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::UNAUTHORIZED, "signature_expired"));
    let missing = send(addr, &post(addr, "/slack/x", b"{}", HeaderMap::new())).await;
    assert_eq!((missing.status, missing.error_code().as_str()), (StatusCode::UNAUTHORIZED, "missing_signature"));
}

#[tokio::test]
async fn a_stripe_route_honours_its_max_age() {
    use hmac::{KeyInit as _, Mac as _};
    let upstream = Upstream::start().await;
    let yaml = format!(
        "listeners: [{{ name: hooks, bind: \"127.0.0.1:0\" }}]\nsecrets:\n  stripe: {{ value: \"{STRIPE_NEW}\" }}\n\
         routes:\n  - name: in\n    listener: hooks\n    \
         verify: {{ scheme: stripe, secrets: [stripe], max_age: 60, max_ahead: 5 }}\n    \
         upstream: \"http://{}\"\n",
        upstream.addr
    );
    let gw = gateway(&yaml).await;
    let addr = gw.addr("hooks").unwrap();
    let delivery = |age: i64| {
        let t = hmac_gateway::testing::unix_now() - age;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(STRIPE_NEW.as_bytes()).unwrap();
        mac.update(format!("{t}.{{}}").as_bytes());
        let mut headers = HeaderMap::new();
        let value = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        headers.insert("stripe-signature", value.parse().unwrap());
        post(addr, "/x", b"{}", headers)
    };
    assert_eq!(send(addr, &delivery(240)).await.error_code(), "signature_expired");
    assert_eq!(send(addr, &delivery(-30)).await.error_code(), "signature_expired", "30 s ahead, max_ahead 5");
    assert_eq!(send(addr, &delivery(30)).await.status, StatusCode::OK);
    assert_eq!(upstream.count(), 1);
}
