//! `replay:` for Redis: wrong combinations are refused at file:line:column,
//! and neither `check` nor `Debug` shows a Redis URL, host or password.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::common::tls::{pki, temp_dir};
use crate::common::verify_yaml;
use hmac_gateway::config::{ConfigError, Loaded, Problem, ReplayStoreKind};

fn load(yaml: &str, dir: &Path) -> Result<Loaded, Vec<Problem>> {
    match Loaded::from_yaml(yaml, "gw.yaml", dir) {
        Ok(loaded) => Ok(loaded),
        Err(ConfigError::Invalid(p)) => Err(p),
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// A config with `replay` and extra `secrets` entries.
fn yaml(replay: &str, secrets: &str) -> String {
    verify_yaml("echo", "", &format!("replay: {replay}")).replace("secrets:\n", &format!("secrets:\n{secrets}"))
}

/// The one problem of `yaml`, checked to point at `needle`.
fn one_problem_at(yaml: &str, needle: &str, dir: &Path) -> String {
    let problems = load(yaml, dir).err().unwrap_or_else(|| panic!("accepted:\n{yaml}"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    let offset = yaml.find(needle).unwrap_or_else(|| panic!("{needle} not in yaml"));
    let before = &yaml[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let column = (offset - before.rfind('\n').map_or(0, |i| i + 1)) as u64 + 1;
    assert_eq!((problems[0].line, problems[0].column), (line, column), "{}", problems[0]);
    problems[0].message.clone()
}

#[test]
fn wrong_combinations_are_reported_where_they_are_written() {
    let dir = temp_dir("config-replay");
    let tls = pki(&dir, "redis", vec!["127.0.0.1".into()]);
    let other = pki(&dir, "other", vec!["127.0.0.1".into()]);
    let (ca, cert, other_key) = (tls.ca_pem.display(), tls.cert_pem.display(), other.key_pem.display());
    let pass = "  redis-pass: { value: \"hunter2-hunter2-hunter2-hunter2-hunter2\" }\n";
    let cases: Vec<(String, String, &str)> = vec![
        (
            format!("{{ store: redis, url: \"redis://10.0.0.1:6379\", ca: \"{ca}\" }}"),
            format!("\"{ca}\""),
            "not rediss://",
        ),
        (
            format!("{{ store: redis, url: \"rediss://10.0.0.1:6379\", client_cert: \"{cert}\" }}"),
            format!("\"{cert}\""),
            "`client_cert` needs `client_key`",
        ),
        (
            format!(
                "{{ store: redis, url: \"rediss://10.0.0.1:6379\", client_cert: \"{cert}\", client_key: \"{other_key}\" }}"
            ),
            format!("\"{cert}\""),
            "not the certificate's key",
        ),
        (
            "{ store: redis, url: \"rediss://10.0.0.1:6379\", ca: \"missing.pem\" }".into(),
            "\"missing.pem\"".into(),
            "cannot read CA file",
        ),
        (
            "{ store: redis-cluster, url: \"redis://10.0.0.1:6379\", nodes: [\"redis://10.0.0.2:6379\"] }".into(),
            "\"redis://10.0.0.1".into(),
            "a cluster takes `nodes` or `nodes_secret`",
        ),
        (
            "{ store: redis, url: \"redis://10.0.0.1:6379\", nodes: [\"redis://10.0.0.2:6379\"] }".into(),
            "[\"redis://10.0.0.2".into(),
            "`nodes` is for `store: redis-cluster`",
        ),
        (
            "{ store: redis-cluster, nodes: [\"redis://10.0.0.1:6379\", \"rediss://10.0.0.2:6379\"] }".into(),
            "[\"redis://10.0.0.1".into(),
            "mix redis:// and rediss://",
        ),
        (
            "{ store: redis-cluster, nodes: [\"redis+unix:///tmp/r.sock\"] }".into(),
            "[\"redis+unix".into(),
            "must start with redis:// or rediss://",
        ),
        ("{ store: redis, url: \"rediss://10.0.0.1:6379/#insecure\" }".into(), "\"rediss://".into(), "`#insecure`"),
        ("{ store: redis, url: \"redis://10.0.0.1:6379\", username: gw }".into(), "gw }".into(), "needs its password"),
        (
            "{ store: redis, url: \"redis://:pw@10.0.0.1:6379\", password_secret: redis-pass }".into(),
            "redis-pass }".into(),
            "give the password in one place",
        ),
        ("{ store: memory, password_secret: redis-pass }".into(), "redis-pass }".into(), "this one is `store: memory`"),
        ("{ store: redis-cluster }".into(), "redis-cluster".into(), "exactly one of `nodes` or `nodes_secret`"),
        ("{ store: redis-cluster, nodes: [] }".into(), "[]".into(), "at least one node URL"),
        ("{ store: redis, url: \"redis://10.0.0.1:6379\", timeout: 0s }".into(), "0s }".into(), "greater than zero"),
    ];
    for (replay, needle, expected) in cases {
        let yaml = yaml(&replay, pass);
        let message = one_problem_at(&yaml, &needle, &dir);
        assert!(message.contains(expected), "{replay}: {message}");
        assert!(!message.contains("hunter2"), "the password is quoted: {message}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A managed-Redis cluster config: nodes and password from secrets, TLS
/// with a private CA and a client certificate. It loads; what `check` and
/// `Debug` show names the mode, never a node or the password.
#[test]
fn a_tls_cluster_from_secrets_loads_and_shows_no_address_or_password() {
    let dir = temp_dir("config-replay-ok");
    let tls = pki(&dir, "redis", vec!["127.0.0.1".into()]);
    let replay = format!(
        "{{ store: redis-cluster, nodes_secret: redis-nodes, username: gateway, password_secret: redis-pass, \
         ca: \"{}\", client_cert: \"{}\", client_key: \"{}\" }}",
        tls.ca_pem.display(),
        tls.cert_pem.display(),
        tls.key_pem.display()
    );
    let secrets = "  redis-nodes: { value: \"rediss://cache-a.internal:6380, rediss://cache-b.internal:6380\\n\
                   rediss://cache-c.internal:6380\" }\n  redis-pass: { value: \"hunter2-hunter2-hunter2-hunter2-hunter2\" }\n";
    let yaml = yaml(&replay, secrets);
    let loaded = load(&yaml, &dir).unwrap_or_else(|p| panic!("{p:?}"));
    let ReplayStoreKind::Redis(redis) = &loaded.startup.replay.store else { panic!("not redis") };
    assert_eq!(redis.describe(), "redis-cluster (3 seed nodes, TLS with a client certificate, ACL credentials)");
    let debug = format!("{loaded:?}");
    for leak in ["hunter2", "cache-a", "BEGIN PRIVATE KEY"] {
        assert!(!debug.contains(leak), "`{leak}` in Debug output");
    }

    let path = dir.join("gw.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("replay store redis-cluster (3 seed nodes, TLS with a client certificate"), "{stdout}");
    for leak in ["hunter2", "cache-a", "rediss://"] {
        assert!(!stdout.contains(leak), "`{leak}` in check output:\n{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
