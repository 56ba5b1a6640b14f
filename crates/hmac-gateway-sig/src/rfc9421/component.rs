//! Covered components (RFC 9421 section 2) and their values in a request.

use std::fmt;

use http::HeaderName;

use crate::MessageView;

/// One covered component identifier. Component parameters (`sf`, `bs`,
/// `key`, `req`, `tr`, `@query-param;name`) are not supported and make a
/// signature malformed rather than silently verifying something else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Component {
    /// `@method`.
    Method,
    /// `@target-uri`: scheme, authority, path and query.
    TargetUri,
    /// `@authority`.
    Authority,
    /// `@scheme`.
    Scheme,
    /// `@request-target`: path and query.
    RequestTarget,
    /// `@path`; an empty path is `/`.
    Path,
    /// `@query`, with its leading `?` (a lone `?` when there is no query).
    Query,
    /// A header field, all its lines joined with `, `.
    Field(HeaderName),
}

impl Component {
    /// Parses an identifier such as `@method` or `content-digest`.
    pub fn parse(id: &str) -> Result<Self, String> {
        let component = match id {
            "@method" => Self::Method,
            "@target-uri" => Self::TargetUri,
            "@authority" => Self::Authority,
            "@scheme" => Self::Scheme,
            "@request-target" => Self::RequestTarget,
            "@path" => Self::Path,
            "@query" => Self::Query,
            other if other.starts_with('@') => {
                return Err(format!("unsupported derived component {other:?}"));
            }
            other => {
                // Identifiers are lowercase field names (RFC 9421 section 2.1).
                if other.bytes().any(|b| b.is_ascii_uppercase()) {
                    return Err(format!("component {other:?} must be lowercase"));
                }
                let name = HeaderName::from_bytes(other.as_bytes())
                    .map_err(|_| format!("{other:?} is not a valid field name"))?;
                Self::Field(name)
            }
        };
        Ok(component)
    }

    /// The `content-digest` field (RFC 9530), which binds the body.
    pub fn content_digest() -> Self {
        Self::Field(HeaderName::from_static("content-digest"))
    }

    /// The identifier as it appears in `Signature-Input`, such as `@method`.
    pub fn name(&self) -> &str {
        match self {
            Self::Method => "@method",
            Self::TargetUri => "@target-uri",
            Self::Authority => "@authority",
            Self::Scheme => "@scheme",
            Self::RequestTarget => "@request-target",
            Self::Path => "@path",
            Self::Query => "@query",
            Self::Field(name) => name.as_str(),
        }
    }

    /// Appends this component's value to `out`, or returns `None` when the
    /// request has no such field.
    pub(crate) fn write_value(&self, view: &MessageView<'_>, out: &mut Vec<u8>) -> Option<()> {
        let path = if view.path.is_empty() { "/" } else { view.path };
        match self {
            Self::Method => out.extend_from_slice(view.method.as_bytes()),
            Self::Authority => out.extend_from_slice(view.authority.as_bytes()),
            Self::Scheme => out.extend_from_slice(view.scheme.as_bytes()),
            Self::Path => out.extend_from_slice(path.as_bytes()),
            Self::Query => {
                out.push(b'?');
                out.extend_from_slice(view.query.unwrap_or("").as_bytes());
            }
            Self::RequestTarget => {
                out.extend_from_slice(path.as_bytes());
                write_query(view.query, out);
            }
            Self::TargetUri => {
                out.extend_from_slice(view.scheme.as_bytes());
                out.extend_from_slice(b"://");
                out.extend_from_slice(view.authority.as_bytes());
                out.extend_from_slice(path.as_bytes());
                write_query(view.query, out);
            }
            Self::Field(name) => crate::field::write_trimmed(view.headers, name, out)?,
        }
        Some(())
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn write_query(query: Option<&str>, out: &mut Vec<u8>) {
    if let Some(query) = query {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn value(component: &str, view: &MessageView<'_>) -> Option<String> {
        let mut out = Vec::new();
        Component::parse(component).expect("valid component").write_value(view, &mut out)?;
        Some(String::from_utf8(out).expect("ascii"))
    }

    #[test]
    fn derived_components_follow_rfc9421_section_2_2() {
        let mut headers = HeaderMap::new();
        headers.append("x-multi", " a ".parse().expect("value"));
        headers.append("x-multi", "b".parse().expect("value"));
        let view = MessageView {
            method: "POST",
            scheme: "https",
            authority: "www.example.com",
            path: "/path",
            query: Some("param=value&foo=bar&baz=bat%2Dman"),
            headers: &headers,
        };
        assert_eq!(value("@method", &view).as_deref(), Some("POST"));
        assert_eq!(
            value("@target-uri", &view).as_deref(),
            Some("https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman")
        );
        assert_eq!(value("@authority", &view).as_deref(), Some("www.example.com"));
        assert_eq!(value("@scheme", &view).as_deref(), Some("https"));
        assert_eq!(value("@request-target", &view).as_deref(), Some("/path?param=value&foo=bar&baz=bat%2Dman"));
        assert_eq!(value("@path", &view).as_deref(), Some("/path"));
        assert_eq!(value("@query", &view).as_deref(), Some("?param=value&foo=bar&baz=bat%2Dman"));
        assert_eq!(value("x-multi", &view).as_deref(), Some("a, b"));
        assert_eq!(value("x-absent", &view), None);
    }

    #[test]
    fn absent_query_is_a_lone_question_mark() {
        let headers = HeaderMap::new();
        let view =
            MessageView { method: "GET", scheme: "http", authority: "a", path: "", query: None, headers: &headers };
        assert_eq!(value("@query", &view).as_deref(), Some("?"));
        assert_eq!(value("@path", &view).as_deref(), Some("/"));
        assert_eq!(value("@request-target", &view).as_deref(), Some("/"));
    }

    #[test]
    fn rejects_unknown_and_uppercase_identifiers() {
        assert!(Component::parse("@query-param").is_err());
        assert!(Component::parse("@status").is_err());
        assert!(Component::parse("Content-Type").is_err());
        assert!(Component::parse("bad header").is_err());
    }
}
