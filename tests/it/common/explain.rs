//! Running `hmac-gateway explain` on a request written as raw HTTP/1.1, and
//! the same request through the real gateway binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Req;

/// What `explain` printed and how it exited.
#[derive(Debug)]
pub struct Explained {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Explained {
    /// Asserts the request explains as refused with `status code`.
    pub fn refused(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.code, 1, "{self}");
        assert!(self.stdout.contains(&format!("the gateway would answer {status} {code}")), "{self}");
        self
    }

    /// Asserts the output names the mistake: `needle` appears in it.
    pub fn names(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "expected `{needle}` in:\n{self}");
        self
    }

    /// Asserts none of `secrets` (secret text, MACs) is in the output.
    pub fn hides(&self, secrets: &[&str]) -> &Self {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(!self.stdout.contains(secret) && !self.stderr.contains(secret), "`{secret}` printed:\n{self}");
        }
        self
    }
}

impl std::fmt::Display for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `req` as raw HTTP/1.1: request line, `Host`, headers, `Content-Length`, body.
pub fn raw_http(req: &Req) -> Vec<u8> {
    let mut text = format!("{} {} HTTP/1.1\r\nHost: {}\r\n", req.method, req.target(), req.authority);
    text.push_str(&super::header_lines(req));
    if !req.body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&req.body);
    bytes
}

/// Runs `explain --config CONFIG --request FILE --now NOW` on `request`.
pub fn explain(config: &Path, request: &[u8], now: i64, extra: &[&str]) -> Explained {
    let file = config.with_file_name(format!("request-{}.http", hmac_gateway::testing::fresh_nonce().unwrap()));
    std::fs::write(&file, request).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
        .args(["explain", "--config"])
        .arg(config)
        .arg("--request")
        .arg(&file)
        .args(["--now", &now.to_string()])
        .args(extra)
        .output()
        .unwrap();
    Explained {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A config file in a directory of its own, removed when this is dropped.
pub struct ConfigFile {
    path: PathBuf,
    _dir: super::tls::TempDir,
}

impl std::ops::Deref for ConfigFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

/// Writes `yaml` as `gateway.yaml` in a fresh directory.
pub fn write_config(tag: &str, yaml: &str) -> ConfigFile {
    let dir = super::tls::temp_dir(tag);
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    ConfigFile { path, _dir: dir }
}
