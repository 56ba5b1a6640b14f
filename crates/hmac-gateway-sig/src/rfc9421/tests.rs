//! Published vectors and the failure codes of the verifier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::KeyInit as _;
use http::HeaderMap;
use std::time::Duration;

use crate::Window;

use super::*;

/// RFC 9421 Appendix B.1.5 `test-shared-secret`.
const B15_KEY: &str = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";
const B25_INPUT: &str = r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#;
const B25_SIGNATURE: &str = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:";
const B25_CREATED: i64 = 1618884473;

fn key() -> HmacSha256 {
    HmacSha256::new_from_slice(&B64.decode(B15_KEY).expect("b64")).expect("key")
}

/// The B.2 test request: `POST /foo?param=Value&Pet=dog` to example.com.
fn b2_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", "example.com".parse().expect("v"));
    h.insert("date", "Tue, 20 Apr 2021 02:07:55 GMT".parse().expect("v"));
    h.insert("content-type", "application/json".parse().expect("v"));
    h.insert(
        "content-digest",
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
            .parse()
            .expect("v"),
    );
    h.insert("content-length", "18".parse().expect("v"));
    h
}

fn view(headers: &HeaderMap) -> MessageView<'_> {
    MessageView {
        method: "POST",
        scheme: "https",
        authority: "example.com",
        path: "/foo",
        query: Some("param=Value&Pet=dog"),
        headers,
    }
}

/// A route's rules and the clock they are checked at.
struct At<'a> {
    rules: Rules<'a>,
    now: i64,
}

impl<'a> std::ops::Deref for At<'a> {
    type Target = Rules<'a>;
    fn deref(&self) -> &Rules<'a> {
        &self.rules
    }
}

impl<'a> std::ops::DerefMut for At<'a> {
    fn deref_mut(&mut self) -> &mut Rules<'a> {
        &mut self.rules
    }
}

fn rules(now: i64) -> At<'static> {
    let window = Window { max_age: Duration::from_secs(300), max_ahead: Duration::from_secs(5) };
    At { rules: Rules { required: &[], require_digest: false, require_nonce: false, window }, now }
}

/// Verifies through the one driver, as the gateway does, with the two
/// signature headers set to `input` and `sig`.
fn check(v: &MessageView<'_>, input: &str, sig: &str, at: &At<'_>) -> Result<String, AuthError> {
    let k = key();
    let mut headers = v.headers.clone();
    for (name, value) in [(SIGNATURE_INPUT, input), (SIGNATURE, sig)] {
        if !value.is_empty() {
            headers.insert(name, value.parse().expect("header value"));
        }
    }
    let view = MessageView { headers: &headers, ..*v };
    let keys = std::slice::from_ref(&k);
    crate::authenticate(&at.rules, &view, &[], at.now, |id| {
        (id == Some("test-shared-secret")).then_some(crate::Found { owner: &"owner", keys, allowed: true })
    })
    .map(|v| v.credentials.keyid().to_owned())
}

#[test]
fn b25_signature_base_and_signature() {
    let headers = b2_headers();
    let candidates = parse_candidates(B25_INPUT.as_bytes(), B25_SIGNATURE.as_bytes()).expect("parses");
    let (params, _) = candidates[0].parse().expect("valid");
    let base = signature_base(&view(&headers), &params).expect("base");
    assert_eq!(
        String::from_utf8(base).expect("ascii"),
        "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\
         \"content-type\": application/json\n\"@signature-params\": (\"date\" \"@authority\" \
         \"content-type\");created=1618884473;keyid=\"test-shared-secret\""
    );
    let signed = sign(&view(&headers), &key(), "sig-b25", &params).expect("signs");
    assert_eq!(signed.signature_input, B25_INPUT);
    assert_eq!(signed.signature, B25_SIGNATURE);
}

#[test]
fn b25_verifies() {
    let headers = b2_headers();
    let got = check(&view(&headers), B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED));
    assert_eq!(got.as_deref(), Ok("test-shared-secret"));
}

