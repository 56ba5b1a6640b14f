//! The body of every answer the gateway gives: one it made, or the
//! upstream's, streamed. Below `error` and `proxy`, so both can name it.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;

/// What the gateway answers with: a body it made (`Left`), or the
/// upstream's, streamed (`Right`).
pub type ProxyBody = Either<Full<Bytes>, Incoming>;

/// A body the gateway made.
pub fn full(bytes: Bytes) -> ProxyBody {
    Either::Left(Full::new(bytes))
}

/// The upstream's body, streamed as it arrives.
pub fn upstream(incoming: Incoming) -> ProxyBody {
    Either::Right(incoming)
}
