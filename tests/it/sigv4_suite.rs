//! AWS's official SigV4 signing test suite (`tests/fixtures/aws-sigv4`, see
//! its NOTICE.md): for every applicable case the gateway must rebuild the
//! canonical request, string to sign and signature byte for byte, accept
//! the signed request (header and presigned forms) and reject it altered.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hmac_gateway::config::Secret;
use hmac_gateway::scheme::sigv4::{self, PathRules, SigV4, canonical};
use hmac_gateway::scheme::{AuthError, Found, MessageView, authenticate};
use http::{HeaderMap, HeaderName, HeaderValue};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// Raw spaces or UTF-8 in the request target: not valid HTTP on the wire.
const NOT_APPLICABLE: [&str; 3] = ["get-space-normalized", "get-space-unnormalized", "get-utf8"];

/// A request as written in the suite's `*.txt` files.
struct Raw {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn read(file: &Path) -> Self {
        let text = std::fs::read_to_string(file).unwrap();
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let (method, rest) = request_line.split_once(' ').unwrap();
        let target = rest.rsplit_once(' ').unwrap().0;
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        // Header lines; a line starting with whitespace continues the last one.
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let last = fields.last_mut().unwrap();
                last.1 = format!("{} {}", last.1, line.trim());
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.to_ascii_lowercase(), value.to_owned()));
            }
        }
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(&value).unwrap());
        }
        Self { method: method.to_owned(), path, query, headers, body: body.as_bytes().to_vec() }
    }

    fn view(&self) -> MessageView<'_> {
        MessageView {
            method: &self.method,
            scheme: "https",
            authority: "example.amazonaws.com",
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    context: serde_json::Value,
}

impl Case {
    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    fn now(&self) -> i64 {
        let ts = self.context["timestamp"].as_str().unwrap().replace(['-', ':'], "");
        sigv4::parse_amz_date(&ts).unwrap()
    }

    fn verifier(&self) -> SigV4 {
        SigV4 {
            service: self.context["service"].as_str().unwrap().to_owned(),
            region: self.context["region"].as_str().unwrap().to_owned(),
            window: hmac_gateway::scheme::Window::symmetric(900),
            presigned_reuse: false,
            allow_unsigned_payload: false,
            path: PathRules { normalize: self.context["normalize"].as_bool().unwrap(), double_encode: true },
        }
    }

    fn verify(&self, request: &Raw, now: i64) -> Result<(), AuthError> {
        let secrets = [Secret::new(SECRET.as_bytes().to_vec())];
        let key = "AKIDEXAMPLE".to_owned();
        let lookup = |id: Option<&str>| {
            (id == Some("AKIDEXAMPLE")).then_some(Found { owner: &key, keys: &secrets[..], allowed: true })
        };
        authenticate(&self.verifier(), &request.view(), &request.body, now, lookup).map(|_| ())
    }
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws-sigv4");
    let mut out: Vec<Case> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("context.json").exists())
        .map(|dir| Case {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            context: serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap()).unwrap(),
            dir,
        })
        .filter(|c| !NOT_APPLICABLE.contains(&c.name.as_str()))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn canonical_request_string_to_sign_and_signature_match_every_case() {
    let cases = cases();
    assert_eq!(cases.len(), 35, "the suite has 38 cases with a context, 3 not applicable");
    for case in &cases {
        let signed = Raw::read(&case.dir.join("header-signed-request.txt"));
        let expected_creq = case.file("header-canonical-request.txt");
        let signed_headers: Vec<String> =
            expected_creq.lines().rev().nth(1).unwrap().split(';').map(str::to_owned).collect();
        let payload = expected_creq.lines().last().unwrap();
        let parts = MessageView {
            scheme: "https",
            method: &signed.method,
            path: &signed.path,
            query: signed.query.as_deref(),
            headers: &signed.headers,
            authority: "example.amazonaws.com",
        };
        let creq = canonical::canonical_request(&parts, case.verifier().path, &signed_headers, payload, None).unwrap();
        assert_eq!(creq, expected_creq, "{}: canonical request", case.name);
        let amz_date = sigv4::amz_date(case.now());
        let scope = format!(
            "{}/{}/{}/aws4_request",
            &amz_date[..8],
            case.context["region"].as_str().unwrap(),
            case.context["service"].as_str().unwrap()
        );
        let sts = sigv4::string_to_sign(&amz_date, &scope, &creq);
        assert_eq!(sts, case.file("header-string-to-sign.txt"), "{}: string to sign", case.name);
    }
}

#[test]
fn every_signed_request_verifies_in_both_forms_and_fails_when_altered() {
    for case in cases() {
        for (form, file) in [("header", "header-signed-request.txt"), ("presigned", "query-signed-request.txt")] {
            if form == "presigned" && case.name == "post-sts-header-after" {
                // The signer adds the session token to the URL after signing,
                // which a verifier cannot tell from a token added by anyone.
                continue;
            }
            let signed = Raw::read(&case.dir.join(file));
            assert_eq!(case.verify(&signed, case.now()), Ok(()), "{} ({form})", case.name);
            let mut other_method = Raw::read(&case.dir.join(file));
            other_method.method = if signed.method == "GET" { "DELETE".into() } else { "GET".into() };
            assert_eq!(case.verify(&other_method, case.now()), Err(AuthError::InvalidSignature), "{}", case.name);
            let mut other_path = Raw::read(&case.dir.join(file));
            other_path.path.push('x');
            assert_eq!(case.verify(&other_path, case.now()), Err(AuthError::InvalidSignature), "{}", case.name);
            let mut other_body = Raw::read(&case.dir.join(file));
            other_body.body.push(b'!');
            assert!(case.verify(&other_body, case.now()).is_err(), "{}: changed body accepted", case.name);
        }
    }
}

