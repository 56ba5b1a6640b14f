//! Config loading: mistakes are reported at file:line:column with the known
//! names, and secrets never show up in output.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use crate::common::{KEY_B64, verify_yaml};
use hmac_gateway::config::{ConfigError, Loaded, Problem};

fn problems(yaml: &str) -> Vec<Problem> {
    match Loaded::from_yaml(yaml, "gw.yaml", Path::new(".")) {
        Err(ConfigError::Invalid(p)) => p,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("config was accepted:\n{yaml}"),
    }
}

/// 1-based (line, column) of the first occurrence of `needle` in `yaml`.
fn position(yaml: &str, needle: &str) -> (u64, u64) {
    let offset = yaml.find(needle).unwrap_or_else(|| panic!("{needle} not in yaml"));
    let before = &yaml[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line as u64, column as u64)
}

#[test]
fn unknown_keys_are_refused_with_their_location() {
    let yaml = verify_yaml("echo", "      max_agee: 10", "");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].line, p[0].column), position(&yaml, "max_agee"));
    assert!(p[0].message.contains("`max_agee` is not a key of scheme `rfc9421`"), "{}", p[0].message);
    assert!(p[0].message.contains("max_age, max_ahead"), "the keys it takes are listed: {}", p[0].message);
    assert!(p[0].to_string().starts_with(&format!("gw.yaml:{}:{}: ", p[0].line, p[0].column)));
}

#[test]
fn dangling_names_point_at_the_reference_and_list_known_names() {
    let yaml = verify_yaml("echo", "", "").replace("consumers: [site-b]", "consumers: [site-b, ghost]");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].line, p[0].column), position(&yaml, "ghost"));
    assert!(p[0].message.contains("unknown consumer `ghost`"), "{}", p[0].message);
    assert!(p[0].message.contains("known: site-b, intruder"), "{}", p[0].message);
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = format!(
        r#"listeners:
  - {{ name: a, bind: "127.0.0.1:0" }}
  - {{ name: a, bind: "not-an-address" }}
secrets:
  short: {{ value: "too short" }}
  unset: {{ env: HMACGW_SURELY_UNSET_VAR }}
  both: {{ value: "{KEY_B64}", env: X }}
  good: {{ value: "{KEY_B64}", encoding: base64 }}
consumers:
  - id: c
    keys: [{{ keyid: k1, secret: nope }}]
routes:
  - name: r1
    listener: b
    verify: {{ scheme: rfc9421, consumers: [c], components: ["@status"] }}
    upstream: echo
  - name: r2
    listener: a
    sign: {{ scheme: cavage, keyid: k, secret: good }}
    upstream: "ftp://example.com"
  - name: r3
    listener: a
    upstream: echo
"#
    );
    let p = problems(&yaml);
    let text: Vec<String> = p.iter().map(ToString::to_string).collect();
    let expect = [
        ("not-an-address", "duplicate listener name"),
        ("short:", "at least 32 bytes"),
        ("unset:", "HMACGW_SURELY_UNSET_VAR is not set"),
        ("both:", "exactly one of"),
        ("nope", "unknown secret `nope`"),
        ("listener: b", "unknown listener `b`"),
        ("\"@status\"", "unsupported derived component"),
        ("cavage", "unknown scheme `cavage`"),
        ("\"ftp://", "scheme must be http or https"),
        ("r3", "exactly one of `verify:` or `sign:`"),
    ];
    for (needle, message) in expect {
        let (line, _) = position(&yaml, needle);
        assert!(
            p.iter().any(|pr| pr.line == line && pr.message.contains(message)),
            "expected `{message}` on line {line}; got:\n{}",
            text.join("\n")
        );
    }
    assert!(!text.join("\n").contains(KEY_B64), "a secret leaked into an error");
}

#[test]
fn yaml_syntax_errors_have_a_location() {
    let p = problems("listeners:\n  - { name: a, bind: \"127.0.0.1:0\"\nroutes: []\n");
    assert_eq!(p.len(), 1);
    assert!(p[0].line >= 2, "{:?}", p[0]);
}

#[test]
fn secrets_are_redacted_from_debug_output() {
    let config = Loaded::from_yaml(&verify_yaml("echo", "", ""), "gw.yaml", Path::new(".")).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(KEY_B64));
    // First bytes of the decoded key (0xbb 0x3b 0xc9) as Debug would print them.
    assert!(!debug.contains("187, 59, 201"));
    assert!(debug.contains("[redacted]"));
}

