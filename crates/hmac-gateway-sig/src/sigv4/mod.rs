//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`): the `Authorization`
//! header form and the presigned-URL (`X-Amz-*` query) form, verified and
//! signed as AWS documents it. The access key id is the key id.

pub mod canonical;
mod parse;

use hmac::Mac as _;
use sha2::{Digest as _, Sha256};

pub use canonical::PathRules;
pub use parse::{amz_date, parse_amz_date};

use super::{AuthError, MessageView, ReplayId, Scheme, Secret, SignedPart, Window, keyed, macs_equal};

/// The algorithm name in `Authorization` and `X-Amz-Algorithm`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
/// Longest validity AWS allows a presigned URL (7 days).
pub const MAX_EXPIRES: u64 = 604_800;

/// A verify route's SigV4 rules.
#[derive(Debug, Clone)]
pub struct SigV4 {
    /// The signing service the credential scope must name, such as `s3`.
    pub service: String,
    /// The region the credential scope must name, such as `us-east-1`.
    pub region: String,
    /// How old, or how far ahead, `X-Amz-Date` may be (AWS: 15 minutes
    /// either way). A presigned URL is valid until `X-Amz-Expires` instead.
    pub window: Window,
    /// Presigned URLs may be used again until they expire (header-signed
    /// requests stay single-use).
    pub presigned_reuse: bool,
    /// Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body is then not
    /// covered by the signature).
    pub allow_unsigned_payload: bool,
    /// How the path is canonicalised (see [`PathRules::for_service`]).
    pub path: PathRules,
}

/// A parsed, structurally valid SigV4 request.
#[derive(Debug)]
pub struct Credentials {
    /// The access key id from the credential scope: the key id.
    pub access_key: String,
    /// `YYYYMMDD`, the first scope element.
    date: String,
    signature: Vec<u8>,
    /// Kept (it was built anyway) for [`Scheme::signed_text`].
    canonical_request: String,
    string_to_sign: String,
    /// When the signature stops being accepted (for the replay store).
    valid_until: i64,
    now: i64,
    presigned: bool,
}

impl Scheme for SigV4 {
    type Credentials = Credentials;
    type Key = Secret;

    fn parse(
        &self,
        request: &MessageView<'_>,
        body: &[u8],
        now: i64,
        _rank: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<Credentials, AuthError> {
        // First: reading a presigned URL's parameters scans the whole query.
        parse::check_query_size(request.query.unwrap_or_default())?;
        let presigned = !request.headers.contains_key(http::header::AUTHORIZATION)
            && request.query.is_some_and(|q| q.contains("X-Amz-Signature="));
        let auth = if presigned {
            parse::presigned(request.query.unwrap_or_default())?
        } else {
            let header = request.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            parse::authorization(header.ok_or(AuthError::MissingCredentials("AWS4-HMAC-SHA256 Authorization header"))?)?
        };
        let (date, region, service) = (&auth.scope[0], &auth.scope[1], &auth.scope[2]);
        if (region, service) != (&self.region, &self.service) {
            return Err(AuthError::Malformed(format!(
                "credential scope {region}/{service} does not match this route ({}/{})",
                self.region, self.service
            )));
        }
        let amz_date = match &auth.amz_date {
            Some(d) => d.clone(),
            None => header_text(request, "x-amz-date")
                .ok_or_else(|| AuthError::missing_or_invalid("X-Amz-Date header"))?
                .to_owned(),
        };
        let signed_at =
            parse_amz_date(&amz_date).ok_or_else(|| AuthError::missing_or_invalid("X-Amz-Date (YYYYMMDDTHHMMSSZ)"))?;
        if !amz_date.starts_with(date.as_str()) {
            return Err(AuthError::Malformed("the credential scope date differs from X-Amz-Date".into()));
        }
        let required: &[&str] = if presigned { &["host"] } else { &["host", "x-amz-date"] };
        if let Some(name) = required.iter().find(|r| !auth.signed_headers.iter().any(|s| s == *r)) {
            return Err(AuthError::MissingComponent(vec![(*name).to_owned()]));
        }
        let valid_until = self.check_time(signed_at, auth.expires, now)?;
        let payload_hash = self.payload_hash(request, body, presigned)?;
        let skip = presigned.then_some("X-Amz-Signature");
        let creq = canonical::canonical_request(request, self.path, &auth.signed_headers, &payload_hash, skip)
            .map_err(AuthError::Malformed)?;
        let scope = auth.scope.join("/");
        Ok(Credentials {
            access_key: auth.access_key,
            date: date.clone(),
            signature: auth.signature,
            string_to_sign: string_to_sign(&amz_date, &scope, &creq),
            canonical_request: creq,
            valid_until,
            now,
            presigned,
        })
    }

    fn keyid<'c>(&self, credentials: &'c Credentials) -> Option<&'c str> {
        Some(&credentials.access_key)
    }

    fn verify(&self, _: &MessageView<'_>, _: &[u8], credentials: &Credentials, key: &Secret) -> bool {
        let secret = key.expose();
        let key = signing_key(secret, &credentials.date, &self.region, &self.service);
        macs_equal(&hmac(&key, credentials.string_to_sign.as_bytes()), &credentials.signature)
    }

    fn unknown_key(&self) -> Secret {
        Secret::unknown()
    }

    fn replay_id(&self, credentials: &Credentials) -> Option<ReplayId> {
        if credentials.presigned && self.presigned_reuse {
            return None;
        }
        // SigV4 has no nonce: the signature itself may be used once.
        let ttl = u64::try_from(credentials.valid_until - credentials.now).unwrap_or(0) + 1;
        Some(ReplayId { id: format!("sigv4:{}", hex::encode(&credentials.signature)), ttl_secs: ttl })
    }

    fn signed_text(&self, credentials: &Credentials, _body: &[u8]) -> Vec<SignedPart> {
        vec![
            SignedPart::new("canonical_request", credentials.canonical_request.as_bytes()),
            SignedPart::new("string_to_sign", credentials.string_to_sign.as_bytes()),
        ]
    }
}

