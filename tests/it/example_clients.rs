//! The clients without a sidecar (docs/guides/call-from-your-code.md) (`examples/clients/`): Python with
//! `http-message-signatures` and `requests`, and Node with WebCrypto. Each is
//! run as a user runs it, against the real gateway on the demo config with a
//! real upstream, so neither can rot. They need Python's packages and Node:
//! ignored by a plain `cargo test`, run with `--include-ignored`.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use crate::common::*;
use http::StatusCode;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The demo config, every listener on an ephemeral port, and its verify route
/// forwarding to `upstream` instead of the built-in echo.
fn demo_config(upstream: SocketAddr) -> String {
    let demo = std::fs::read_to_string(format!("{ROOT}/gateway.yaml")).unwrap();
    let moved = ["\"127.0.0.1:8080\"", "\"127.0.0.1:8081\"", "\"127.0.0.1:9901\""]
        .iter()
        .fold(demo, |text, bind| text.replace(bind, "\"127.0.0.1:0\""));
    assert_eq!(moved.matches("\"127.0.0.1:0\"").count(), 3, "the demo's three binds moved");
    assert_eq!(moved.matches("upstream: echo").count(), 1, "the demo's verify route forwards to echo");
    moved.replace("upstream: echo", &format!("upstream: \"http://{upstream}\""))
}

/// A client: the command that runs it, and how to tell it is installed.
struct Client {
    program: &'static str,
    script: &'static str,
    probe: &'static [&'static str],
    install_hint: &'static str,
}

const PYTHON: Client = Client {
    program: "python3",
    script: "examples/clients/python/sign_request.py",
    probe: &["-c", "import http_message_signatures, requests"],
    install_hint: "pip install http-message-signatures==3.0.0 requests",
};

const NODE: Client = Client {
    program: "node",
    script: "examples/clients/js/sign_request.mjs",
    probe: &["-e", "if (!globalThis.fetch || !require('node:crypto').webcrypto?.subtle) process.exit(1)"],
    install_hint: "Node 18 or later",
};

impl Client {
    fn require(&self) {
        let ok = std::process::Command::new(self.program).args(self.probe).status().is_ok_and(|s| s.success());
        require_peer(ok, self.install_hint);
    }

    /// Runs the client as the docs do: (exit 0, printed status, printed body).
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, u16, String) {
        let out = tokio::process::Command::new(self.program)
            .arg(self.script)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(ROOT)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (status, body) = stdout.split_once('\n').unwrap_or_else(|| {
            panic!("{}: no status line: {stdout}{}", self.script, String::from_utf8_lossy(&out.stderr))
        });
        (out.status.success(), status.trim().parse().unwrap(), body.trim_end().to_owned())
    }
}

/// The signed request the upstream received, sent again with `change` applied.
async fn resend_changed(gateway: SocketAddr, seen: &Recorded, change: impl FnOnce(&mut Req)) -> Got {
    let mut req = Req::post(gateway, &seen.target, &seen.body);
    for name in ["signature", "signature-input", "content-digest"] {
        req.headers.insert(name, seen.headers[name].clone());
    }
    change(&mut req);
    send(gateway, &req).await
}

/// GET and POST through the client reach the upstream signed; copies of its
/// signed POST with another body or path, or sent twice, are refused; and so is
/// the client itself with the wrong secret.
async fn client_calls_the_demo_route(client: &Client) {
    client.require();
    let upstream = Upstream::start().await;
    let dir = std::env::temp_dir().join(format!("hmacgw-clients-{}-{}", client.program, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("gateway.yaml"), demo_config(upstream.addr)).unwrap();
    let gateway = binary::spawn(&dir.join("gateway.yaml")).await;
    let base = format!("http://{}", gateway.addr);

    // The docs' first command: a GET of the demo path.
    let (ok, status, body) = client.run(&[&format!("{base}/_functions/siteStats")], &[]).await;
    assert!(ok && status == 200, "{}: {status} {body}", client.script);
    assert_eq!(body, "upstream says hi");
    let got = upstream.last();
    assert_eq!((got.method.as_str(), got.target.as_str()), ("GET", "/_functions/siteStats"));
    assert_eq!(got.headers["x-consumer-id"], "consumer-site");

    // A POST with a query and a non-ASCII body, which must arrive byte for byte.
    let sent = r#"{"amount":1,"note":"café"}"#;
    let (ok, status, body) = client.run(&[&format!("{base}/_functions/orders?dry_run=1"), sent], &[]).await;
    assert!(ok && status == 200, "{}: {status} {body}", client.script);
    let got = upstream.last();
    assert_eq!((got.method.as_str(), got.target.as_str()), ("POST", "/_functions/orders?dry_run=1"));
    assert_eq!(got.body, sent.as_bytes());
    assert!(got.headers["signature-input"].to_str().unwrap().contains("\"content-digest\""));

    // The signature binds the body and the path, and is good once.
    let seen_before = upstream.count();
    let tampered = resend_changed(gateway.addr, &got, |r| r.body = r#"{"amount":1000}"#.into()).await;
    assert_eq!((tampered.status, tampered.error_code().as_str()), (StatusCode::UNAUTHORIZED, "digest_mismatch"));
    let moved = resend_changed(gateway.addr, &got, |r| r.path = "/_functions/refunds".into()).await;
    assert_eq!((moved.status, moved.error_code().as_str()), (StatusCode::UNAUTHORIZED, "invalid_signature"));
    let replayed = resend_changed(gateway.addr, &got, |_| ()).await;
    assert_eq!((replayed.status, replayed.error_code().as_str()), (StatusCode::UNAUTHORIZED, "replayed_request"));
    let unsigned = send(gateway.addr, &Req::get(gateway.addr, "/_functions/siteStats")).await;
    assert_eq!((unsigned.status, unsigned.error_code().as_str()), (StatusCode::UNAUTHORIZED, "missing_signature"));

    // The client signs with the secret it is given: another one is refused.
    let wrong = [("HMAC_SECRET_B64", KEY_B64)];
    let (ok, status, body) = client.run(&[&format!("{base}/_functions/siteStats")], &wrong).await;
    assert!(!ok && status == 401 && body.contains("invalid_signature"), "{}: {status} {body}", client.script);
    assert_eq!(upstream.count(), seen_before, "a refused request reached the upstream");

    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
#[ignore = "needs Python requests and http-message-signatures (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn python_client_signs_for_the_demo_route() {
    client_calls_the_demo_route(&PYTHON).await;
}

#[tokio::test]
#[ignore = "needs Node.js 18 or later (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn node_client_signs_for_the_demo_route() {
    client_calls_the_demo_route(&NODE).await;
}
