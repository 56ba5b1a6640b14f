//! The structured-field parser and signature-candidate extraction must never
//! panic, and whatever parses must re-serialise to something that parses to
//! the same value.
#![no_main]

use hmac_gateway::scheme::rfc9421::parse_candidates;
use hmac_gateway::scheme::sf::{Member, parse_dictionary, serialize_inner_list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (input, signature) = data.split_at(split);
    if let Ok(candidates) = parse_candidates(input, signature.get(1..).unwrap_or_default()) {
        for candidate in &candidates {
            let _ = candidate.parse();
        }
    }
    if let Ok(dict) = parse_dictionary(input) {
        for (_, member) in &dict {
            if let Member::InnerList(items, params) = member {
                let mut text = String::from("k=");
                serialize_inner_list(items, params, &mut text);
                let again = parse_dictionary(text.as_bytes()).expect("canonical output parses");
                assert_eq!(&again[0].1, member, "round trip changed the value");
            }
        }
    }
});
