//! The parts of a request every scheme reads.

use http::HeaderMap;

/// The parts of a request a signature can cover, as the verifier saw them on
/// the wire (no decoding, no normalisation beyond what a scheme asks). Every
/// scheme reads a request through this one view.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// The request method, such as `GET`.
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host and optional port, lowercase, default port removed.
    pub authority: &'a str,
    /// The raw path as received; empty means `/`.
    pub path: &'a str,
    /// The raw query without `?`, when the target had one.
    pub query: Option<&'a str>,
    /// The request's headers as received.
    pub headers: &'a HeaderMap,
}
