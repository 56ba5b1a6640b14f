//! The worked examples of Kong's and APISIX's documentation, and the fixes
//! applied on top of their dialects.

use http::{HeaderMap, HeaderValue};

use super::*;
use crate::Secret;
use crate::authenticate;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn kong() -> Compat {
    let algorithms = vec![Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];
    Compat { dialect: Dialect::Kong, window: Window::symmetric(300), algorithms, enforce_headers: Vec::new() }
}

fn apisix() -> Compat {
    Compat { dialect: Dialect::Apisix, ..kong() }
}

fn check(
    scheme: &Compat,
    method: &str,
    path: &str,
    h: &HeaderMap,
    body: &[u8],
    now: i64,
    secret: &[u8],
) -> Result<String, AuthError> {
    let view = MessageView { method, scheme: "http", authority: "hmac.com", path, query: None, headers: h };
    let secrets = [Secret::new(secret.to_vec())];
    let known = ["alice123".to_owned(), "john-key".to_owned()];
    let lookup = |keyid: Option<&str>| {
        known.iter().find(|k| Some(k.as_str()) == keyid).map(|k| crate::Found {
            owner: k,
            keys: &secrets[..],
            allowed: true,
        })
    };
    authenticate(scheme, &view, body, now, lookup).map(|v| v.owner.clone())
}

/// Thu, 22 Jun 2017 17:15:21 GMT
const KONG_DATE: i64 = 1_498_151_721;

#[test]
fn kong_documented_example_date_and_request_line() {
    let h = headers(&[
        ("date", "Thu, 22 Jun 2017 17:15:21 GMT"),
        (
            "authorization",
            r#"hmac username="alice123", algorithm="hmac-sha256", headers="date request-line", signature="ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw=""#,
        ),
    ]);
    assert_eq!(check(&kong(), "GET", "/requests", &h, b"", KONG_DATE, b"secret"), Ok("alice123".into()));
    // Another path, method or secret, or a stale date, fails.
    assert_eq!(check(&kong(), "GET", "/requests2", &h, b"", KONG_DATE, b"secret"), Err(AuthError::InvalidSignature));
    assert_eq!(check(&kong(), "POST", "/requests", &h, b"", KONG_DATE, b"secret"), Err(AuthError::InvalidSignature));
    assert_eq!(check(&kong(), "GET", "/requests", &h, b"", KONG_DATE, b"secreT"), Err(AuthError::InvalidSignature));
    let stale = check(&kong(), "GET", "/requests", &h, b"", KONG_DATE + 301, b"secret");
    assert!(matches!(stale, Err(AuthError::Expired(_))), "{stale:?}");
}

#[test]
fn kong_documented_example_with_a_body_digest() {
    let h = headers(&[
        ("date", "Thu, 22 Jun 2017 21:12:36 GMT"),
        ("digest", "SHA-256=SBH7QEtqnYUpEcIhDbmStNd1MxtHg2+feBfWc1105MA="),
        (
            "authorization",
            r#"hmac username="alice123", algorithm="hmac-sha256", headers="date request-line digest", signature="gaweQbATuaGmLrUr3HE0DzU1keWGCt3H96M28sSHTG8=""#,
        ),
    ]);
    let at = KONG_DATE + 14_235;
    assert_eq!(check(&kong(), "GET", "/requests", &h, b"A small body", at, b"secret"), Ok("alice123".into()));
    let tampered = check(&kong(), "GET", "/requests", &h, b"A small bodY", at, b"secret");
    assert!(matches!(tampered, Err(AuthError::DigestMismatch(_))), "{tampered:?}");
}

#[test]
fn kong_body_without_a_signed_digest_is_refused() {
    // Kong itself would accept this when validate_request_body is off.
    let h = headers(&[
        ("date", "Thu, 22 Jun 2017 17:15:21 GMT"),
        (
            "authorization",
            r#"hmac username="alice123", algorithm="hmac-sha256", headers="date request-line", signature="ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw=""#,
        ),
    ]);
    let got = check(&kong(), "GET", "/requests", &h, b"smuggled", KONG_DATE, b"secret");
    assert_eq!(got, Err(AuthError::MissingComponent(vec!["digest".into()])));
}

