//! Unit cases plus a differential check against the `sfv` crate.

use proptest::prelude::*;

use super::serialize::serialize_params;
use super::*;

fn canonical(dict: &Dictionary<'_>) -> String {
    let mut out = String::new();
    for (i, (key, member)) in dict.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        match member {
            Member::Item(Item { bare: Bare::Boolean(true), params }) => serialize_params(params, &mut out),
            Member::Item(item) => {
                out.push('=');
                serialize_bare(&item.bare, &mut out);
                serialize_params(&item.params, &mut out);
            }
            Member::InnerList(items, params) => {
                out.push('=');
                serialize_inner_list(items, params, &mut out);
            }
        }
    }
    out
}

/// What `sfv` makes of the same bytes: `None` if it rejects them.
fn oracle(input: &[u8]) -> Option<String> {
    let dict: sfv::Dictionary = sfv::Parser::new(input).with_version(sfv::Version::Rfc8941).parse_dictionary().ok()?;
    let mut ser = sfv::DictSerializer::new();
    ser.members(&dict);
    Some(ser.finish().unwrap_or_default())
}

fn ours(input: &[u8]) -> Option<String> {
    parse_dictionary(input).ok().map(|d| canonical(&d))
}

#[test]
fn parses_signature_input_members() {
    let dict = parse_dictionary(br#"sig1=("@method" "x");created=1618884473;keyid="k\"1";alg=hmac, s2=:AAE=:;p"#)
        .expect("valid");
    assert_eq!(dict.len(), 2);
    let Member::InnerList(items, params) = &dict[0].1 else { panic!("inner list") };
    assert_eq!(items[0].bare, Bare::String(Cow::Borrowed("@method")));
    assert_eq!(params[0], ("created", Bare::Integer(1618884473)));
    assert_eq!(params[1], ("keyid", Bare::String(Cow::Owned("k\"1".into()))));
    assert_eq!(params[2], ("alg", Bare::Token("hmac")));
    assert_eq!(
        dict[1].1,
        Member::Item(Item { bare: Bare::Bytes(vec![0, 1]), params: vec![("p", Bare::Boolean(true))] })
    );
}

#[test]
fn canonical_forms() {
    let cases = [
        ("a=( \"x\"  \"y\" );k=1", "a=(\"x\" \"y\");k=1"),
        ("a=1.500, b=-0, c=?1, d=?0;x=?1", "a=1.5, b=0, c, d=?0;x"),
        ("a=1, a=2", "a=2"),
        ("a=(1;x=1;x=2)", "a=(1;x=2)"),
        ("  a=1 ,\tb=2  ", "a=1, b=2"),
        ("a=-12.0", "a=-12.0"),
        // Missing padding and non-zero pad bits are accepted (RFC 8941 4.2.7).
        ("a=:AA:, b=:AB==:", "a=:AA==:, b=:AA==:"),
    ];
    for (input, want) in cases {
        assert_eq!(ours(input.as_bytes()).as_deref(), Some(want), "{input}");
        assert_eq!(oracle(input.as_bytes()).as_deref(), Some(want), "oracle disagrees on {input}");
    }
}

#[test]
fn rejects_what_rfc8941_rejects() {
    for bad in [
        "a=1,",
        "A=1",
        "a=(\"x\"\"y\")",
        "a=\"\\x\"",
        "a=\"é\"",
        "a=1234567890123456",
        "a=1234567890123.0",
        "a=1.2345",
        "a=?2",
        "a=:AA=A:",
        "a=:AA",
        "a=(",
        "a=1;",
        "a=1 b=2",
        ",a=1",
        "a=\"x",
        "a=-",
        "a=1.",
        "a= 1",
    ] {
        assert!(parse_dictionary(bad.as_bytes()).is_err(), "accepted {bad:?}");
        assert!(oracle(bad.as_bytes()).is_none(), "oracle accepted {bad:?}");
    }
}

/// Valid dictionaries with optional whitespace, for mutation.
fn dictionary_text() -> impl Strategy<Value = String> {
    let key = "[a-z*][a-z0-9_.*-]{0,4}";
    let bare = prop_oneof![
        "-?[0-9]{1,15}",
        "-?[0-9]{1,12}\\.[0-9]{1,3}",
        "\"([ !#-\\[\\]-~]|\\\\\\\\|\\\\\")*\"",
        "[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]{0,6}",
        ":([A-Za-z0-9+/]{4}){0,3}:",
        "\\?[01]",
    ];
    let param = (key, proptest::option::of(bare.clone())).prop_map(|(k, v)| match v {
        Some(v) => format!(";{k}={v}"),
        None => format!(";{k}"),
    });
    let params = proptest::collection::vec(param, 0..3).prop_map(|p| p.concat());
    let item = (bare, params.clone()).prop_map(|(b, p)| format!("{b}{p}"));
    let inner = (proptest::collection::vec(item.clone(), 0..4), " {0,2}", params)
        .prop_map(|(items, sp, p)| format!("({sp}{}{sp}){p}", items.join(" ")));
    let member = (key, prop_oneof![item.prop_map(|i| format!("={i}")), inner.prop_map(|i| format!("={i}"))])
        .prop_map(|(k, v)| format!("{k}{v}"));
    proptest::collection::vec(member, 1..4).prop_map(|m| m.join(", "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_sfv_on_valid_input(text in dictionary_text()) {
        prop_assert!(oracle(text.as_bytes()).is_some(), "generator made invalid input {:?}", text);
        prop_assert_eq!(ours(text.as_bytes()), oracle(text.as_bytes()), "input {:?}", text);
    }

    #[test]
    fn agrees_with_sfv_on_mutated_input(text in dictionary_text(), at in any::<prop::sample::Index>(), byte in prop::sample::select(b" \t,;=()\"\\:?*.-aZ0\x7f\xc3".to_vec())) {
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        prop_assert_eq!(ours(&bytes), oracle(&bytes), "input {:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn agrees_with_sfv_on_noise(bytes in proptest::collection::vec(prop::sample::select(b" ,;=()\"\\:?*.-az0129AZ".to_vec()), 0..24)) {
        prop_assert_eq!(ours(&bytes), oracle(&bytes), "input {:?}", String::from_utf8_lossy(&bytes));
    }
}

/// `count` comma-separated copies of `unit(i)`.
fn repeat(count: usize, sep: &str, unit: impl Fn(usize) -> String) -> String {
    (0..count).map(unit).collect::<Vec<_>>().join(sep)
}

fn too_many(input: &str) -> Option<Counted> {
    match parse_dictionary(input.as_bytes()) {
        Err(SfError::TooMany { what, max }) => {
            assert_eq!(max, what.max());
            Some(what)
        }
        other => {
            assert!(other.is_ok(), "{other:?}");
            None
        }
    }
}

#[test]
fn members_items_and_params_are_capped_at_64() {
    let members = |n| repeat(n, ", ", |i| format!("k{i}=1"));
    assert_eq!(too_many(&members(64)), None);
    assert_eq!(too_many(&members(65)), Some(Counted::Members));
    let items = |n| format!("a=({})", repeat(n, " ", |i| format!("\"x{i}\"")));
    assert_eq!(too_many(&items(64)), None);
    assert_eq!(too_many(&items(65)), Some(Counted::Items));
    let params = |n| repeat(n, "", |i| format!(";p{i}"));
    // On an item member, a bare key, an inner list, an item in an inner list.
    for (before, after) in [("a=1", ""), ("a", ""), ("a=(1)", ""), ("a=(1", " 2)")] {
        assert_eq!(too_many(&format!("{before}{}{after}", params(64))), None, "{before}");
        assert_eq!(too_many(&format!("{before}{}{after}", params(65))), Some(Counted::Params), "{before}");
    }
}

#[test]
fn repeats_count_towards_the_caps_and_still_replace_in_place() {
    assert_eq!(too_many(&repeat(65, ",", |_| "a=1".to_owned())), Some(Counted::Members));
    assert_eq!(too_many(&format!("a=1{}", ";p".repeat(65))), Some(Counted::Params));
    assert_eq!(ours(repeat(64, ",", |i| format!("k{}={i}", i % 3)).as_bytes()).as_deref(), Some("k0=63, k1=61, k2=62"));
    let params = format!("a=(1{});z", repeat(63, "", |i| format!(";p{}={i}", i % 2)));
    assert_eq!(ours(params.as_bytes()).as_deref(), Some("a=(1;p0=62;p1=61);z"));
}

#[test]
fn the_cap_stops_parsing_before_the_rest() {
    // Whatever follows the 65th member is not looked at, so a syntax error
    // there is not reported: the cap is.
    let input = format!("{}, k64=1, (((", repeat(64, ", ", |i| format!("k{i}=1")));
    assert_eq!(too_many(&input), Some(Counted::Members));
}

/// Keys repeat on both sides of the switch from a linear search to a hash
/// index: the last value wins, in the first position, as sfv has it.
#[test]
fn repeated_keys_replace_in_place_past_the_linear_search() {
    for n in [7, 8, 9, 12, 20] {
        let first = repeat(n, ", ", |i| format!("k{i}={i}"));
        let again = repeat(n, ", ", |i| format!("k{i}=x{i}"));
        let params = repeat(n, "", |i| format!(";p{}={i}", i % 5));
        let input = format!("{first}, {again}, a=1{params}");
        assert_eq!(ours(input.as_bytes()), oracle(input.as_bytes()), "{n} keys");
        assert!(ours(input.as_bytes()).is_some_and(|c| c.contains("k0=x0")), "{n} keys");
    }
}
