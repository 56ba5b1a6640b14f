//! Every way a request can be refused, and the one place that maps each to an
//! HTTP status, a stable error code and a JSON body.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::proxy::ProxyBody;
use crate::replay::ReplayError;
use crate::scheme::AuthError;

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
    #[error("the upstream could not be reached")]
    UpstreamUnavailable,
    #[error("the upstream's TLS certificate was not accepted")]
    UpstreamTls,
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("internal error")]
    Internal,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::ConsumerNotAllowed => StatusCode::FORBIDDEN,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::UpstreamUnavailable | Self::UpstreamTls => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Replay(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error` field; part of the public contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(auth) => match auth {
                AuthError::MissingSignature => "missing_signature",
                AuthError::Malformed(_) => "malformed_signature",
                AuthError::InvalidSignature => "invalid_signature",
                AuthError::Expired(_) => "signature_expired",
                AuthError::Replayed => "replayed_request",
                AuthError::MissingComponent(_) => "missing_component",
                AuthError::DigestMismatch(_) => "digest_mismatch",
            },
            Self::ConsumerNotAllowed => "consumer_not_allowed",
            Self::BodyTooLarge(_) => "body_too_large",
            Self::BodyTimeout(_) => "body_timeout",
            Self::BadRequest(_) => "bad_request",
            Self::NoRoute => "no_route",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTls => "upstream_tls_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Replay(_) => "replay_cache_full",
            Self::Internal => "internal_error",
        }
    }

    /// The JSON error response. `accept_signature` is added to 401s so a
    /// client learns what to sign.
    pub fn into_response(
        self,
        request_id: &HeaderValue,
        accept_signature: Option<&HeaderValue>,
    ) -> Response<ProxyBody> {
        let body = serde_json::json!({
            "error": self.code(),
            "message": self.to_string(),
            "request_id": request_id.to_str().unwrap_or_default(),
        });
        let mut response = Response::new(ProxyBody::full(Bytes::from(body.to_string())));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status() == StatusCode::UNAUTHORIZED
            && let Some(value) = accept_signature
        {
            headers.insert("accept-signature", value.clone());
        }
        if matches!(self, Self::BadRequest(_) | Self::BodyTooLarge(_) | Self::BodyTimeout(_)) {
            // The rest of the connection's bytes can no longer be trusted.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
