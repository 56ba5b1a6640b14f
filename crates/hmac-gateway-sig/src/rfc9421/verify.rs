//! Choosing and checking one signature against a route's rules.

use std::borrow::Cow;

use hmac::Mac as _;

use super::{ALG, Candidate, Component, HmacSha256, MessageView, SignatureParams, signature_base};
use crate::{AuthError, Window};

/// What a route demands of a signature.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub required: &'a [Component],
    /// The request has a body, so `content-digest` must be covered too.
    pub require_digest: bool,
    pub require_nonce: bool,
    /// How old `created` may be, and how far ahead of `now`.
    pub window: Window,
    /// Unix seconds.
    pub now: i64,
}

/// A signature that verified, with what the proxy needs next.
#[derive(Debug)]
pub struct Accepted<'k, 'a, K> {
    pub key: &'k K,
    pub keyid: Cow<'a, str>,
    pub nonce: Option<Cow<'a, str>>,
    pub created: i64,
    pub covers_digest: bool,
}

/// Verifies the request. `lookup` maps a keyid to its key and whether the
/// key's owner is allowed on this route; an allowed key's signature is
/// preferred when several labels are present. Whether the owner is allowed is
/// decided by the caller after this returns, so an attacker learns nothing
/// about keys from a 403 without a valid MAC.
pub fn verify<'k, 'a, K>(
    view: &MessageView<'_>,
    candidates: &[Candidate<'a>],
    rules: &Rules<'_>,
    lookup: impl Fn(&str) -> Option<(&'k K, &'k [HmacSha256], bool)>,
) -> Result<Accepted<'k, 'a, K>, AuthError> {
    // One lookup per candidate: key ids may be long.
    let found: Vec<_> = candidates.iter().map(|c| c.keyid.as_deref().and_then(&lookup)).collect();
    let allowed = found.iter().position(|f| f.is_some_and(|(_, _, allowed)| allowed));
    let at = allowed.or_else(|| found.iter().position(Option::is_some)).unwrap_or(0);
    let chosen = candidates.get(at).ok_or(AuthError::MissingSignature)?;
    let (params, signature) = chosen.parse().map_err(AuthError::Malformed)?;
    let created = check_params(&params, rules)?;
    let base = signature_base(view, &params)?;
    // Same work and same answer for an unknown key as for a wrong MAC; every
    // secret of a key in rotation is tried.
    let key = found.get(at).copied().flatten();
    let unknown = [unknown_key_mac()];
    let macs = key.map_or(&unknown[..], |(_, macs, _)| macs);
    let mut mac_ok = false;
    for prepared in macs {
        let mut mac = prepared.clone();
        mac.update(&base);
        mac_ok |= mac.verify_slice(&signature).is_ok();
    }
    match key {
        Some((key, _, _)) if mac_ok => Ok(Accepted {
            key,
            keyid: params.keyid.clone().unwrap_or_default(),
            nonce: params.nonce.clone(),
            created,
            covers_digest: params.covers(&Component::content_digest()),
        }),
        _ => Err(AuthError::InvalidSignature),
    }
}

fn unknown_key_mac() -> HmacSha256 {
    crate::keyed::hmac(&[0u8; 32])
}

/// Structural and time checks, done before any MAC work.
fn check_params(params: &SignatureParams<'_>, rules: &Rules<'_>) -> Result<i64, AuthError> {
    let malformed = |m: &str| Err(AuthError::Malformed(m.to_owned()));
    if params.keyid.is_none() {
        return malformed("the keyid parameter is required");
    }
    let Some(created) = params.created else {
        return malformed("the created parameter is required");
    };
    if params.alg.as_deref().is_some_and(|alg| alg != ALG) {
        return malformed("alg must be hmac-sha256 when present");
    }
    if rules.require_nonce && params.nonce.is_none() {
        return malformed("the nonce parameter is required on this route");
    }
    let digest = Component::content_digest();
    let missing: Vec<String> = rules
        .required
        .iter()
        .chain(rules.require_digest.then_some(&digest))
        .filter(|c| !params.covers(c))
        .map(|c| c.name().to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(AuthError::MissingComponent(missing));
    }
    check_time(created, params.expires, rules)?;
    Ok(created)
}

fn check_time(created: i64, expires: Option<i64>, rules: &Rules<'_>) -> Result<(), AuthError> {
    rules.window.check("created", created, rules.now)?;
    let ahead = i64::try_from(rules.window.max_ahead.as_secs()).unwrap_or(i64::MAX);
    if let Some(expires) = expires
        && rules.now > expires.saturating_add(ahead)
    {
        return Err(AuthError::Expired("the signature's expires time has passed".into()));
    }
    Ok(())
}
