//! Issue #10 item C over real sockets: signature headers crafted to fill the
//! largest header limit the config accepts (1 MiB) are refused at once with
//! 401 `malformed_signature` naming the cap, and never reach the upstream.
//! Before the caps and the linear parsers, each of these took seconds to
//! minutes of CPU (RFC 9421) or memory proportional to the list length
//! times a header's size (SigV4, Kong).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use hmac_gateway::scheme::rfc9421::Component;
use http::{HeaderName, HeaderValue, StatusCode};

/// `limits.max_header_bytes` at its largest.
const LIMIT: usize = 1024 * 1024;
/// What crafted values may take of it, leaving room for the other headers.
const FILL: usize = LIMIT - 8 * 1024;
/// Generous: before the fix a single 1 MiB request took 15 to 29 s.
const QUICK: Duration = Duration::from_secs(5);

fn yaml(upstream: SocketAddr) -> String {
    let base = verify_yaml(&format!("http://{upstream}"), "", "limits: { max_header_bytes: 1048576 }");
    let extra_routes = format!(
        r#"
  - name: aws
    listener: ingress
    match: {{ path_prefix: /aws/ }}
    verify: {{ scheme: aws-sigv4, service: execute-api, region: eu-west-1, consumers: [site-b] }}
    upstream: "http://{upstream}"
  - name: kong
    listener: ingress
    match: {{ path_prefix: /kong/ }}
    verify: {{ scheme: kong, consumers: [site-b] }}
    upstream: "http://{upstream}"
  - name: stripe
    listener: ingress
    match: {{ path_prefix: /stripe }}
    verify: {{ scheme: stripe, secrets: [shared] }}
    upstream: "http://{upstream}"
  - name: stdwh
    listener: ingress
    match: {{ path_prefix: /stdwh }}
    verify: {{ scheme: standard-webhooks, secrets: [stdwh] }}
    upstream: "http://{upstream}"
"#
    );
    // The extra routes go after the `api` route, before the top-level limits.
    base.replacen("\nlimits:", &format!("{extra_routes}limits:"), 1).replacen(
        "secrets:\n",
        "secrets:\n  stdwh: { value: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }\n",
        1,
    )
}

async fn setup() -> (Upstream, hmac_gateway::server::RunningGateway, SocketAddr) {
    let upstream = Upstream::start().await;
    let gw = gateway(&yaml(upstream.addr)).await;
    let addr = gw.addr("ingress").unwrap();
    (upstream, gw, addr)
}

/// A distinct five-letter name for each `i`.
fn name(i: usize) -> String {
    (0..5).rev().map(|d| char::from(b'a' + u8::try_from(i / 26usize.pow(d) % 26).unwrap())).collect()
}

/// `head`, then `unit(i)` for i = 0, 1, … while it stays within `budget` bytes.
fn fill(head: &str, budget: usize, unit: impl Fn(usize) -> String) -> String {
    let mut out = head.to_owned();
    for i in 0..budget {
        let next = unit(i);
        if out.len() + next.len() > budget {
            break;
        }
        out.push_str(&next);
    }
    out
}

