//! `explain` and the gateway agree on requests the gateway's HTTP/1 parser
//! judges (the same bytes to both), `explain` finds the listener as the
//! README's command expects, and a MAC the request carries is never shown,
//! even when the signature covers the field that holds it.

#![allow(clippy::unwrap_used)]

use crate::common::explain::{explain, raw_http, write_config};
use crate::common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BODY: &[u8] = br#"{"id":42}"#;

fn yaml(upstream: &str) -> String {
    format!(
        "listeners:\n  - {{ name: in, bind: \"127.0.0.1:0\" }}\nsecrets:\n  shared: {{ value: \"{KEY_B64}\", encoding: \
         base64 }}\nconsumers:\n  - {{ id: site-b, keys: [{{ keyid: site-b-1, secret: shared }}] }}\nroutes:\n  - {{ \
         name: debug, listener: in, match: {{ path_prefix: /d/ }}, verify: {{ scheme: rfc9421, consumers: [site-b], \
         replay: false, debug_signature_base: true }}, upstream: \"http://{upstream}\" }}\n"
    )
}

/// A POST signed for the gateway at `addr`, as raw HTTP/1.1.
fn signed_post(addr: std::net::SocketAddr, now: i64) -> String {
    let mut req = Req::post(addr, "/d/orders", BODY);
    sign(&mut req, &SignOpts { created: now, ..SignOpts::default() });
    String::from_utf8(raw_http(&req)).unwrap()
}

/// Writes `raw` to the gateway on a fresh connection; the status it answers.
async fn status_of(addr: std::net::SocketAddr, raw: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap() == 1 {
            head.push(byte[0]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read).await.unwrap();
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[tokio::test]
async fn explain_and_the_gateway_judge_the_same_bytes_alike() {
    let upstream = Upstream::start().await;
    let config = write_config("explain-agree-bytes", &yaml(&upstream.addr.to_string()));
    let gateway = binary::spawn(&config).await;
    let now = hmac_gateway::testing::unix_now();
    let good = signed_post(gateway.addr, now);
    let length = format!("Content-Length: {}\r\n", BODY.len());
    let cases = [
        // (what the request is, its bytes, the gateway's status, explain's exit)
        ("as signed", good.clone(), 200, 0),
        ("Content-Length repeated, same value", good.replace(&length, &format!("{length}{length}")), 200, 0),
        (
            "Content-Length as a list",
            good.replace(&length, &format!("Content-Length: {0}, {0}\r\n", BODY.len())),
            400,
            1,
        ),
        ("a space before a header's colon", good.replacen("\r\n", "\r\nX-Sp : v\r\n", 1), 400, 1),
    ];
    for (what, raw, status, exit) in cases {
        assert_eq!(status_of(gateway.addr, &raw).await, status, "gateway, {what}");
        let out = explain(&config, raw.as_bytes(), now, &[]);
        assert_eq!(out.code, exit, "explain, {what}: {out}");
        if status == 400 {
            out.names("the gateway's HTTP/1 parser would answer 400");
        }
    }
    assert_eq!(upstream.count(), 2, "only the accepted requests arrive");
}

/// docs/troubleshooting.md: `hmac-gateway explain --config gateway.yaml --request request.http`
/// on the demo, which has two listeners: the Host's port picks one.
#[test]
fn the_listener_comes_from_the_host_port_or_the_route() {
    // The demo itself, copied to a temp dir (explain's request files go beside it).
    let demo = &write_config("explain-demo", &std::fs::read_to_string("gateway.yaml").unwrap());
    let request = |host: &str| format!("GET /_functions/siteStats HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let out = explain(demo, request("127.0.0.1:8080").as_bytes(), 0, &[]);
    assert_eq!(out.code, 1, "{out}");
    out.names("on listener `ingress`").refused(401, "missing_signature");
    let out = explain(demo, request("api.example").as_bytes(), 0, &["--route", "site-api"]);
    out.names("on listener `ingress`");
    let out = explain(demo, request("api.example").as_bytes(), 0, &[]);
    assert_eq!(out.code, 2, "no port 80 listener: {out}");
    assert!(out.stderr.contains("pass --listener"), "{out}");
    let out = explain(demo, request("127.0.0.1:8080").as_bytes(), 0, &["--route", "nosuch"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no route `nosuch` (routes: site-api, call-host)"), "{out}");
}

/// A signature that covers `signature` (an earlier one, RFC 9421 allows it)
/// puts the request's own MAC into the signature base: neither `explain` nor
/// the debug 401 shows it.
#[tokio::test]
async fn a_mac_the_request_carries_is_never_shown() {
    let upstream = Upstream::start().await;
    let config = write_config("explain-carried-mac", &yaml(&upstream.addr.to_string()));
    let gateway = binary::spawn(&config).await;
    let now = hmac_gateway::testing::unix_now();
    let mut req = Req::post(gateway.addr, "/d/orders", BODY);
    req.headers.insert("signature", "sig0=:cHJpb3Itc2lnbmF0dXJlLWZyb20tYW5vdGhlci1ob3A=:".parse().unwrap());
    let components = vec!["@method", "@authority", "@path", "@query", "signature"];
    sign(&mut req, &SignOpts { created: now, components, ..SignOpts::default() });
    let mac = req.headers["signature"].to_str().unwrap().split(':').nth(1).unwrap().to_owned();
    assert!(mac.len() > 40, "{mac}");
    let out = explain(&config, &raw_http(&req), now, &[]);
    out.refused(401, "invalid_signature").names("\"signature\": sig1=:[the request's own MAC, not shown]:");
    out.hides(&[&mac, KEY_B64]);
    let got = send(gateway.addr, &req).await;
    assert_eq!(got.status, 401);
    let base = got.json()["debug"]["signature_base"].as_str().unwrap().to_owned();
    assert!(base.contains("\"signature\": sig1=:[the request's own MAC, not shown]:"), "{base}");
    assert!(!String::from_utf8_lossy(&got.body).contains(&mac));
    assert_eq!(upstream.count(), 0);
}
