//! `Signature-Input` / `Signature` parsing and `@signature-params`
//! serialisation (RFC 9421 sections 2.3, 4.1, 4.2).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::Component;
use crate::sf::{self, Bare, Counted, Item, Member, SfError};
use crate::{AuthError, caps};

/// Longest nonce accepted, so the replay store's memory per entry is bounded.
pub const MAX_NONCE_LEN: usize = 256;

/// The metadata of one signature, with the exact `@signature-params` value.
/// Borrows from the request's header bytes where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams<'a> {
    /// Covered components, in signed order, each once.
    pub components: Vec<Component>,
    /// `created`: Unix seconds.
    pub created: Option<i64>,
    /// `expires`: Unix seconds.
    pub expires: Option<i64>,
    /// `nonce`: 1 to [`MAX_NONCE_LEN`] bytes.
    pub nonce: Option<Cow<'a, str>>,
    /// `alg`, when the signer sent one.
    pub alg: Option<Cow<'a, str>>,
    /// `keyid`.
    pub keyid: Option<Cow<'a, str>>,
    /// `tag`: read but not checked.
    pub tag: Option<Cow<'a, str>>,
    /// Canonical serialisation of the inner list: the `@signature-params` line.
    pub serialized: String,
}

impl SignatureParams<'_> {
    /// Whether the signature covers `component`.
    pub fn covers(&self, component: &Component) -> bool {
        self.components.contains(component)
    }
}

/// One labelled signature found in the request. Its members are read only
/// when the verifier chooses it ([`Candidate::parse`]): a request may carry
/// many, and a member that cannot be understood (say an ed25519 signature
/// for another hop) must not spoil the one meant for us.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The dictionary key shared by both headers, such as `sig1`.
    pub label: &'a str,
    /// The `keyid` parameter when it is a string, read ahead so the verifier
    /// can choose a candidate before parsing it.
    pub keyid: Option<Cow<'a, str>>,
    input: Member<'a>,
    signature: Option<Member<'a>>,
}

impl<'a> Candidate<'a> {
    /// The signature's parameters and bytes, or why they are unusable.
    pub fn parse(&self) -> Result<(SignatureParams<'a>, Vec<u8>), String> {
        let params = parse_member(&self.input)?;
        Ok((params, signature_bytes(self.signature.as_ref())?))
    }
}

/// Parses both headers (each the comma-joined field lines). Each header
/// may hold at most [`caps::MAX_SIGNATURES`] members, each signature at most
/// [`caps::MAX_COMPONENTS`] components and [`caps::MAX_PARAMS`] parameters.
pub fn parse_candidates<'a>(input: &'a [u8], signature: &'a [u8]) -> Result<Vec<Candidate<'a>>, AuthError> {
    let inputs = parse_dict(input, "Signature-Input")?;
    let signatures = parse_dict(signature, "Signature")?;
    // Keys are unique once parsed. A request carries one or two labels, so
    // pairing them by search beats building a map; past a few, a map keeps
    // the pairing linear however many labels the caps allow.
    let mut by_label: Option<HashMap<&str, Member<'_>>> = None;
    let mut signatures = signatures;
    if signatures.len() > LINEAR_LABELS {
        by_label = Some(std::mem::take(&mut signatures).into_iter().collect());
    }
    let mut take = |label: &str| match &mut by_label {
        Some(map) => map.remove(label),
        None => signatures.iter().position(|(k, _)| *k == label).map(|at| signatures.swap_remove(at).1),
    };
    let candidates = inputs
        .into_iter()
        .map(|(label, input)| Candidate { label, keyid: keyid_of(&input), signature: take(label), input })
        .collect();
    Ok(candidates)
}

/// Up to this many labels (or components), duplicates and pairs are found
/// by search rather than hashing.
const LINEAR_LABELS: usize = 8;

