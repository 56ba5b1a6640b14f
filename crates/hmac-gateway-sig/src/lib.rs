//! HMAC request signatures as pure functions over [`http`] types: no async
//! runtime, no I/O. The hmac-gateway proxy verifies and signs with this crate,
//! and a Rust application can use it directly to call a gateway's verify
//! route without a sidecar (see `examples/sign_request.rs`).
//!
//! # Schemes
//! - [`rfc9421`]: RFC 9421 HTTP Message Signatures, `hmac-sha256`, with RFC
//!   9530 `Content-Digest` ([`digest`]): the native scheme.
//! - [`sigv4`]: AWS Signature Version 4 (header and presigned URL).
//! - [`webhook`]: GitHub, Stripe, Slack, Standard Webhooks and Shopify.
//! - [`compat`]: the Kong and APISIX `hmac-auth` dialects.
//!
//! # Verifying
//! Every scheme implements [`Scheme`], and [`authenticate`] is the one driver:
//! it parses what the request carries, finds the key it names, checks every
//! secret of that key in constant time (an unknown key id costs the same and
//! gets the same answer as a wrong MAC), and returns what to claim for replay
//! protection. Checking the body ([`Scheme::check_body`]) and remembering
//! replay ids are the caller's steps, since they involve I/O.
//!
//! # Signing
//! [`rfc9421::sign_request`] adds `Content-Digest`, `Signature-Input` and
//! `Signature` to a request's headers; [`sigv4::sign`] and [`webhook::sign`]
//! return the headers their scheme adds.
//!
//! # Layout
//! - `lib.rs`: the [`Scheme`] trait, the [`authenticate`] driver, [`AuthError`].
//! - `view.rs`: [`MessageView`], the request parts every scheme reads.
//! - `window.rs`: [`Window`], the one time-window check.
//! - `field.rs`: field-line joining; `keyed.rs`: an HMAC from any key;
//!   `secret.rs`: [`Secret`], key bytes that never print.
//! - `sf.rs`: the RFC 8941 structured-field parser RFC 9421 needs; `caps.rs`:
//!   the limits every parser enforces.
//! - one module per scheme: `rfc9421/`, `sigv4/`, `webhook.rs`, `compat.rs`,
//!   and `digest.rs` for RFC 9530.

pub mod caps;
pub mod compat;
pub mod digest;
pub mod field;
pub mod keyed;
pub mod redact;
pub mod rfc9421;
mod secret;
pub mod sf;
pub mod sigv4;
mod view;
pub mod webhook;
mod window;

use std::fmt;

pub use secret::Secret;
pub use view::MessageView;
pub use window::Window;

/// A signature scheme as pure functions: parse the credentials a request
/// carries, rebuild the bytes the sender signed, and check a candidate key
/// against them. The driver ([`authenticate`]) supplies the keys, so every
/// scheme gets the same unknown-key handling and key-rotation overlap.
pub trait Scheme {
    /// What a request carries, parsed and checked for everything that needs
    /// no key (format, algorithm, time window, covered components).
    type Credentials;

    /// What a key holds for this scheme: its secret bytes, or a MAC prepared
    /// from them.
    type Key;

    /// Whether the MAC covers the body (or its hash), so the body must be
    /// read before [`Scheme::parse`]. RFC 9421 checks its MAC first and binds
    /// the body afterwards through `Content-Digest`.
    fn reads_body_first(&self) -> bool {
        true
    }

    /// Parses and checks the credentials. `body` is empty when the scheme
    /// does not read it first. `rank` tells, for a key id, whether it is
    /// known (`Some`) and allowed here (`Some(true)`): a scheme that can carry
    /// several signatures picks the one to check with it.
    fn parse(
        &self,
        request: &MessageView<'_>,
        body: &[u8],
        now: i64,
        rank: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<Self::Credentials, AuthError>;

    /// The key id the credentials name; `None` where the keys belong to the
    /// route rather than to a caller (webhooks).
    fn keyid<'c>(&self, credentials: &'c Self::Credentials) -> Option<&'c str>;

    /// Whether `key` produced the credentials' MAC, compared in constant time.
    fn verify(&self, request: &MessageView<'_>, body: &[u8], credentials: &Self::Credentials, key: &Self::Key) -> bool;

    /// A key that matches nothing, checked when the key id is unknown so the
    /// answer takes the same work as a wrong MAC.
    fn unknown_key(&self) -> Self::Key;

    /// Binds the body to a signature that verified, for schemes that do not
    /// read it first. Called with the body once it is read.
    fn check_body(
        &self,
        _request: &MessageView<'_>,
        _credentials: &Self::Credentials,
        _body: &[u8],
    ) -> Result<(), AuthError> {
        Ok(())
    }

    /// What a replay store must see only once, and for how many seconds.
    fn replay_id(&self, credentials: &Self::Credentials) -> Option<ReplayId>;

    /// The text the MAC covers, as this verifier rebuilt it from the
    /// request: what a sender compares with what it signed to find the part
    /// that differs. It holds no secret and no MAC, so it may be shown to the
    /// sender (`hmac-gateway explain`, a route's debug 401). `body` is the
    /// one [`Scheme::parse`] or [`Scheme::check_body`] saw.
    fn signed_text(&self, credentials: &Self::Credentials, body: &[u8]) -> Vec<SignedPart>;
}

/// One part of the text a MAC covers ([`Scheme::signed_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPart {
    /// What the part is, as a snake_case name: `signature_base`,
    /// `canonical_request`, `string_to_sign`, `signing_string`,
    /// `signed_prefix`, `body_sha256`.
    pub name: &'static str,
    /// The bytes, exactly as they were fed to the MAC (or hashed into it).
    pub text: Vec<u8>,
}

