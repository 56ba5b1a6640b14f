//! RFC 9421 HTTP Message Signatures, `hmac-sha256` only.

mod component;
mod params;
mod verify;

pub use component::{Component, MessageView};
pub use params::{Candidate, MAX_NONCE_LEN, SignatureParams, build_params, parse_candidates};
pub use verify::{Accepted, Rules, verify};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Mac as _;

use crate::AuthError;

/// The one algorithm this scheme accepts and emits.
pub const ALG: &str = "hmac-sha256";

/// A prepared HMAC-SHA256 key: cloning it skips re-deriving the padded key.
pub type HmacSha256 = hmac::Hmac<sha2::Sha256>;

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
    pub signature_input: String,
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

#[cfg(test)]
mod tests;