#[test]
fn secrets_load_from_env_and_files() {
    let dir = std::env::temp_dir().join(format!("hmacgw-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("key.b64"), format!("{KEY_B64}\n")).unwrap();
    std::fs::write(dir.join("key.txt"), "a-utf8-secret-that-is-long-enough-for-hmac\n").unwrap();
    // SAFETY-free: tests in this file do not read this variable concurrently.
    let var = format!("HMACGW_TEST_KEY_{}", std::process::id());
    let yaml = verify_yaml("echo", "", "").replace(
        &format!("other: {{ value: \"{}\", encoding: base64 }}", common::OTHER_KEY_B64),
        &format!(
            "other: {{ file: key.b64, encoding: base64 }}\n  text: {{ file: key.txt }}\n  env-key: {{ env: {var} }}"
        ),
    );
    let err = Loaded::from_yaml(&yaml, "gw.yaml", &dir).unwrap_err().to_string();
    assert!(err.contains(&var), "{err}");
    // Rust 2024 makes set_var unsafe; the project forbids unsafe, so run a child.
    let exe = env!("CARGO_BIN_EXE_hmac-gateway");
    std::fs::write(dir.join("gw.yaml"), &yaml).unwrap();
    let out = std::process::Command::new(exe)
        .args(["check", "--config"])
        .arg(dir.join("gw.yaml"))
        .env(&var, "x".repeat(40))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("file key.b64") && stdout.contains("resolves (64 bytes)"), "{stdout}");
    assert!(stdout.contains("file key.txt") && stdout.contains("resolves (42 bytes)"), "{stdout}");
    assert!(stdout.contains(&format!("env {var}")) && stdout.contains("resolves (40 bytes)"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_demo_config_is_valid() {
    let config = Loaded::load(Path::new("gateway.yaml")).unwrap().config;
    let names: Vec<&str> = config.listeners.iter().map(|l| &*l.name).collect();
    assert_eq!(names, ["ingress", "egress"]);
    assert!(config.route("site-api").is_some() && config.route("call-host").is_some());
}

#[test]
fn scheme_fields_are_checked_per_scheme_with_locations() {
    let yaml = format!(
        r#"listeners: [{{ name: a, bind: "127.0.0.1:0" }}]
secrets:
  good: {{ value: "{KEY_B64}", encoding: base64 }}
  plain: {{ value: "not-a-standard-webhooks-secret-but-long" }}
consumers:
  - id: c
    keys: [{{ keyid: k1, secret: good, secrets: [good] }}, {{ keyid: k2, secrets: [good, good] }}]
routes:
  - name: r1
    listener: a
    verify: {{ scheme: aws-sigv4, region: eu-west-1, consumers: [c] }}
    upstream: echo
  - name: r2
    listener: a
    verify: {{ scheme: kong, consumers: [c], algorithms: [hmac-md5], max_age: 10s }}
    upstream: echo
  - name: r4
    listener: a
    verify: {{ scheme: standard-webhooks, secrets: [plain] }}
    upstream: echo
  - name: r6
    listener: a
    sign: {{ scheme: kong, secret: good }}
    upstream: echo
"#
    );
    let p = problems(&yaml);
    let text: Vec<String> = p.iter().map(ToString::to_string).collect();
    let expect = [
        ("k1", "exactly one of `secret` or `secrets`"),
        ("aws-sigv4", "needs `service`"),
        ("hmac-md5", "unknown algorithm `hmac-md5`"),
        ("plain] }", "not a Standard Webhooks secret"),
        ("kong, secret", "scheme `kong` only verifies"),
    ];
    for (needle, message) in expect {
        let needle = needle.replace("}}", "}");
        let (line, _) = position(&yaml, &needle);
        assert!(
            p.iter().any(|pr| pr.line == line && pr.message.contains(message)),
            "expected `{message}` on line {line}; got:\n{}",
            text.join("\n")
        );
    }
    assert!(!text.join("\n").contains("k2"), "several secrets under one keyid are fine: {text:?}");
}

#[test]
fn provider_secrets_are_warned_about_not_refused_and_keys_are_measured_decoded() {
    use base64::Engine as _;
    // GitHub lets users type any secret; Standard Webhooks secrets are
    // `whsec_` + base64 of 24 to 64 bytes.
    let whsec_24 = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([7u8; 24]));
    let yaml = format!(
        r#"listeners: [{{ name: a, bind: "127.0.0.1:0" }}]
secrets:
  github: {{ value: "twenty-chars-secret!" }}
  svix: {{ value: "{whsec_24}" }}
routes:
  - name: gh
    listener: a
    verify: {{ scheme: github, secrets: [github] }}
    upstream: echo
  - name: sw
    listener: a
    verify: {{ scheme: standard-webhooks, secrets: [svix] }}
    upstream: echo
"#
    );
    let config = Loaded::from_yaml(&yaml, "gw.yaml", Path::new(".")).unwrap_or_else(|e| panic!("{e}")).config;
    let warnings = config.warnings.join("\n");
    assert!(warnings.contains("`github` gives a 20-byte github key"), "{warnings}");
    assert!(warnings.contains("`svix` gives a 24-byte standard-webhooks key"), "{warnings}");
    assert!(!warnings.contains("twenty-chars"), "a secret leaked into a warning");
    // The same 20 bytes as a consumer key (RFC 9421, SigV4, Kong) are refused.
    let keyed = yaml.replace("routes:", "consumers: [{ id: c, keys: [{ keyid: k, secret: github }] }]\nroutes:");
    let p = problems(&keyed);
    assert!(p.iter().any(|p| p.message.contains("at least 32 bytes")), "{p:?}");
    // An empty key, or a Standard Webhooks key under the spec's 24 bytes, is refused.
    let whsec_16 = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([7u8; 16]));
    for (secret, bytes) in ["whsec_".to_owned(), whsec_16].iter().zip([0, 16]) {
        let p = problems(&yaml.replace(&whsec_24, secret));
        let message = format!("`svix` gives a {bytes}-byte standard-webhooks key, too short to sign with");
        assert!(p.iter().any(|p| p.message.contains(&message)), "{p:?}");
    }
}

#[test]
fn an_upstream_url_with_an_invalid_port_is_a_config_error() {
    let yaml = verify_yaml("http://127.0.0.1:99999", "", "");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].line, p[0].column), position(&yaml, "\"http://127.0.0.1:99999"));
    assert!(p[0].message.contains("ports are 1-65535"), "{}", p[0].message);
    assert_eq!(problems(&verify_yaml("http://127.0.0.1:0", "", "")).len(), 1, "port 0 is no port");
}

