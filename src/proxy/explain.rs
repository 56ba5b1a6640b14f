//! `hmac-gateway explain`: the gateway's own checks, run step by step on a
//! request given as text, with the reason of the first that fails. Every
//! step calls the function the pipeline calls (hygiene, route matching,
//! path policy, the scheme's `parse`, the `authenticate` driver,
//! `check_body`), so the answer cannot differ from the gateway's. Only the
//! replay store is left out: explain has none.
//!
//! It never shows a secret or a MAC: the text a MAC covers
//! ([`crate::scheme::Scheme::signed_text`]) holds neither. Since it runs
//! with the config's keys, it also tries the request as a proxy in front
//! may have received it (`explain/variants.rs`) and names the change under
//! which the signature would verify.

mod variants;

use http::request::Parts;

use super::hygiene;
use super::verify::{Caller, consumer_key, rfc9421_rules, webhook_keys};
use super::{body, route};
use crate::config::{Action, Config, Listener, Route, VerifyPolicy, VerifyScheme};
use crate::error::Rejection;
use crate::scheme::{self, AuthError, Found, MessageView, Scheme, SignedPart};

/// What to explain: a request as the gateway would receive it on a
/// listener, checked at `now`.
pub struct Input<'a> {
    /// The loaded config (with its keys).
    pub config: &'a Config,
    /// The listener the request arrives on.
    pub listener: &'a Listener,
    /// The request line and headers.
    pub parts: &'a Parts,
    /// The whole body.
    pub body: &'a [u8],
    /// Unix seconds the gateway's clock reads.
    pub now: i64,
    /// The route the user expects; another one matching is a failure.
    pub route: Option<&'a str>,
}

/// One check, in the order the gateway runs it.
pub struct Step {
    /// What is checked.
    pub name: String,
    /// `Ok(detail)` or `Err(why it fails)`.
    pub outcome: Result<String, String>,
}

/// The steps run, what the MAC covers, and the gateway's answer.
#[derive(Default)]
pub struct Explanation {
    /// In order; the last one failed when the request is refused.
    pub steps: Vec<Step>,
    /// Hints about the failure: what would make it pass.
    pub hints: Vec<String>,
    /// The text the MAC had to cover, once the credentials parsed.
    pub signed: Vec<SignedPart>,
    /// `None` when the gateway would accept the request.
    pub refused: Option<Refusal>,
}

/// Why the gateway would refuse the request.
pub enum Refusal {
    /// It would answer with this rejection (its status and code).
    Answer(Rejection),
    /// The request reaches another route than the one asked for.
    OtherRoute,
}

/// Explains `input` step by step.
pub fn explain(input: &Input<'_>) -> Explanation {
    let mut out = Explanation::default();
    if let Err(refusal) = run(input, &mut out) {
        out.refused = Some(refusal);
    }
    out
}

impl Explanation {
    /// Records a step; a failure stops the walk with the gateway's answer.
    fn step<T>(
        &mut self,
        name: &str,
        result: Result<T, Rejection>,
        detail: impl FnOnce(&T) -> String,
    ) -> Result<T, Refusal> {
        let outcome = result.as_ref().map(detail).map_err(ToString::to_string);
        self.steps.push(Step { name: name.to_owned(), outcome });
        if let Err(rejection) = &result {
            self.hints.extend(hint_for(rejection));
        }
        result.map_err(Refusal::Answer)
    }

    fn ok(&mut self, name: &str, detail: String) {
        self.steps.push(Step { name: name.to_owned(), outcome: Ok(detail) });
    }
}

