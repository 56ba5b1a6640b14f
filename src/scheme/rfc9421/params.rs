//! `Signature-Input` / `Signature` parsing and `@signature-params`
//! serialisation (RFC 9421 sections 2.3, 4.1, 4.2).

use sfv::{BareItem, Dictionary, InnerList, Item, KeyRef, ListEntry, ListSerializer, Parser};

use super::Component;
use crate::scheme::AuthError;

/// Longest nonce accepted, so the replay store's memory per entry is bounded.
pub const MAX_NONCE_LEN: usize = 256;

/// The metadata of one signature, with the exact `@signature-params` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    pub components: Vec<Component>,
    pub created: Option<i64>,
    pub expires: Option<i64>,
    pub nonce: Option<String>,
    pub alg: Option<String>,
    pub keyid: Option<String>,
    pub tag: Option<String>,
    /// Canonical serialisation of the inner list: the `@signature-params` line.
    pub serialized: String,
}

impl SignatureParams {
    pub fn covers(&self, component: &Component) -> bool {
        self.components.contains(component)
    }
}

/// One labelled signature found in the request. A member that cannot be
/// understood is kept with its reason, so that an unrelated signature (say an
/// ed25519 one for another hop) does not spoil the one meant for us.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub label: String,
    pub keyid: Option<String>,
    pub parsed: Result<(SignatureParams, Vec<u8>), String>,
}

/// Parses both headers; each may span several field lines.
pub fn parse_candidates(input: &[u8], signature: &[u8]) -> Result<Vec<Candidate>, AuthError> {
    let inputs = parse_dict(input, "Signature-Input")?;
    let signatures = parse_dict(signature, "Signature")?;
    let candidates = inputs
        .iter()
        .map(|(label, entry)| {
            let keyid = keyid_of(entry);
            let parsed = parse_member(entry).and_then(|params| {
                let sig = signature_bytes(signatures.get(label.as_str()))?;
                Ok((params, sig))
            });
            Candidate { label: label.as_str().to_owned(), keyid, parsed }
        })
        .collect();
    Ok(candidates)
}

fn parse_dict(value: &[u8], header: &str) -> Result<Dictionary, AuthError> {
    Parser::new(value)
        .parse_dictionary()
        .map_err(|e| AuthError::Malformed(format!("{header} is not a structured-field dictionary: {e}")))
}

fn keyid_of(entry: &ListEntry) -> Option<String> {
    let ListEntry::InnerList(list) = entry else {
        return None;
    };
    match list.params.get("keyid") {
        Some(BareItem::String(s)) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn signature_bytes(entry: Option<&ListEntry>) -> Result<Vec<u8>, String> {
    match entry {
        Some(ListEntry::Item(Item { bare_item: BareItem::ByteSequence(bytes), .. })) => Ok(bytes.clone()),
        Some(_) => Err("the Signature member must be a byte sequence".into()),
        None => Err("no Signature member with the same label".into()),
    }
}

fn parse_member(entry: &ListEntry) -> Result<SignatureParams, String> {
    let ListEntry::InnerList(list) = entry else {
        return Err("a Signature-Input member must be an inner list".into());
    };
    let mut components = Vec::with_capacity(list.items.len());
    for item in &list.items {
        let BareItem::String(id) = &item.bare_item else {
            return Err("component identifiers must be strings".into());
        };
        if !item.params.is_empty() {
            return Err(format!("component parameters on {:?} are not supported", id.as_str()));
        }
        let component = Component::parse(id.as_str())?;
        if components.contains(&component) {
            return Err(format!("component {:?} is listed twice", id.as_str()));
        }
        components.push(component);
    }
    let mut params = SignatureParams {
        components,
        created: None,
        expires: None,
        nonce: None,
        alg: None,
        keyid: None,
        tag: None,
        serialized: serialize_inner_list(list),
    };
    for (key, value) in &list.params {
        read_param(&mut params, key.as_str(), value)?;
    }
    Ok(params)
}

fn read_param(params: &mut SignatureParams, key: &str, value: &BareItem) -> Result<(), String> {
    let int = || match value {
        BareItem::Integer(i) => Ok(i64::from(*i)),
        _ => Err(format!("parameter {key} must be an integer")),
    };
    let string = || match value {
        BareItem::String(s) => Ok(s.as_str().to_owned()),
        _ => Err(format!("parameter {key} must be a string")),
    };
    match key {
        "created" => params.created = Some(int()?),
        "expires" => params.expires = Some(int()?),
        "nonce" => {
            let nonce = string()?;
            if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
                return Err(format!("nonce must be 1 to {MAX_NONCE_LEN} characters"));
            }
            params.nonce = Some(nonce);
        }
        "alg" => params.alg = Some(string()?),
        "keyid" => params.keyid = Some(string()?),
        "tag" => params.tag = Some(string()?),
        // Unknown parameters are covered by @signature-params; keep them.
        _ => {}
    }
    Ok(())
}

/// Serialises an inner list exactly as it appears after `label=`.
pub fn serialize_inner_list(list: &InnerList) -> String {
    let mut ser = ListSerializer::new();
    {
        let mut inner = ser.inner_list();
        inner.items(&list.items);
        let _ = inner.finish().parameters(&list.params);
    }
    ser.finish().unwrap_or_default()
}

/// Builds the inner list a signer emits. Parameter order is fixed so the
/// output is stable: created, expires, nonce, alg, keyid, tag.
pub fn build_params(
    components: &[Component],
    created: i64,
    nonce: Option<&str>,
    keyid: &str,
    alg: Option<&str>,
) -> Result<SignatureParams, String> {
    let items = components
        .iter()
        .map(|c| sfv::String::from_string(c.name().to_owned()).map(Item::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("component name is not a valid string: {}", e.0))?;
    let mut list = InnerList::new(items);
    let mut put = |key: &'static str, value: BareItem| {
        list.params.insert(KeyRef::constant(key).to_owned(), value);
    };
    put("created", BareItem::Integer(sf_int(created)?));
    let string = |s: &str| {
        sfv::String::from_string(s.to_owned())
            .map(BareItem::String)
            .map_err(|e| format!("{s:?} cannot be sent in Signature-Input: {}", e.0))
    };
    if let Some(nonce) = nonce {
        put("nonce", string(nonce)?);
    }
    if let Some(alg) = alg {
        put("alg", string(alg)?);
    }
    put("keyid", string(keyid)?);
    parse_member(&ListEntry::InnerList(list))
}

fn sf_int(value: i64) -> Result<sfv::Integer, String> {
    sfv::Integer::try_from(value).map_err(|_| format!("{value} is out of structured-field range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(input: &str, sig: &str) -> Candidate {
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
        let (params, sig) = c.parsed.expect("valid");
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
        let (params, _) = c.parsed.expect("valid");
        assert_eq!(params.serialized, r#"("@method" "@path");created=1;keyid="k""#);
    }

    #[test]
    fn several_labels_and_field_lines() {
        let input = b"a=(\"@method\");keyid=\"x\", b=(\"@path\");keyid=\"y\"";
        let all = parse_candidates(input, b"a=:AA==:, b=:AQ==:").expect("parses");
        let labels: Vec<_> = all.iter().map(|c| c.keyid.clone().unwrap_or_default()).collect();
        assert_eq!(labels, ["x", "y"]);
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
            let err = only(input, sig).parsed.expect_err(input);
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
