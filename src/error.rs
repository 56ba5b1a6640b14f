//! Every way a request can be refused, and the one place that maps each to an
//! HTTP status, a stable error code and a JSON body.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::{self, ProxyBody};
use crate::replay::ReplayError;
use crate::scheme::{AuthError, SignedPart};

#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("this consumer is not allowed on this route")]
    ConsumerNotAllowed,
    #[error("the request body exceeds the limit of {0} bytes")]
    BodyTooLarge(u64),
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(Duration),
    #[error("{0}")]
    BadRequest(std::borrow::Cow<'static, str>),
    #[error("no route matches this request")]
    NoRoute,
    #[error("the request target is longer than {0} bytes")]
    UriTooLong(usize),
    #[error("the request headers exceed {0}")]
    HeadersTooLarge(&'static str),
    #[error("the path is not canonical: {0}")]
    NonCanonicalPath(&'static str),
    #[error("the upstream could not be reached")]
    UpstreamUnavailable,
    #[error("the upstream's TLS certificate was not accepted")]
    UpstreamTls,
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    /// The signature verified, but its nonce (or delivery) was accepted once
    /// already: a property of the request's history, not of its signature.
    #[error("this request was already accepted once (nonce reused)")]
    Replayed,
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A bug or an environment failure. The cause is for the log only: the
    /// client is told no more than "internal error".
    #[error("internal error")]
    Internal(&'static str),
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth(_) | Self::Replayed => StatusCode::UNAUTHORIZED,
            Self::ConsumerNotAllowed => StatusCode::FORBIDDEN,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::BadRequest(_) | Self::NonCanonicalPath(_) => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UpstreamUnavailable | Self::UpstreamTls => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Replay(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error` field; part of the public contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(auth) => match auth {
                AuthError::MissingSignature | AuthError::MissingCredentials(_) => "missing_signature",
                AuthError::Malformed(_) => "malformed_signature",
                AuthError::InvalidSignature => "invalid_signature",
                AuthError::Expired(_) => "signature_expired",
                AuthError::MissingComponent(_) => "missing_component",
                AuthError::DigestMismatch(_) | AuthError::BodyHashMismatch(_) => "digest_mismatch",
            },
            Self::Replayed => "replayed_request",
            Self::ConsumerNotAllowed => "consumer_not_allowed",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::BodyTimeout(_) => "body_timeout",
            Self::BadRequest(_) => "bad_request",
            Self::NoRoute => "no_route",
            Self::UriTooLong(_) => "uri_too_long",
            Self::HeadersTooLarge(_) => "headers_too_large",
            Self::NonCanonicalPath(_) => "non_canonical_path",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTls => "upstream_tls_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Replay(ReplayError::Full(_)) => "replay_cache_full",
            Self::Replay(ReplayError::Unavailable(_)) => "replay_store_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// What the log says about this rejection: the client's message, and for
    /// an internal error also its cause, which the client never sees.
    pub fn log_reason(&self) -> String {
        match self {
            Self::Internal(cause) => format!("internal error: {cause}"),
            other => other.to_string(),
        }
    }

    /// The JSON error response.
    pub fn to_response(&self, request_id: &HeaderValue) -> Response<ProxyBody> {
        self.to_response_with(request_id, None)
    }

    /// The JSON error response; `signed`, on a route with
    /// `debug_signature_base`, adds a `debug` object with the text the MAC
    /// had to cover, one field per part (never a MAC: none is in it).
    pub fn to_response_with(&self, request_id: &HeaderValue, signed: Option<&[SignedPart]>) -> Response<ProxyBody> {
        let mut body = serde_json::json!({
            "error": self.code(),
            "message": self.to_string(),
            "request_id": request_id.to_str().unwrap_or_default(),
        });
        if let Some(parts) = signed {
            let debug: serde_json::Map<String, serde_json::Value> = parts
                .iter()
                .map(|p| (p.name.to_owned(), String::from_utf8_lossy(&p.text).into_owned().into()))
                .collect();
            body["debug"] = debug.into();
        }
        let mut response = Response::new(body::full(Bytes::from(body.to_string())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(
            self,
            Self::BadRequest(_)
                | Self::NonCanonicalPath(_)
                | Self::BodyTooLarge(_)
                | Self::BodyTimeout(_)
                | Self::UriTooLong(_)
                | Self::HeadersTooLarge(_)
        ) {
            // The rest of the connection's bytes can no longer be trusted.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    /// The documented contract: status and code for every rejection.
    #[test]
    fn every_rejection_has_its_documented_status_and_code() {
        let cases: Vec<(Rejection, u16, &str)> = vec![
            (AuthError::MissingSignature.into(), 401, "missing_signature"),
            (AuthError::Malformed("x".into()).into(), 401, "malformed_signature"),
            (AuthError::InvalidSignature.into(), 401, "invalid_signature"),
            (AuthError::Expired("x".into()).into(), 401, "signature_expired"),
            (Rejection::Replayed, 401, "replayed_request"),
            (AuthError::MissingComponent(vec!["@path".into()]).into(), 401, "missing_component"),
            (AuthError::DigestMismatch("x".into()).into(), 401, "digest_mismatch"),
            (AuthError::MissingCredentials("Stripe-Signature header").into(), 401, "missing_signature"),
            (AuthError::BodyHashMismatch("x".into()).into(), 401, "digest_mismatch"),
            (Rejection::ConsumerNotAllowed, 403, "consumer_not_allowed"),
            (Rejection::BodyTooLarge(10), 413, "body_too_large"),
            (Rejection::BodyTimeout(Duration::from_secs(1)), 408, "body_timeout"),
            (Rejection::BadRequest("x".into()), 400, "bad_request"),
            (Rejection::NoRoute, 404, "no_route"),
            (Rejection::UriTooLong(1), 414, "uri_too_long"),
            (Rejection::HeadersTooLarge("x"), 431, "headers_too_large"),
            (Rejection::NonCanonicalPath("x"), 400, "non_canonical_path"),
            (Rejection::UpstreamUnavailable, 502, "upstream_unavailable"),
            (Rejection::UpstreamTls, 502, "upstream_tls_error"),
            (Rejection::UpstreamTimeout, 504, "upstream_timeout"),
            (ReplayError::Full(1).into(), 503, "replay_cache_full"),
            (ReplayError::Unavailable("down".into()).into(), 503, "replay_store_unavailable"),
            (Rejection::Internal("a cause"), 500, "internal_error"),
        ];
        for (rejection, status, code) in cases {
            assert_eq!(rejection.status().as_u16(), status, "{code}");
            assert_eq!(rejection.code(), code);
        }
    }

    #[tokio::test]
    async fn responses_are_json_with_the_request_id() {
        let id = HeaderValue::from_static("abc123");
        let response = Rejection::from(AuthError::InvalidSignature).to_response(&id);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["error"], "invalid_signature");
        assert_eq!(json["request_id"], "abc123");
        assert_eq!(json["message"], "the signature did not verify");
    }

    #[tokio::test]
    async fn an_internal_cause_reaches_the_log_but_not_the_client() {
        let rejection = Rejection::Internal("no upstream clients for this worker");
        assert_eq!(rejection.log_reason(), "internal error: no upstream clients for this worker");
        let response = rejection.to_response(&HeaderValue::from_static("id"));
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["message"], "internal error");
    }
}