fn with_headers(mut req: Req, headers: &[(&str, String)]) -> Req {
    for (name, value) in headers {
        req.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    req
}

/// Sends `req` and checks the refusal: 401 `malformed_signature` whose
/// message contains `why`, answered quickly, upstream never reached.
async fn refused(addr: SocketAddr, upstream: &Upstream, req: &Req, why: &str) {
    let start = Instant::now();
    let got = send(addr, req).await;
    let took = start.elapsed();
    let code = got.error_code();
    assert_eq!((got.status, code.as_str()), (StatusCode::UNAUTHORIZED, "malformed_signature"), "{why}");
    let json = got.json();
    let message = json["message"].as_str().unwrap();
    assert!(message.contains(why), "wanted {why:?} in {message:?}");
    assert!(took < QUICK, "{why}: took {took:?}");
    assert_eq!(upstream.count(), 0, "{why}: the upstream was reached");
}

#[tokio::test]
async fn rfc9421_headers_filling_one_mebibyte_are_refused_at_the_caps() {
    let (upstream, _gw, addr) = setup().await;
    let params = r#";created=1;keyid="site-b-1""#;
    let cases: [(&str, String, String, &str); 6] = [
        (
            "many labels",
            fill("", FILL * 6 / 10, |i| format!("{}=(\"@method\"),", name(i))).trim_end_matches(',').to_owned(),
            fill("", FILL * 4 / 10, |i| format!("{}=:AA==:,", name(i))).trim_end_matches(',').to_owned(),
            "Signature-Input has more than 64 signature labels",
        ),
        (
            "repeated label",
            fill("sig=()", FILL * 6 / 10, |_| ", sig=()".to_owned()),
            fill("sig=:AA==:", FILL * 4 / 10, |_| ", sig=:AA==:".to_owned()),
            "Signature-Input has more than 64 signature labels",
        ),
        (
            "many parameters",
            fill(&format!("sig=(\"@method\"){params}"), FILL - 64, |i| format!(";{}", name(i))),
            "sig=:AA==:".to_owned(),
            "Signature-Input has more than 64 parameters",
        ),
        (
            "repeated parameter",
            fill(&format!("sig=(\"@method\"){params}"), FILL - 64, |_| ";keyid=\"x\"".to_owned()),
            "sig=:AA==:".to_owned(),
            "Signature-Input has more than 64 parameters",
        ),
        (
            "many components",
            format!("{}){params}", fill("sig=(\"@method\"", FILL - 64, |i| format!(" \"x-{}\"", name(i)))),
            "sig=:AA==:".to_owned(),
            "Signature-Input has more than 64 covered components",
        ),
        (
            "repeated component",
            format!("{}){params}", fill("sig=(\"@method\"", FILL - 64, |_| " \"@method\"".to_owned())),
            "sig=:AA==:".to_owned(),
            "Signature-Input has more than 64 covered components",
        ),
    ];
    for (shape, input, signature, why) in cases {
        assert!(input.len() + signature.len() > LIMIT / 2, "{shape} is not near the limit");
        let headers = [("signature-input", input), ("signature", signature)];
        let req = with_headers(Req::get(addr, "/_functions/x"), &headers);
        refused(addr, &upstream, &req, why).await;
    }
}

/// Signs `req` as `sig1` over `components` (the library's own signer).
fn sign_over(req: &mut Req, components: &[Component]) {
    let nonce = hmac_gateway::testing::fresh_nonce().unwrap();
    sign_components(req, components, hmac_gateway::testing::unix_now(), Some(&nonce), "site-b-1", KEY_B64);
}

/// Puts `count` foreign labels (another hop's signatures) before ours.
fn with_foreign_labels(mut req: Req, count: usize) -> Req {
    let input = (0..count).map(|i| format!("{}=(\"@method\");keyid=\"other-hop\", ", name(i))).collect::<String>();
    let signature = (0..count).map(|i| format!("{}=:AA==:, ", name(i))).collect::<String>();
    for (header, extra) in [("signature-input", input), ("signature", signature)] {
        let ours = req.headers[header].to_str().unwrap().to_owned();
        req.headers.insert(header, HeaderValue::from_str(&format!("{extra}{ours}")).unwrap());
    }
    req
}

#[tokio::test]
async fn rfc9421_signatures_at_the_caps_still_verify() {
    let (upstream, _gw, addr) = setup().await;
    // 64 covered components: four derived ones and 60 fields.
    let mut req = Req::get(addr, "/_functions/x?q=1");
    let mut components = vec![Component::Method, Component::Authority, Component::Path, Component::Query];
    for i in 0..60 {
        let field = format!("x-c{i}");
        req.headers.insert(HeaderName::from_bytes(field.as_bytes()).unwrap(), HeaderValue::from_static("v"));
        components.push(Component::parse(&field).unwrap());
    }
    sign_over(&mut req, &components);
    let got = send(addr, &req).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    // 64 labels, ours last; one more is refused.
    let at_cap = with_foreign_labels(signed(Req::get(addr, "/_functions/x")), 63);
    let got = send(addr, &at_cap).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(upstream.count(), 2);
    let over = with_foreign_labels(signed(Req::get(addr, "/_functions/x")), 64);
    let got = send(addr, &over).await;
    assert_eq!((got.status, got.error_code().as_str()), (StatusCode::UNAUTHORIZED, "malformed_signature"));
    assert_eq!(upstream.count(), 2);
}

fn sigv4_authorization(signed_headers: &str) -> Vec<(&'static str, String)> {
    let date = hmac_gateway::scheme::sigv4::amz_date(hmac_gateway::testing::unix_now());
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/eu-west-1/execute-api/aws4_request, \
         SignedHeaders={signed_headers}, Signature={}",
        &date[..8],
        "0".repeat(64)
    );
    vec![("x-amz-date", date), ("authorization", auth)]
}

