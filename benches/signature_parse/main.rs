//! Cost of parsing and verifying signature headers: a normal request of each
//! scheme versus crafted requests whose headers fill a `max_header_bytes`
//! limit (issue #10 item C). Not a timed test: it prints figures.
//!
//! `cargo bench --bench signature_parse -- [--only TEXT] [--budget-ms N] [SIZE...]`
//!
//! Sizes default to 32768 262144 1048576 (the default limit, a large one,
//! the largest the config accepts). Each case runs until the budget has
//! passed (at least once, at most `MAX_ITERATIONS` times), so a slow case
//! costs one run. Only scheme work is timed (joining field lines, parsing,
//! building the signed bytes, the MAC), not hyper's parsing of the head.

mod cases;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cases::{Case, Keys, Kind};

const MAX_ITERATIONS: u32 = 200_000;

#[derive(Debug)]
struct Args {
    only: Option<String>,
    budget: Duration,
    sizes: Vec<usize>,
}

fn parse_args() -> Args {
    let mut args = Args { only: None, budget: Duration::from_millis(500), sizes: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--only" => args.only = it.next(),
            "--budget-ms" => {
                let ms = it.next().and_then(|v| v.parse().ok()).unwrap_or(500);
                args.budget = Duration::from_millis(ms);
            }
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            size => args.sizes.extend(size.parse::<usize>().ok()),
        }
    }
    if args.sizes.is_empty() {
        args.sizes = vec![32 * 1024, 256 * 1024, 1024 * 1024];
    }
    args
}

/// Mean time per run, and what the last run answered.
fn measure(case: &Case, keys: &Keys, budget: Duration) -> (Duration, String) {
    let start = Instant::now();
    let mut runs = 0u32;
    let mut outcome = String::new();
    while runs == 0 || (start.elapsed() < budget && runs < MAX_ITERATIONS) {
        outcome = match black_box(case.run(keys)) {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        runs += 1;
    }
    (start.elapsed() / runs, outcome)
}

fn row(name: &str, size: usize, mean: Duration, normal: Option<Duration>, outcome: &str) {
    let ratio = normal.map_or_else(|| "-".to_owned(), |n| format!("{:.1}", mean.as_secs_f64() / n.as_secs_f64()));
    let mut outcome = outcome.to_owned();
    outcome.truncate(90);
    println!("{name:<32} {size:>8} {:>14.1} {ratio:>10}  {outcome}", mean.as_secs_f64() * 1e6);
}

fn main() {
    let args = parse_args();
    let keys = Keys::new();
    let wanted = |name: &str| args.only.as_deref().is_none_or(|o| name.contains(o));
    println!("{:<32} {:>8} {:>14} {:>10}  outcome", "case", "bytes", "us/request", "x normal");
    let mut normals: HashMap<Kind, Duration> = HashMap::new();
    for case in cases::normal(&keys) {
        let (mean, outcome) = measure(&case, &keys, args.budget);
        normals.insert(case.kind, mean);
        row(&case.name, case.header_bytes(), mean, None, &outcome);
    }
    for &size in &args.sizes {
        for case in cases::crafted(size).into_iter().filter(|c| wanted(&c.name)) {
            let (mean, outcome) = measure(&case, &keys, args.budget);
            row(&case.name, case.header_bytes(), mean, normals.get(&case.kind).copied(), &outcome);
        }
    }
}