impl SignedPart {
    /// A part named `name` holding `text`.
    pub fn new(name: &'static str, text: impl Into<Vec<u8>>) -> Self {
        Self { name, text: text.into() }
    }
}

/// What a verified request asks the replay store to remember: `id`, for
/// `ttl_secs` seconds (as long as the signature could still pass its window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayId {
    /// The value to claim once: a nonce, a delivery id or a MAC, prefixed
    /// with the scheme's name except for RFC 9421 nonces.
    pub id: String,
    /// Seconds to keep the claim.
    pub ttl_secs: u64,
}

/// A key record as the caller's key store holds it: its owner and its keys
/// (several while a key rotates).
#[derive(Debug)]
pub struct Found<'k, O, K> {
    /// The caller (or route) the keys belong to.
    pub owner: &'k O,
    /// Every current key; each is checked.
    pub keys: &'k [K],
    /// Whether this owner may use the route (decided by the caller after the
    /// MAC verified, so an attacker learns nothing from a 403 without one).
    pub allowed: bool,
}

/// A request whose MAC verified.
#[derive(Debug)]
pub struct Verified<'k, O, C> {
    /// The owner of the key that verified.
    pub owner: &'k O,
    /// Copied from [`Found::allowed`]: the caller must refuse the request
    /// when `false`.
    pub allowed: bool,
    /// The parsed credentials, for [`Scheme::check_body`] and
    /// [`Scheme::replay_id`].
    pub credentials: C,
}

/// Parses, finds the key and checks every key it holds (all of them, so the
/// time taken does not depend on which matched). An unknown key id does the
/// same work against a throwaway key and gets the same answer as a wrong MAC.
pub fn authenticate<'k, S: Scheme, O>(
    scheme: &S,
    request: &MessageView<'_>,
    body: &[u8],
    now: i64,
    lookup: impl Fn(Option<&str>) -> Option<Found<'k, O, S::Key>>,
) -> Result<Verified<'k, O, S::Credentials>, AuthError>
where
    S::Key: 'k,
{
    let rank = |keyid: &str| lookup(Some(keyid)).map(|found| found.allowed);
    let credentials = scheme.parse(request, body, now, &rank)?;
    let found = lookup(scheme.keyid(&credentials));
    let throwaway = [scheme.unknown_key()];
    let keys = found.as_ref().map_or(&throwaway[..], |f| f.keys);
    let mut matched = false;
    for key in keys {
        matched |= scheme.verify(request, body, &credentials, key);
    }
    match found {
        Some(Found { owner, allowed, .. }) if matched => Ok(Verified { owner, allowed, credentials }),
        _ => Err(AuthError::InvalidSignature),
    }
}

/// Constant-time equality of two MACs (length is not secret).
pub fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Why a request failed authentication. The gateway maps each variant to an
/// HTTP status and a stable error code in one place (its `error` module).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Signature-Input`/`Signature` headers (RFC 9421).
    #[error("the request carries no Signature-Input/Signature headers")]
    MissingSignature,
    /// The credentials cannot be parsed, or break a rule that needs no key.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// Unknown key id and wrong MAC deliberately share this variant and text.
    #[error("the signature did not verify")]
    InvalidSignature,
    /// The signed time is outside the window.
    #[error("{0}")]
    Expired(String),
    /// Components the route requires are not covered.
    #[error("the signature does not cover required components: {}", Joined(.0))]
    MissingComponent(Vec<String>),
    /// `Content-Digest` (or `Digest`) does not match the body.
    #[error("Content-Digest does not match the body: {0}")]
    DigestMismatch(String),
    /// No credentials of the route's scheme at all (the text names them).
    #[error("the request carries no {0}")]
    MissingCredentials(&'static str),
    /// A signed body hash (SigV4's payload hash) does not match the body.
    #[error("the body does not match its signed hash: {0}")]
    BodyHashMismatch(String),
}

impl AuthError {
    /// `Malformed("missing or invalid <what>")`: a credential part that is
    /// absent or does not parse.
    pub fn missing_or_invalid(what: &str) -> Self {
        Self::Malformed(format!("missing or invalid {what}"))
    }
}

struct Joined<'a>(&'a [String]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}
