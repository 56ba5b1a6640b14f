//! A strict, allocation-light parser for RFC 8941 structured-field
//! dictionaries, and the canonical serialisation of what it parsed.
//!
//! The signature headers are parsed on every verified request, so this
//! borrows from the input where it can; it accepts exactly the RFC 8941
//! syntax (checked against the `sfv` crate in tests and by fuzzing).

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::alphabet::STANDARD as ALPHABET;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};

/// RFC 8941 section 4.2.7: parsers should accept missing `=` padding and
/// non-zero pad bits; serialisation is canonical either way.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &ALPHABET,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bare<'a> {
    Integer(i64),
    /// Thousandths: `1.5` is `Decimal(1500)`.
    Decimal(i64),
    String(Cow<'a, str>),
    Token(&'a str),
    Bytes(Vec<u8>),
    Boolean(bool),
}

pub type Params<'a> = Vec<(&'a str, Bare<'a>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    pub bare: Bare<'a>,
    pub params: Params<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member<'a> {
    Item(Item<'a>),
    InnerList(Vec<Item<'a>>, Params<'a>),
}

/// A dictionary in member order; a repeated key replaces the earlier value
/// in place, as RFC 8941 section 4.2.2 says.
pub type Dictionary<'a> = Vec<(&'a str, Member<'a>)>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid structured field at byte {at}: {what}")]
pub struct SfError {
    pub at: usize,
    pub what: &'static str,
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

pub fn parse_dictionary(input: &[u8]) -> Result<Dictionary<'_>, SfError> {
    let mut p = Parser { input, pos: 0 };
    p.skip_sp();
    let mut dict: Dictionary<'_> = Vec::new();
    while p.pos < p.input.len() {
        let key = p.key()?;
        let member = if p.peek() == Some(b'=') {
            p.pos += 1;
            p.member_value()?
        } else {
            Member::Item(Item { bare: Bare::Boolean(true), params: p.params()? })
        };
        match dict.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = member,
            None => dict.push((key, member)),
        }
        p.skip_ows();
        if p.pos >= p.input.len() {
            break;
        }
        p.expect(b',', "expected ',' between members")?;
        p.skip_ows();
        if p.pos >= p.input.len() {
            return Err(p.err("trailing comma"));
        }
    }
    Ok(dict)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn err(&self, what: &'static str) -> SfError {
        SfError { at: self.pos, what }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), SfError> {
        if self.peek() != Some(byte) {
            return Err(self.err(what));
        }
        self.pos += 1;
        Ok(())
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Bytes `start..pos` as str; only called on ASCII-checked ranges.
    fn text(&self, start: usize) -> &'a str {
        std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default()
    }

    fn key(&mut self) -> Result<&'a str, SfError> {
        let start = self.pos;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.pos += 1,
            _ => return Err(self.err("a key must start with a lowercase letter or '*'")),
        }
        while matches!(self.peek(), Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')) {
            self.pos += 1;
        }
        Ok(self.text(start))
    }

    fn member_value(&mut self) -> Result<Member<'a>, SfError> {
        if self.peek() == Some(b'(') {
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                if self.peek() == Some(b')') {
                    self.pos += 1;
                    return Ok(Member::InnerList(items, self.params()?));
                }
                items.push(self.item()?);
                if !matches!(self.peek(), Some(b' ' | b')')) {
                    return Err(self.err("inner-list items must be separated by spaces"));
                }
            }
        }
        Ok(Member::Item(self.item()?))
    }

    fn item(&mut self) -> Result<Item<'a>, SfError> {
        let bare = self.bare()?;
        Ok(Item { bare, params: self.params()? })
    }

    fn params(&mut self) -> Result<Params<'a>, SfError> {
        let mut params: Params<'a> = Vec::new();
        while self.peek() == Some(b';') {
            self.pos += 1;
            self.skip_sp();
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.pos += 1;
                self.bare()?
            } else {
                Bare::Boolean(true)
            };
            match params.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => params.push((key, value)),
            }
        }
        Ok(params)
    }

    fn bare(&mut self) -> Result<Bare<'a>, SfError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => self.boolean(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => Ok(self.token()),
            _ => Err(self.err("expected a bare item")),
        }
    }

    fn number(&mut self) -> Result<Bare<'a>, SfError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let int_digits = self.pos - int_start;
        if int_digits == 0 {
            return Err(self.err("expected a digit"));
        }
        let sign = if negative { -1 } else { 1 };
        // Length limits first: they also keep the arithmetic below in range.
        if self.peek() != Some(b'.') {
            if int_digits > 15 {
                return Err(self.err("integer has more than 15 digits"));
            }
            return Ok(Bare::Integer(sign * digits_value(&self.input[int_start..self.pos])));
        }
        if int_digits > 12 {
            return Err(self.err("decimal has more than 12 integer digits"));
        }
        let int_part = digits_value(&self.input[int_start..self.pos]);
        self.pos += 1;
        let frac_start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let frac_digits = self.pos - frac_start;
        if !(1..=3).contains(&frac_digits) {
            return Err(self.err("decimal needs 1 to 3 fractional digits"));
        }
        let mut frac = digits_value(&self.input[frac_start..self.pos]);
        for _ in frac_digits..3 {
            frac *= 10;
        }
        Ok(Bare::Decimal(sign * (int_part * 1000 + frac)))
    }

    fn string(&mut self) -> Result<Bare<'a>, SfError> {
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let value = match owned {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(self.text(start)),
                    };
                    self.pos += 1;
                    return Ok(Bare::String(value));
                }
                Some(b'\\') => {
                    let escaped = match self.input.get(self.pos + 1) {
                        Some(c @ (b'"' | b'\\')) => *c,
                        _ => return Err(self.err("only \\\" and \\\\ may be escaped")),
                    };
                    let s = owned.get_or_insert_with(|| self.text(start).to_owned());
                    s.push(char::from(escaped));
                    self.pos += 2;
                }
                Some(c @ 0x20..=0x7e) => {
                    if let Some(s) = owned.as_mut() {
                        s.push(char::from(c));
                    }
                    self.pos += 1;
                }
                Some(_) => return Err(self.err("strings hold printable ASCII only")),
            }
        }
    }

    fn token(&mut self) -> Bare<'a> {
        let start = self.pos;
        self.pos += 1;
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
            if !tchar {
                break;
            }
            self.pos += 1;
        }
        Bare::Token(self.text(start))
    }

    fn bytes(&mut self) -> Result<Bare<'a>, SfError> {
        self.pos += 1;
        let start = self.pos;
        while matches!(self.peek(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=')) {
            self.pos += 1;
        }
        let encoded = &self.input[start..self.pos];
        self.expect(b':', "unterminated byte sequence")?;
        LENIENT_B64.decode(encoded).map(Bare::Bytes).map_err(|_| SfError { at: start, what: "invalid base64" })
    }

    fn boolean(&mut self) -> Result<Bare<'a>, SfError> {
        self.pos += 1;
        let value = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            _ => return Err(self.err("a boolean is ?0 or ?1")),
        };
        self.pos += 1;
        Ok(Bare::Boolean(value))
    }
}

fn digits_value(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
}

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

fn serialize_params(params: &[(&str, Bare<'_>)], out: &mut String) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != Bare::Boolean(true) {
            out.push('=');
            serialize_bare(value, out);
        }
    }
}

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
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
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

#[cfg(test)]
mod tests;
