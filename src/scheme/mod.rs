//! Signature schemes: pure functions over a request's parts.
//!
//! Nothing here does I/O: the proxy layer reads bodies, consults the replay
//! store and talks to upstreams. That keeps every scheme testable with
//! published vectors.

pub mod digest;
pub mod rfc9421;
pub mod sf;

use std::fmt;

/// Why a request failed authentication. The proxy maps each variant to an
/// HTTP status and a stable error code in one place (`crate::error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no Signature-Input/Signature headers")]
    MissingSignature,
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Unknown key id and wrong MAC deliberately share this variant and text.
    #[error("the signature did not verify")]
    InvalidSignature,
    #[error("{0}")]
    Expired(String),
    #[error("this request was already accepted once (nonce reused)")]
    Replayed,
    #[error("the signature does not cover required components: {}", Joined(.0))]
    MissingComponent(Vec<String>),
    #[error("Content-Digest does not match the body: {0}")]
    DigestMismatch(String),
}

struct Joined<'a>(&'a [String]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}