fn run(input: &Input<'_>, out: &mut Explanation) -> Result<(), Refusal> {
    let (parts, config) = (input.parts, input.config);
    let https = input.listener.tls.is_some();
    out.step("admit: sizes, framing, header hygiene", hygiene::check(parts, &config.limits), |()| String::new())?;
    let authority = out.step("authority", hygiene::authority(parts, https), |a| format!("`{}`", a.as_str()))?;
    let routes = &input.listener.routes;
    let found = route::find(routes, Some(authority.host()), &parts.method, parts.uri.path()).ok_or(Rejection::NoRoute);
    if found.is_err() {
        out.hints.push(routes_on(input.listener));
    }
    let route = out.step("route (first match on this listener)", found, |r| route_label(r))?;
    if let Some(wanted) = input.route.filter(|w| *w != &*route.name) {
        out.steps.push(Step {
            name: "route asked for".into(),
            outcome: Err(format!("the gateway picks `{}` for this host, method and path, not `{wanted}`", route.name)),
        });
        out.hints.push(routes_on(input.listener));
        return Err(Refusal::OtherRoute);
    }
    out.step("path policy", route::check_path_policy(route, parts.uri.path()), |()| String::new())?;
    out.step("upgrade", hygiene::check_upgrade(parts, route.websocket), |_| String::new())?;
    let length = body::check_declared_length(route, &parts.headers).and_then(|()| body_within(route, input.body));
    out.step("body size", length, |()| format!("{} bytes", input.body.len()))?;
    match &route.action {
        Action::Sign(_) => {
            out.ok("action", "a sign route: it verifies nothing, it signs what it forwards".into());
            Ok(())
        }
        Action::Verify(policy) => verify(input, out, policy, authority.as_str(), https),
    }
}

/// The body explain was given is the one the gateway would read: over the
/// limit is a 413, as when reading.
fn body_within(route: &Route, body: &[u8]) -> Result<(), Rejection> {
    match u64::try_from(body.len()) {
        Ok(len) if len <= route.max_body_bytes => Ok(()),
        _ => Err(Rejection::BodyTooLarge(route.max_body_bytes)),
    }
}

/// The route's scheme with its keys, as `verify::authenticate` pairs them.
fn verify(
    input: &Input<'_>,
    out: &mut Explanation,
    policy: &VerifyPolicy,
    authority: &str,
    https: bool,
) -> Result<(), Refusal> {
    let parts = input.parts;
    let view = MessageView {
        method: parts.method.as_str(),
        scheme: if https { "https" } else { "http" },
        authority,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
    };
    let keys = &input.config.keys;
    let checked = Checked { input, view, policy };
    match &policy.scheme {
        VerifyScheme::Rfc9421(rfc) => {
            let may_have_body = body::declared_length(&parts.headers).map_or(!input.body.is_empty(), |len| len > 0);
            let rules = rfc9421_rules(rfc, policy, may_have_body);
            checked.walk(out, &rules, |k| consumer_key(keys, policy, k, |key| &key.macs))
        }
        VerifyScheme::AwsSigV4(s) => checked.walk(out, s, |k| consumer_key(keys, policy, k, |key| &key.secrets)),
        VerifyScheme::Compat(c) => checked.walk(out, c, |k| consumer_key(keys, policy, k, |key| &key.secrets)),
        VerifyScheme::Webhook(endpoint) => checked.walk(out, &endpoint.scheme, |_| webhook_keys(endpoint)),
    }
}

/// A request on a verify route, as its scheme sees it.
struct Checked<'a> {
    input: &'a Input<'a>,
    view: MessageView<'a>,
    policy: &'a VerifyPolicy,
}

