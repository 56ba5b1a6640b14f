//! The config's JSON Schema (`hmac-gateway schema`, committed as
//! `schema/gateway.schema.json`): the committed file is what the binary
//! prints; the schema's fixtures agree with the gateway's own loader; and the
//! independent Python `jsonschema` validator (`scripts/validate-configs.py`,
//! installed by `.ci/run`) passes every shipped config and fails a broken one;
//! and the docs check (`scripts/check-docs.py`) passes, so the configuration
//! reference in `docs/` names exactly the schema's keys.
//! The tests that need Python `jsonschema` and PyYAML, or the yaml-language-server,
//! are ignored by a plain `cargo test` and run with `--include-ignored`.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EXE: &str = env!("CARGO_BIN_EXE_hmac-gateway");
/// The environment variable `valid-redis-replay.yaml` reads its URL from.
const REDIS_URL_VAR: &str = "HMACGW_SCHEMA_TEST_REDIS_URL";

fn fixtures(prefix: &str) -> Vec<PathBuf> {
    let dir = Path::new(ROOT).join("tests/fixtures/schema");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no {prefix}*.yaml fixtures");
    found
}

fn gateway_check(config: &Path) -> Output {
    Command::new(EXE)
        .args(["check", "--config"])
        .arg(config)
        .env(REDIS_URL_VAR, "redis://127.0.0.1:6379")
        .output()
        .unwrap()
}

fn validator(args: &[&Path]) -> Output {
    Command::new("python3").arg(Path::new(ROOT).join("scripts/validate-configs.py")).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn committed_schema_is_what_the_binary_prints() {
    let out = Command::new(EXE).arg("schema").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(Path::new(ROOT).join("schema/gateway.schema.json")).unwrap();
    assert!(
        printed == committed,
        "schema/gateway.schema.json differs from `hmac-gateway schema`: the config structs changed. \
         Regenerate it with `cargo run -- schema > schema/gateway.schema.json` and commit it"
    );
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false, "unknown top-level keys are errors");
}

#[test]
fn the_gateway_loads_every_config_the_schema_fixtures_call_valid() {
    for path in fixtures("valid-") {
        let out = gateway_check(&path);
        assert!(out.status.success(), "{}: {}", path.display(), text(&out));
    }
}

