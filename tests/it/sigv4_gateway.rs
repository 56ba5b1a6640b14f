//! AWS SigV4, Kong and APISIX through the real gateway. SigV4 requests are
//! signed by an independent implementation, AWS's own `aws-sigv4` crate:
//! random requests it signs must pass, the same requests altered must not,
//! and what the gateway signs must match what that crate computes.

#![allow(clippy::unwrap_used)]
// The xorshift `Rng` below hands out the low bits of each draw: truncating
// casts are the point there.
#![allow(clippy::cast_possible_truncation)]

use std::time::{Duration, SystemTime};

use crate::common::*;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderValue, Method, StatusCode};

const AK: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const KONG_SECRET: &str = "kong-secret-0123456789abcdefghijklmnop";
/// Rotation: `alice123` holds both secrets during the overlap.
const KONG_NEXT: &str = "kong-next-0123456789abcdefghijklmnopqr";

fn yaml(upstream: std::net::SocketAddr) -> String {
    format!(
        r#"listeners:
  - {{ name: ingress, bind: "127.0.0.1:0" }}
  - {{ name: egress, bind: "127.0.0.1:0" }}
secrets:
  aws: {{ value: "{SECRET}" }}
  kong: {{ value: "{KONG_SECRET}" }}
  kong-next: {{ value: "{KONG_NEXT}" }}
consumers:
  - id: site-b
    keys:
      - {{ keyid: {AK}, secret: aws }}
      - {{ keyid: alice123, secrets: [kong, kong-next] }}
      - {{ keyid: john-key, secret: kong }}
routes:
  - name: aws
    listener: ingress
    match: {{ path_prefix: /aws/ }}
    verify: {{ scheme: aws-sigv4, service: execute-api, region: eu-west-1, consumers: [site-b] }}
    upstream: "http://{upstream}"
  - name: aws-presigned
    listener: ingress
    match: {{ path_prefix: /awsp/ }}
    verify: {{ scheme: aws-sigv4, consumers: [site-b], service: execute-api, region: eu-west-1, presigned_reuse: true }}
    upstream: "http://{upstream}"
  - name: kong-x-date
    listener: ingress
    match: {{ path_prefix: /kongx/ }}
    verify: {{ scheme: kong, consumers: [site-b], enforce_headers: [x-date] }}
    upstream: "http://{upstream}"
  - name: kong
    listener: ingress
    match: {{ path_prefix: /kong/ }}
    verify: {{ scheme: kong, consumers: [site-b] }}
    upstream: "http://{upstream}"
  - name: apisix
    listener: ingress
    match: {{ path_prefix: /apisix/ }}
    verify: {{ scheme: apisix, consumers: [site-b] }}
    upstream: "http://{upstream}"
  - name: out-aws
    listener: egress
    sign: {{ scheme: aws-sigv4, keyid: {AK}, secret: aws, service: execute-api, region: eu-west-1 }}
    upstream: "http://{upstream}"
"#
    )
}

/// xorshift64*: reproducible random requests without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn text(&mut self, alphabet: &[&str], len: usize) -> String {
        (0..1 + self.next() as usize % len).map(|_| self.pick(alphabet)).collect()
    }
}

const PATH_CHARS: [&str; 12] = ["a", "Z", "0", "-", "_", "~", "@", ":", "%20", "+", "=", "%C3%A9"];
const QUERY_CHARS: [&str; 10] = ["k", "V", "9", "-", "%20", "%2F", "%3D", "~", ".", "%C3%A9"];

