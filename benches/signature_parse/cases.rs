//! The requests the benchmark times: one normal request per scheme, and
//! crafted ones whose signature headers fill a header-size budget.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::Mac as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use hmac_gateway::config::Secret;
use hmac_gateway::scheme::compat::{Algorithm, Compat, Dialect};
use hmac_gateway::scheme::rfc9421::{self, ALG, Component, HmacSha256, MessageView, Rules};
use hmac_gateway::scheme::sigv4::{self, PathRules, SigV4};
use hmac_gateway::scheme::webhook::{self, Provider, Webhook};
use hmac_gateway::scheme::{AuthError, Found, Window, authenticate, keyed};
use std::time::Duration;

const NOW: i64 = 1_700_000_000;
const AUTHORITY: &str = "api.example.com";
const KEYID: &str = "bench-1";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
/// The presigned-URL case's query length: `limits.max_uri_bytes` at most.
const MAX_URI: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Rfc9421,
    SigV4,
    Kong,
    Stripe,
    StandardWebhooks,
}

/// Keys prepared once, as the gateway prepares them at load time.
#[derive(Debug)]
pub struct Keys {
    rfc9421: HmacSha256,
    secrets: Vec<Secret>,
}

impl Keys {
    pub fn new() -> Self {
        let rfc9421: HmacSha256 = keyed::hmac(SECRET);
        Self { rfc9421, secrets: vec![Secret::new(SECRET.to_vec())] }
    }
}

#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub kind: Kind,
    method: &'static str,
    path: &'static str,
    query: Option<String>,
    headers: HeaderMap,
}

impl Case {
    fn new(name: impl Into<String>, kind: Kind, headers: &[(&str, String)]) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            map.append(name, HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{value:.40}: {e}")));
        }
        Self { name: name.into(), kind, method: "GET", path: "/v1/items", query: None, headers: map }
    }

    /// Header bytes (names and values, as the gateway counts them) plus the query.
    pub fn header_bytes(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        headers + self.query.as_ref().map_or(0, String::len)
    }

    fn view(&self) -> MessageView<'_> {
        MessageView {
            method: self.method,
            scheme: "https",
            authority: AUTHORITY,
            path: self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
        }
    }

    /// One request's worth of verification, as the proxy runs it.
    pub fn run(&self, keys: &Keys) -> Result<(), AuthError> {
        let view = self.view();
        let secrets = &keys.secrets[..];
        let keyed =
            |id: Option<&str>| (id == Some(KEYID)).then_some(Found { owner: &(), keys: secrets, allowed: true });
        match self.kind {
            Kind::Rfc9421 => {
                let rules = Rules {
                    required: &[],
                    require_digest: false,
                    require_nonce: true,
                    window: Window { max_age: Duration::from_secs(300), max_ahead: Duration::from_secs(5) },
                };
                let macs = std::slice::from_ref(&keys.rfc9421);
                let lookup =
                    |id: Option<&str>| (id == Some(KEYID)).then_some(Found { owner: &(), keys: macs, allowed: true });
                authenticate(&rules, &view, b"", NOW, lookup).map(drop)
            }
            Kind::SigV4 => authenticate(&sigv4_scheme(), &view, b"", NOW, keyed).map(drop),
            Kind::Kong => authenticate(&kong_scheme(), &view, b"", NOW, keyed).map(drop),
            Kind::Stripe | Kind::StandardWebhooks => {
                let provider = if self.kind == Kind::Stripe { Provider::Stripe } else { Provider::StandardWebhooks };
                let scheme =
                    Webhook { provider, window: Window::symmetric(300), replay_ttl: Duration::from_secs(3600) };
                authenticate(&scheme, &view, b"{}", NOW, |_| Some(Found { owner: &(), keys: secrets, allowed: true }))
                    .map(drop)
            }
        }
    }
}

fn sigv4_scheme() -> SigV4 {
    SigV4 {
        service: "service".into(),
        region: "us-east-1".into(),
        window: Window::symmetric(900),
        allow_unsigned_payload: false,
        presigned_reuse: false,
        path: PathRules::for_service("service"),
    }
}

fn kong_scheme() -> Compat {
    Compat {
        dialect: Dialect::Kong,
        window: Window::symmetric(300),
        algorithms: vec![Algorithm::Sha256],
        enforce_headers: vec![],
    }
}

fn http_date() -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(NOW.unsigned_abs()))
}

