//! Signature schemes: pure functions over a request's parts.
//!
//! Nothing here does I/O: the proxy layer reads bodies, consults the replay
//! store and talks to upstreams. That keeps every scheme testable with
//! published vectors.

pub mod caps;
pub mod compat;
pub mod digest;
pub mod keyed;
pub mod rfc9421;
pub mod sf;
pub mod sigv4;
pub mod webhook;
mod secret;
mod window;

use std::fmt;


pub use rfc9421::MessageView;
pub use secret::Secret;
pub use window::Window;

/// One signature scheme other than the native RFC 9421 one, as pure
/// functions: parse the credentials a request carries, rebuild the bytes the
/// sender signed, and check a candidate secret against them. The driver
/// ([`authenticate`]) supplies the keys, so every scheme gets the same
/// unknown-key handling and key-rotation overlap for free.
pub trait Scheme {
    /// What a request carries, parsed and checked for everything that needs
    /// no key (format, algorithm, time window, body hash).
    type Credentials;

    fn parse(&self, request: &MessageView<'_>, body: &[u8], now: i64) -> Result<Self::Credentials, AuthError>;

    /// The key id the credentials name; `None` where the secrets belong to
    /// the route rather than to a caller (webhooks).
    fn keyid<'c>(&self, credentials: &'c Self::Credentials) -> Option<&'c str>;

    /// Whether `secret` produced the credentials' MAC, compared in constant time.
    fn verify(&self, request: &MessageView<'_>, body: &[u8], credentials: &Self::Credentials, secret: &[u8]) -> bool;

    /// What the replay store must see only once, and for how many seconds.
    fn replay_id(&self, credentials: &Self::Credentials) -> Option<(String, u64)>;
}

/// A request that verified: whose key it was and what to claim for replay.
#[derive(Debug)]
pub struct Verified<'k, K> {
    pub key: &'k K,
    pub replay: Option<(String, u64)>,
}

/// Parses, finds the key and checks every secret it holds (all of them, so
/// the time taken does not depend on which matched). An unknown key id does
/// the same work against a throwaway key and gets the same answer as a
/// wrong MAC.
pub fn authenticate<'k, S: Scheme, K>(
    scheme: &S,
    request: &MessageView<'_>,
    body: &[u8],
    now: i64,
    lookup: impl Fn(Option<&str>) -> Option<(&'k K, &'k [Secret])>,
) -> Result<Verified<'k, K>, AuthError> {
    let credentials = scheme.parse(request, body, now)?;
    let found = lookup(scheme.keyid(&credentials));
    let throwaway = [Secret::new(vec![0u8; 32])];
    let secrets = found.map_or(&throwaway[..], |(_, secrets)| secrets);
    let mut matched = false;
    for secret in secrets {
        matched |= scheme.verify(request, body, &credentials, secret.expose());
    }
    match found {
        Some((key, _)) if matched => Ok(Verified { key, replay: scheme.replay_id(&credentials) }),
        _ => Err(AuthError::InvalidSignature),
    }
}

/// Constant-time equality of two MACs (length is not secret).
pub fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

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
    #[error("the signature does not cover required components: {}", Joined(.0))]
    MissingComponent(Vec<String>),
    #[error("Content-Digest does not match the body: {0}")]
    DigestMismatch(String),
    /// No credentials of the route's scheme at all (the text names them).
    #[error("the request carries no {0}")]
    MissingCredentials(&'static str),
    #[error("the body does not match its signed hash: {0}")]
    BodyHashMismatch(String),
}

struct Joined<'a>(&'a [String]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}
