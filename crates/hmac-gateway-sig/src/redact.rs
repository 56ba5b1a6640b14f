//! The MACs a request itself carries, kept out of anything shown to people.
//! A signature may cover the field that carries another signature (RFC 9421
//! can cover `signature`; a SigV4 sender may list `authorization`), so the
//! text a MAC covers ([`crate::SignedPart`]) can hold a MAC. A presigned URL
//! holds one in its query. Where that text is shown (`explain`, a debug 401),
//! each carried MAC is replaced with [`REDACTED`].

use crate::{MessageView, SignedPart};

/// What a carried MAC is replaced with.
pub const REDACTED: &str = "[the request's own MAC, not shown]";

/// Shorter runs are not taken for MACs: labels, key ids and dates are short,
/// and the shortest MAC here (HMAC-SHA1, base64) is 28 characters.
const MIN_MAC_LEN: usize = 16;

/// Replaces every MAC `request` carries, wherever it appears in `parts`.
pub fn redact_carried_macs(parts: &mut [SignedPart], request: &MessageView<'_>) {
    let macs = carried_macs(request);
    for part in parts {
        for mac in &macs {
            part.text = replace(&part.text, mac.as_bytes(), REDACTED.as_bytes());
        }
    }
}

/// `text` with every MAC `request` carries replaced (a request target, say).
pub fn redact_carried_macs_in(text: &str, request: &MessageView<'_>) -> String {
    carried_macs(request).iter().fold(text.to_owned(), |text, mac| text.replace(mac.as_str(), REDACTED))
}

/// RFC 9421 `Signature` byte sequences, the `Signature=` or `signature="…"`
/// of an `Authorization` header, and a presigned URL's `X-Amz-Signature`.
fn carried_macs(request: &MessageView<'_>) -> Vec<String> {
    let mut macs = Vec::new();
    for value in request.headers.get_all(http::header::HeaderName::from_static("signature")) {
        let text = String::from_utf8_lossy(value.as_bytes());
        macs.extend(text.split(':').filter(|s| looks_like_mac(s)).map(str::to_owned));
    }
    for value in request.headers.get_all(http::header::AUTHORIZATION) {
        let text = String::from_utf8_lossy(value.as_bytes());
        macs.extend(after_key(&text, "signature=").filter(|s| looks_like_mac(s)));
    }
    if let Some(query) = request.query {
        macs.extend(after_key(query, "x-amz-signature=").filter(|s| looks_like_mac(s)));
    }
    macs
}

/// The values following `key` (matched without regard to case), each up to
/// the next separator, an optional quote skipped.
fn after_key<'t>(text: &'t str, key: &str) -> impl Iterator<Item = String> + 't {
    let lower = text.to_ascii_lowercase();
    let starts: Vec<usize> = lower.match_indices(key).map(|(at, _)| at + key.len()).collect();
    starts.into_iter().map(move |at| {
        let rest = text[at..].trim_start_matches('"');
        rest.split([',', ' ', '"', '&', ';']).next().unwrap_or_default().to_owned()
    })
}

fn looks_like_mac(s: &str) -> bool {
    s.len() >= MIN_MAC_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=-_%".contains(&b))
}

fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn view<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> MessageView<'a> {
        MessageView { method: "GET", scheme: "https", authority: "a.example", path: "/x", query, headers }
    }

    #[test]
    fn each_carrier_of_a_mac_is_redacted_and_nothing_else() {
        let rfc = "c2lnbmF0dXJlLW9mLXRoZS1yZXF1ZXN0LTEyMzQ1Ng==";
        let sigv4 = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";
        let presigned = "0123456789abcdef0123456789abcdef";
        let mut headers = HeaderMap::new();
        headers.insert("signature", format!("sig1=:{rfc}:").parse().expect("value"));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature={sigv4}"
        );
        headers.insert(http::header::AUTHORIZATION, auth.parse().expect("value"));
        let query = format!("a=1&X-Amz-Signature={presigned}");
        let request = view(&headers, Some(&query));
        let base = format!("\"signature\": sig1=:{rfc}:\nauthorization:{auth}\n/x?{query}\n\"@path\": /x");
        let mut parts = [SignedPart::new("signature_base", base)];
        redact_carried_macs(&mut parts, &request);
        let text = String::from_utf8(parts[0].text.clone()).expect("utf-8");
        for mac in [rfc, sigv4, presigned] {
            assert!(!text.contains(mac), "{mac} left in {text}");
        }
        assert_eq!(text.matches(REDACTED).count(), 3, "{text}");
        // What is not a MAC stays: the access key id, the label, the path.
        assert!(
            text.contains("Credential=AKIDEXAMPLE/20150830")
                && text.contains("sig1=:")
                && text.contains("\"@path\": /x")
        );
        let target = redact_carried_macs_in(&format!("/x?{query}"), &request);
        assert_eq!(target, format!("/x?a=1&X-Amz-Signature={REDACTED}"));
    }

    #[test]
    fn kong_quoted_signature_and_a_request_without_macs() {
        let mac = "ujWCGHeec9Xd6UD2zlyxiNMCiXnDOWeVFMu5VeRUxtw=";
        let mut headers = HeaderMap::new();
        let auth = format!(r#"hmac username="alice", algorithm="hmac-sha256", headers="date", signature="{mac}""#);
        headers.insert(http::header::AUTHORIZATION, auth.parse().expect("value"));
        let mut parts = [SignedPart::new("signing_string", format!("date: x\nauthorization: {auth}"))];
        redact_carried_macs(&mut parts, &view(&headers, None));
        assert!(!String::from_utf8_lossy(&parts[0].text).contains(mac));
        let empty = HeaderMap::new();
        let mut plain = [SignedPart::new("signature_base", "\"@method\": GET")];
        redact_carried_macs(&mut plain, &view(&empty, None));
        assert_eq!(plain[0].text, b"\"@method\": GET");
    }
}
