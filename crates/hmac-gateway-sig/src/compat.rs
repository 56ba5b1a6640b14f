//! Kong's and APISIX 3.x's `hmac-auth` dialects, verified for teams moving
//! off those gateways. Their signing strings are reproduced exactly; their
//! weaknesses are not: MACs are compared in constant time, the signature
//! must cover the request target and the date, a body must come with a
//! `Digest: SHA-256=` that the signature covers, a listed header must be
//! present, and hmac-sha1 is refused unless a route enables it.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::caps::{self, MAX_COMPONENTS, MAX_PARAMS};
use super::{AuthError, MessageView, ReplayId, Scheme, Secret, SignedPart, Window, keyed, macs_equal};

/// Which gateway's `hmac-auth` format a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `Authorization` or `Proxy-Authorization: hmac username="…", algorithm="…", headers="…", signature="…"`.
    Kong,
    /// `Authorization: Signature keyId="…",algorithm="…",headers="…",signature="…"`.
    Apisix,
}

/// An `algorithm` parameter value: the HMAC hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `hmac-sha1`: refused unless the route enables it.
    Sha1,
    /// `hmac-sha256`.
    Sha256,
    /// `hmac-sha384`.
    Sha384,
    /// `hmac-sha512`.
    Sha512,
}

impl Algorithm {
    /// Parses an `algorithm` value such as `hmac-sha256` (exact, lowercase);
    /// `None` for any other name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "hmac-sha1" => Some(Self::Sha1),
            "hmac-sha256" => Some(Self::Sha256),
            "hmac-sha384" => Some(Self::Sha384),
            "hmac-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<D: hmac::EagerHash + Digest>(key: &[u8], data: &[u8]) -> Vec<u8>
        where
            hmac::Hmac<D>: hmac::Mac,
        {
            let mut mac = keyed::hmac::<D>(key);
            hmac::Mac::update(&mut mac, data);
            hmac::Mac::finalize(mac).into_bytes().to_vec()
        }
        match self {
            Self::Sha1 => run::<sha1::Sha1>(key, data),
            Self::Sha256 => run::<Sha256>(key, data),
            Self::Sha384 => run::<sha2::Sha384>(key, data),
            Self::Sha512 => run::<sha2::Sha512>(key, data),
        }
    }
}

/// A verify route's rules for one dialect.
#[derive(Debug, Clone)]
pub struct Compat {
    /// The header format the route accepts.
    pub dialect: Dialect,
    /// How old, or how far ahead, each signed `Date`/`X-Date` may be.
    pub window: Window,
    /// Algorithms accepted; any other is refused as malformed.
    pub algorithms: Vec<Algorithm>,
    /// Headers the signature must cover beyond the target and the date.
    pub enforce_headers: Vec<String>,
}

/// A parsed Kong or APISIX credential header, with the signing string
/// rebuilt and the signed date checked against the window.
#[derive(Debug)]
pub struct Credentials {
    keyid: String,
    algorithm: Algorithm,
    signature: Vec<u8>,
    signing_string: Vec<u8>,
    /// The latest signed date, for how long the replay key is kept.
    signed_at: i64,
    now: i64,
}

impl Scheme for Compat {
    type Credentials = Credentials;
    type Key = Secret;