#[test]
fn wrong_mac_and_unknown_key_look_the_same() {
    let headers = b2_headers();
    let wrong = B25_SIGNATURE.replace("pxcQ", "pxcR");
    let bad_mac = check(&view(&headers), B25_INPUT, &wrong, &rules(B25_CREATED));
    let other_key = B25_INPUT.replace("test-shared-secret", "someone-else");
    let unknown = check(&view(&headers), &other_key, B25_SIGNATURE, &rules(B25_CREATED));
    assert_eq!(bad_mac, Err(AuthError::InvalidSignature));
    assert_eq!(unknown, Err(AuthError::InvalidSignature));
}

#[test]
fn a_changed_covered_header_fails() {
    let mut headers = b2_headers();
    headers.insert("content-type", "text/plain".parse().expect("v"));
    let got = check(&view(&headers), B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED));
    assert_eq!(got, Err(AuthError::InvalidSignature));
    headers.remove("content-type");
    let got = check(&view(&headers), B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED));
    assert!(matches!(got, Err(AuthError::Malformed(m)) if m.contains("absent")));
}

#[test]
fn time_window_is_enforced() {
    let headers = b2_headers();
    let v = view(&headers);
    let stale = check(&v, B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED + 301));
    assert!(matches!(stale, Err(AuthError::Expired(m)) if m.contains("old")));
    let edge = check(&v, B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED + 300));
    assert!(edge.is_ok());
    let future = check(&v, B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED - 6));
    assert!(matches!(future, Err(AuthError::Expired(m)) if m.contains("ahead")));
    let within_skew = check(&v, B25_INPUT, B25_SIGNATURE, &rules(B25_CREATED - 5));
    assert!(within_skew.is_ok());
}

#[test]
fn expires_is_honoured() {
    let headers = b2_headers();
    let k = key();
    let mut params = build_params(&[Component::Method], B25_CREATED, None, "test-shared-secret", None).expect("params");
    params.expires = Some(B25_CREATED + 10);
    params.serialized.push_str(&format!(";expires={}", B25_CREATED + 10));
    let signed = sign(&view(&headers), &k, "s", &params).expect("signs");
    let ok = check(&view(&headers), &signed.signature_input, &signed.signature, &rules(B25_CREATED + 10));
    assert!(ok.is_ok());
    let late = check(&view(&headers), &signed.signature_input, &signed.signature, &rules(B25_CREATED + 16));
    assert!(matches!(late, Err(AuthError::Expired(m)) if m.contains("expires")));
}

#[test]
fn required_components_and_digest_are_enforced() {
    let headers = b2_headers();
    let mut r = rules(B25_CREATED);
    let required = [Component::Method, Component::Path];
    r.required = &required;
    let got = check(&view(&headers), B25_INPUT, B25_SIGNATURE, &r);
    assert_eq!(got, Err(AuthError::MissingComponent(vec!["@method".into(), "@path".into()])));
    let mut r = rules(B25_CREATED);
    r.require_digest = true;
    let got = check(&view(&headers), B25_INPUT, B25_SIGNATURE, &r);
    assert_eq!(got, Err(AuthError::MissingComponent(vec!["content-digest".into()])));
}

#[test]
fn params_requirements() {
    let headers = b2_headers();
    let v = view(&headers);
    let mut r = rules(B25_CREATED);
    r.require_nonce = true;
    let got = check(&v, B25_INPUT, B25_SIGNATURE, &r);
    assert!(matches!(got, Err(AuthError::Malformed(m)) if m.contains("nonce")));
    let no_created = B25_INPUT.replace(";created=1618884473", "");
    let got = check(&v, &no_created, B25_SIGNATURE, &rules(B25_CREATED));
    assert!(matches!(got, Err(AuthError::Malformed(m)) if m.contains("created")));
    let no_keyid = B25_INPUT.replace(";keyid=\"test-shared-secret\"", "");
    let got = check(&v, &no_keyid, B25_SIGNATURE, &rules(B25_CREATED));
    assert!(matches!(got, Err(AuthError::Malformed(m)) if m.contains("keyid")));
    let rsa = format!("{B25_INPUT};alg=\"rsa-pss-sha512\"");
    let got = check(&v, &rsa, B25_SIGNATURE, &rules(B25_CREATED));
    assert!(matches!(got, Err(AuthError::Malformed(m)) if m.contains("alg")));
}

