//! Every verify and sign key, on every scheme, through `hmac-gateway check`:
//! a key that applies is accepted, a key that does not fails with
//! `file:line:col`, and an old name is refused with the name that replaced it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const KEY_B64: &str = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";

/// Each verify key with a value that is valid wherever the key applies.
const VERIFY_KEYS: [(&str, &str); 15] = [
    ("consumers", "[c]"),
    ("secrets", "[hook]"),
    ("consumer", "app"),
    ("replay", "true"),
    ("replay_release", "any_failure"),
    ("max_age", "60"),
    ("max_ahead", "10s"),
    ("replay_ttl", "10m"),
    ("components", "[\"@method\"]"),
    ("service", "execute-api"),
    ("region", "eu-west-1"),
    ("allow_unsigned_payload", "true"),
    ("presigned_reuse", "true"),
    ("algorithms", "[hmac-sha256]"),
    ("enforce_headers", "[x-date]"),
];

const COMMON: [&str; 2] = ["replay", "replay_release"];
const TIMED: [&str; 2] = ["max_age", "max_ahead"];

/// Which verify keys each scheme takes (docs/configuration.md's table), and the keys
/// its base route needs.
fn verify_schemes() -> Vec<(&'static str, Vec<&'static str>, &'static [&'static str])> {
    let keyed = |extra: &[&'static str]| -> Vec<&'static str> { [&["consumers"][..], &COMMON, &TIMED, extra].concat() };
    let webhook = |timed: bool| -> Vec<&'static str> {
        let window: &[&str] = if timed { &TIMED } else { &["replay_ttl"] };
        [&["secrets", "consumer"][..], &COMMON, window].concat()
    };
    vec![
        ("rfc9421", keyed(&["components"]), &["consumers"]),
        (
            "aws-sigv4",
            keyed(&["service", "region", "allow_unsigned_payload", "presigned_reuse"]),
            &["consumers", "service", "region"],
        ),
        ("kong", keyed(&["algorithms", "enforce_headers"]), &["consumers"]),
        ("apisix", keyed(&["algorithms", "enforce_headers"]), &["consumers"]),
        ("stripe", webhook(true), &["secrets"]),
        ("slack", webhook(true), &["secrets"]),
        ("standard-webhooks", webhook(true), &["secrets"]),
        ("github", webhook(false), &["secrets"]),
        ("shopify", webhook(false), &["secrets"]),
    ]
}