fn parse_dict<'a>(value: &'a [u8], header: &str) -> Result<sf::Dictionary<'a>, AuthError> {
    sf::parse_dictionary(value).map_err(|e| match e {
        SfError::TooMany { what, max } => caps::too_many(header, max, counted(what)),
        SfError::Syntax { .. } => AuthError::Malformed(format!("{header} is not a structured-field dictionary: {e}")),
    })
}

/// A cap's name in signature terms.
fn counted(what: Counted) -> &'static str {
    match what {
        Counted::Members => "signature labels",
        Counted::Items => "covered components in one signature",
        Counted::Params => "parameters on one signature or component",
    }
}

fn keyid_of<'a>(member: &Member<'a>) -> Option<Cow<'a, str>> {
    let Member::InnerList(_, params) = member else { return None };
    params.iter().find(|(k, _)| *k == "keyid").and_then(|(_, v)| match v {
        Bare::String(s) => Some(s.clone()),
        _ => None,
    })
}

fn signature_bytes(member: Option<&Member<'_>>) -> Result<Vec<u8>, String> {
    match member {
        Some(Member::Item(Item { bare: Bare::Bytes(bytes), .. })) => Ok(bytes.clone()),
        Some(_) => Err("the Signature member must be a byte sequence".into()),
        None => Err("no Signature member with the same label".into()),
    }
}

fn parse_member<'a>(member: &Member<'a>) -> Result<SignatureParams<'a>, String> {
    let Member::InnerList(items, list_params) = member else {
        return Err("a Signature-Input member must be an inner list".into());
    };
    let mut components = Vec::with_capacity(items.len());
    let mut seen = (items.len() > LINEAR_LABELS).then(|| HashSet::with_capacity(items.len()));
    for item in items {
        let Bare::String(id) = &item.bare else {
            return Err("component identifiers must be strings".into());
        };
        if !item.params.is_empty() {
            return Err(format!("component parameters on {id:?} are not supported"));
        }
        let component = Component::parse(id)?;
        // Valid identifiers map one-to-one to components: comparing them suffices.
        let repeated = match &mut seen {
            Some(seen) => !seen.insert(id.as_ref()),
            None => components.contains(&component),
        };
        if repeated {
            return Err(format!("component {id:?} is listed twice"));
        }
        components.push(component);
    }
    let mut serialized = String::with_capacity(128);
    sf::serialize_inner_list(items, list_params, &mut serialized);
    let mut params = SignatureParams {
        components,
        created: None,
        expires: None,
        nonce: None,
        alg: None,
        keyid: None,
        tag: None,
        serialized,
    };
    for (key, value) in list_params {
        read_param(&mut params, key, value.clone())?;
    }
    Ok(params)
}

fn read_param<'a>(params: &mut SignatureParams<'a>, key: &str, value: Bare<'a>) -> Result<(), String> {
    let int = |v: &Bare<'_>| match v {
        Bare::Integer(i) => Ok(*i),
        _ => Err(format!("parameter {key} must be an integer")),
    };
    let string = |v: Bare<'a>| match v {
        Bare::String(s) => Ok(s),
        _ => Err(format!("parameter {key} must be a string")),
    };
    match key {
        "created" => params.created = Some(int(&value)?),
        "expires" => params.expires = Some(int(&value)?),
        "nonce" => {
            let nonce = string(value)?;
            if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
                return Err(format!("nonce must be 1 to {MAX_NONCE_LEN} characters"));
            }
            params.nonce = Some(nonce);
        }
        "alg" => params.alg = Some(string(value)?),
        "keyid" => params.keyid = Some(string(value)?),
        "tag" => params.tag = Some(string(value)?),
        // Unknown parameters are covered by @signature-params; keep them.
        _ => {}
    }
    Ok(())
}