fn random_request(rng: &mut Rng, addr: std::net::SocketAddr) -> Req {
    let method = rng.pick(&["GET", "POST", "PUT", "DELETE", "PATCH"]);
    let segments: Vec<String> = (0..1 + rng.next() % 3).map(|_| rng.text(&PATH_CHARS, 8)).collect();
    let pairs: Vec<String> =
        (0..rng.next() % 4).map(|_| format!("{}={}", rng.text(&QUERY_CHARS, 6), rng.text(&QUERY_CHARS, 6))).collect();
    let mut target = format!("/aws/{}", segments.join("/"));
    if !pairs.is_empty() {
        target = format!("{target}?{}", pairs.join("&"));
    }
    let body: Vec<u8> = if method == "GET" || method == "DELETE" {
        Vec::new()
    } else {
        (0..rng.next() % 300).map(|_| rng.next() as u8).collect()
    };
    let mut req = Req::post(addr, &target, &body);
    req.method = method.parse().unwrap();
    for i in 0..rng.next() % 3 {
        let value = format!("  v{}  with   spaces ", rng.next() % 1000);
        req.headers
            .insert(http::HeaderName::from_bytes(format!("x-custom-{i}").as_bytes()).unwrap(), value.parse().unwrap());
    }
    req
}

/// Signs `req` with the aws-sigv4 crate, in the header or presigned form.
fn aws_sign(req: &mut Req, location: SignatureLocation, time: SystemTime) {
    let identity = Credentials::new(AK, SECRET, None, None, "tests").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = location;
    settings.expires_in = Some(Duration::from_secs(300));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("execute-api")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let url = format!("http://{}{}", req.authority, req.target());
    let mut headers: Vec<(String, String)> = vec![("host".into(), req.authority.clone())];
    headers.extend(req.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned())));
    let signable = SignableRequest::new(
        req.method.as_str(),
        url.clone(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&req.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method(req.method.clone()).uri(url).body(()).unwrap();
    *request.headers_mut() = req.headers.clone();
    instructions.apply_to_request_http1x(&mut request);
    *req = Req {
        method: req.method.clone(),
        authority: req.authority.clone(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers: request.headers().clone(),
        body: req.body.clone(),
    };
}

#[tokio::test]
async fn requests_signed_by_the_aws_sdk_signer_pass_and_altered_ones_do_not() {
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut rng = Rng(0x5EED_0FC0_FFEE);
    for i in 0..40 {
        let location = if i % 4 == 3 { SignatureLocation::QueryParams } else { SignatureLocation::Headers };
        let mut req = random_request(&mut rng, addr);
        aws_sign(&mut req, location, SystemTime::now());
        // Altered copies first: once the original is accepted, its signature
        // would be refused as a replay whatever else changed.
        let before = upstream.count();
        let mut altered = req.clone();
        match i % 3 {
            0 => altered.path.push('x'),
            1 => altered.query = Some(format!("{}&z=1", req.query.clone().unwrap_or_default())),
            _ => altered.method = if req.method == Method::PUT { Method::PATCH } else { Method::PUT },
        }
        let rejected = send(addr, &altered).await;
        assert_eq!(
            (rejected.status, rejected.error_code().as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_signature"),
            "{} {} (case {i})",
            altered.method,
            altered.target()
        );
        if !req.body.is_empty() {
            let mut other_body = req.clone();
            other_body.body = bytes::Bytes::from(format!("{:?}!", req.body));
            assert_eq!(send(addr, &other_body).await.status, StatusCode::UNAUTHORIZED, "changed body (case {i})");
        }
        assert_eq!(upstream.count(), before, "an altered request reached the upstream");
        let got = send(addr, &req).await;
        assert_eq!(got.status, StatusCode::OK, "{} {}: {:?}", req.method, req.target(), got.body);
        let seen = upstream.last();
        assert_eq!((seen.headers["x-consumer-id"].to_str().unwrap(), &seen.body[..]), ("site-b", &req.body[..]));
    }
}

#[tokio::test]
async fn a_replayed_or_stale_sigv4_request_is_refused() {
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut req = Req::post(addr, "/aws/orders", b"{\"id\": 1}");
    aws_sign(&mut req, SignatureLocation::Headers, SystemTime::now());
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    let again = send(addr, &req).await;
    assert_eq!((again.status, again.error_code().as_str()), (StatusCode::UNAUTHORIZED, "replayed_request"));
    let mut stale = Req::get(addr, "/aws/orders");
    aws_sign(&mut stale, SignatureLocation::Headers, SystemTime::now() - Duration::from_secs(901));
    let got = send(addr, &stale).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::UNAUTHORIZED, "signature_expired"));
}

#[tokio::test]
async fn what_the_gateway_signs_matches_the_aws_sdk_signer_and_verifies() {
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let (egress, ingress) = (gw.addr("egress").unwrap(), gw.addr("ingress").unwrap());
    let mut app = Req::post(egress, "/aws/items?b=2&a=1", b"{\"sku\": \"x y\"}");
    app.headers.insert("content-type", HeaderValue::from_static("application/json"));
    app.headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.7"));
    assert_eq!(send(egress, &app).await.status, StatusCode::OK);
    let sent = upstream.last();
    let authorization = sent.headers["authorization"].to_str().unwrap().to_owned();
    assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date,"), "{authorization}");
    // The SDK signer, given the same signed headers and time, computes the same signature.
    let amz_date = sent.headers["x-amz-date"].to_str().unwrap();
    let time = SystemTime::UNIX_EPOCH
        + Duration::from_secs(hmac_gateway::scheme::sigv4::parse_amz_date(amz_date).unwrap().try_into().unwrap());
    let host = sent.headers["host"].to_str().unwrap().to_owned();
    let (path, query) = sent.target.split_once('?').unwrap();
    let mut replica = Req::post(host.parse().unwrap(), &format!("{path}?{query}"), &sent.body);
    replica.headers.insert("content-type", HeaderValue::from_static("application/json"));
    aws_sign(&mut replica, SignatureLocation::Headers, time);
    assert_eq!(replica.headers["authorization"].to_str().unwrap(), authorization);
    // And the gateway's own verify route accepts it (Host rewritten to the ingress).
    let mut forwarded = Req::post(ingress, &format!("/aws/items?{query}"), &sent.body);
    forwarded.authority = host;
    for name in ["authorization", "x-amz-date", "content-type"] {
        forwarded.headers.insert(name, sent.headers[name].clone());
    }
    let got = send(ingress, &forwarded).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
}

fn kong_request(addr: std::net::SocketAddr, path: &str, body: &[u8], date: &str) -> Req {
    kong_request_with(KONG_SECRET, addr, path, body, date)
}

fn kong_request_with(secret: &str, addr: std::net::SocketAddr, path: &str, body: &[u8], date: &str) -> Req {
    use hmac::{KeyInit as _, Mac as _};
    let mut req = Req::post(addr, path, body);
    let mut lines = vec![format!("date: {date}"), format!("POST {path} HTTP/1.1")];
    let mut headers = "date request-line".to_owned();
    if !body.is_empty() {
        use sha2::Digest as _;
        let digest = format!("SHA-256={}", B64.encode(sha2::Sha256::digest(body)));
        lines.push(format!("digest: {digest}"));
        headers.push_str(" digest");
        req.headers.insert("digest", digest.parse().unwrap());
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(lines.join("\n").as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    req.headers.insert("date", date.parse().unwrap());
    let auth =
        format!(r#"hmac username="alice123", algorithm="hmac-sha256", headers="{headers}", signature="{signature}""#);
    req.headers.insert("authorization", auth.parse().unwrap());
    req
}

fn http_date_now() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

#[tokio::test]
async fn kong_and_apisix_clients_migrate_without_changes() {
    use hmac::{KeyInit as _, Mac as _};
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("ingress").unwrap();
    let req = kong_request(addr, "/kong/orders", b"{\"n\": 1}", &http_date_now());
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    let seen = upstream.last();
    assert_eq!(seen.headers["x-credential-identifier"], "alice123");
    let again = send(addr, &req).await;
    assert_eq!(again.error_code(), "replayed_request");
    // Either secret of the key verifies during a rotation; a third does not.
    let next = kong_request_with(KONG_NEXT, addr, "/kong/orders", b"{\"n\": 2}", &http_date_now());
    assert_eq!(send(addr, &next).await.status, StatusCode::OK);
    let other = kong_request_with("some-other-secret-0123456789abcdefgh", addr, "/kong/orders", b"", &http_date_now());
    let got = send(addr, &other).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::UNAUTHORIZED, "invalid_signature"));
    assert!(!got.headers.contains_key("accept-signature"), "Accept-Signature is RFC 9421's, not Kong's");
    // A body the signature does not bind through Digest is refused.
    let mut unbound = kong_request(addr, "/kong/orders", b"", &http_date_now());
    unbound.body = bytes::Bytes::from_static(b"smuggled");
    let got = send(addr, &unbound).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::UNAUTHORIZED, "missing_component"));
    let stale = kong_request(addr, "/kong/orders", b"", "Thu, 22 Jun 2017 17:15:21 GMT");
    assert_eq!(send(addr, &stale).await.error_code(), "signature_expired");

    // APISIX: keyId first, `METHOD path` for @request-target, trailing LF.
    let date = http_date_now();
    let signing = format!("john-key\nGET /apisix/get\ndate: {date}\n");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KONG_SECRET.as_bytes()).unwrap();
    mac.update(signing.as_bytes());
    let mut req = Req::get(addr, "/apisix/get");
    req.headers.insert("date", date.parse().unwrap());
    let auth = format!(
        r#"Signature keyId="john-key",algorithm="hmac-sha256",headers="@request-target date",signature="{}""#,
        B64.encode(mac.finalize().into_bytes())
    );
    req.headers.insert("authorization", auth.parse().unwrap());
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    assert_eq!(upstream.last().headers["x-credential-identifier"], "john-key");
    let mut other_path = req.clone();
    other_path.path = "/apisix/got".into();
    assert_eq!(send(addr, &other_path).await.error_code(), "invalid_signature");
}