impl SigV4 {
    /// Header form: `X-Amz-Date` inside the window. Presigned: from
    /// `max_ahead` before `X-Amz-Date` until it plus `X-Amz-Expires`.
    fn check_time(&self, signed_at: i64, expires: Option<u64>, now: i64) -> Result<i64, AuthError> {
        let Some(expires) = expires else {
            self.window.check("X-Amz-Date (RequestTimeTooSkewed)", signed_at, now)?;
            let age = i64::try_from(self.window.max_age.as_secs()).unwrap_or(i64::MAX);
            return Ok(signed_at.saturating_add(age));
        };
        let open_ended = Window { max_age: std::time::Duration::MAX, ..self.window };
        open_ended.check("X-Amz-Date", signed_at, now)?;
        let until = signed_at.saturating_add(i64::try_from(expires).unwrap_or(i64::MAX));
        if now > until {
            return Err(AuthError::Expired(format!(
                "X-Amz-Date is {}s old (the presigned URL has expired)",
                now - signed_at
            )));
        }
        Ok(until)
    }

    /// The payload hash the canonical request ends with, checked against
    /// the body. Streaming (`aws-chunked`) uploads are refused.
    fn payload_hash(&self, request: &MessageView<'_>, body: &[u8], presigned: bool) -> Result<String, AuthError> {
        let chunked = header_text(request, "content-encoding").is_some_and(|e| e.contains("aws-chunked"));
        let claimed = header_text(request, "x-amz-content-sha256");
        if chunked || claimed.is_some_and(|c| c.starts_with("STREAMING-")) {
            return Err(AuthError::Malformed(
                "aws-chunked streaming payloads are not supported: send the body in one piece".into(),
            ));
        }
        let actual = hex::encode(Sha256::digest(body));
        match claimed {
            Some(UNSIGNED) if self.allow_unsigned_payload => Ok(UNSIGNED.into()),
            Some(UNSIGNED) => Err(AuthError::Malformed("UNSIGNED-PAYLOAD is not allowed on this route".into())),
            Some(hash) if hash.eq_ignore_ascii_case(&actual) => Ok(hash.to_ascii_lowercase()),
            Some(_) => Err(AuthError::BodyHashMismatch("x-amz-content-sha256 differs from the body's".into())),
            // S3 presigned URLs sign no payload.
            None if presigned && self.service == "s3" && self.allow_unsigned_payload => Ok(UNSIGNED.into()),
            None => Ok(actual),
        }
    }
}

/// `AWS4-HMAC-SHA256 \n <amz-date> \n <scope> \n hex(sha256(creq))`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())))
}

/// The HMAC chain from `"AWS4" + secret` down to `aws4_request`.
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_secret = [b"AWS4".as_slice(), secret].concat();
    let k_date = hmac(&k_secret, date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = keyed::hmac::<Sha256>(key);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// An outbound signer: access key id, secret, region and service.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The access key id, sent in the credential scope.
    pub access_key: &'a str,
    /// The secret access key.
    pub secret: &'a [u8],
    /// The region of the credential scope.
    pub region: &'a str,
    /// The service of the credential scope; `s3` also adds
    /// `X-Amz-Content-Sha256` and the S3 path rules.
    pub service: &'a str,
}

/// Headers a SigV4 client adds to `parts` (whose headers already hold the
/// final `Host`): `X-Amz-Date`, `X-Amz-Content-Sha256` for S3, and
/// `Authorization`. Signed: `host`, `x-amz-*`, `content-type`,
/// `content-md5`; never hop-mutable ones such as `x-forwarded-*`.
pub fn sign(signer: &Signer<'_>, parts: &MessageView<'_>, body: &[u8], now: i64) -> Vec<(&'static str, String)> {
    let date_time = amz_date(now);
    let payload_hash = hex::encode(Sha256::digest(body));
    let mut added = vec![("x-amz-date", date_time.clone())];
    if signer.service == "s3" {
        added.push(("x-amz-content-sha256", payload_hash.clone()));
    }
    let mut headers = parts.headers.clone();
    for (name, value) in &added {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    let mut signed: Vec<String> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| ["host", "content-type", "content-md5"].contains(n) || n.starts_with("x-amz-"))
        .map(str::to_owned)
        .collect();
    if !signed.iter().any(|n| n == "host") {
        signed.push("host".into());
    }
    signed.sort();
    signed.dedup();
    let with_date = MessageView { headers: &headers, ..*parts };
    let rules = PathRules::for_service(signer.service);
    let creq = canonical::canonical_request(&with_date, rules, &signed, &payload_hash, None).unwrap_or_default();
    let scope = format!("{}/{}/{}/aws4_request", &date_time[..8], signer.region, signer.service);
    let key = signing_key(signer.secret, &date_time[..8], signer.region, signer.service);
    let signature = hex::encode(hmac(&key, string_to_sign(&date_time, &scope, &creq).as_bytes()));
    added.push((
        "authorization",
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            signer.access_key,
            signed.join(";")
        ),
    ));
    added
}

fn header_text<'a>(request: &MessageView<'a>, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}