/// Builds the inner list a signer emits. Parameter order is fixed so the
/// output is stable: created, nonce, alg, keyid.
pub fn build_params(
    components: &[Component],
    created: i64,
    nonce: Option<&str>,
    keyid: &str,
    alg: Option<&str>,
) -> Result<SignatureParams<'static>, String> {
    let printable = |what: &str, s: &str| {
        if s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok(())
        } else {
            Err(format!("{what} {s:?} cannot be sent in Signature-Input (printable ASCII only)"))
        }
    };
    printable("keyid", keyid)?;
    let items: Vec<Item<'_>> =
        components.iter().map(|c| Item { bare: Bare::String(Cow::Borrowed(c.name())), params: Vec::new() }).collect();
    let mut list_params = vec![("created", Bare::Integer(created))];
    if let Some(nonce) = nonce {
        printable("nonce", nonce)?;
        list_params.push(("nonce", Bare::String(Cow::Borrowed(nonce))));
    }
    if let Some(alg) = alg {
        list_params.push(("alg", Bare::String(Cow::Borrowed(alg))));
    }
    list_params.push(("keyid", Bare::String(Cow::Borrowed(keyid))));
    let mut serialized = String::with_capacity(128);
    sf::serialize_inner_list(&items, &list_params, &mut serialized);
    Ok(SignatureParams {
        components: components.to_vec(),
        created: Some(created),
        expires: None,
        nonce: nonce.map(|n| Cow::Owned(n.to_owned())),
        alg: alg.map(|a| Cow::Owned(a.to_owned())),
        keyid: Some(Cow::Owned(keyid.to_owned())),
        tag: None,
        serialized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only<'a>(input: &'a str, sig: &'a str) -> Candidate<'a> {
        let mut all = parse_candidates(input.as_bytes(), sig.as_bytes()).expect("parses");
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn reads_params_and_keeps_canonical_serialisation() {
        let c = only(
            r#"sig1=("@method" "@path");created=1618884473;keyid="k1";nonce="n";alg="hmac-sha256";x=?1"#,
            "sig1=:AAEC:",
        );
        let (params, sig) = c.parse().expect("valid");
        assert_eq!(c.label, "sig1");
        assert_eq!(params.created, Some(1618884473));
        assert_eq!(params.keyid.as_deref(), Some("k1"));
        assert_eq!(params.nonce.as_deref(), Some("n"));
        assert_eq!(params.alg.as_deref(), Some("hmac-sha256"));
        assert_eq!(sig, vec![0, 1, 2]);
        assert_eq!(
            params.serialized,
            r#"("@method" "@path");created=1618884473;keyid="k1";nonce="n";alg="hmac-sha256";x"#
        );
    }

    #[test]
    fn whitespace_variants_serialise_canonically() {
        let c = only(r#"sig1=( "@method"   "@path" );created=1;keyid="k""#, "sig1=:AA==:");
        let (params, _) = c.parse().expect("valid");
        assert_eq!(params.serialized, r#"("@method" "@path");created=1;keyid="k""#);
    }

    #[test]
    fn several_labels_and_field_lines() {
        let input = b"a=(\"@method\");keyid=\"x\", b=(\"@path\");keyid=\"y\"";
        let all = parse_candidates(input, b"a=:AA==:, b=:AQ==:").expect("parses");
        let keyids: Vec<_> = all.iter().map(|c| c.keyid.clone().unwrap_or_default()).collect();
        assert_eq!(keyids, ["x", "y"]);
    }

    #[test]
    fn malformed_members_are_reported_per_candidate() {
        let cases = [
            (r#"s=("@method";sf)"#, "s=:AA==:", "not supported"),
            (r#"s=("@method" "@method")"#, "s=:AA==:", "twice"),
            (r#"s=(method)"#, "s=:AA==:", "strings"),
            (r#"s="@method""#, "s=:AA==:", "inner list"),
            (r#"s=("@method");created="1""#, "s=:AA==:", "integer"),
            (r#"s=("@method")"#, "other=:AA==:", "same label"),
            (r#"s=("@method")"#, "s=\"x\"", "byte sequence"),
            (r#"s=("@method");nonce="""#, "s=:AA==:", "nonce"),
            (r#"s=("@status")"#, "s=:AA==:", "unsupported"),
        ];
        for (input, sig, why) in cases {
            let err = only(input, sig).parse().expect_err(input);
            assert!(err.contains(why), "{input}: {err}");
        }
    }

    #[test]
    fn syntax_errors_fail_the_whole_header() {
        for bad in ["sig1=(\"@method\"", "sig1=:not base64!:", "1sig=()", "sig1=(\"a\");k=\"\\x\""] {
            let res = parse_candidates(bad.as_bytes(), b"sig1=:AA==:");
            let res = res.and_then(|_| parse_candidates(b"sig1=()", bad.as_bytes()));
            assert!(matches!(res, Err(AuthError::Malformed(_))), "{bad}");
        }
    }

    fn list(n: usize, sep: &str, unit: impl Fn(usize) -> String) -> String {
        (0..n).map(unit).collect::<Vec<_>>().join(sep)
    }

    #[test]
    fn each_cap_is_named_in_the_refusal() {
        let labels = |n| list(n, ", ", |i| format!("s{i}=()"));
        let sigs = |n| list(n, ", ", |i| format!("s{i}=:AA==:"));
        let components = |n| format!("s=({})", list(n, " ", |i| format!("\"x-{i}\"")));
        let params = |n| format!("s=(){}", list(n, "", |i| format!(";p{i}")));
        let cases = [
            (labels(65), sigs(1), "Signature-Input has more than 64 signature labels"),
            (labels(1), sigs(65), "Signature has more than 64 signature labels"),
            (components(65), sigs(1), "Signature-Input has more than 64 covered components in one signature"),
            (params(65), sigs(1), "Signature-Input has more than 64 parameters on one signature or component"),
        ];
        for (input, sig, want) in cases {
            let got = parse_candidates(input.as_bytes(), sig.as_bytes());
            assert!(matches!(&got, Err(AuthError::Malformed(m)) if m == want), "{want}: {got:?}");
        }
        for (input, sig) in [(labels(64), sigs(64)), (components(64), sigs(1)), (params(64), sigs(1))] {
            assert!(parse_candidates(input.as_bytes(), sig.as_bytes()).is_ok(), "{input}");
        }
    }

    #[test]
    fn labels_pair_up_in_any_order_and_repeats_are_found() {
        use base64::Engine as _;
        let b64 = |i: usize| base64::engine::general_purpose::STANDARD.encode([u8::try_from(i).expect("small")]);
        // Both sides of LINEAR_LABELS: searched below it, hashed above.
        for n in [2, LINEAR_LABELS, LINEAR_LABELS + 1, 64] {
            let input = list(n, ", ", |i| format!("s{i}=(\"@method\")"));
            let sig = list(n, ", ", |i| format!("s{}=:{}:", n - 1 - i, b64(n - 1 - i)));
            let all = parse_candidates(input.as_bytes(), sig.as_bytes()).expect("parses");
            assert_eq!(all.len(), n);
            for (i, c) in all.iter().enumerate() {
                assert_eq!(c.label, format!("s{i}"));
                assert_eq!(c.parse().expect("valid").1, [u8::try_from(i).expect("small")], "{n} labels");
            }
            // A label without its signature is named as such.
            let short = list(n - 1, ", ", |i| format!("s{i}=:{}:", b64(i)));
            let all = parse_candidates(input.as_bytes(), short.as_bytes()).expect("parses");
            assert!(all[n - 1].parse().expect_err("unpaired").contains("no Signature member"));
            // A repeated component is found however long the list.
            let repeated = format!("s=({} \"x-0\")", list(n - 1, " ", |i| format!("\"x-{i}\"")));
            let err = only(&repeated, "s=:AA==:").parse().expect_err("repeat");
            assert!(err.contains("\"x-0\" is listed twice"), "{err}");
        }
    }

    #[test]
    fn build_params_orders_and_quotes() {
        let params = build_params(
            &[Component::Method, Component::content_digest()],
            10,
            Some("abc"),
            "key \"1\"",
            Some("hmac-sha256"),
        )
        .expect("builds");
        assert_eq!(
            params.serialized,
            r#"("@method" "content-digest");created=10;nonce="abc";alg="hmac-sha256";keyid="key \"1\"""#
        );
    }
}
