//! Every gateway config embedded in `deploy/` must pass the gateway's own
//! loader, so the examples cannot rot.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use base64::Engine as _;
use hmac_gateway::config::Loaded;

/// (file, gateway.yaml text) for each ConfigMap or compose config.
fn embedded_configs() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for file in ["deploy/compose.yaml", "deploy/kubernetes/fronting.yaml", "deploy/kubernetes/sidecar.yaml"] {
        let text = std::fs::read_to_string(file).unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&text).unwrap();
        for doc in docs {
            if let Some(cfg) = doc["data"]["gateway.yaml"].as_str() {
                found.push((file.to_owned(), cfg.to_owned()));
            }
            if let Some(cfg) = doc["configs"]["gateway"]["content"].as_str() {
                found.push((file.to_owned(), cfg.to_owned()));
            }
        }
    }
    found
}

#[test]
fn deploy_examples_are_valid_configs() {
    let configs = embedded_configs();
    assert_eq!(configs.len(), 3, "expected one config per example");
    // Stand-ins for the mounted key files and the compose environment.
    let dir = std::env::temp_dir().join(format!("hmacgw-deploy-{}", std::process::id()));
    // Kubernetes layout: config mount and key mount side by side.
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    std::fs::write(dir.join("secrets/site-b-2026"), &key).unwrap();
    let exe = env!("CARGO_BIN_EXE_hmac-gateway");
    for (i, (file, yaml)) in configs.iter().enumerate() {
        if yaml.contains("env: HMACGW_KEY") {
            // Environment secrets: check through the binary, with the variable set.
            let path = dir.join(format!("compose-{i}.yaml"));
            std::fs::write(&path, yaml).unwrap();
            let out = std::process::Command::new(exe)
                .args(["check", "--config"])
                .arg(&path)
                .env("HMACGW_KEY", &key)
                .output()
                .unwrap();
            assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        } else if let Err(e) = Loaded::from_yaml(yaml, file, &dir.join("config")) {
            panic!("{file}: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
