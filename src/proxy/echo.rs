//! The built-in `echo` upstream: answers with what it would have received.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, header};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::ProxyBody;

pub fn respond(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<ProxyBody> {
    let mut fields = Map::new();
    for (name, value) in headers {
        let value = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match fields.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(value),
            _ => {
                fields.insert(name.as_str().to_owned(), Value::Array(vec![value]));
            }
        }
    }
    let echoed = json!({
        "method": method.as_str(),
        "path": path,
        "query": query,
        "headers": fields,
        "body_length": body.len(),
        "body_sha256": hex::encode(Sha256::digest(body)),
    });
    let mut response = Response::new(super::body::full(Bytes::from(echoed.to_string())));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
