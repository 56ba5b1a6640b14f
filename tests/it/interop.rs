//! Interop with an independent RFC 9421 implementation (the `httpsig-hyper`
//! crate): its signatures verify here, and ours verify there.

#![allow(clippy::unwrap_used)]

use crate::common::*;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use httpsig_hyper::prelude::{message_component::HttpMessageComponentId, *};
use httpsig_hyper::*;

fn their_key() -> SharedKey {
    SharedKey::from_base64(&AlgorithmName::HmacSha256, KEY_B64).unwrap()
}

fn their_params(components: &[&str]) -> HttpSignatureParams {
    let ids: Vec<HttpMessageComponentId> =
        components.iter().map(|c| HttpMessageComponentId::try_from(*c).unwrap()).collect();
    let mut params = HttpSignatureParams::try_new(&ids).unwrap();
    params.set_key_info(&their_key());
    params.set_keyid("site-b-1");
    params.set_random_nonce();
    params
}

/// Signs with httpsig-hyper and returns the request in our test form.
async fn signed_by_them(
    addr: std::net::SocketAddr,
    method: &str,
    target: &str,
    body: &'static [u8],
    digest: ContentDigestType,
) -> Req {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{target}"))
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let mut components = vec!["@method", "@authority", "@path", "@query"];
    let mut request = if body.is_empty() {
        request.map(|b| http_body_util::BodyExt::boxed(http_body_util::BodyExt::map_err(b, |never| match never {})))
    } else {
        components.push("content-digest");
        request.set_content_digest(&digest).await.unwrap()
    };
    request.set_message_signature(&their_params(&components), &their_key(), Some("theirs")).await.unwrap();
    let mut req = if body.is_empty() { Req::get(addr, target) } else { Req::post(addr, target, body) };
    req.method = method.parse().unwrap();
    req.headers = request.headers().clone();
    req
}

#[tokio::test]
async fn their_signatures_verify_here() {
    let upstream = Upstream::start().await;
    let gw = gateway(&verify_yaml(&format!("http://{}", upstream.addr), "", "")).await;
    let addr = gw.addr("ingress").unwrap();
    let cases = [
        ("GET", "/_functions/a?x=1&y=%20", &b""[..], ContentDigestType::Sha256),
        ("POST", "/_functions/b", &b"{\"hello\": \"world\"}"[..], ContentDigestType::Sha256),
        ("PUT", "/_functions/c?q", &b"sha-512 body"[..], ContentDigestType::Sha512),
    ];
    for (method, target, body, digest) in cases {
        let req = signed_by_them(addr, method, target, body, digest).await;
        let got = send(addr, &req).await;
        assert_eq!(got.status, StatusCode::OK, "{method} {target}: {:?}", got.body);
        let seen = upstream.last();
        assert_eq!(seen.target, target);
        assert_eq!(&seen.body[..], body);
        assert_eq!(seen.headers["x-consumer-id"], "site-b");
    }
    // Their signature over one body does not carry another.
    let mut tampered = signed_by_them(addr, "POST", "/_functions/b", b"original", ContentDigestType::Sha256).await;
    tampered.body = Bytes::from_static(b"modified");
    let got = send(addr, &tampered).await;
    assert_eq!(got.error_code(), "digest_mismatch");
    assert_eq!(upstream.count(), 3);
}

#[tokio::test]
async fn our_signatures_verify_there() {
    let upstream = Upstream::start().await;
    let yaml = format!(
        r#"
listeners: [{{ name: egress, bind: "127.0.0.1:0" }}]
secrets:
  shared: {{ value: "{KEY_B64}", encoding: base64 }}
routes:
  - name: out
    listener: egress
    sign: {{ scheme: rfc9421, keyid: site-b-1, secret: shared }}
    upstream: "http://{}"
"#,
        upstream.addr
    );
    let gw = gateway(&yaml).await;
    let egress = gw.addr("egress").unwrap();
    for (method, target, body) in [("GET", "/a/b?c=d&e=%2F", &b""[..]), ("POST", "/upload", &b"\x00\x01binary\xff"[..])]
    {
        let mut req = if body.is_empty() { Req::get(egress, target) } else { Req::post(egress, target, body) };
        req.method = method.parse().unwrap();
        assert_eq!(send(egress, &req).await.status, StatusCode::OK);
        let seen = upstream.last();
        let host = seen.headers["host"].to_str().unwrap().to_owned();
        let mut rebuilt = Request::builder()
            .method(seen.method.clone())
            .uri(format!("http://{host}{}", seen.target))
            .body(Full::new(seen.body.clone()))
            .unwrap();
        *rebuilt.headers_mut() = seen.headers.clone();
        let name = rebuilt.verify_message_signature(&their_key(), Some("site-b-1")).await;
        assert_eq!(name.unwrap(), "sig1", "{method} {target}");
        if !body.is_empty() {
            assert!(rebuilt.verify_content_digest().await.is_ok());
        }
    }
    // And their verifier notices a change we did not sign.
    let seen = upstream.last();
    let mut forged = Request::builder()
        .method("POST")
        .uri(format!("http://{}/elsewhere", seen.headers["host"].to_str().unwrap()))
        .body(Full::new(seen.body.clone()))
        .unwrap();
    *forged.headers_mut() = seen.headers.clone();
    assert!(forged.verify_message_signature(&their_key(), Some("site-b-1")).await.is_err());
}