#[test]
fn a_redis_url_secret_that_is_not_text_is_reported_not_dropped() {
    // Before: the store silently stayed in memory, so replicas shared nothing.
    let yaml = verify_yaml("echo", "", "replay: { store: redis, url_secret: binary }")
        .replace("secrets:\n", "secrets:\n  binary: { value: \"//79\", encoding: base64 }\n");
    let p = problems(&yaml);
    assert!(p.iter().any(|p| p.message.contains("not UTF-8 text, so not a redis URL")), "{p:?}");
}

/// A route needing more components than a signature may cover (64, one
/// kept for content-digest) could never verify, nor be verified.
#[test]
fn component_lists_fit_the_signature_cap() {
    let list = |n: usize| (0..n).map(|i| format!("x-c{i}")).collect::<Vec<_>>().join(", ");
    let yaml = |n: usize| {
        format!(
            r#"listeners: [{{ name: a, bind: "127.0.0.1:0" }}]
secrets:
  good: {{ value: "{KEY_B64}", encoding: base64 }}
consumers:
  - id: c
    keys: [{{ keyid: k1, secret: good }}]
routes:
  - name: in
    listener: a
    match: {{ path_prefix: /in }}
    verify: {{ scheme: rfc9421, consumers: [c], components: [{}] }}
    upstream: echo
  - name: out
    listener: a
    match: {{ path_prefix: /out }}
    sign: {{ scheme: rfc9421, keyid: k1, secret: good, components: [{}] }}
    upstream: echo
"#,
            list(n),
            list(n - 4)
        )
    };
    // The sign route adds the four default components to its list.
    assert!(Loaded::from_yaml(&yaml(63), "gw.yaml", Path::new(".")).is_ok());
    let p = problems(&yaml(64));
    let messages: Vec<&str> = p.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages, ["64 components: a signature covers at most 63 besides content-digest"; 2]);
}

/// `value` with every mapping's keys in sorted order.
fn keys_sorted(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            serde_json::Value::Object(keys.into_iter().map(|k| (k.clone(), keys_sorted(&map[k]))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(keys_sorted).collect()),
        other => other.clone(),
    }
}

/// Helm's `toYaml` (YAML to JSON to YAML), PyYAML's `safe_dump` and `yq -S`
/// write mapping keys sorted: every config the project ships, so written
/// (as JSON, which is YAML), passes `hmac-gateway check` as it does as
/// written, with the same summary.
#[test]
fn shipped_configs_load_with_their_keys_sorted() {
    let mut shipped = vec![Path::new("gateway.yaml").to_owned(), Path::new("deploy/docker/gateway.yaml").to_owned()];
    for dir in std::fs::read_dir("examples/topologies").unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                shipped.push(path);
            }
        }
    }
    shipped.extend(
        std::fs::read_dir("tests/fixtures/schema")
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("valid-")),
    );
    let dir = common::tls::temp_dir("sorted");
    let check = |path: &Path| {
        let vars = ["A_TO_B_KEY", "B_TO_A_KEY", "PARTNER_A_KEY", "PARTNER_B_KEY", "SITE_B_KEY"];
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
            .args(["check", "--config"])
            .arg(path)
            .envs(vars.map(|v| (format!("HMACGW_{v}"), KEY_B64)))
            .env("HMACGW_SCHEMA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {text}", path.display());
        // The summary, without its first line (which names the file); its
        // lines sorted, since secrets are listed in the file's order.
        let mut lines: Vec<&str> = text.lines().skip(1).collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    for path in &shipped {
        let value: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let sorted = dir.join(path.file_name().unwrap()).with_extension("sorted.yaml");
        std::fs::write(&sorted, serde_json::to_string_pretty(&keys_sorted(&value)).unwrap()).unwrap();
        assert_eq!(check(&sorted), check(path), "{}: keys sorted, check says otherwise", path.display());
    }
    assert!(shipped.len() >= 11, "{shipped:?}");
}