#[test]
fn the_time_window_is_fifteen_minutes_and_presigned_urls_expire() {
    let case = cases().into_iter().find(|c| c.name == "get-vanilla").unwrap();
    let header = Raw::read(&case.dir.join("header-signed-request.txt"));
    assert_eq!(case.verify(&header, case.now() + 900), Ok(()));
    assert!(matches!(case.verify(&header, case.now() + 901), Err(AuthError::Expired(_))));
    assert!(matches!(case.verify(&header, case.now() - 901), Err(AuthError::Expired(_))));
    let presigned = Raw::read(&case.dir.join("query-signed-request.txt"));
    assert_eq!(case.verify(&presigned, case.now() + 3600), Ok(()), "X-Amz-Expires=3600");
    assert!(matches!(case.verify(&presigned, case.now() + 3601), Err(AuthError::Expired(_))));
}

#[test]
fn the_gateway_signer_reproduces_the_suite() {
    for name in ["get-vanilla", "get-vanilla-query", "get-relative-normalized"] {
        let case = cases().into_iter().find(|c| c.name == name).unwrap();
        let request = Raw::read(&case.dir.join("request.txt"));
        let signer = sigv4::Signer {
            access_key: "AKIDEXAMPLE",
            secret: SECRET.as_bytes(),
            region: "us-east-1",
            service: "service",
        };
        let parts = MessageView {
            scheme: "https",
            method: &request.method,
            path: &request.path,
            query: request.query.as_deref(),
            headers: &request.headers,
            authority: "example.amazonaws.com",
        };
        let added = sigv4::sign(&signer, &parts, &request.body, case.now());
        let authorization = &added.iter().find(|(n, _)| *n == "authorization").unwrap().1;
        let expected = case.file("header-signature.txt");
        assert!(authorization.ends_with(&format!("Signature={expected}")), "{name}: {authorization}");
        assert!(authorization.contains("SignedHeaders=host;x-amz-date,"), "{name}: {authorization}");
    }
}

#[test]
fn streaming_and_unsigned_payloads_are_refused_unless_allowed() {
    let case = cases().into_iter().find(|c| c.name == "post-x-www-form-urlencoded").unwrap();
    let mut signed = Raw::read(&case.dir.join("header-signed-request.txt"));
    signed.headers.insert("x-amz-content-sha256", HeaderValue::from_static("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"));
    let refused = case.verify(&signed, case.now()).unwrap_err();
    assert!(refused.to_string().contains("aws-chunked"), "{refused}");
    signed.headers.insert("x-amz-content-sha256", HeaderValue::from_static("UNSIGNED-PAYLOAD"));
    let refused = case.verify(&signed, case.now()).unwrap_err();
    assert!(refused.to_string().contains("UNSIGNED-PAYLOAD"), "{refused}");
}

/// The two cases the Rust SDK added (no context.json): a path with `@` and
/// an encoded `%3D`, both encoded once more in the canonical URI.
#[test]
fn double_encoded_paths() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws-sigv4");
    let request = Raw::read(&dir.join("double-url-encode/request.txt"));
    let parts = MessageView {
        scheme: "https",
        method: &request.method,
        path: &request.path,
        query: None,
        headers: &request.headers,
        authority: "",
    };
    let signed = ["host".to_owned(), "x-amz-date".to_owned()];
    let payload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let rules = PathRules::for_service("lambda");
    let creq = canonical::canonical_request(&parts, rules, &signed, payload, None).unwrap();
    let expected = std::fs::read_to_string(dir.join("double-url-encode/header-canonical-request.txt")).unwrap();
    // The fixture's request and canonical request disagree on the date only.
    assert_eq!(creq.replace("20150830T123600Z", "20210511T154045Z"), expected);

    // Signed by the SDK's test credentials; its signature is in the SDK's own test.
    let signed = Raw::read(&dir.join("double-encode-path/header-signed-request.txt"));
    let verifier = SigV4 {
        service: "service".into(),
        region: "us-east-1".into(),
        window: hmac_gateway::scheme::Window::symmetric(900),
        presigned_reuse: false,
        allow_unsigned_payload: false,
        path: rules,
    };
    let secrets = [Secret::new(b"notrealrnrELgWzOk3IfjzDKtFBhDby".to_vec())];
    let key = ();
    let lookup =
        |id: Option<&str>| (id == Some("ANOTREAL")).then_some(Found { owner: &key, keys: &secrets[..], allowed: true });
    let now = sigv4::parse_amz_date("20150830T123600Z").unwrap();
    assert!(authenticate(&verifier, &signed.view(), &signed.body, now, lookup).is_ok());
}
