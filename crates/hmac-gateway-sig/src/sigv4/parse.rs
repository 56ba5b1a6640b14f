//! Reading SigV4 credentials from the `Authorization` header or from a
//! presigned URL's query, and the `X-Amz-Date` format.

use std::collections::HashSet;

use super::canonical::decode;
use super::{ALGORITHM, MAX_EXPIRES};
use crate::AuthError;
use crate::caps::{self, MAX_COMPONENTS, MAX_QUERY_PARAMS};

/// What either form carries.
#[derive(Debug)]
pub(super) struct Auth {
    pub access_key: String,
    /// date, region, service, `aws4_request`.
    pub scope: [String; 4],
    /// Lowercase, in the order the client listed them.
    pub signed_headers: Vec<String>,
    pub signature: Vec<u8>,
    /// From the query (presigned); the header form takes the header.
    pub amz_date: Option<String>,
    pub expires: Option<u64>,
}

/// `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request,
/// SignedHeaders=a;b, Signature=<hex>`.
pub(super) fn authorization(header: &str) -> Result<Auth, AuthError> {
    let rest = header
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or(AuthError::MissingCredentials("AWS4-HMAC-SHA256 Authorization header"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(AuthError::missing_or_invalid("Authorization parameter")),
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(AuthError::Malformed("Authorization needs Credential, SignedHeaders and Signature".into()));
    };
    build(credential, signed, signature, None, None)
}

/// The `X-Amz-*` parameters of a presigned URL.
pub(super) fn presigned(query: &str) -> Result<Auth, AuthError> {
    let get = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| String::from_utf8_lossy(&decode(v)).into_owned())
    };
    if get("X-Amz-Algorithm").as_deref() != Some(ALGORITHM) {
        return Err(AuthError::missing_or_invalid("X-Amz-Algorithm (must be AWS4-HMAC-SHA256)"));
    }
    let field = |v: Option<String>, name: &str| v.ok_or_else(|| AuthError::missing_or_invalid(name));
    let credential = field(get("X-Amz-Credential"), "X-Amz-Credential")?;
    let signed = field(get("X-Amz-SignedHeaders"), "X-Amz-SignedHeaders")?;
    let signature = field(get("X-Amz-Signature"), "X-Amz-Signature")?;
    let date = field(get("X-Amz-Date"), "X-Amz-Date")?;
    let expires: u64 = field(get("X-Amz-Expires"), "X-Amz-Expires")?
        .parse()
        .map_err(|_| AuthError::missing_or_invalid("X-Amz-Expires"))?;
    if !(1..=MAX_EXPIRES).contains(&expires) {
        return Err(AuthError::Malformed(format!("X-Amz-Expires must be 1..={MAX_EXPIRES} seconds")));
    }
    build(&credential, &signed, &signature, Some(date), Some(expires))
}

fn build(
    credential: &str,
    signed: &str,
    signature: &str,
    amz_date: Option<String>,
    expires: Option<u64>,
) -> Result<Auth, AuthError> {
    let mut pieces = credential.rsplitn(5, '/');
    let mut next = || pieces.next().map(str::to_owned);
    let (terminator, service, region, date, access_key) = (next(), next(), next(), next(), next());
    let (Some(terminator), Some(service), Some(region), Some(date), Some(access_key)) =
        (terminator, service, region, date, access_key)
    else {
        return Err(AuthError::missing_or_invalid("Credential (AK/date/region/service/aws4_request)"));
    };
    if terminator != "aws4_request" || access_key.is_empty() || date.len() != 8 {
        return Err(AuthError::missing_or_invalid("Credential (AK/date/region/service/aws4_request)"));
    }
    let signed_headers = signed_header_list(signed)?;
    if signature.len() != 64 {
        return Err(AuthError::missing_or_invalid("Signature (64 hex digits)"));
    }
    let signature = hex::decode(signature).map_err(|_| AuthError::missing_or_invalid("Signature (64 hex digits)"))?;
    Ok(Auth { access_key, scope: [date, region, service, terminator], signed_headers, signature, amz_date, expires })
}

/// `SignedHeaders`: distinct lowercase names, at most [`MAX_COMPONENTS`]. A
/// repeated name would repeat its value in the canonical request, so a
/// long list of one large header would cost its size times its count.
fn signed_header_list(signed: &str) -> Result<Vec<String>, AuthError> {
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    for name in signed.split(';') {
        if names.len() == MAX_COMPONENTS {
            return Err(caps::too_many("SignedHeaders", MAX_COMPONENTS, "headers"));
        }
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(AuthError::missing_or_invalid("SignedHeaders (lowercase names separated by `;`)"));
        }
        if !seen.insert(name) {
            return Err(AuthError::Malformed(format!("SignedHeaders lists `{name}` twice")));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// At most [`MAX_QUERY_PARAMS`] query parameters, counted without decoding
/// anything: the canonical query decodes and sorts every one.
pub(super) fn check_query_size(query: &str) -> Result<(), AuthError> {
    if query.split('&').filter(|p| !p.is_empty()).nth(MAX_QUERY_PARAMS).is_some() {
        return Err(caps::too_many("the query", MAX_QUERY_PARAMS, "parameters"));
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Unix seconds → `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse_amz_date(&amz_date(t)), Some(t));
        }
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    }

    #[test]
    fn authorization_header_parses_and_rejects_junk() {
        let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let header = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        let auth = authorization(&header).unwrap();
        assert_eq!(auth.access_key, "AKIDEXAMPLE");
        assert_eq!(auth.scope[1..3], ["us-east-1".to_owned(), "service".to_owned()]);
        assert_eq!(auth.signed_headers, ["host", "x-amz-date"]);
        for bad in [
            header.replace("aws4_request", "aws5_request"),
            header.replace("Signature=5f", "Signature=zz"),
            header.replace("host;x-amz-date", "Host;x-amz-date"),
            header.replace(", Signature", ", Extra=1, Signature"),
        ] {
            assert!(matches!(authorization(&bad), Err(AuthError::Malformed(_))), "{bad}");
        }
        assert!(matches!(authorization("Bearer x"), Err(AuthError::MissingCredentials(_))));
    }

    #[test]
    fn signed_headers_are_capped_and_listed_once() {
        let header = |signed: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders={signed}, Signature={}",
                "0".repeat(64)
            )
        };
        let names = |n: usize| (0..n).map(|i| format!("x-h{i}")).collect::<Vec<_>>().join(";");
        assert_eq!(authorization(&header(&names(64))).unwrap().signed_headers.len(), 64);
        let over = authorization(&header(&names(65)));
        assert!(matches!(&over, Err(AuthError::Malformed(m)) if m == "SignedHeaders has more than 64 headers"));
        let twice = authorization(&header("host;x-amz-date;host"));
        assert!(matches!(&twice, Err(AuthError::Malformed(m)) if m == "SignedHeaders lists `host` twice"));
    }

    #[test]
    fn query_parameters_are_capped() {
        let query = |n: usize| vec!["a=1"; n].join("&");
        assert!(check_query_size(&query(1024)).is_ok());
        // Empty pieces are no parameters (the canonical query skips them).
        assert!(check_query_size(&format!("&&{}&&", query(1024))).is_ok());
        let over = check_query_size(&query(1025));
        assert!(matches!(&over, Err(AuthError::Malformed(m)) if m == "the query has more than 1024 parameters"));
    }
}
