//! Interop with a second, independent RFC 9421 implementation: the Python
//! `http-message-signatures` package (`scripts/install-test-peers.sh`): the
//! tests are ignored by a plain `cargo test`, run with `--include-ignored`.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::common::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::StatusCode;
use serde_json::{Value, json};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/rfc9421_peer.py");

fn require_python_peer() {
    let installed = Command::new("python3")
        .args(["-c", "import http_message_signatures, requests"])
        .status()
        .is_ok_and(|s| s.success());
    require_peer(installed, "Python http-message-signatures==3.0.0 and requests");
}

fn peer(mode: &str, spec: &Value) -> (bool, String) {
    let mut command = Command::new("python3");
    command.args([PEER, mode]);
    run_peer(command, spec)
}

#[tokio::test]
#[ignore = "needs Python http-message-signatures (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn python_signatures_verify_here() {
    require_python_peer();
    let upstream = Upstream::start().await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    for (method, target, body) in
        [("GET", "/_functions/a?x=1&y=%20z", &b""[..]), ("POST", "/_functions/b", &b"{\"n\": 1}"[..])]
    {
        let mut components = vec!["@method", "@authority", "@path", "@query"];
        if !body.is_empty() {
            components.push("content-digest");
        }
        let spec = json!({
            "method": method, "url": format!("http://{addr}{target}"), "body_b64": B64.encode(body),
            "key_b64": KEY_B64, "keyid": "site-b-1", "components": components,
            "nonce": hmac_gateway::testing::fresh_nonce().unwrap(),
        });
        let (ok, out) = peer("sign", &spec);
        assert!(ok, "{out}");
        let signed: Value = serde_json::from_str(&out).unwrap();
        let mut req = if body.is_empty() { Req::get(addr, target) } else { Req::post(addr, target, body) };
        req.method = method.parse().unwrap();
        for (name, value) in signed["headers"].as_object().unwrap() {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            if ["signature", "signature-input", "content-digest"].contains(&name.as_str()) {
                req.headers.insert(name, value.as_str().unwrap().parse().unwrap());
            }
        }
        let got = send(addr, &req).await;
        assert_eq!(got.status, StatusCode::OK, "{method} {target}: {:?}", got.body);
        assert_eq!(upstream.last().target, target);
    }
}

#[tokio::test]
#[ignore = "needs Python http-message-signatures (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn our_signatures_verify_in_python() {
    require_python_peer();
    let upstream = Upstream::start().await;
    let yaml = format!(
        "listeners: [{{ name: egress, bind: \"127.0.0.1:0\" }}]\nsecrets: {{ s: {{ value: \"{KEY_B64}\", encoding: base64 }} }}\n\
         routes:\n  - {{ name: out, listener: egress, sign: {{ scheme: rfc9421, keyid: site-b-1, secret: s }}, upstream: \"http://{}\" }}\n",
        upstream.addr
    );
    let gw = gateway(&yaml).await;
    let egress = gw.addr("egress").unwrap();
    for (target, body) in [("/a/b?c=d&e=%2F", &b""[..]), ("/upload?x", &b"\x00binary\xff"[..])] {
        let req = if body.is_empty() { Req::get(egress, target) } else { Req::post(egress, target, body) };
        assert_eq!(send(egress, &req).await.status, StatusCode::OK);
        let seen = upstream.last();
        let headers: serde_json::Map<String, Value> =
            seen.headers.iter().map(|(n, v)| (n.as_str().to_owned(), Value::from(v.to_str().unwrap()))).collect();
        let mut spec = json!({
            "method": seen.method.as_str(), "url": format!("http://{}{}", upstream.addr, seen.target),
            "headers": headers, "body_b64": B64.encode(&seen.body), "key_b64": KEY_B64,
            "require": ["@method", "@authority", "@path", "@query"],
        });
        let (ok, out) = peer("verify", &spec);
        assert!(ok, "python rejected our signature for {target}: {out}");
        // And it notices a path we did not sign.
        spec["url"] = json!(format!("http://{}/elsewhere", upstream.addr));
        let (ok, _) = peer("verify", &spec);
        assert!(!ok, "python accepted a changed path");
    }
}