    fn parse(
        &self,
        request: &MessageView<'_>,
        body: &[u8],
        now: i64,
        _rank: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<Credentials, AuthError> {
        let params = self.credentials_header(request.headers)?;
        let (keyid_name, target_items, date_items): (&str, &[&str], &[&str]) = match self.dialect {
            Dialect::Kong => ("username", &["@request-target", "request-line"], &["date", "x-date"]),
            Dialect::Apisix => ("keyId", &["@request-target"], &["date"]),
        };
        let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        let keyid =
            get(keyid_name).filter(|k| !k.is_empty()).ok_or_else(|| AuthError::missing_or_invalid(keyid_name))?;
        let algorithm =
            get("algorithm").and_then(Algorithm::parse).ok_or_else(|| AuthError::missing_or_invalid("algorithm"))?;
        if !self.algorithms.contains(&algorithm) {
            return Err(AuthError::Malformed("this algorithm is not enabled on this route".into()));
        }
        let signature =
            B64.decode(get("signature").unwrap_or_default()).map_err(|_| AuthError::missing_or_invalid("signature"))?;
        let headers = listed_headers(get("headers").unwrap_or_default())?;
        let listed: HashSet<&str> = headers.iter().map(String::as_str).collect();
        let covers = |items: &[&str]| items.iter().any(|i| listed.contains(i));
        // Only a date the signature covers says when it was made: an unsigned
        // one could be refreshed by anyone replaying the request.
        let signed_dates: Vec<&str> = date_items.iter().copied().filter(|d| covers(&[d])).collect();
        let mut missing: Vec<String> = Vec::new();
        if !covers(target_items) {
            missing.push(target_items[0].to_owned());
        }
        if signed_dates.is_empty() {
            missing.push("date".to_owned());
        }
        if !body.is_empty() && !covers(&["digest"]) {
            missing.push("digest".to_owned());
        }
        missing.extend(self.enforce_headers.iter().filter(|e| !covers(&[e.as_str()])).cloned());
        if !missing.is_empty() {
            return Err(AuthError::MissingComponent(missing));
        }
        let mut signed_at = i64::MIN;
        for name in signed_dates {
            signed_at = signed_at.max(check_date(request.headers, name, now, &self.window)?);
        }
        // A listed header that is absent is malformed (as in RFC 9421), so
        // the signing string comes before the body check.
        let signing_string = self.signing_string(request, keyid, &headers)?;
        check_digest(request.headers, body)?;
        Ok(Credentials { keyid: keyid.to_owned(), algorithm, signature, signing_string, signed_at, now })
    }

    fn keyid<'c>(&self, credentials: &'c Credentials) -> Option<&'c str> {
        Some(&credentials.keyid)
    }

    fn verify(&self, _: &MessageView<'_>, _: &[u8], credentials: &Credentials, key: &Secret) -> bool {
        let secret = key.expose();
        macs_equal(&credentials.algorithm.mac(secret, &credentials.signing_string), &credentials.signature)
    }

    fn unknown_key(&self) -> Secret {
        Secret::unknown()
    }

    fn replay_id(&self, credentials: &Credentials) -> Option<ReplayId> {
        // Neither dialect has a nonce: each signature may be used once.
        let dialect = if self.dialect == Dialect::Kong { "kong" } else { "apisix" };
        let ttl = self.window.replay_ttl(credentials.signed_at, credentials.now);
        Some(ReplayId { id: format!("{dialect}:{}", hex::encode(&credentials.signature)), ttl_secs: ttl })
    }

    fn signed_text(&self, credentials: &Credentials, _body: &[u8]) -> Vec<SignedPart> {
        vec![SignedPart::new("signing_string", credentials.signing_string.clone())]
    }
}

impl Compat {
    /// The credential parameters, from the dialect's header.
    fn credentials_header(&self, headers: &HeaderMap) -> Result<Vec<(String, String)>, AuthError> {
        let (names, scheme): (&[&str], &str) = match self.dialect {
            Dialect::Kong => (&["proxy-authorization", "authorization"], "hmac"),
            Dialect::Apisix => (&["authorization"], "signature"),
        };
        let missing = AuthError::MissingCredentials(match self.dialect {
            Dialect::Kong => "`Authorization: hmac …` header",
            Dialect::Apisix => "`Authorization: Signature …` header",
        });
        let value = names
            .iter()
            .filter_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
            .find(|v| v.split_once(' ').is_some_and(|(s, _)| s.eq_ignore_ascii_case(scheme)))
            .ok_or(missing)?;
        parse_params(value.split_once(' ').map_or("", |(_, rest)| rest))
    }

