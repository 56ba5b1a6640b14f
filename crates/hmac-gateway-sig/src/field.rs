//! Field-line joining (RFC 9110 section 5.3), in one place: a field sent on
//! several lines means the same as one line with the values joined by `, `.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::AsHeaderName;

/// All field lines of `name` joined with `, `; a single line is borrowed, not
/// copied. Empty when the field is absent.
pub fn joined<'h>(headers: &'h HeaderMap, name: impl AsHeaderName) -> Cow<'h, [u8]> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next().map_or(&[][..], http::HeaderValue::as_bytes);
    let mut rest = lines.peekable();
    if rest.peek().is_none() {
        return Cow::Borrowed(first);
    }
    let mut out = first.to_vec();
    for value in rest {
        out.extend_from_slice(b", ");
        out.extend_from_slice(value.as_bytes());
    }
    Cow::Owned(out)
}

/// Appends the field's lines to `out`, each trimmed of surrounding spaces and
/// tabs (RFC 9421 section 2.1), joined with `, `. `None` when it is absent.
pub fn write_trimmed(headers: &HeaderMap, name: impl AsHeaderName, out: &mut Vec<u8>) -> Option<()> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(line.as_bytes().trim_ascii());
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-f", line.parse().expect("value"));
        }
        h
    }

    #[test]
    fn one_line_is_borrowed_and_several_are_joined() {
        let one = headers(&["a=1"]);
        assert!(matches!(joined(&one, "x-f"), Cow::Borrowed(b"a=1")));
        assert_eq!(&*joined(&headers(&["a=1", "b=2"]), "x-f"), b"a=1, b=2");
        assert!(joined(&HeaderMap::new(), "x-f").is_empty());
    }

    #[test]
    fn trimmed_lines_for_rfc9421() {
        let mut out = Vec::new();
        assert_eq!(write_trimmed(&headers(&[" a ", "\tb"]), "x-f", &mut out), Some(()));
        assert_eq!(out, b"a, b");
        assert_eq!(write_trimmed(&HeaderMap::new(), "x-f", &mut out), None);
    }
}
