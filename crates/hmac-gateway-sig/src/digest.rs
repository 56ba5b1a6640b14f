//! RFC 9530 `Content-Digest`: compute for signing, check for verifying.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sfv::{BareItem, ListEntry, Parser};
use sha2::{Digest as _, Sha256, Sha512};

use super::AuthError;

/// The `Content-Digest` value the gateway sends: `sha-256=:<base64>:`.
pub fn content_digest_sha256(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

/// Checks every `Content-Digest` field line against `body`.
///
/// At least one supported algorithm (sha-256, sha-512) must be present and
/// every supported entry must match; deprecated or unknown algorithms are
/// ignored, as RFC 9530 lets a recipient do.
pub fn verify_content_digest<'a>(field_lines: impl Iterator<Item = &'a [u8]>, body: &[u8]) -> Result<(), AuthError> {
    let mismatch = |why: &str| AuthError::DigestMismatch(why.to_owned());
    let joined = join_lines(field_lines);
    if joined.is_empty() {
        return Err(mismatch("the Content-Digest header is absent"));
    }
    let dict = Parser::new(&joined)
        .parse_dictionary::<sfv::Dictionary>()
        .map_err(|_| mismatch("Content-Digest is not a structured-field dictionary"))?;
    let mut checked = 0;
    for (alg, entry) in &dict {
        let expected: Vec<u8> = match alg.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        let ListEntry::Item(item) = entry else {
            return Err(mismatch("a digest value must be a byte sequence"));
        };
        let BareItem::ByteSequence(got) = &item.bare_item else {
            return Err(mismatch("a digest value must be a byte sequence"));
        };
        // Digests of public bytes: no secret involved, plain comparison is fine.
        if *got != expected {
            return Err(mismatch(&format!("{} differs", alg.as_str())));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(mismatch("no supported algorithm (sha-256 or sha-512)"));
    }
    Ok(())
}

fn join_lines<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"hello": "world"}"#;

    /// RFC 9530 section 2 / Appendix D examples for `{"hello": "world"}`.
    const RFC_SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
    const RFC_SHA512: &str =
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    #[test]
    fn sha256_matches_rfc9530_example() {
        assert_eq!(content_digest_sha256(BODY), RFC_SHA256);
    }

    #[test]
    fn verifies_rfc9530_examples() {
        assert_eq!(verify_content_digest([RFC_SHA256.as_bytes()].into_iter(), BODY), Ok(()));
        assert_eq!(verify_content_digest([RFC_SHA512.as_bytes()].into_iter(), BODY), Ok(()));
        let both = format!("{RFC_SHA256}, {RFC_SHA512}");
        assert_eq!(verify_content_digest([both.as_bytes()].into_iter(), BODY), Ok(()));
    }

    #[test]
    fn rejects_a_changed_body() {
        let err = verify_content_digest([RFC_SHA256.as_bytes()].into_iter(), b"{\"hello\": \"World\"}");
        assert!(matches!(err, Err(AuthError::DigestMismatch(_))));
    }

    #[test]
    fn one_bad_entry_among_good_ones_fails() {
        let value = format!("{RFC_SHA512}, sha-256=:AAAA:");
        let err = verify_content_digest([value.as_bytes()].into_iter(), BODY);
        assert!(matches!(err, Err(AuthError::DigestMismatch(_))));
    }

    #[test]
    fn needs_a_supported_algorithm() {
        let err = verify_content_digest([b"md5=:AAAA:".as_slice()].into_iter(), BODY);
        assert!(matches!(err, Err(AuthError::DigestMismatch(m)) if m.contains("no supported")));
        let err = verify_content_digest(std::iter::empty(), BODY);
        assert!(matches!(err, Err(AuthError::DigestMismatch(_))));
    }

    #[test]
    fn field_lines_are_combined() {
        let err = verify_content_digest([RFC_SHA256.as_bytes(), RFC_SHA512.as_bytes()].into_iter(), BODY);
        assert_eq!(err, Ok(()));
    }
}