    /// The bytes the client signed, per the dialect's documentation.
    fn signing_string(&self, request: &MessageView<'_>, keyid: &str, headers: &[String]) -> Result<Vec<u8>, AuthError> {
        let target = match request.query {
            Some(q) => format!("{}?{q}", request.path),
            None => request.path.to_owned(),
        };
        let mut lines: Vec<String> = Vec::with_capacity(headers.len() + 1);
        if self.dialect == Dialect::Apisix {
            lines.push(keyid.to_owned());
        }
        for name in headers {
            lines.push(match (self.dialect, name.as_str()) {
                (Dialect::Kong, "@request-target") => {
                    format!("@request-target: {} {target}", request.method.to_ascii_lowercase())
                }
                // Kong signs the HTTP version here; it is taken as 1.1 so that a
                // hop changing versions cannot break signatures (Kong#3789).
                (Dialect::Kong, "request-line") => format!("{} {target} HTTP/1.1", request.method),
                (Dialect::Apisix, "@request-target") => format!("{} {target}", request.method),
                (_, name) => format!("{name}: {}", joined(request.headers, name)?),
            });
        }
        let mut out = lines.join("\n");
        if self.dialect == Dialect::Apisix {
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

/// `k="v"` pairs separated by commas, any order; at most [`MAX_PARAMS`],
/// each key once (which one a repeat meant would be a guess).
fn parse_params(text: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if out.len() == MAX_PARAMS {
            return Err(caps::too_many("the credential header", MAX_PARAMS, "parameters"));
        }
        let (key, after) =
            rest.split_once('=').ok_or_else(|| AuthError::missing_or_invalid("credential parameters"))?;
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| AuthError::missing_or_invalid("credential parameters (values are quoted)"))?;
        let (value, tail) =
            after.split_once('"').ok_or_else(|| AuthError::missing_or_invalid("credential parameters"))?;
        let key = key.trim();
        if !seen.insert(key) {
            return Err(AuthError::Malformed(format!("the credential parameter `{key}` appears twice")));
        }
        out.push((key.to_owned(), value.to_owned()));
        rest = tail.trim_start().strip_prefix(',').unwrap_or(tail).trim_start();
    }
    Ok(out)
}

/// The `headers` parameter: space-separated names, lowercased, at most
/// [`MAX_COMPONENTS`], each once. A repeated name would repeat its value in
/// the signing string, so a long list of one large header would cost its
/// size times its count.
fn listed_headers(text: &str) -> Result<Vec<String>, AuthError> {
    let mut names: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for name in text.split(' ') {
        if names.len() == MAX_COMPONENTS {
            return Err(caps::too_many("the headers parameter", MAX_COMPONENTS, "names"));
        }
        let name = name.to_ascii_lowercase();
        if !seen.insert(name.clone()) {
            return Err(AuthError::Malformed(format!("the headers parameter lists `{name}` twice")));
        }
        names.push(name);
    }
    Ok(names)
}

fn joined(headers: &HeaderMap, name: &str) -> Result<String, AuthError> {
    let value = crate::field::joined(headers, name);
    if headers.get(name).is_none() {
        return Err(AuthError::Malformed(format!("the signed header `{name}` is absent")));
    }
    String::from_utf8(value.into_owned()).map_err(|_| AuthError::missing_or_invalid(name))
}

/// The signed date header `name` must be one HTTP date inside the window;
/// returns it as unix seconds.
fn check_date(headers: &HeaderMap, name: &str, now: i64, window: &Window) -> Result<i64, AuthError> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(AuthError::Malformed(format!("the signed `{name}` header must be present once")));
    };
    let text = value.to_str().map_err(|_| AuthError::missing_or_invalid(name))?;
    let when = httpdate::parse_http_date(text)
        .map_err(|_| AuthError::missing_or_invalid(&format!("{name} (an HTTP date in GMT)")))?;
    let when = when.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    window.check(&format!("the signed {name}"), when, now)?;
    Ok(when)
}

/// A body needs `Digest: SHA-256=<base64>` matching it; a Digest sent with
/// no body must match the empty body.
fn check_digest(headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
    let digest = headers.get("digest").and_then(|v| v.to_str().ok());
    match digest {
        None if body.is_empty() => Ok(()),
        None => Err(AuthError::DigestMismatch("a request with a body needs a `Digest: SHA-256=` header".into())),
        Some(value) => {
            let expected = format!("SHA-256={}", B64.encode(Sha256::digest(body)));
            if value.trim() == expected {
                Ok(())
            } else {
                Err(AuthError::DigestMismatch("Digest does not match the body".into()))
            }
        }
    }
}

#[cfg(test)]
#[path = "compat_tests.rs"]
mod tests;
