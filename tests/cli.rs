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
