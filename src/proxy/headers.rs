//! Header hygiene between client, gateway and upstream.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop fields (RFC 9110 section 7.6.1 and common legacy ones).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

pub const X_CONSUMER_ID: HeaderName = HeaderName::from_static("x-consumer-id");
pub const X_CREDENTIAL_IDENTIFIER: HeaderName = HeaderName::from_static("x-credential-identifier");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Identity headers only the gateway may set.
const IDENTITY: [&str; 2] = ["x-consumer-id", "x-credential-identifier"];

/// Removes hop-by-hop fields, every field named in `Connection`, and
/// `Upgrade` (tunnels are not proxied).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests carry no Connection header: skip the parsing then.
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// RFC 9112 section 6.1: a message with Transfer-Encoding has no valid
/// Content-Length, and an intermediary must remove it. hyper's client reads
/// such an upstream response as chunked but leaves Content-Length in the
/// headers; forwarded as is, hyper's server would cut the body at that
/// length and the client would see a short body that looks complete.
/// Without it the body is re-framed (chunked on HTTP/1.1) and sent whole.
pub fn drop_length_beside_transfer_encoding(headers: &mut HeaderMap) {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
    }
}

/// Drops client-sent copies of the identity headers, including spellings an
/// upstream framework may fold into the same name (`X_Consumer_ID`).
pub fn strip_identity_spoofs(headers: &mut HeaderMap) {
    let is_spoof = |name: &HeaderName| {
        let name = name.as_str().as_bytes();
        IDENTITY
            .iter()
            .any(|id| id.len() == name.len() && id.bytes().zip(name).all(|(a, b)| a == *b || (a == b'-' && *b == b'_')))
    };
    if !headers.keys().any(is_spoof) {
        return;
    }
    let spoofs: Vec<HeaderName> = headers.keys().filter(|n| is_spoof(n)).cloned().collect();
    for name in spoofs {
        headers.remove(name);
    }
}

/// Sets X-Forwarded-For/-Proto/-Host for this hop. From a trusted proxy the
/// inbound values are kept and the peer is appended to X-Forwarded-For; from
/// anyone else they are replaced, since a client could claim anything.
pub fn set_forwarded(headers: &mut HeaderMap, peer: std::net::IpAddr, trusted: bool, proto: &'static str, host: &str) {
    let peer_text = peer.to_string();
    let chain = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) if trusted && !prior.trim().is_empty() => format!("{prior}, {peer_text}"),
        _ => peer_text,
    };
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if trusted && headers.contains_key(X_FORWARDED_PROTO) && headers.contains_key(X_FORWARDED_HOST) {
        return;
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    match HeaderValue::from_str(host) {
        Ok(v) => headers.insert(X_FORWARDED_HOST, v),
        Err(_) => headers.remove(X_FORWARDED_HOST),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_fields() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-secret-hop".parse().expect("v"));
        h.insert("x-secret-hop", "1".parse().expect("v"));
        h.insert("keep-alive", "timeout=5".parse().expect("v"));
        h.insert("transfer-encoding", "chunked".parse().expect("v"));
        h.insert("upgrade", "websocket".parse().expect("v"));
        h.insert("x-kept", "1".parse().expect("v"));
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept"]);
    }

    #[test]
    fn content_length_goes_only_when_transfer_encoding_is_there() {
        let mut h = HeaderMap::new();
        h.insert("content-length", "5".parse().expect("v"));
        drop_length_beside_transfer_encoding(&mut h);
        assert_eq!(h["content-length"], "5");
        h.insert("transfer-encoding", "chunked".parse().expect("v"));
        drop_length_beside_transfer_encoding(&mut h);
        assert!(!h.contains_key("content-length"));
        assert_eq!(h["transfer-encoding"], "chunked");
    }

    #[test]
    fn strips_identity_spoofs_in_any_spelling() {
        let mut h = HeaderMap::new();
        h.insert("x-consumer-id", "admin".parse().expect("v"));
        h.insert("x_consumer_id", "admin".parse().expect("v"));
        h.insert("x-credential_identifier", "k".parse().expect("v"));
        h.insert("x-consumer", "kept".parse().expect("v"));
        strip_identity_spoofs(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-consumer"]);
    }
}