/// A distinct five-letter name for `i`, so crafted keys are all different.
fn name(i: usize) -> String {
    let mut n = i;
    let mut out = [b'a'; 5];
    for slot in out.iter_mut().rev() {
        *slot = b'a' + u8::try_from(n % 26).unwrap_or(0);
        n /= 26;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `head`, then `unit(i)` for i = 0, 1, … while the total stays within `budget`.
fn fill(head: &str, budget: usize, unit: impl Fn(usize) -> String) -> String {
    let mut out = head.to_owned();
    for i in 0.. {
        let next = unit(i);
        if out.len() + next.len() > budget {
            break;
        }
        out.push_str(&next);
    }
    out
}

/// One normal, valid request per scheme.
pub fn normal(keys: &Keys) -> Vec<Case> {
    let components = [Component::Method, Component::Authority, Component::Path, Component::Query];
    let params = rfc9421::build_params(&components, NOW, Some("n0nce-0123456789"), KEYID, Some(ALG))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rfc = Case::new("rfc9421 normal", Kind::Rfc9421, &[]);
    let signed = rfc9421::sign(&rfc.view(), &keys.rfc9421, "sig1", &params).unwrap_or_else(|e| panic!("{e}"));
    rfc = Case::new(
        "rfc9421 normal",
        Kind::Rfc9421,
        &[("signature-input", signed.signature_input), ("signature", signed.signature)],
    );
    vec![
        rfc,
        sigv4_normal(),
        kong_normal(),
        webhook_normal(Provider::Stripe),
        webhook_normal(Provider::StandardWebhooks),
    ]
}

fn sigv4_normal() -> Case {
    let mut case = Case::new("sigv4 normal", Kind::SigV4, &[("host", AUTHORITY.to_owned())]);
    let signer = sigv4::Signer { access_key: KEYID, secret: SECRET, region: "us-east-1", service: "service" };
    let parts = MessageView {
        method: "GET",
        scheme: "https",
        path: case.path,
        query: None,
        headers: &case.headers,
        authority: AUTHORITY,
    };
    for (name, value) in sigv4::sign(&signer, &parts, b"", NOW) {
        case.headers.insert(name, HeaderValue::from_str(&value).unwrap_or_else(|e| panic!("{e}")));
    }
    case
}

fn kong_normal() -> Case {
    let date = http_date();
    let mut mac: HmacSha256 = keyed::hmac(SECRET);
    mac.update(format!("date: {date}\nGET /v1/items HTTP/1.1").as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let auth = format!(
        r#"hmac username="{KEYID}", algorithm="hmac-sha256", headers="date request-line", signature="{signature}""#
    );
    Case::new("kong normal", Kind::Kong, &[("date", date), ("authorization", auth)])
}

fn webhook_normal(provider: Provider) -> Case {
    let headers: Vec<(&str, String)> = webhook::sign(provider, &[SECRET], b"{}", NOW, "msg_1");
    let kind = if provider == Provider::Stripe { Kind::Stripe } else { Kind::StandardWebhooks };
    Case::new(format!("{} normal", provider.name()), kind, &headers)
}

/// Crafted requests whose headers come to about `size` bytes in all.
pub fn crafted(size: usize) -> Vec<Case> {
    vec![
        rfc_case("rfc9421 many labels", size, |i| format!("{}=(),", name(i)), |i| format!("{}=:AA==:,", name(i))),
        rfc_case("rfc9421 repeated label", size, |_| "sig=(),".to_owned(), |_| "sig=:AA==:,".to_owned()),
        rfc_one("rfc9421 many params", size, "sig=(\"@method\");keyid=\"x\"", |i| format!(";{}", name(i)), ""),
        rfc_one("rfc9421 many components", size, "sig=(", |i| format!("\"x{}\" ", name(i)), ")"),
        rfc_within_caps(size),
        rfc_one("rfc9421 huge keyid", size, "sig=(\"@method\");created=1;keyid=\"", |_| "k".to_owned(), "\""),
        rfc_covered_header(size),
        sigv4_repeated_header(size),
        sigv4_query(size),
        kong_repeated_header(size),
        kong_params(size),
        stripe_many(size),
        standard_many(size),
    ]
}

/// Signature-Input gets 60% of the budget, Signature the rest.
fn rfc_case(name: &str, size: usize, input: impl Fn(usize) -> String, signature: impl Fn(usize) -> String) -> Case {
    let input = fill("", size * 6 / 10 - 16, input);
    let signature = fill("", size * 4 / 10 - 10, signature);
    let (input, signature) = (input.trim_end_matches(',').to_owned(), signature.trim_end_matches(',').to_owned());
    Case::new(name, Kind::Rfc9421, &[("signature-input", input), ("signature", signature)])
}

/// One member whose inner part is `unit` repeated to fill the budget.
fn rfc_one(name: &str, size: usize, head: &str, unit: impl Fn(usize) -> String, tail: &str) -> Case {
    let mut input = fill(head, size - 40 - tail.len(), unit);
    input.push_str(tail);
    Case::new(name, Kind::Rfc9421, &[("signature-input", input), ("signature", "sig=:AA==:".to_owned())])
}

/// The most a request may carry under the caps: 64 labels, each with 64
/// components and 64 parameters, as many as fit the budget.
fn rfc_within_caps(size: usize) -> Case {
    let member = |i: usize| {
        let components: Vec<String> = (0..64).map(|c| format!("\"x{}\"", name(c))).collect();
        let params: String = (0..63).map(|p| format!(";{}", name(p))).collect();
        format!("{}=({}){params};keyid=\"x\",", name(i), components.join(" "))
    };
    let mut input = String::new();
    let mut signature = String::new();
    for i in 0..64 {
        let next = member(i);
        if input.len() + next.len() + signature.len() + 12 > size - 40 {
            break;
        }
        input.push_str(&next);
        signature.push_str(&format!("{}=:AA==:,", name(i)));
    }
    let (input, signature) = (input.trim_end_matches(',').to_owned(), signature.trim_end_matches(',').to_owned());
    Case::new("rfc9421 64x64x64 within caps", Kind::Rfc9421, &[("signature-input", input), ("signature", signature)])
}

/// A well-formed signature (wrong MAC) over a header that fills the budget:
/// what a legitimate request that large costs too.
fn rfc_covered_header(size: usize) -> Case {
    let input = format!(r#"sig1=("@method" "x-big");created={NOW};keyid="{KEYID}";nonce="n0nce-0123456789""#);
    let signature = format!("sig1=:{}:", B64.encode([0u8; 32]));
    let big = "a".repeat(size - input.len() - signature.len() - 40);
    let headers = [("signature-input", input), ("signature", signature), ("x-big", big)];
    Case::new("rfc9421 covering a huge header", Kind::Rfc9421, &headers)
}

/// One large header listed again and again in SignedHeaders.
fn sigv4_repeated_header(size: usize) -> Case {
    let date = sigv4::amz_date(NOW);
    let head = format!(
        "AWS4-HMAC-SHA256 Credential={KEYID}/{}/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date",
        &date[..8]
    );
    let tail = format!(", Signature={}", "0".repeat(64));
    let mut auth = fill(&head, size / 2 - tail.len(), |_| ";x-big".to_owned());
    auth.push_str(&tail);
    let big = "a".repeat(size / 2 - 200);
    let headers = [("host", AUTHORITY.to_owned()), ("x-amz-date", date), ("x-big", big), ("authorization", auth)];
    Case::new("sigv4 repeated signed header", Kind::SigV4, &headers)
}

/// A presigned URL whose query is padded with parameters.
fn sigv4_query(size: usize) -> Case {
    let date = sigv4::amz_date(NOW);
    let head = format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={KEYID}%2F{}%2Fus-east-1%2Fservice%2Faws4_request\
         &X-Amz-Date={date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
        &date[..8],
        "0".repeat(64)
    );
    let mut case = Case::new("sigv4 presigned query params", Kind::SigV4, &[("host", AUTHORITY.to_owned())]);
    case.query = Some(fill(&head, size.min(MAX_URI) - 16, |i| format!("&{}=1", name(i))));
    case
}

/// One large header listed again and again in Kong's `headers`.
fn kong_repeated_header(size: usize) -> Case {
    let tail = r#"", signature="AAAA""#;
    let mut auth =
        fill(r#"hmac username="bench-1", algorithm="hmac-sha256", headers="date request-line"#, size / 2, |_| {
            " x-big".to_owned()
        });
    auth.push_str(tail);
    let big = "a".repeat(size / 2 - 200);
    Case::new(
        "kong repeated listed header",
        Kind::Kong,
        &[("date", http_date()), ("x-big", big), ("authorization", auth)],
    )
}

/// Kong credentials padded with unknown parameters.
fn kong_params(size: usize) -> Case {
    let head = r#"hmac username="bench-1", algorithm="hmac-sha256", headers="date request-line", signature="AAAA""#;
    let auth = fill(head, size - 100, |i| format!(r#", {}="""#, name(i)));
    Case::new("kong many credential params", Kind::Kong, &[("date", http_date()), ("authorization", auth)])
}

fn stripe_many(size: usize) -> Case {
    let v1 = "0".repeat(64);
    let header = fill(&format!("t={NOW}"), size - 40, |_| format!(",v1={v1}"));
    Case::new("stripe many v1", Kind::Stripe, &[("stripe-signature", header)])
}

fn standard_many(size: usize) -> Case {
    let v1 = B64.encode([0u8; 32]);
    let header = fill(&format!("v1,{v1}"), size - 80, |_| format!(" v1,{v1}"));
    let headers =
        [("webhook-id", "msg_1".to_owned()), ("webhook-timestamp", NOW.to_string()), ("webhook-signature", header)];
    Case::new("standard-webhooks many v1", Kind::StandardWebhooks, &headers)
}
