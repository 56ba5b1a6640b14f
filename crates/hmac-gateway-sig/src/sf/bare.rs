//! Bare items (RFC 8941 section 4.2.3): numbers, strings, tokens, byte
//! sequences and booleans.

use std::borrow::Cow;

use base64::Engine as _;

use super::{Bare, LENIENT_B64, Parser, SfError};

impl<'a> Parser<'a> {
    pub(super) fn bare(&mut self) -> Result<Bare<'a>, SfError> {
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
            // A run of plain characters is taken (or copied) in one go.
            let run_start = self.pos;
            let rest = self.input.get(run_start..).unwrap_or_default();
            self.pos += rest.iter().take_while(|&&c| matches!(c, 0x20..=0x7e) && c != b'"' && c != b'\\').count();
            if let Some(s) = owned.as_mut() {
                s.push_str(self.text(run_start));
            }
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
                Some(_) => return Err(self.err("strings hold printable ASCII only")),
            }
        }
    }

    fn token(&mut self) -> Bare<'a> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(is_tchar) {
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
        LENIENT_B64.decode(encoded).map(Bare::Bytes).map_err(|_| SfError::Syntax { at: start, what: "invalid base64" })
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

fn is_tchar(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~' | b':' | b'/')
}

fn digits_value(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
}
