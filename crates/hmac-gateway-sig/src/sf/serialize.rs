//! Canonical RFC 8941 serialisation of what the parser reads.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{Bare, Item};

/// Canonical serialisation of an inner list with parameters (RFC 8941
/// section 4.1.1.1): the `@signature-params` value.
pub fn serialize_inner_list(items: &[Item<'_>], params: &[(&str, Bare<'_>)], out: &mut String) {
    out.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        serialize_bare(&item.bare, out);
        serialize_params(&item.params, out);
    }
    out.push(')');
    serialize_params(params, out);
}

pub(super) fn serialize_params(params: &[(&str, Bare<'_>)], out: &mut String) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != Bare::Boolean(true) {
            out.push('=');
            serialize_bare(value, out);
        }
    }
}

/// Appends the canonical serialisation of `bare` to `out`. The value is
/// written as it is, not validated.
pub fn serialize_bare(bare: &Bare<'_>, out: &mut String) {
    match bare {
        Bare::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Bare::Decimal(thousandths) => {
            let sign = if *thousandths < 0 { "-" } else { "" };
            let abs = thousandths.unsigned_abs();
            let frac = format!("{:03}", abs % 1000);
            let frac = frac.trim_end_matches('0');
            let _ = write!(out, "{sign}{}.{}", abs / 1000, if frac.is_empty() { "0" } else { frac });
        }
        Bare::String(s) => {
            out.push('"');
            // Runs between characters to escape are copied in one go.
            let mut rest: &str = s;
            while let Some(at) = rest.bytes().position(|b| b == b'"' || b == b'\\') {
                let (run, tail) = rest.split_at(at);
                out.push_str(run);
                out.push('\\');
                let (escaped, tail) = tail.split_at(1);
                out.push_str(escaped);
                rest = tail;
            }
            out.push_str(rest);
            out.push('"');
        }
        Bare::Token(t) => out.push_str(t),
        Bare::Bytes(b) => {
            out.push(':');
            out.push_str(&B64.encode(b));
            out.push(':');
        }
        Bare::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}