#[test]
fn digest_errors_use_the_same_codes_as_rfc9421() {
    let k = kong();
    // Listed but absent: malformed, like a covered RFC 9421 field that is absent.
    let absent = signed_with_dates(&k, "date digest", &[("date", FRESH), ("digest", "SHA-256=x")]);
    let mut absent = absent;
    absent.remove("digest");
    assert!(matches!(date_check(&k, &absent, NOW), Err(AuthError::Malformed(m)) if m.contains("digest")));
    // Present, signed, and not the body's: digest_mismatch.
    let wrong = signed_with_dates(&k, "date digest", &[("date", FRESH), ("digest", "SHA-256=AAAA")]);
    let got = check(&k, "POST", "/p", &wrong, b"body", NOW, b"secret");
    assert!(matches!(got, Err(AuthError::DigestMismatch(_))), "{got:?}");
}

#[test]
fn kong_requires_target_and_date_coverage_and_refuses_sha1_by_default() {
    let only_date = headers(&[
        ("date", "Thu, 22 Jun 2017 17:15:21 GMT"),
        ("authorization", r#"hmac username="alice123", algorithm="hmac-sha256", headers="date", signature="AAAA""#),
    ]);
    let got = check(&kong(), "GET", "/requests", &only_date, b"", KONG_DATE, b"secret");
    assert_eq!(got, Err(AuthError::MissingComponent(vec!["@request-target".into()])));
    let sha1 = headers(&[
        ("date", "Thu, 22 Jun 2017 17:15:21 GMT"),
        (
            "authorization",
            r#"hmac username="alice123", algorithm="hmac-sha1", headers="date request-line", signature="AAAA""#,
        ),
    ]);
    assert!(matches!(
        check(&kong(), "GET", "/requests", &sha1, b"", KONG_DATE, b"secret"),
        Err(AuthError::Malformed(_))
    ));
    let signing = b"date: Thu, 22 Jun 2017 17:15:21 GMT\nGET /requests HTTP/1.1";
    let sig = B64.encode(Algorithm::Sha1.mac(b"secret", signing));
    let sha1_ok = headers(&[
        ("date", "Thu, 22 Jun 2017 17:15:21 GMT"),
        (
            "proxy-authorization",
            &format!(
                r#"hmac username="alice123", algorithm="hmac-sha1", headers="date request-line", signature="{sig}""#
            ),
        ),
    ]);
    let enabled = Compat { algorithms: vec![Algorithm::Sha1], ..kong() };
    assert_eq!(check(&enabled, "GET", "/requests", &sha1_ok, b"", KONG_DATE, b"secret"), Ok("alice123".into()));
}

/// Fri, 06 Sep 2024 06:41:29 GMT
const APISIX_DATE: i64 = 1_725_604_889;

/// APISIX's documentation signs with a Python script (key `john-key`,
/// secret `john-secret-key`, `GET /get`, that date). The signature it prints
/// there cannot be reproduced from those inputs; this one is what the
/// documented script computes (checked with Python's `hmac`).
#[test]
fn apisix_documented_script_example() {
    let h = headers(&[
        ("date", "Fri, 06 Sep 2024 06:41:29 GMT"),
        (
            "authorization",
            r#"Signature keyId="john-key",algorithm="hmac-sha256",headers="@request-target date",signature="j+feO3Wm5em0agp0A70FZErf6lrMDVs7zjQ9MxomPx0=""#,
        ),
    ]);
    assert_eq!(check(&apisix(), "GET", "/get", &h, b"", APISIX_DATE, b"john-secret-key"), Ok("john-key".into()));
    assert_eq!(
        check(&apisix(), "GET", "/got", &h, b"", APISIX_DATE, b"john-secret-key"),
        Err(AuthError::InvalidSignature)
    );
    // A listed header must be present (APISIX would skip it silently).
    let absent = headers(&[
        ("date", "Fri, 06 Sep 2024 06:41:29 GMT"),
        (
            "authorization",
            r#"Signature keyId="john-key",algorithm="hmac-sha256",headers="@request-target date x-custom-header-a",signature="AAAA""#,
        ),
    ]);
    assert!(matches!(check(&apisix(), "GET", "/get", &absent, b"", APISIX_DATE, b"k"), Err(AuthError::Malformed(_))));
}

#[test]
fn apisix_body_example_is_refused_because_its_digest_is_not_signed() {
    // The documentation's body-validation example sends a Digest the
    // signature does not cover (apache/apisix#13395): anyone could swap the body.
    let h = headers(&[
        ("date", "Fri, 06 Sep 2024 09:16:16 GMT"),
        ("digest", "SHA-256=78qzJuLwSpZ8HacsTdFCQJWxzPMOf8bYctRk2ySLpS8="),
        (
            "authorization",
            r#"Signature keyId="john-key",algorithm="hmac-sha256",headers="@request-target date",signature="AAAA""#,
        ),
    ]);
    let got = check(&apisix(), "POST", "/post", &h, br#"{"name": "world"}"#, APISIX_DATE + 8927, b"john-secret-key");
    assert_eq!(got, Err(AuthError::MissingComponent(vec!["digest".into()])));
}

#[test]
fn replay_ids_are_the_signature() {
    let creds = Credentials {
        keyid: "k".into(),
        algorithm: Algorithm::Sha256,
        signature: vec![1, 2],
        signing_string: Vec::new(),
        signed_at: 1000,
        now: 1100,
    };
    // Kept until the signed date leaves the window: 1000 + 300 - 1100, plus 1.
    assert_eq!(kong().replay_id(&creds), Some(ReplayId { id: "kong:0102".into(), ttl_secs: 201 }));
}

/// A request signed in `dialect` over the target and `covered` (space
/// separated header names), carrying `sent` headers.
fn signed_with_dates(scheme: &Compat, covered: &str, sent: &[(&str, &str)]) -> HeaderMap {
    let mut h = headers(sent);
    let mut lines: Vec<String> = Vec::new();
    let (target, keyid) = match scheme.dialect {
        Dialect::Kong => ("request-line", "alice123"),
        Dialect::Apisix => ("@request-target", "john-key"),
    };
    if scheme.dialect == Dialect::Apisix {
        lines.push(keyid.into());
    }
    let listed = format!("{target} {covered}");
    for name in listed.split(' ') {
        lines.push(match name {
            "request-line" => "GET /p HTTP/1.1".into(),
            "@request-target" => "GET /p".into(),
            name => format!("{name}: {}", h[name].to_str().unwrap()),
        });
    }
    let mut text = lines.join("\n");
    if scheme.dialect == Dialect::Apisix {
        text.push('\n');
    }
    let sig = B64.encode(Algorithm::Sha256.mac(b"secret", text.as_bytes()));
    let value = match scheme.dialect {
        Dialect::Kong => format!(
            r#"hmac username="{keyid}", algorithm="hmac-sha256", headers="{target} {covered}", signature="{sig}""#
        ),
        Dialect::Apisix => format!(
            r#"Signature keyId="{keyid}",algorithm="hmac-sha256",headers="{target} {covered}",signature="{sig}""#
        ),
    };
    h.insert("authorization", HeaderValue::from_str(&value).unwrap());
    h
}

fn date_check(scheme: &Compat, h: &HeaderMap, now: i64) -> Result<String, AuthError> {
    check(scheme, "GET", "/p", h, b"", now, b"secret")
}

const NOW: i64 = KONG_DATE;
const FRESH: &str = "Thu, 22 Jun 2017 17:15:21 GMT";
/// One hour before `FRESH`.
const STALE: &str = "Thu, 22 Jun 2017 16:15:21 GMT";

fn expired(r: Result<String, AuthError>) -> bool {
    matches!(r, Err(AuthError::Expired(_)))
}

#[test]
fn kong_window_reads_the_signed_date_not_an_unsigned_one() {
    let k = kong();
    // The attack: a stale signed X-Date with a fresh unsigned Date.
    let attack = signed_with_dates(&k, "x-date", &[("x-date", STALE), ("date", FRESH)]);
    assert!(expired(date_check(&k, &attack, NOW)));
    // Each combination of signed dates.
    let x_date_only = signed_with_dates(&k, "x-date", &[("x-date", FRESH), ("date", STALE)]);
    assert_eq!(date_check(&k, &x_date_only, NOW), Ok("alice123".into()));
    let date_only = signed_with_dates(&k, "date", &[("date", FRESH), ("x-date", STALE)]);
    assert_eq!(date_check(&k, &date_only, NOW), Ok("alice123".into()));
    let stale_date_only = signed_with_dates(&k, "date", &[("date", STALE), ("x-date", FRESH)]);
    assert!(expired(date_check(&k, &stale_date_only, NOW)));
    // Both signed: both must be inside the window.
    let both = signed_with_dates(&k, "date x-date", &[("date", FRESH), ("x-date", FRESH)]);
    assert_eq!(date_check(&k, &both, NOW), Ok("alice123".into()));
    let one_stale = signed_with_dates(&k, "date x-date", &[("date", FRESH), ("x-date", STALE)]);
    assert!(expired(date_check(&k, &one_stale, NOW)));
    let other_stale = signed_with_dates(&k, "x-date date", &[("date", STALE), ("x-date", FRESH)]);
    assert!(expired(date_check(&k, &other_stale, NOW)));
    // Neither signed: refused whatever dates are sent.
    let neither = signed_with_dates(&k, "content-type", &[("content-type", "a/b"), ("date", FRESH), ("x-date", FRESH)]);
    assert_eq!(date_check(&k, &neither, NOW), Err(AuthError::MissingComponent(vec!["date".into()])));
}

#[test]
fn apisix_window_reads_the_signed_date_only() {
    let a = apisix();
    let date_only = signed_with_dates(&a, "date", &[("date", FRESH)]);
    assert_eq!(date_check(&a, &date_only, NOW), Ok("john-key".into()));
    let stale = signed_with_dates(&a, "date", &[("date", STALE), ("x-date", FRESH)]);
    assert!(expired(date_check(&a, &stale, NOW)));
    // APISIX dates requests with `Date` only: a signed X-Date alone is not enough.
    let x_date_only = signed_with_dates(&a, "x-date", &[("x-date", FRESH), ("date", FRESH)]);
    assert_eq!(date_check(&a, &x_date_only, NOW), Err(AuthError::MissingComponent(vec!["date".into()])));
    let both = signed_with_dates(&a, "date x-date", &[("date", FRESH), ("x-date", STALE)]);
    assert_eq!(date_check(&a, &both, NOW), Ok("john-key".into()), "x-date has no meaning to APISIX");
    let neither = signed_with_dates(&a, "content-type", &[("content-type", "a/b"), ("date", FRESH)]);
    assert_eq!(date_check(&a, &neither, NOW), Err(AuthError::MissingComponent(vec!["date".into()])));
}

#[test]
fn a_signed_date_sent_twice_is_refused() {
    let k = kong();
    let mut h = signed_with_dates(&k, "date", &[("date", FRESH)]);
    h.append("date", HeaderValue::from_static(STALE));
    assert!(matches!(date_check(&k, &h, NOW), Err(AuthError::Malformed(_))));
}

#[test]
fn listed_headers_are_capped_and_listed_once() {
    let names = |n: usize| (0..n).map(|i| format!("X-H{i}")).collect::<Vec<_>>().join(" ");
    assert_eq!(listed_headers(&names(64)).unwrap()[63], "x-h63");
    assert_eq!(
        listed_headers(&names(65)),
        Err(AuthError::Malformed("the headers parameter has more than 64 names".into()))
    );
    // Case does not make a repeat a different header.
    assert_eq!(
        listed_headers("date request-line Date"),
        Err(AuthError::Malformed("the headers parameter lists `date` twice".into()))
    );
}

#[test]
fn credential_parameters_are_capped_and_given_once() {
    let params = |n: usize| (0..n).map(|i| format!(r#"p{i}="v""#)).collect::<Vec<_>>().join(", ");
    assert_eq!(parse_params(&params(64)).unwrap().len(), 64);
    assert_eq!(
        parse_params(&params(65)),
        Err(AuthError::Malformed("the credential header has more than 64 parameters".into()))
    );
    let twice = r#"username="alice123", algorithm="hmac-sha256", username="john-key""#;
    assert_eq!(
        parse_params(twice),
        Err(AuthError::Malformed("the credential parameter `username` appears twice".into()))
    );
    // Through the scheme, a repeated listed header is refused before any work.
    let h = headers(&[
        ("date", "Thu, 22 Jun 2017 17:15:21 GMT"),
        (
            "authorization",
            r#"hmac username="alice123", algorithm="hmac-sha256", headers="date request-line date", signature="AAAA""#,
        ),
    ]);
    let got = check(&kong(), "GET", "/requests", &h, b"", KONG_DATE, b"secret");
    assert_eq!(got, Err(AuthError::Malformed("the headers parameter lists `date` twice".into())));
}