#[test]
fn the_gateway_refuses_every_config_the_schema_fixtures_call_broken() {
    // Each broken fixture has one defect: the schema refuses nothing the gateway takes.
    for path in fixtures("broken-") {
        let out = gateway_check(&path);
        assert!(!out.status.success(), "{} was accepted by the gateway", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(text(&out).contains(&format!("{name}:")), "{}", text(&out));
    }
}

fn require_python_validator() {
    let installed = Command::new("python3").args(["-c", "import jsonschema, yaml"]).status().is_ok_and(|s| s.success());
    common::require_peer(installed, "Python jsonschema==4.26.0 and PyYAML==6.0.3");
}

#[test]
#[ignore = "needs Python jsonschema and PyYAML (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
fn python_jsonschema_passes_every_shipped_config() {
    require_python_validator();
    let out = validator(&[]);
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    let shipped =
        ["gateway.yaml: 1 config(s)", "deploy/compose.yaml: 1 config(s)", "\nREADME.md: ", "docs/configuration.md: "];
    for shipped in shipped {
        assert!(output.contains(shipped), "{shipped} not checked: {output}");
    }
    assert!(output.contains("0 error(s); self-test: 0 failure(s)"), "{output}");
}

/// `scripts/check-docs.py`: the README's and `docs/`'s links resolve, their
/// yaml blocks pass the schema, and `docs/configuration.md` documents every
/// key of the schema and no other (with its own self-test).
#[test]
#[ignore = "needs Python jsonschema and PyYAML (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
fn the_docs_check_passes_and_the_configuration_reference_matches_the_schema() {
    require_python_validator();
    let out = Command::new("python3").arg(Path::new(ROOT).join("scripts/check-docs.py")).output().unwrap();
    let output = text(&out);
    assert!(out.status.success(), "{output}");
    assert!(output.contains("docs/configuration.md: "), "{output}");
    assert!(output.contains("docs: 0 problem(s); self-test: 0 failure(s)"), "{output}");
}

/// `:LINE: /pointer: ` (or `: /pointer: ` without a line) and the message of
/// an `# expect: [LINE] /pointer message` line of a fixture.
fn expected_error(expect: &str) -> (String, &str) {
    let (line, rest) = match expect.split_once(' ') {
        Some((line, rest)) if line.parse::<u32>().is_ok() => (Some(line), rest),
        _ => (None, expect),
    };
    let (pointer, message) = rest.split_once(' ').unwrap();
    (format!("{}: {pointer}: ", line.map(|l| format!(":{l}")).unwrap_or_default()), message)
}

#[test]
#[ignore = "needs Python jsonschema and PyYAML (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
fn python_jsonschema_fails_each_broken_config_at_the_broken_key() {
    require_python_validator();
    // carrier-broken-*: a Kubernetes or Compose manifest whose embedded config is
    // misspelled, unparsable or invalid; empty-broken-*: a file with no config;
    // doc-broken-*: a Markdown file whose yaml blocks hold broken configs.
    let prefixes = ["broken-", "carrier-broken-", "empty-broken-", "doc-broken-"];
    for path in prefixes.into_iter().flat_map(fixtures) {
        let out = validator(&[&path]);
        let output = text(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {output}", path.display());
        // The fixture names where each of its errors is: `# expect: [LINE] /pointer text`.
        let fixture = std::fs::read_to_string(&path).unwrap();
        let expects: Vec<&str> = fixture.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expects.is_empty(), "{}: no `# expect:` line", path.display());
        for expect in expects {
            let (at, message) = expected_error(expect);
            assert!(output.lines().any(|l| l.contains(&at) && l.contains(message)), "{expect}: {output}");
        }
    }
}

/// The yaml-language-server, the one VS Code's YAML extension runs (npm,
/// `tests/peers`), through `tests/peers/yaml_ls_peer.py`.
fn language_server(args: &[String]) -> serde_json::Value {
    let peer = Path::new(ROOT).join("tests/peers/yaml_ls_peer.py");
    let out = Command::new("python3").arg(peer).args(args).current_dir(ROOT).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `path:line:col` (1-based) of the first `needle` in the demo config.
fn in_demo(needle: &str, offset: usize) -> String {
    let demo = std::fs::read_to_string(Path::new(ROOT).join("gateway.yaml")).unwrap();
    let (row, line) = demo.lines().enumerate().find(|(_, l)| l.contains(needle)).unwrap();
    format!("gateway.yaml:{}:{}", row + 1, line.find(needle).unwrap() + offset + 1)
}

#[test]
#[ignore = "needs yaml-language-server from tests/peers (npm) (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
fn an_editor_checks_completes_and_explains_configs_through_the_modeline() {
    let server = Path::new(ROOT).join("tests/peers/node_modules/.bin/yaml-language-server");
    common::require_peer(server.exists(), "yaml-language-server (npm ci --prefix tests/peers)");
    // The fixtures carry no modeline: copies name the schema by absolute path.
    let dir = std::env::temp_dir().join(format!("hmacgw-schema-ls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = Path::new(ROOT).join("schema/gateway.schema.json");
    let mut args = vec!["--hover".to_owned(), in_demo("max_age:", 1), "--complete".to_owned(), in_demo("rfc9421", 0)];
    args.push("gateway.yaml".into());
    for path in fixtures("broken-").into_iter().chain(fixtures("valid-")) {
        let copy = dir.join(path.file_name().unwrap());
        let body = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&copy, format!("# yaml-language-server: $schema={}\n{body}", schema.display())).unwrap();
        args.push(copy.display().to_string());
    }
    let report = language_server(&args);
    let _ = std::fs::remove_dir_all(&dir);
    for (file, diagnostics) in report["files"].as_object().unwrap() {
        let diagnostics = diagnostics.as_array().unwrap();
        if file.contains("broken-") {
            assert!(!diagnostics.is_empty(), "{file}: the editor shows no problem");
        } else {
            assert!(diagnostics.is_empty(), "{file}: {diagnostics:?}");
        }
    }
    // The shipped demo's relative modeline finds the schema: hover shows the field's doc comment.
    let hover = report["hover"].as_str().unwrap();
    assert!(
        hover.contains("How old the signature's `created` may be") && hover.contains("gateway.schema.json"),
        "{hover}"
    );
    let completion = report["completion"].to_string();
    for scheme in ["rfc9421", "aws-sigv4", "kong", "github", "standard-webhooks"] {
        assert!(completion.contains(&format!("\"{scheme}\"")), "{scheme} not offered: {completion}");
    }
}