/// A key pasted from `hmac-gateway keygen` without `encoding: base64` works
/// as text, and then every client that decodes it fails: loud, not silent.
#[test]
fn a_base64_key_left_as_text_is_warned_about() {
    let with = |encoding: &str| {
        let yaml = verify_yaml("echo", "", "").replace(
            &format!(r#"shared: {{ value: "{KEY_B64}", encoding: base64 }}"#),
            &format!(r#"shared: {{ value: "{KEY_B64}"{encoding} }}"#),
        );
        assert!(yaml.contains(&format!(r#"shared: {{ value: "{KEY_B64}"{encoding} }}"#)));
        Loaded::from_yaml(&yaml, "gw.yaml", Path::new(".")).unwrap().config.warnings
    };
    let warned = with("");
    let found =
        warned.iter().find(|w| w.contains("secret `shared` is used as")).unwrap_or_else(|| panic!("{warned:?}"));
    assert!(found.contains("88 bytes of text") && found.contains("64-byte key"), "{found}");
    assert!(found.contains("encoding: base64"), "{found}");
    for explicit in [", encoding: base64", ", encoding: utf8"] {
        assert!(!with(explicit).iter().any(|w| w.contains("secret `shared` is used as")), "{explicit}");
    }
}

/// Two typos, two problems: each at its own line:column, said once, with
/// the key it most likely meant; a scheme key too.
#[test]
fn every_unknown_key_is_reported_at_once_with_a_suggestion() {
    let yaml = verify_yaml("echo", "      componets: [\"@method\"]", "")
        .replace("    upstream: \"echo\"", "    upstrem: \"echo\"")
        .replace("    listener: ingress", "    listner: ingress");
    let p = problems(&yaml);
    let shown: Vec<String> = p.iter().map(ToString::to_string).collect();
    let expect = [("listner", "`listener`"), ("componets", "`components`"), ("upstrem", "`upstream`")];
    assert_eq!(p.len(), expect.len(), "{shown:#?}");
    for ((typo, meant), problem) in expect.iter().zip(&p) {
        assert_eq!((problem.line, problem.column), position(&yaml, typo), "{problem}");
        assert!(problem.message.contains(&format!("did you mean {meant}?")), "{problem}");
        // One location per message: the problem's own.
        assert!(!problem.message.contains("line"), "{problem}");
    }
}

/// A listener whose `bind` is wrong is reported there, not again as an
/// unknown listener at every route that names it.
#[test]
fn a_bad_bind_is_one_problem() {
    let yaml = verify_yaml("echo", "", "").replace("bind: \"127.0.0.1:0\"", "bind: \"8080\"");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("bind `8080`"), "{}", p[0]);
}

/// One odd route does not hide where the problem is: a route with `scheme`
/// last reads as it should, and the error is at the odd route.
#[test]
fn an_odd_route_is_reported_where_it_is_not_at_a_route_with_its_scheme_last() {
    let yaml = verify_yaml("echo", "", "").replace(
        "      scheme: rfc9421\n      consumers: [site-b]",
        "      consumers: [site-b]\n      scheme: rfc9421",
    ) + "  - name: odd\n    listener: ingress\n    verify: rfc9421\n    upstream: echo\n";
    assert!(yaml.contains("consumers: [site-b]\n      scheme: rfc9421"), "{yaml}");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, position(&yaml, "verify: rfc9421").0, "{}", p[0]);
}

/// PyYAML and Helm write a list at its key's own indent; an unknown key with
/// such a list is one problem, not also its items read as the next key's.
#[test]
fn an_unknown_key_holding_a_pyyaml_style_list_is_one_problem() {
    let yaml =
        verify_yaml("echo", "", "").replace("consumers:\n", "extra:\n- name: x\n  more: 1\n- name: y\nconsumers:\n");
    let p = problems(&yaml);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("unknown field `extra`"), "{}", p[0]);
}
