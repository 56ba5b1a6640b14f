//! `hmac-gateway explain` for RFC 9421, AWS SigV4, Kong and APISIX: one
//! deliberate mistake per request (wrong path, a header changed by a proxy,
//! a clock 10 minutes off, a body re-serialised) is named; a correct request
//! explains as passing and the real gateway binary accepts it; a debug
//! route's 401 carries the signature base and a normal route's does not.

#![allow(clippy::unwrap_used)]

use crate::common::explain::{Explained, explain, raw_http, write_config};
use crate::common::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit as _, Mac as _};

const NOW: i64 = 1_764_670_000;
const BODY: &[u8] = br#"{"id":42,"items":["a","b"]}"#;
const PRETTY: &[u8] = b"{\n  \"id\": 42,\n  \"items\": [\"a\", \"b\"]\n}";
const SIGNED_HOST: &str = "api.example.com";

fn yaml(upstream: &str) -> String {
    let route = |name: &str, prefix: &str, verify: &str| {
        format!(
            "  - {{ name: {name}, listener: in, match: {{ path_prefix: {prefix} }}, verify: {{ {verify} }}, upstream: \
             \"http://{upstream}\" }}\n"
        )
    };
    let c = "consumers: [site-b]";
    [
        format!(
            "listeners:\n  - {{ name: in, bind: \"127.0.0.1:0\" }}\nsecrets:\n  shared: {{ value: \"{KEY_B64}\", \
             encoding: base64 }}\nconsumers:\n  - {{ id: site-b, keys: [{{ keyid: site-b-1, secret: shared }}] }}\n\
             routes:\n"
        ),
        route("debug", "/d/", &format!("scheme: rfc9421, {c}, debug_signature_base: true")),
        route("rfc", "/r/", &format!("scheme: rfc9421, {c}")),
        route(
            "sigv4",
            "/s/",
            &format!("scheme: aws-sigv4, {c}, service: execute-api, region: us-east-1, max_age: 300, max_ahead: 300"),
        ),
        route("kong", "/k/", &format!("scheme: kong, {c}")),
        route("apisix", "/a/", &format!("scheme: apisix, {c}")),
    ]
    .concat()
}

fn key_bytes() -> Vec<u8> {
    B64.decode(KEY_B64).unwrap()
}

/// Never in any output: the secret, as written and as bytes.
fn secret_forms() -> Vec<String> {
    vec![KEY_B64.to_owned(), hex::encode(key_bytes())]
}

fn post(path: &str, body: &[u8]) -> Req {
    let mut req = Req::post("127.0.0.1:1".parse().unwrap(), path, body);
    req.authority = SIGNED_HOST.into();
    req
}

fn rfc9421(path: &str, created: i64, components: Vec<&'static str>) -> Req {
    let mut req = post(path, BODY);
    req.headers.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    sign(&mut req, &SignOpts { created, components, ..SignOpts::default() });
    req
}

fn sigv4(path: &str, at: i64) -> Req {
    use hmac_gateway::scheme::sigv4;
    let mut req = post(path, BODY);
    req.headers.insert("content-type", "application/json".parse().unwrap());
    let signer =
        sigv4::Signer { access_key: "site-b-1", secret: &key_bytes(), region: "us-east-1", service: "execute-api" };
    let headers = req.headers.clone();
    let view = hmac_gateway::scheme::MessageView {
        method: "POST",
        scheme: "http",
        authority: SIGNED_HOST,
        path: &req.path,
        query: None,
        headers: &headers,
    };
    for (name, value) in sigv4::sign(&signer, &view, &req.body, at) {
        req.headers.insert(name, value.parse().unwrap());
    }
    req
}

fn http_date(at: i64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(at).unwrap()))
}