impl Checked<'_> {
    /// The steps of `verify::run`, one by one.
    fn walk<'k, S: Scheme, O: Caller + 'k>(
        &self,
        out: &mut Explanation,
        scheme: &S,
        lookup: impl Fn(Option<&str>) -> Option<Found<'k, O, S::Key>>,
    ) -> Result<(), Refusal>
    where
        S::Key: 'k,
    {
        let (input, view) = (self.input, &self.view);
        let first: &[u8] = if scheme.reads_body_first() { input.body } else { &[] };
        let rank = |keyid: &str| lookup(Some(keyid)).map(|found| found.allowed);
        let parsed = scheme.parse(view, first, input.now, &rank).map_err(Rejection::from);
        let name = format!("credentials ({}): format, covered parts, time window", self.policy.scheme.name());
        let credentials = out.step(&name, parsed, |c| match scheme.keyid(c) {
            Some(keyid) => format!("key id `{keyid}`"),
            None => "the route's own secrets (no key id)".into(),
        })?;
        out.signed = super::verify::shown(view, scheme.signed_text(&credentials, first));
        let keyid = scheme.keyid(&credentials);
        let known = lookup(keyid).ok_or(Rejection::Auth(AuthError::InvalidSignature));
        if known.is_err() {
            out.hints.push(format!(
                "key id `{}` is not in this config (the gateway answers as for a wrong MAC, so as not to tell \
                 which key ids exist)",
                keyid.unwrap_or_default()
            ));
        }
        out.step("key", known, |found| {
            format!(
                "{} secret(s) of `{}`",
                found.keys.len(),
                String::from_utf8_lossy(found.owner.identity().consumer.as_bytes())
            )
        })?;
        let verified = scheme::authenticate(scheme, view, first, input.now, &lookup).map_err(Rejection::from);
        if verified.is_err() {
            let matching = variants::matching(scheme, view, first, input.now, &lookup);
            if matching.is_empty() {
                out.hints.push(mac_hint(self.policy));
            }
            out.hints.extend(matching);
        }
        let verified = out.step("signature (the MAC, checked with every secret of the key)", verified, |_| {
            "it verifies".to_owned()
        })?;
        let allowed = if verified.allowed { Ok(()) } else { Err(Rejection::ConsumerNotAllowed) };
        out.step("consumer allowed on this route", allowed, |()| String::new())?;
        let bound = scheme.check_body(view, &verified.credentials, input.body).map_err(Rejection::from);
        let detail = if scheme.reads_body_first() { "covered by the MAC" } else { "bound by its digest" };
        out.step("body", bound, |()| detail.to_owned())?;
        let replay = if self.policy.replay {
            "on; NOT CHECKED here: explain does not see the replay store, and the gateway refuses a nonce used before \
             with replayed_request"
        } else {
            "off on this route"
        };
        out.ok("replay protection", replay.into());
        Ok(())
    }
}

/// What to look at when the MAC does not verify and no variant matched.
fn mac_hint(policy: &VerifyPolicy) -> String {
    match &policy.scheme {
        VerifyScheme::Webhook(_) => "a webhook MAC covers the exact raw body (and the signed prefix below): a body \
            re-serialised, re-encoded or trimmed on its way fails; otherwise the secret differs"
            .into(),
        _ => "compare the text below with what the sender signed: the first line that differs is the cause; if \
            none differs, the sender used another secret"
            .into(),
    }
}

/// What usually causes a rejection, beyond its message.
fn hint_for(rejection: &Rejection) -> Option<String> {
    let hint = match rejection {
        Rejection::Auth(AuthError::Expired(_)) => {
            "the sender's clock and this one differ: check the sender's clock (NTP); replaying a logged request, \
             pass --now with the unix time it was sent"
        }
        Rejection::Auth(AuthError::DigestMismatch(_) | AuthError::BodyHashMismatch(_)) => {
            "the body is not the one that was signed: was it re-serialised (JSON re-indented or its keys \
             re-ordered), re-encoded or trimmed by a proxy or a framework after signing?"
        }
        Rejection::Auth(AuthError::MissingComponent(_)) => "the route requires the sender to sign these parts",
        _ => return None,
    };
    Some(hint.to_owned())
}

fn route_label(route: &Route) -> String {
    let host = route.host.as_deref().map(|h| format!("host {h}, ")).unwrap_or_default();
    let action = match &route.action {
        Action::Verify(p) => format!("verify {}", p.scheme.name()),
        Action::Sign(p) => format!("sign {}", p.scheme.name()),
    };
    format!("`{}`: {host}prefix {}, {action}", route.name, route.path_prefix)
}

fn routes_on(listener: &Listener) -> String {
    let labels: Vec<String> = listener.routes.iter().map(|r| route_label(r)).collect();
    format!("routes of listener `{}`, in order: {}", listener.name, labels.join("; "))
}