#[test]
fn picks_our_label_among_several() {
    let headers = b2_headers();
    let input = format!(r#"other=("@method");created=1;keyid="x";alg="ed25519", {B25_INPUT}"#);
    let sig = format!("other=:AAAA:, {B25_SIGNATURE}");
    let got = check(&view(&headers), &input, &sig, &rules(B25_CREATED));
    assert_eq!(got.as_deref(), Ok("test-shared-secret"));
}

#[test]
fn missing_headers_mean_missing_signature() {
    let headers = b2_headers();
    let got = check(&view(&headers), "", "", &rules(B25_CREATED));
    assert_eq!(got, Err(AuthError::MissingSignature));
}

#[test]
fn sign_then_verify_round_trip_with_nonce() {
    let headers = b2_headers();
    let comps = [Component::Method, Component::Authority, Component::Path, Component::Query];
    let params = build_params(&comps, B25_CREATED, Some("n-1"), "test-shared-secret", Some(ALG)).expect("params");
    let signed = sign(&view(&headers), &key(), "sig1", &params).expect("signs");
    let mut r = rules(B25_CREATED);
    r.required = &comps;
    r.require_nonce = true;
    let got = check(&view(&headers), &signed.signature_input, &signed.signature, &r);
    assert!(got.is_ok());
    for tampered in [
        MessageView { method: "GET", ..view(&headers) },
        MessageView { path: "/foo/", ..view(&headers) },
        MessageView { query: Some("param=value&Pet=dog"), ..view(&headers) },
        MessageView { authority: "example.org", ..view(&headers) },
    ] {
        let got = check(&tampered, &signed.signature_input, &signed.signature, &r);
        assert_eq!(got, Err(AuthError::InvalidSignature));
    }
}

#[test]
fn sign_request_binds_the_body_and_verifies_through_the_driver() {
    let k = key();
    let comps = [Component::Method, Component::Authority, Component::Path];
    let signer = Signer { keyid: "test-shared-secret", key: &k, label: "sig1", components: &comps };
    let target = Target { method: "POST", scheme: "https", authority: "example.com", path: "/foo", query: None };
    let mut headers = HeaderMap::new();
    sign_request(&signer, &target, &mut headers, b"{\"a\":1}", B25_CREATED, "n-2").expect("signs");
    assert!(headers.contains_key(CONTENT_DIGEST));
    let view = MessageView {
        method: "POST",
        scheme: "https",
        authority: "example.com",
        path: "/foo",
        query: None,
        headers: &headers,
    };
    let mut r = rules(B25_CREATED);
    r.require_digest = true;
    let keys = std::slice::from_ref(&k);
    let verified =
        crate::authenticate(&r.rules, &view, &[], r.now, |_| Some(crate::Found { owner: &(), keys, allowed: true }))
            .expect("verifies");
    use crate::Scheme as _;
    assert_eq!(r.rules.check_body(&view, &verified.credentials, b"{\"a\":1}"), Ok(()));
    let other = r.rules.check_body(&view, &verified.credentials, b"{\"a\":2}");
    assert!(matches!(other, Err(AuthError::DigestMismatch(_))), "{other:?}");
    let replay = r.rules.replay_id(&verified.credentials).expect("a replay id");
    assert_eq!(replay.id, "n-2");
    assert_eq!(replay.ttl_secs, 301);
}

#[test]
fn a_signature_without_a_nonce_has_no_replay_id() {
    use crate::Scheme as _;
    let headers = b2_headers();
    let mut with_sig = headers.clone();
    with_sig.insert(SIGNATURE_INPUT, B25_INPUT.parse().expect("value"));
    with_sig.insert(SIGNATURE, B25_SIGNATURE.parse().expect("value"));
    let r = rules(B25_CREATED);
    let credentials = r.rules.parse(&view(&with_sig), &[], r.now, &|_| Some(true)).expect("parses");
    assert_eq!(r.rules.replay_id(&credentials), None, "an empty id would make every later request a replay");
}