/// A Kong (`apisix: false`) or APISIX request signing its target, date,
/// digest (and Host for Kong), exactly as each dialect documents.
fn compat(apisix: bool, path: &str, at: i64) -> Req {
    let mut req = post(path, BODY);
    let digest = format!("SHA-256={}", B64.encode(<sha2::Sha256 as sha2::Digest>::digest(BODY)));
    req.headers.insert("date", http_date(at).parse().unwrap());
    req.headers.insert("digest", digest.parse().unwrap());
    let (signing, listed) = if apisix {
        (format!("site-b-1\nPOST {path}\ndate: {}\ndigest: {digest}\n", http_date(at)), "@request-target date digest")
    } else {
        let lines =
            format!("@request-target: post {path}\ndate: {}\ndigest: {digest}\nhost: {SIGNED_HOST}", http_date(at));
        (lines, "@request-target date digest host")
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key_bytes()).unwrap();
    mac.update(signing.as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let value = if apisix {
        format!(r#"Signature keyId="site-b-1",algorithm="hmac-sha256",headers="{listed}",signature="{signature}""#)
    } else {
        format!(r#"hmac username="site-b-1", algorithm="hmac-sha256", headers="{listed}", signature="{signature}""#)
    };
    req.headers.insert("authorization", value.parse().unwrap());
    req
}

/// The MAC-bearing header values of `req`, which explain must not print.
fn macs(req: &Req) -> Vec<String> {
    ["signature", "authorization"]
        .iter()
        .filter_map(|h| req.headers.get(*h))
        .map(|v| {
            let pieces = v.to_str().unwrap().split(['=', ':', '"', ' ', ',']);
            pieces.max_by_key(|piece| piece.len()).unwrap_or_default().to_owned()
        })
        .collect()
}

fn check(config: &std::path::Path, req: &Req, now: i64) -> Explained {
    let out = explain(config, &raw_http(req), now, &[]);
    let mut hidden = secret_forms();
    hidden.extend(macs(req));
    out.hides(&hidden.iter().map(String::as_str).collect::<Vec<_>>());
    out
}

fn moved(mut req: Req, path: &str) -> Req {
    req.path = path.into();
    req
}

fn through_proxy(mut req: Req) -> Req {
    req.headers.insert("x-forwarded-host", SIGNED_HOST.parse().unwrap());
    req.authority = "gateway.internal:8080".into();
    req
}

fn reserialised(mut req: Req) -> Req {
    req.body = bytes::Bytes::from_static(PRETTY);
    req
}

#[test]
fn rfc9421_mistakes_are_named() {
    let config = write_config("explain-rfc", &yaml("127.0.0.1:9"));
    let components = || vec!["@method", "@authority", "@path", "@query", "x-forwarded-for"];
    let good = rfc9421("/r/orders", NOW, components());
    check(&config, &good, NOW).names("result: accepted").names("\"@path\": /r/orders");
    let wrong_path = moved(rfc9421("/orders", NOW, components()), "/r/orders");
    let out = check(&config, &wrong_path, NOW);
    out.refused(401, "invalid_signature").names("if @path were `/orders`").names("added the prefix `/r`");
    // The MAC the gateway expected (over the request as received) is not shown either.
    let mut expected = wrong_path.clone();
    sign(&mut expected, &SignOpts { created: NOW, components: components(), ..SignOpts::default() });
    out.hides(&[macs(&expected)[0].as_str()]);
    let mut appended = rfc9421("/r/orders", NOW, components());
    appended.headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
    check(&config, &appended, NOW).refused(401, "invalid_signature").names("X-Forwarded-For `203.0.113.7`");
    let host = through_proxy(rfc9421("/r/orders", NOW, components()));
    check(&config, &host, NOW).names(&format!("Host `{SIGNED_HOST}` instead of `gateway.internal:8080`"));
    let late = rfc9421("/r/orders", NOW - 600, components());
    check(&config, &late, NOW).refused(401, "signature_expired").names("created is 600s old").names("clock");
    let body = reserialised(rfc9421("/r/orders", NOW, components()));
    check(&config, &body, NOW).refused(401, "digest_mismatch").names("Content-Digest does not match the body");
}

#[test]
fn sigv4_mistakes_are_named() {
    let config = write_config("explain-sigv4", &yaml("127.0.0.1:9"));
    let out = check(&config, &sigv4("/s/orders", NOW), NOW);
    out.names("result: accepted").names("begin canonical_request").names("begin string_to_sign");
    let wrong_path = moved(sigv4("/orders", NOW), "/s/orders");
    check(&config, &wrong_path, NOW).refused(401, "invalid_signature").names("if @path were `/orders`");
    check(&config, &through_proxy(sigv4("/s/orders", NOW)), NOW).names(&format!("Host `{SIGNED_HOST}`"));
    check(&config, &sigv4("/s/orders", NOW + 600), NOW).refused(401, "signature_expired").names("600s ahead");
    let body = reserialised(sigv4("/s/orders", NOW));
    check(&config, &body, NOW).refused(401, "invalid_signature").names("body's JSON minified");
}

#[test]
fn kong_and_apisix_mistakes_are_named() {
    let config = write_config("explain-compat", &yaml("127.0.0.1:9"));
    for (apisix, prefix) in [(false, "/k"), (true, "/a")] {
        let path = format!("{prefix}/orders");
        check(&config, &compat(apisix, &path, NOW), NOW).names("result: accepted").names("begin signing_string");
        let wrong_path = moved(compat(apisix, "/orders", NOW), &path);
        check(&config, &wrong_path, NOW).refused(401, "invalid_signature").names("if @path were `/orders`");
        let late = compat(apisix, &path, NOW - 600);
        check(&config, &late, NOW).refused(401, "signature_expired").names("600s old");
        check(&config, &reserialised(compat(apisix, &path, NOW)), NOW)
            .refused(401, "digest_mismatch")
            .names("Digest does not match the body");
    }
    check(&config, &through_proxy(compat(false, "/k/orders", NOW)), NOW).names(&format!("Host `{SIGNED_HOST}`"));
}

#[test]
fn usage_errors_exit_2_and_a_wrong_route_is_named() {
    let config = write_config("explain-usage", &yaml("127.0.0.1:9"));
    let out = explain(&config, b"this is not HTTP\r\n\r\n", NOW, &[]);
    assert_eq!(out.code, 2, "{out}");
    let req = rfc9421("/r/orders", NOW, vec!["@method", "@authority", "@path", "@query"]);
    let out = explain(&config, &raw_http(&req), NOW, &["--route", "kong"]);
    assert_eq!(out.code, 1, "{out}");
    out.names("the gateway picks `rfc` for this host, method and path, not `kong`");
    // `curl -v` output: its `> ` lines are the request; the body comes from --body.
    let text = String::from_utf8(raw_http(&req)).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let curl: String = head.lines().map(|l| format!("> {l}\n")).collect::<String>() + ">\n< HTTP/1.1 401\n";
    let body = config.with_file_name("body.json");
    std::fs::write(&body, BODY).unwrap();
    let out = explain(&config, format!("* Connected\n{curl}").as_bytes(), NOW, &["--body", body.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
}

#[tokio::test]
async fn correct_requests_pass_explain_and_the_gateway() {
    let upstream = Upstream::start().await;
    let config = write_config("explain-agree", &yaml(&upstream.addr.to_string()));
    let gateway = binary::spawn(&config).await;
    let now = hmac_gateway::testing::unix_now();
    let requests = [
        rfc9421("/r/orders", now, vec!["@method", "@authority", "@path", "@query"]),
        sigv4("/s/orders", now),
        compat(false, "/k/orders", now),
        compat(true, "/a/orders", now),
    ];
    for (n, req) in requests.iter().enumerate() {
        let out = check(&config, req, now);
        assert_eq!(out.code, 0, "{out}");
        let got = send(gateway.addr, req).await;
        assert_eq!(got.status, 200, "{} {:?}", req.path, got.body);
        assert_eq!(upstream.count(), n + 1);
        assert_eq!(upstream.last().body.as_ref(), BODY);
    }
}

#[tokio::test]
async fn a_debug_route_shows_its_signature_base_in_the_401_and_a_normal_one_does_not() {
    let upstream = Upstream::start().await;
    let config = write_config("explain-debug", &yaml(&upstream.addr.to_string()));
    let check_out = std::process::Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
        .args(["check", "--config"])
        .arg(&*config)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&check_out.stdout);
    assert!(summary.contains("warning: route `debug` has debug_signature_base on"), "{summary}");
    assert!(!summary.contains("route `rfc` has debug_signature_base"), "{summary}");
    let gateway = binary::spawn(&config).await;
    let debug_warnings: Vec<&String> = gateway.warnings.iter().filter(|w| w.contains("debug_signature_base")).collect();
    assert_eq!(debug_warnings.len(), 1, "{:?}", gateway.warnings);
    assert!(debug_warnings[0].starts_with("route `debug` has debug_signature_base on"), "{debug_warnings:?}");
    let now = hmac_gateway::testing::unix_now();
    for (prefix, debug) in [("/d", true), ("/r", false)] {
        let components = vec!["@method", "@authority", "@path", "@query"];
        let req = moved(rfc9421(&format!("{prefix}/signed"), now, components), &format!("{prefix}/sent"));
        let got = send(gateway.addr, &req).await;
        assert_eq!(got.status, 401);
        let json = got.json();
        assert_eq!(json["error"], "invalid_signature");
        let base = json["debug"]["signature_base"].as_str();
        if debug {
            let base = base.unwrap_or_else(|| panic!("no base: {json}"));
            let head = format!("\"@method\": POST\n\"@authority\": {SIGNED_HOST}\n\"@path\": {prefix}/sent\n");
            assert!(base.starts_with(&head), "{base}");
            assert!(base.contains("\"@signature-params\": (\"@method\" \"@authority\" \"@path\""), "{base}");
        } else {
            assert!(json.get("debug").is_none(), "{json}");
        }
        let text = String::from_utf8_lossy(&got.body);
        for hidden in secret_forms().iter().chain(&macs(&req)) {
            assert!(!text.contains(hidden.as_str()), "{text}");
        }
    }
    // A body that no longer matches its digest: the MAC verified, the base is shown too.
    let req = reserialised(rfc9421("/d/orders", now, vec!["@method", "@authority", "@path", "@query"]));
    let json = send(gateway.addr, &req).await.json();
    assert_eq!(json["error"], "digest_mismatch");
    assert!(json["debug"]["signature_base"].as_str().unwrap().contains("\"@path\": /d/orders\n"), "{json}");
    assert_eq!(upstream.count(), 0);
}
