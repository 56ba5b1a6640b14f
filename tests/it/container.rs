//! The container image as a newcomer meets it. No container engine runs in
//! CI, so the Dockerfile is checked as text: what it copies exists, the config
//! its CMD runs is the demo bound to 0.0.0.0 (reachable through `docker run -p`),
//! EXPOSE names exactly that config's ports, and the image runs as non-root.
//! `.ci/run` also lints it with hadolint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use hmac_gateway::config::Loaded;

/// One Dockerfile instruction: keyword (upper case) and its arguments, with
/// continuation lines joined and comments dropped.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                let (keyword, args) = pending.trim().split_once(char::is_whitespace).unwrap_or((pending.trim(), ""));
                out.push(Instruction { keyword: keyword.to_ascii_uppercase(), args: args.trim().to_owned() });
                pending.clear();
            }
        }
    }
    out
}

/// The instructions of the last stage: what the image is.
fn final_stage(all: &[Instruction]) -> &[Instruction] {
    let from = all.iter().rposition(|i| i.keyword == "FROM").expect("a FROM");
    &all[from..]
}

/// `COPY [--flags] SRC... DEST` → (flags, sources, destination).
fn copy_parts(args: &str) -> (Vec<&str>, Vec<&str>, &str) {
    let words: Vec<&str> = args.split_whitespace().collect();
    let (flags, paths): (Vec<&str>, Vec<&str>) = words.iter().partition(|w| w.starts_with("--"));
    let (dest, sources) = paths.split_last().expect("COPY has a destination");
    (flags, sources.to_vec(), dest)
}

fn json_words(args: &str) -> Vec<String> {
    serde_json::from_str(args).expect("exec form (a JSON array)")
}

fn dockerfile() -> Vec<Instruction> {
    instructions(&std::fs::read_to_string("Dockerfile").unwrap())
}

#[test]
fn every_path_the_build_copies_from_the_context_exists() {
    let ignored = std::fs::read_to_string(".dockerignore").unwrap();
    let copies: Vec<_> = dockerfile().into_iter().filter(|i| i.keyword == "COPY" || i.keyword == "ADD").collect();
    assert!(!copies.is_empty());
    for copy in &copies {
        let (flags, sources, _) = copy_parts(&copy.args);
        if flags.iter().any(|f| f.starts_with("--from")) {
            continue;
        }
        for source in sources {
            assert!(Path::new(source).exists(), "Dockerfile copies `{source}`, which does not exist");
            let top = source.trim_start_matches("./").split('/').next().unwrap();
            assert!(!ignored.lines().any(|l| l.trim() == top), "`{source}` is excluded by .dockerignore");
        }
    }
    // The build compiles the whole workspace (a new crate needs no Dockerfile edit)
    // and the exact dependency versions of Cargo.lock.
    let runs: Vec<_> = dockerfile().into_iter().filter(|i| i.keyword == "RUN").map(|i| i.args).collect();
    assert!(copies.iter().any(|c| c.args == ". ."), "the workspace is copied whole");
    assert!(runs.iter().any(|r| r.contains("cargo build --release --locked")), "{runs:?}");
    assert!(runs.iter().any(|r| r.contains("cargo chef cook") && r.contains("--locked")), "a dependency layer");
    // The cache works only if the dependencies are cooked before the sources
    // arrive: in the build stage, the cook comes before `COPY . .`.
    let all = dockerfile();
    let cook = all.iter().position(|i| i.keyword == "RUN" && i.args.contains("cargo chef cook")).unwrap();
    let stage_start = all[..cook].iter().rposition(|i| i.keyword == "FROM").unwrap();
    let copy_all =
        all[stage_start..].iter().position(|i| i.keyword == "COPY" && i.args == ". .").unwrap() + stage_start;
    let build = all.iter().position(|i| i.keyword == "RUN" && i.args.contains("cargo build --release")).unwrap();
    assert!(cook < copy_all && copy_all < build, "cook, then COPY . ., then build, in one stage");
}

#[test]
fn the_image_runs_a_reachable_demo_as_non_root() {
    let all = dockerfile();
    let image = final_stage(&all);
    let last = |keyword: &str| image.iter().rev().find(|i| i.keyword == keyword).map(|i| i.args.clone());
    // Non-root.
    let user = last("USER").expect("a USER");
    assert_ne!(user.split(':').next().unwrap(), "0");
    assert_ne!(user, "root");
    // The CMD's config is the file copied to that path.
    let cmd = json_words(&last("CMD").expect("a CMD"));
    let at = cmd.iter().position(|w| w == "--config").expect("CMD names --config");
    let config_path = &cmd[at + 1];
    let source = image
        .iter()
        .filter(|i| i.keyword == "COPY")
        .map(|i| copy_parts(&i.args))
        .find(|(flags, _, dest)| flags.is_empty() && dest == config_path)
        .map(|(_, sources, _)| sources[0].to_owned())
        .expect("the CMD's config is copied into the image");
    let text = std::fs::read_to_string(&source).unwrap();
    let loaded = Loaded::from_yaml(&text, &source, Path::new(".")).unwrap();
    // Reachable: every listener on all interfaces, EXPOSE exactly its ports.
    let mut ports = BTreeSet::new();
    let binds = loaded.config.listeners.iter().map(|l| l.bind).chain(loaded.startup.admin);
    for bind in binds {
        assert!(bind.ip().is_unspecified(), "{source}: {bind} is unreachable through `docker run -p`");
        ports.insert(bind.port());
    }
    let exposed: BTreeSet<u16> = last("EXPOSE").unwrap().split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(exposed, ports, "EXPOSE must name the demo's ports");
}

/// The container demo is gateway.yaml with its binds opened up: the same
/// routes, secrets and limits, so the README's demo commands work in both.
#[test]
fn the_container_demo_is_the_readme_demo_bound_to_all_interfaces() {
    let settings = |path: &str| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| l.split(" #").next().unwrap().trim_end())
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .map(|l| l.replace("0.0.0.0:", "127.0.0.1:"))
            .collect()
    };
    assert_eq!(settings("deploy/docker/gateway.yaml"), settings("gateway.yaml"));
}

#[test]
fn the_parser_reads_continuations_and_exec_forms() {
    let parsed = instructions("FROM a AS b\n# c\nRUN x \\\n    && y\nCMD [\"run\", \"--config\", \"/c.yaml\"]\n");
    let keywords: Vec<_> = parsed.iter().map(|i| i.keyword.as_str()).collect();
    assert_eq!(keywords, ["FROM", "RUN", "CMD"]);
    assert_eq!(parsed[1].args, "x && y");
    assert_eq!(json_words(&parsed[2].args), ["run", "--config", "/c.yaml"]);
}
