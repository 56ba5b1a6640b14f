//! RFC 9421 behind [`Scheme`]: the signature to check is chosen among the
//! request's labels, its parameters checked against the route's rules, and
//! the signature base built once, before any key is tried. The body is bound
//! afterwards through `Content-Digest` ([`Scheme::check_body`]).

use hmac::Mac as _;

use super::{
    ALG, CONTENT_DIGEST, Candidate, Component, HmacSha256, SIGNATURE, SIGNATURE_INPUT, SignatureParams,
    parse_candidates, signature_base,
};
use crate::{AuthError, MessageView, ReplayId, Scheme, SignedPart, Window, digest, field, keyed};

/// What a route demands of a signature, for one request.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Components every signature must cover.
    pub required: &'a [Component],
    /// The request may have a body, so `content-digest` must be covered too.
    pub require_digest: bool,
    /// Replay protection is on, so a `nonce` is required.
    pub require_nonce: bool,
    /// How old `created` may be, and how far ahead of the clock.
    pub window: Window,
}

/// The signature chosen and checked for everything that needs no key.
#[derive(Debug)]
pub struct Credentials {
    keyid: String,
    nonce: Option<String>,
    created: i64,
    now: i64,
    signature: Vec<u8>,
    base: Vec<u8>,
    covers_digest: bool,
}

impl Credentials {
    /// The `keyid` parameter.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The `nonce` parameter, when there is one.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// The `created` parameter (unix seconds).
    pub fn created(&self) -> i64 {
        self.created
    }

    /// The signature base the MAC must cover (section 2.5). It holds no
    /// secret: showing it is how an integrator finds what differs.
    pub fn signature_base(&self) -> &[u8] {
        &self.base
    }
}

impl Scheme for Rules<'_> {
    type Credentials = Credentials;
    type Key = HmacSha256;

    fn reads_body_first(&self) -> bool {
        false
    }

    fn parse(
        &self,
        request: &MessageView<'_>,
        _body: &[u8],
        now: i64,
        rank: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<Credentials, AuthError> {
        let input = field::joined(request.headers, SIGNATURE_INPUT);
        let signature = field::joined(request.headers, SIGNATURE);
        if input.is_empty() && signature.is_empty() {
            return Err(AuthError::MissingSignature);
        }
        let candidates = parse_candidates(&input, &signature)?;
        let chosen = choose(&candidates, rank).ok_or(AuthError::MissingSignature)?;
        let (params, signature) = chosen.parse().map_err(AuthError::Malformed)?;
        let created = self.check_params(&params, now)?;
        let base = signature_base(request, &params)?;
        Ok(Credentials {
            keyid: params.keyid.as_deref().unwrap_or_default().to_owned(),
            nonce: params.nonce.as_deref().map(str::to_owned),
            created,
            now,
            signature,
            base,
            covers_digest: params.covers(&Component::content_digest()),
        })
    }

    fn keyid<'c>(&self, credentials: &'c Credentials) -> Option<&'c str> {
        Some(&credentials.keyid)
    }

    fn verify(&self, _: &MessageView<'_>, _: &[u8], credentials: &Credentials, key: &HmacSha256) -> bool {
        let mut mac = key.clone();
        mac.update(&credentials.base);
        mac.verify_slice(&credentials.signature).is_ok()
    }

    fn unknown_key(&self) -> HmacSha256 {
        keyed::hmac(&[0u8; 32])
    }

    /// A covered `Content-Digest` must match the body; a body with none
    /// covered is refused (its bytes would be unsigned).
    fn check_body(&self, request: &MessageView<'_>, credentials: &Credentials, body: &[u8]) -> Result<(), AuthError> {
        if credentials.covers_digest {
            let lines = request.headers.get_all(CONTENT_DIGEST);
            digest::verify_content_digest(lines.iter().map(http::HeaderValue::as_bytes), body)
        } else if body.is_empty() {
            Ok(())
        } else {
            Err(AuthError::MissingComponent(vec!["content-digest".into()]))
        }
    }

    /// The nonce, remembered for as long as `created` stays in the window.
    fn replay_id(&self, credentials: &Credentials) -> Option<ReplayId> {
        // Without a nonce there is nothing unique to remember (a route with
        // replay protection requires one: `require_nonce`).
        let id = credentials.nonce.clone()?;
        Some(ReplayId { id, ttl_secs: self.window.replay_ttl(credentials.created, credentials.now) })
    }

    fn signed_text(&self, credentials: &Credentials, _body: &[u8]) -> Vec<SignedPart> {
        vec![SignedPart::new("signature_base", credentials.base.clone())]
    }
}

/// The signature to check: the first whose key is known and allowed here,
/// else the first whose key is known, else the first.
fn choose<'c, 'a>(candidates: &'c [Candidate<'a>], rank: &dyn Fn(&str) -> Option<bool>) -> Option<&'c Candidate<'a>> {
    let mut known = None;
    for (at, candidate) in candidates.iter().enumerate() {
        match candidate.keyid.as_deref().and_then(rank) {
            Some(true) => return Some(candidate),
            Some(false) => known = known.or(Some(at)),
            None => {}
        }
    }
    candidates.get(known.unwrap_or(0))
}

impl Rules<'_> {
    /// Structural and time checks, done before any MAC work.
    fn check_params(&self, params: &SignatureParams<'_>, now: i64) -> Result<i64, AuthError> {
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
        if self.require_nonce && params.nonce.is_none() {
            return malformed("the nonce parameter is required on this route");
        }
        let digest = Component::content_digest();
        let missing: Vec<String> = self
            .required
            .iter()
            .chain(self.require_digest.then_some(&digest))
            .filter(|c| !params.covers(c))
            .map(|c| c.name().to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(AuthError::MissingComponent(missing));
        }
        self.window.check("created", created, now)?;
        let ahead = i64::try_from(self.window.max_ahead.as_secs()).unwrap_or(i64::MAX);
        if let Some(expires) = params.expires
            && now > expires.saturating_add(ahead)
        {
            return Err(AuthError::Expired("the signature's expires time has passed".into()));
        }
        Ok(created)
    }
}