#[tokio::test]
async fn presigned_urls_are_reusable_until_they_expire_only_where_the_route_allows_it() {
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("ingress").unwrap();
    let mut link = Req::get(addr, "/awsp/report?month=11");
    aws_sign(&mut link, SignatureLocation::QueryParams, SystemTime::now());
    for _ in 0..3 {
        assert_eq!(send(addr, &link).await.status, StatusCode::OK);
    }
    // Past X-Amz-Expires (300 s) it stops working.
    let mut old = Req::get(addr, "/awsp/report?month=10");
    aws_sign(&mut old, SignatureLocation::QueryParams, SystemTime::now() - Duration::from_secs(301));
    assert_eq!(send(addr, &old).await.error_code(), "signature_expired");
    // Header-signed requests on the same route stay single-use.
    let mut call = Req::get(addr, "/awsp/report");
    aws_sign(&mut call, SignatureLocation::Headers, SystemTime::now());
    assert_eq!(send(addr, &call).await.status, StatusCode::OK);
    assert_eq!(send(addr, &call).await.error_code(), "replayed_request");
    // Without the option a presigned URL works once.
    let mut once = Req::get(addr, "/aws/report");
    aws_sign(&mut once, SignatureLocation::QueryParams, SystemTime::now());
    assert_eq!(send(addr, &once).await.status, StatusCode::OK);
    assert_eq!(send(addr, &once).await.error_code(), "replayed_request");
}

