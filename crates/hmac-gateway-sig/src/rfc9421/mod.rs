//! RFC 9421 HTTP Message Signatures, `hmac-sha256` only, with RFC 9530
//! `Content-Digest` binding the body.
//!
//! Verifying: [`Rules`] implements [`crate::Scheme`]. Signing:
//! [`sign_request`] adds the three headers to a request.

mod component;
mod params;
mod verify;

pub use component::Component;
pub use params::{Candidate, MAX_NONCE_LEN, SignatureParams, build_params, parse_candidates};
pub use verify::{Credentials, Rules};

/// Kept here too: RFC 9421 named it first.
pub use crate::MessageView;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Mac as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{AuthError, digest};

/// The one algorithm this scheme accepts and emits.
pub const ALG: &str = "hmac-sha256";

/// `Signature-Input`: the covered components and parameters, per label.
pub const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
/// `Signature`: the MAC, per label.
pub const SIGNATURE: HeaderName = HeaderName::from_static("signature");
/// `Content-Digest` (RFC 9530).
pub const CONTENT_DIGEST: HeaderName = HeaderName::from_static("content-digest");

/// A prepared HMAC-SHA256 key: cloning it skips re-deriving the padded key.
pub type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// An HMAC-SHA256 key prepared from secret bytes of any length.
pub fn key(secret: &[u8]) -> HmacSha256 {
    crate::keyed::hmac(secret)
}

/// Builds the signature base (section 2.5): one line per covered component,
/// then the `@signature-params` line, LF-separated, no trailing LF.
pub fn signature_base(view: &MessageView<'_>, params: &SignatureParams<'_>) -> Result<Vec<u8>, AuthError> {
    let mut base = Vec::with_capacity(256);
    for component in &params.components {
        base.push(b'"');
        base.extend_from_slice(component.name().as_bytes());
        base.extend_from_slice(b"\": ");
        if component.write_value(view, &mut base).is_none() {
            return Err(AuthError::Malformed(format!("covered field {component} is absent from the request")));
        }
        base.push(b'\n');
    }
    base.extend_from_slice(b"\"@signature-params\": ");
    base.extend_from_slice(params.serialized.as_bytes());
    Ok(base)
}

/// The MAC over a signature base.
pub fn mac(key: &HmacSha256, base: &[u8]) -> Vec<u8> {
    let mut mac = key.clone();
    mac.update(base);
    mac.finalize().into_bytes().to_vec()
}

/// The two header values a signer adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `label=(...);created=...;keyid="..."`.
    pub signature_input: String,
    /// `label=:base64:`.
    pub signature: String,
}

/// Signs `view` with `params` under `label`.
pub fn sign(
    view: &MessageView<'_>,
    key: &HmacSha256,
    label: &str,
    params: &SignatureParams<'_>,
) -> Result<SignatureHeaders, AuthError> {
    let base = signature_base(view, params)?;
    let tag = mac(key, &base);
    Ok(SignatureHeaders {
        signature_input: format!("{label}={}", params.serialized),
        signature: format!("{label}=:{}:", B64.encode(tag)),
    })
}

/// Who signs, and what: the key id the verifier knows the key by, the key,
/// the signature's label and the components it covers.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The `keyid` parameter.
    pub keyid: &'a str,
    /// The MAC key, from [`key`].
    pub key: &'a HmacSha256,
    /// The dictionary key in both headers (`sig1` by convention).
    pub label: &'a str,
    /// Covered components; `content-digest` is added when there is a body.
    pub components: &'a [Component],
}

/// Where a request goes, as the signature covers it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The request method, such as `POST`.
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The Host the request is sent with.
    pub authority: &'a str,
    /// The path as sent (percent-encoded); empty means `/`.
    pub path: &'a str,
    /// The query without `?`, when there is one.
    pub query: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// The request as a verifier will see it, with `headers`.
    pub fn view<'v>(&self, headers: &'v HeaderMap) -> MessageView<'v>
    where
        'a: 'v,
    {
        MessageView {
            method: self.method,
            scheme: self.scheme,
            authority: self.authority,
            path: self.path,
            query: self.query,
            headers,
        }
    }
}

/// Signs a request in place: `Content-Digest` when there is a body (and it
/// is then covered), `Signature-Input` and `Signature` with `created` = `now`
/// and the given `nonce`, replacing any the headers held. Sign last, after
/// every other header is final.
pub fn sign_request(
    signer: &Signer<'_>,
    target: &Target<'_>,
    headers: &mut HeaderMap,
    body: &[u8],
    now: i64,
    nonce: &str,
) -> Result<(), AuthError> {
    headers.remove(SIGNATURE);
    headers.remove(SIGNATURE_INPUT);
    let mut components = signer.components.to_vec();
    let digest_component = Component::content_digest();
    if !body.is_empty() || components.contains(&digest_component) {
        let value = HeaderValue::try_from(digest::content_digest_sha256(body))
            .map_err(|_| AuthError::Malformed("a digest is not a header value".into()))?;
        headers.insert(CONTENT_DIGEST, value);
        if !components.contains(&digest_component) {
            components.push(digest_component);
        }
    }
    let params = build_params(&components, now, Some(nonce), signer.keyid, Some(ALG)).map_err(AuthError::Malformed)?;
    let signed = sign(&target.view(headers), signer.key, signer.label, &params)?;
    for (name, value) in [(SIGNATURE_INPUT, signed.signature_input), (SIGNATURE, signed.signature)] {
        let value = HeaderValue::try_from(value)
            .map_err(|_| AuthError::Malformed("a signature is not a header value".into()))?;
        headers.insert(name, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