fn config(section: &str, lines: &[String]) -> String {
    let body: String = lines.iter().map(|l| format!("      {l}\n")).collect();
    format!(
        r#"listeners: [{{ name: a, bind: "127.0.0.1:0" }}]
secrets:
  key: {{ value: "{KEY_B64}", encoding: base64 }}
  hook: {{ value: "whsec_{KEY_B64}" }}
consumers:
  - {{ id: c, keys: [{{ keyid: k1, secret: key }}] }}
routes:
  - name: r
    listener: a
    {section}:
{body}    upstream: echo
"#
    )
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hmacgw-schemes-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Runs `check` on `yaml`: Ok(stdout) or Err(stderr).
    fn check(&self, yaml: &str) -> Result<String, String> {
        let path = self.0.join("gateway.yaml");
        std::fs::write(&path, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_hmac-gateway")).arg("check").arg("--config").arg(&path).output();
        let out = out.unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if out.status.success() { Ok(text(&out.stdout)) } else { Err(text(&out.stderr)) }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `path:line:col:` of `key:` inside the route's section in `yaml`.
fn location_of(dir: &Path, yaml: &str, key: &str) -> String {
    let section = yaml.lines().position(|l| l.ends_with("verify:") || l.ends_with("sign:")).unwrap();
    let after = yaml.lines().skip(section).position(|l| l.trim_start().starts_with(&format!("{key}:"))).unwrap();
    let line = section + after + 1;
    let column = yaml.lines().nth(line - 1).unwrap().find(key).unwrap() + 1;
    format!("{}:{line}:{column}:", dir.join("gateway.yaml").display())
}

#[test]
fn every_verify_key_applies_to_its_schemes_only() {
    let dir = Scratch::new("verify");
    let mut refused = 0;
    for (scheme, takes, base) in verify_schemes() {
        let base_lines: Vec<String> = std::iter::once(format!("scheme: {scheme}"))
            .chain(base.iter().map(|k| format!("{k}: {}", VERIFY_KEYS.iter().find(|(n, _)| n == k).unwrap().1)))
            .collect();
        dir.check(&config("verify", &base_lines)).unwrap_or_else(|e| panic!("{scheme} base refused: {e}"));
        for (key, value) in VERIFY_KEYS.iter().filter(|(k, _)| !base.contains(k)) {
            let mut lines = base_lines.clone();
            lines.push(format!("{key}: {value}"));
            let yaml = config("verify", &lines);
            match (takes.contains(key), dir.check(&yaml)) {
                (true, Ok(_)) => {}
                (true, Err(e)) => panic!("`{key}` on {scheme} was refused:\n{e}"),
                (false, Ok(_)) => panic!("`{key}` on {scheme} was accepted"),
                (false, Err(e)) => {
                    assert!(e.contains(&location_of(dir.path(), &yaml, key)), "{scheme}/{key}: {e}");
                    let unknown = format!("`{key}` is not a key of scheme `{scheme}`");
                    let renamed = format!("`{key}` was renamed");
                    assert!(e.contains(&unknown) || e.contains(&renamed), "{e}");
                    refused += 1;
                }
            }
        }
    }
    // 9 schemes x 15 keys, less the 57 (scheme, key) pairs that apply.
    assert_eq!(refused, 78);
}

#[test]
fn every_sign_key_applies_to_its_schemes_only() {
    let keys = [
        ("keyid", "k1"),
        ("secret", "key"),
        ("secrets", "[hook]"),
        ("label", "sig2"),
        ("components", "[\"content-type\"]"),
        ("service", "execute-api"),
        ("region", "eu-west-1"),
    ];
    let schemes: [(&str, &[&str], &[&str]); 3] = [
        ("rfc9421", &["keyid", "secret", "label", "components"], &["keyid", "secret"]),
        ("aws-sigv4", &["keyid", "secret", "service", "region"], &["keyid", "secret", "service", "region"]),
        ("stripe", &["secret", "secrets"], &["secrets"]),
    ];
    let dir = Scratch::new("sign");
    for (scheme, takes, base) in schemes {
        let base_lines: Vec<String> = std::iter::once(format!("scheme: {scheme}"))
            .chain(base.iter().map(|k| format!("{k}: {}", keys.iter().find(|(n, _)| n == k).unwrap().1)))
            .collect();
        dir.check(&config("sign", &base_lines)).unwrap_or_else(|e| panic!("{scheme} base refused: {e}"));
        for (key, value) in keys.iter().filter(|(k, _)| !base.contains(k)) {
            let mut lines = base_lines.clone();
            lines.push(format!("{key}: {value}"));
            let yaml = config("sign", &lines);
            match (takes.contains(key), dir.check(&yaml)) {
                (true, r) => assert!(r.is_ok(), "`{key}` on sign {scheme}: {r:?}"),
                (false, r) => {
                    let e = r.expect_err(key);
                    assert!(e.contains(&location_of(dir.path(), &yaml, key)), "{scheme}/{key}: {e}");
                }
            }
        }
    }
}

#[test]
fn old_window_names_are_refused_with_the_new_ones() {
    let dir = Scratch::new("renamed");
    let cases = [
        ("stripe", "secrets: [hook]", "tolerance: 60", "`tolerance` was renamed: use `max_age`"),
        ("kong", "consumers: [c]", "clock_skew: 60", "`clock_skew` was renamed: use `max_age`"),
        ("rfc9421", "consumers: [c]", "clock_skew: 60", "and `max_ahead`"),
        ("github", "secrets: [hook]", "max_age: 1h", "`max_age` was renamed to `replay_ttl`"),
    ];
    for (scheme, base, old, message) in cases {
        let lines = [format!("scheme: {scheme}"), base.to_owned(), old.to_owned()];
        let yaml = config("verify", &lines);
        let e = dir.check(&yaml).expect_err(old);
        let key = old.split(':').next().unwrap();
        assert!(e.contains(&location_of(dir.path(), &yaml, key)), "{e}");
        assert!(e.contains(message), "{e}");
    }
}

#[test]
fn windows_are_whole_seconds() {
    let dir = Scratch::new("seconds");
    for value in ["\"500ms\"", "\"1500ms\"", "0"] {
        let lines = ["scheme: stripe".to_owned(), "secrets: [hook]".to_owned(), format!("max_age: {value}")];
        let yaml = config("verify", &lines);
        let e = dir.check(&yaml).expect_err(value);
        let key_at = location_of(dir.path(), &yaml, "max_age");
        let line = key_at.rsplitn(3, ':').nth(2).unwrap();
        assert!(e.contains(&format!("{line}:")), "{e}");
        assert!(e.contains("whole seconds"), "{e}");
    }
    let lines = ["scheme: stripe".to_owned(), "secrets: [hook]".to_owned(), "max_age: \"2000ms\"".to_owned()];
    let out = dir.check(&config("verify", &lines)).unwrap();
    assert!(out.contains("max_age 2s"), "{out}");
}

/// Tools that write YAML sort keys: `scheme` may stand anywhere in its
/// section, and a key the scheme does not take is still refused at its line.
#[test]
fn scheme_may_stand_anywhere_in_its_section() {
    let dir = Scratch::new("order");
    for section in ["verify", "sign"] {
        let lines: Vec<String> = match section {
            "verify" => vec!["consumers: [c]".into(), "max_age: 60".into(), "scheme: rfc9421".into()],
            _ => vec!["keyid: k1".into(), "scheme: rfc9421".into(), "secret: key".into()],
        };
        let out = dir.check(&config(section, &lines)).unwrap_or_else(|e| panic!("{section}, scheme not first: {e}"));
        assert!(out.contains("rfc9421"), "{out}");
    }
    let yaml = config("verify", &["consumers: [c]".into(), "region: eu-west-1".into(), "scheme: rfc9421".into()]);
    let e = dir.check(&yaml).expect_err("a key of another scheme");
    assert!(e.contains("`region` is not a key of scheme `rfc9421`"), "{e}");
    assert!(e.contains(&location_of(dir.path(), &yaml, "region")), "{e}");
    let e = dir.check(&config("verify", &["consumers: [c]".into()])).expect_err("no scheme");
    assert!(e.contains("`verify:` needs a `scheme:`"), "{e}");
}