#[tokio::test]
async fn a_fresh_unsigned_date_does_not_refresh_a_stale_signed_x_date() {
    use hmac::{KeyInit as _, Mac as _};
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("ingress").unwrap();
    let signed_with_x_date = |x_date: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KONG_SECRET.as_bytes()).unwrap();
        mac.update(format!("x-date: {x_date}\nGET /kongx/orders HTTP/1.1").as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        let mut req = Req::get(addr, "/kongx/orders");
        req.headers.insert("x-date", x_date.parse().unwrap());
        let auth = format!(
            r#"hmac username="alice123", algorithm="hmac-sha256", headers="x-date request-line", signature="{signature}""#
        );
        req.headers.insert("authorization", auth.parse().unwrap());
        req
    };
    let an_hour_ago = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    let mut captured = signed_with_x_date(&an_hour_ago);
    assert_eq!(send(addr, &captured).await.error_code(), "signature_expired");
    // The replay attempt: the same signature with a fresh, unsigned Date.
    captured.headers.insert("date", http_date_now().parse().unwrap());
    let got = send(addr, &captured).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::UNAUTHORIZED, "signature_expired"));
    assert_eq!(upstream.count(), 0);
    // A fresh signed X-Date passes.
    assert_eq!(send(addr, &signed_with_x_date(&http_date_now())).await.status, StatusCode::OK);
}
