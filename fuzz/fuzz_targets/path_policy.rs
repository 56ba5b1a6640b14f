//! The strict path policy must never panic, and anything it accepts must be
//! free of the constructs an upstream could normalise.
#![no_main]

use hmac_gateway::testing::check_strict;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    if check_strict(path).is_ok() {
        assert!(path.starts_with('/'));
        assert!(!path.contains("//"));
        assert!(!path.split('/').any(|s| s == "." || s == ".."));
        assert!(!path.bytes().any(|b| b == b'\\' || b == b';' || b < 0x20 || b >= 0x7f));
        let lower = path.to_ascii_lowercase();
        assert!(!lower.contains("%2f") && !lower.contains("%5c") && !lower.contains("%2e"));
    }
});