#[tokio::test]
async fn sigv4_signed_headers_and_query_are_capped() {
    let (upstream, _gw, addr) = setup().await;
    // One 1 KiB header listed over and over: a canonical request of
    // hundreds of megabytes before the fix.
    let repeated = fill("host;x-amz-date;x-big", FILL - 2048, |_| ";x-big".to_owned());
    let mut headers = sigv4_authorization(&repeated);
    headers.push(("x-big", "b".repeat(1024)));
    let req = with_headers(Req::get(addr, "/aws/x"), &headers);
    refused(addr, &upstream, &req, "SignedHeaders lists `x-big` twice").await;
    let many = fill("host;x-amz-date", FILL - 2048, |i| format!(";x-{}", name(i)));
    let req = with_headers(Req::get(addr, "/aws/x"), &sigv4_authorization(&many));
    refused(addr, &upstream, &req, "SignedHeaders has more than 64 headers").await;
    // A presigned URL padded with parameters (within the 8 KiB target limit).
    let query = fill("X-Amz-Signature=00", 7000, |_| "&a=".to_owned());
    let req = Req::get(addr, &format!("/aws/x?{query}"));
    refused(addr, &upstream, &req, "the query has more than 1024 parameters").await;
}

fn kong_authorization(listed: &str, extra: &str) -> Vec<(&'static str, String)> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let auth =
        format!(r#"hmac username="alice123", algorithm="hmac-sha256", headers="{listed}", signature="AAAA"{extra}"#);
    vec![("date", date), ("authorization", auth)]
}

#[tokio::test]
async fn kong_header_list_and_parameters_are_capped() {
    let (upstream, _gw, addr) = setup().await;
    let repeated = fill("date request-line x-big", FILL - 2048, |_| " x-big".to_owned());
    let mut headers = kong_authorization(&repeated, "");
    headers.push(("x-big", "b".repeat(1024)));
    let req = with_headers(Req::get(addr, "/kong/x"), &headers);
    refused(addr, &upstream, &req, "the headers parameter lists `x-big` twice").await;
    let many = fill("date request-line", FILL - 2048, |i| format!(" x-{}", name(i)));
    let req = with_headers(Req::get(addr, "/kong/x"), &kong_authorization(&many, ""));
    refused(addr, &upstream, &req, "the headers parameter has more than 64 names").await;
    let params = fill("", FILL - 2048, |i| format!(r#", {}="""#, name(i)));
    let req = with_headers(Req::get(addr, "/kong/x"), &kong_authorization("date request-line", &params));
    refused(addr, &upstream, &req, "the credential header has more than 64 parameters").await;
}

#[tokio::test]
async fn webhook_signature_lists_are_capped() {
    let (upstream, _gw, addr) = setup().await;
    let now = hmac_gateway::testing::unix_now();
    let stripe = fill(&format!("t={now}"), FILL, |_| format!(",v1={}", "0".repeat(64)));
    let req = with_headers(Req::post(addr, "/stripe", b"{}"), &[("stripe-signature", stripe)]);
    refused(addr, &upstream, &req, "Stripe-Signature has more than 64 v1 signatures").await;
    let v1 = format!("v1,{}", "A".repeat(43) + "=");
    let standard = fill(&v1, FILL, |_| format!(" {v1}"));
    let headers =
        [("webhook-id", "msg_1".to_owned()), ("webhook-timestamp", now.to_string()), ("webhook-signature", standard)];
    let req = with_headers(Req::post(addr, "/stdwh", b"{}"), &headers);
    refused(addr, &upstream, &req, "webhook-signature has more than 64 v1 signatures").await;
}
