//! Bounded request-body reading.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body::Body as _;
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

use crate::config::Route;
use crate::error::Rejection;

pub use crate::body::{ProxyBody, full, upstream};

/// The declared length, if any. An unparsable value was already refused by
/// hyper, so `None` here means chunked or HTTP/2 without the header.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// 413 before reading when Content-Length already says too much.
pub fn check_declared_length(route: &Route, headers: &HeaderMap) -> Result<(), Rejection> {
    match declared_length(headers) {
        Some(len) if len > route.max_body_bytes => Err(Rejection::BodyTooLarge(route.max_body_bytes)),
        _ => Ok(()),
    }
}

/// Reads the body within the route's size limit and timeouts.
pub async fn read(route: &Route, body: Incoming) -> Result<Bytes, Rejection> {
    let t = &route.timeouts;
    read_limited(body, route.max_body_bytes, t.body_read, t.body_idle).await
}

/// Whether a request may carry content, judged before reading any of it.
pub fn may_have_body(body: &Incoming, headers: &HeaderMap) -> bool {
    match declared_length(headers) {
        Some(len) => len > 0,
        None => !body.is_end_stream(),
    }
}

/// Reads the whole body: 413 as soon as `limit` is crossed; 408 when no
/// data arrives for `idle` or the whole body takes longer than `total`.
/// Trailers are dropped, never merged into the headers.
pub async fn read_limited(body: Incoming, limit: u64, total: Duration, idle: Duration) -> Result<Bytes, Rejection> {
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let mut body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let mut parts: Vec<Bytes> = Vec::new();
    let deadline = tokio::time::Instant::now() + total;
    loop {
        let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(Rejection::BodyTimeout(if wait < idle { total } else { idle })),
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(Rejection::BodyTooLarge(limit));
            }
            Ok(Some(Err(_))) => return Err(Rejection::BadRequest("the request body could not be read".into())),
        };
        if let Ok(data) = frame.into_data() {
            parts.push(data);
        }
    }
    Ok(match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => parts.concat().into(),
    })
}
