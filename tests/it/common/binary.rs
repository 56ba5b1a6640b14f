//! The real `hmac-gateway` binary, run as a user would, with JSON logs.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running binary, its stdout lines (JSON events) and its first listener.
pub struct Binary {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
    pub addr: SocketAddr,
    /// The messages of the warnings logged before listening.
    pub warnings: Vec<String>,
}

/// Starts `hmac-gateway run --log-format json --config CONFIG` and waits
/// (10 s at most) for its `listening` event.
pub async fn spawn(config: &Path) -> Binary {
    spawn_with_env(config, &[]).await
}

/// As [`spawn`], with these environment variables set (e.g. `env:` secrets).
pub async fn spawn_with_env(config: &Path, vars: &[(&str, &str)]) -> Binary {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(config)
        .envs(vars.iter().copied())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut warnings = Vec::new();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["level"] == "WARN" {
            warnings.push(event["fields"]["message"].as_str().unwrap_or_default().to_owned());
        }
        if event["fields"]["message"] == "listening" {
            break event["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    Binary { child, lines, addr, warnings }
}
