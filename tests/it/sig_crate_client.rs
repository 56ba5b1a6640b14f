//! The signature crate as a client: its `sign_request` example signs for
//! the demo's RFC 9421 verify route and calls the real gateway directly, with
//! no sidecar. Run as a user runs it (`cargo run --example`), so the example
//! cannot rot.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::Command;

/// The demo config, every listener on an ephemeral port.
fn demo_on_ephemeral_ports() -> String {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.yaml")).unwrap();
    let moved = ["\"127.0.0.1:8080\"", "\"127.0.0.1:8081\"", "\"127.0.0.1:9901\""]
        .iter()
        .fold(demo, |text, bind| text.replace(bind, "\"127.0.0.1:0\""));
    // All three, or a test would take the demo's fixed ports.
    assert_eq!(moved.matches("\"127.0.0.1:0\"").count(), 3);
    moved
}

fn run_example(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--locked", "-p", "hmac-gateway-sig", "--example", "sign_request", "--"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_crate_example_signs_requests_the_gateway_accepts() {
    let dir = std::env::temp_dir().join(format!("hmacgw-sigcrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.yaml");
    std::fs::write(&config, demo_on_ephemeral_ports()).unwrap();
    let gateway = common::binary::spawn(&config).await;
    let url = format!("http://{}/_functions/siteStats?x=1", gateway.addr);

    let get = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run_example(&[&url])
    });
    let get = get.await.unwrap();
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    // The echo upstream shows what the upstream received: who signed it.
    assert!(get.contains("consumer-site"), "{get}");

    let post = tokio::task::spawn_blocking(move || run_example(&[&url, r#"{"amount":1}"#])).await.unwrap();
    assert!(post.starts_with("HTTP/1.1 200"), "{post}");
    // The body arrived whole and bound to the signature by its Content-Digest.
    use sha2::Digest as _;
    let sent = hex::encode(sha2::Sha256::digest(br#"{"amount":1}"#));
    assert!(post.contains(&format!(r#""body_sha256":"{sent}""#)), "{post}");
    assert!(post.contains("content-digest"), "{post}");

    // The same route refuses an unsigned call: the 200s above were earned.
    let unsigned = common::send(gateway.addr, &common::Req::get(gateway.addr, "/_functions/siteStats")).await;
    assert_eq!(unsigned.status, http::StatusCode::UNAUTHORIZED);
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
