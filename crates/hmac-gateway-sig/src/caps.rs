//! Hard caps on how many things one request's signature headers may list.
//!
//! Legitimate signers need a handful of each. The caps bound the work an
//! unauthenticated request can cause, whatever `limits.max_header_bytes`
//! allows: a parser refuses a request as soon as it passes a cap, before
//! doing any work for the excess, with 401 `malformed_signature` and a
//! message naming the cap ([`too_many`]).

use super::AuthError;

/// Signatures in one request: RFC 9421 labels (members of `Signature-Input`,
/// and of `Signature`, repeats included), Stripe `v1=` and Standard Webhooks
/// `v1,` entries.
pub const MAX_SIGNATURES: usize = 64;

/// Parameters in one list: on an RFC 9421 signature or component, and the
/// Kong/APISIX credential parameters.
pub const MAX_PARAMS: usize = 64;

/// Covered components of one signature: RFC 9421 components, SigV4
/// `SignedHeaders`, Kong/APISIX `headers`.
pub const MAX_COMPONENTS: usize = 64;

/// Query parameters of a SigV4 request, either form: its canonical query
/// decodes and sorts them all. Presigned URLs carry about ten.
pub const MAX_QUERY_PARAMS: usize = 1024;

/// The refusal for a request over a cap: "`field` has more than `max` `what`".
pub fn too_many(field: &str, max: usize, what: &str) -> AuthError {
    AuthError::Malformed(format!("{field} has more than {max} {what}"))
}
