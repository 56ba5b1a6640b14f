//! The binary's commands, run as a user would.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn gateway_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
}

#[test]
fn check_accepts_the_demo_and_summarises_it() {
    let out = gateway_cmd().args(["check", "--config", "gateway.yaml"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("gateway.yaml: OK"));
    assert!(stdout.contains("site-api") && stdout.contains("call-host"));
    assert!(stdout.contains("hmac-authentication-secret-key") && stdout.contains("resolves (64 bytes)"));
    let demo = std::fs::read_to_string("gateway.yaml").unwrap();
    let secret = demo.split("value: \"").nth(1).unwrap().split('"').next().unwrap();
    assert!(!stdout.contains(secret), "check printed the secret");
}

#[test]
fn check_reports_file_line_column_and_fails() {
    let dir = std::env::temp_dir().join(format!("hmacgw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(&path, "listeners:\n  - { name: a, bind: \"127.0.0.1:0\", tsl: yes }\n").unwrap();
    let out = gateway_cmd().arg("check").arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("{}:2:", path.display())), "{stderr}");
    assert!(stderr.contains("unknown field `tsl`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keygen_prints_64_random_bytes() {
    use base64::Engine as _;
    let a = gateway_cmd().arg("keygen").output().unwrap();
    let b = gateway_cmd().arg("keygen").output().unwrap();
    let decode = |o: &std::process::Output| {
        base64::engine::general_purpose::STANDARD.decode(String::from_utf8_lossy(&o.stdout).trim()).unwrap()
    };
    assert_eq!(decode(&a).len(), 64);
    assert_ne!(decode(&a), decode(&b));
}

#[test]
fn sign_prints_the_headers_and_a_curl_line() {
    let out = gateway_cmd()
        .args([
            "sign",
            "--config",
            "gateway.yaml",
            "--route",
            "call-host",
            "-d",
            "hi",
            "http://localhost:8081/_functions/x?y=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("POST http://127.0.0.1:8080/_functions/x?y=1\n"), "{stdout}");
    assert!(stdout.contains("Host: 127.0.0.1:8080"));
    assert!(stdout.contains("Content-Digest: sha-256=:j0NDRmSPa5bfid2pAcUXaxCm2Dlh3TwayItZstwyeqQ=:"), "{stdout}");
    assert!(
        stdout.contains(r#"Signature-Input: sig1=("@method" "@authority" "@path" "@query" "content-digest");created="#)
    );
    assert!(stdout.contains("Signature: sig1=:"));
    let curl = gateway_cmd()
        .args(["sign", "--config", "gateway.yaml", "--route", "call-host", "--curl", "/_functions/x"])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&curl.stdout);
    assert!(
        line.starts_with("curl -sS -X GET 'http://127.0.0.1:8080/_functions/x' -H 'Host: 127.0.0.1:8080'"),
        "{line}"
    );
    let verify_route =
        gateway_cmd().args(["sign", "--config", "gateway.yaml", "--route", "site-api", "/x"]).output().unwrap();
    assert!(!verify_route.status.success());
}

/// `sign` works for every scheme that signs; what it prints verifies.
#[test]
fn sign_prints_verifiable_headers_for_sigv4_and_webhook_routes() {
    use hmac_gateway::config::Secret;
    use hmac_gateway::scheme::sigv4::{PathRules, SigV4};
    use hmac_gateway::scheme::webhook::{Provider, Webhook};
    use hmac_gateway::scheme::{Found, MessageView, authenticate};

    let dir = std::env::temp_dir().join(format!("hmacgw-cli-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gw.yaml");
    std::fs::write(
        &config,
        r#"listeners: [{ name: out, bind: "127.0.0.1:0" }]
secrets:
  aws: { value: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" }
  stripe-a: { value: "whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" }
  stripe-b: { value: "whsec_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" }
routes:
  - name: to-aws
    listener: out
    match: { path_prefix: /aws }
    sign: { scheme: aws-sigv4, keyid: AKIDEXAMPLE, secret: aws, service: execute-api, region: eu-west-1 }
    upstream: "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
  - name: to-hook
    listener: out
    sign: { scheme: stripe, secrets: [stripe-a, stripe-b] }
    upstream: "https://hooks.example.com"
"#,
    )
    .unwrap();
    let run = |route: &str, url: &str| {
        let out = gateway_cmd()
            .args(["sign", "--config"])
            .arg(&config)
            .args(["--route", route, "-d", "{\"n\":1}", url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let first = lines.next().unwrap().to_owned();
        let mut headers = http::HeaderMap::new();
        for line in lines {
            let (name, value) = line.split_once(": ").unwrap();
            headers.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        (first, headers)
    };
    let body = b"{\"n\":1}";
    let now = hmac_gateway::testing::unix_now();

    let (first, headers) = run("to-aws", "http://localhost/aws/orders?b=2&a=1");
    assert_eq!(first, "POST https://abc.execute-api.eu-west-1.amazonaws.com/prod/aws/orders?b=2&a=1");
    assert!(headers["authorization"].to_str().unwrap().starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    let view = MessageView {
        method: "POST",
        scheme: "https",
        authority: "abc.execute-api.eu-west-1.amazonaws.com",
        path: "/prod/aws/orders",
        query: Some("b=2&a=1"),
        headers: &headers,
    };
    let verifier = SigV4 {
        service: "execute-api".into(),
        region: "eu-west-1".into(),
        window: hmac_gateway::scheme::Window::symmetric(900),
        presigned_reuse: false,
        allow_unsigned_payload: false,
        path: PathRules::for_service("execute-api"),
    };
    let secrets = [Secret::new(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_vec())];
    let lookup = |id: Option<&str>| {
        (id == Some("AKIDEXAMPLE")).then_some(Found { owner: &(), keys: &secrets[..], allowed: true })
    };
    assert!(authenticate(&verifier, &view, body, now, lookup).is_ok(), "{headers:?}");

    let (_, headers) = run("to-hook", "/events");
    let stripe = headers["stripe-signature"].to_str().unwrap();
    assert_eq!(stripe.matches(",v1=").count(), 2, "{stripe}");
    let view = MessageView { headers: &headers, ..view };
    let hook = Webhook {
        provider: Provider::Stripe,
        window: hmac_gateway::scheme::Window::symmetric(300),
        replay_ttl: std::time::Duration::ZERO,
    };
    for secret in ["whsec_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "whsec_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"] {
        let secrets = [Secret::new(secret.as_bytes().to_vec())];
        assert!(
            authenticate(&hook, &view, body, now, |_| Some(Found { owner: &(), keys: &secrets[..], allowed: true }))
                .is_ok()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sign` and `explain` compose: what a sign route would send, explained
/// against the host's config, is accepted (the body given by `--body`, as
/// `sign` prints headers only).
#[test]
fn what_sign_prints_explain_accepts() {
    use std::io::Write as _;
    let dir = crate::common::tls::temp_dir("sign-explain");
    let body = dir.join("body.json");
    std::fs::write(&body, "{\"n\":1}").unwrap();
    let data = format!("@{}", body.display());
    let url = "http://localhost:8081/_functions/orders?page=2";
    let signed = gateway_cmd()
        .args(["sign", "--config", "gateway.yaml", "--route", "call-host", "-d", &data, url])
        .output()
        .unwrap();
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let mut explain = gateway_cmd()
        .args(["explain", "--config", "gateway.yaml", "--body"])
        .arg(&body)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    explain.stdin.take().unwrap().write_all(&signed.stdout).unwrap();
    let out = explain.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("result: accepted"), "{text}");
}

/// Every option of every command says what it is for.
#[test]
fn every_option_has_help_text() {
    for command in ["run", "check", "keygen", "sign", "schema", "explain"] {
        let out = gateway_cmd().args([command, "-h"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let options = help.lines().skip_while(|l| !l.starts_with("Options:")).skip(1);
        for line in options.take_while(|l| !l.is_empty()) {
            let line = line.trim_start();
            // `-x, --long <VALUE>  Description`: two spaces part the two.
            if line.starts_with('-') {
                assert!(line.split_once("  ").is_some_and(|(_, d)| !d.trim().is_empty()), "{command}: `{line}`");
            }
        }
    }
}

/// An error is said once: a bind failure names its cause one time.
#[test]
fn a_bind_failure_is_printed_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = crate::common::tls::temp_dir("bind-once");
    let config = dir.join("gw.yaml");
    let yaml = std::fs::read_to_string("gateway.yaml").unwrap();
    std::fs::write(&config, yaml.replace("127.0.0.1:8080", &taken.local_addr().unwrap().to_string())).unwrap();
    let out = gateway_cmd().args(["run", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
}
