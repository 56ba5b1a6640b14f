//! Issue #11 item 5: what switching `scheme::sf` to the `sfv` crate would
//! change per request. Times parsing a typical `Signature-Input` +
//! `Signature` pair (about 200 bytes) with the gateway's parser and with
//! `sfv` 0.16, both borrowing (`parse_dictionary_with_visitor` with sfv's
//! `Ignored` visitor: lexing only, a lower bound for any visitor that
//! builds something) and building sfv's owned `Dictionary`. Prints ns per
//! parse of the pair; compare with the ~50-60 µs of CPU a proxied request
//! costs (`scripts/bench.sh`). Results and the decision: `src/scheme/sf.rs`.
//!
//! `cargo bench --bench sf_vs_sfv`

use std::hint::black_box;
use std::time::Instant;

use hmac_gateway::scheme::sf;

const SIGNATURE_INPUT: &[u8] = br#"sig1=("@method" "@authority" "@path" "content-digest" "content-type");created=1700000000;keyid="bench-1";alg="hmac-sha256";nonce="b3k2pq""#;
const SIGNATURE: &[u8] = b"sig1=:K2qGT5srn2OGbOIDzQ6kYT+ruaycnDAAUpKv+ePFfD0=:";
const RUNS: u32 = 2_000_000;

fn time(name: &str, mut parse: impl FnMut(&'static [u8]) -> bool) -> f64 {
    for _ in 0..RUNS / 10 {
        black_box(parse(black_box(SIGNATURE_INPUT)) && parse(black_box(SIGNATURE)));
    }
    let start = Instant::now();
    for _ in 0..RUNS {
        assert!(black_box(parse(black_box(SIGNATURE_INPUT)) && parse(black_box(SIGNATURE))));
    }
    let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(RUNS);
    println!("{name:<40} {ns:>8.0} ns per pair");
    ns
}

fn main() {
    println!("pair: {} bytes", SIGNATURE_INPUT.len() + SIGNATURE.len());
    let ours = time("scheme::sf::parse_dictionary", |b| sf::parse_dictionary(b).is_ok());
    let lexing = time("sfv visitor (Ignored)", |b| {
        sfv::Parser::new(b).parse_dictionary_with_visitor(sfv::visitor::Ignored).is_ok()
    });
    let owned = time("sfv owned Dictionary", |b| sfv::Parser::new(b).parse_dictionary::<sfv::Dictionary>().is_ok());
    let request_ns = 50_000.0;
    for (name, ns) in [("sfv visitor (Ignored)", lexing), ("sfv owned Dictionary", owned)] {
        println!("{name}: {:+.0} ns vs sf, {:+.2} % of a 50 µs request", ns - ours, (ns - ours) * 100.0 / request_ns);
    }
}
