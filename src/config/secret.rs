//! Named secrets: where they come from, how they are decoded, and a type that
//! never prints its bytes.

use super::inputs::Inputs;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use zeroize::Zeroizing;

/// Shortest HMAC key accepted (RFC 2104 recommends at least the hash length).
pub const MIN_KEY_BYTES: usize = 32;

pub use crate::scheme::Secret;

/// Where a secret's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Inline in the config file: acceptable for demos only.
    Inline,
    /// An environment variable, by name.
    Env(String),
    /// A file, by its path as written (relative to the config's directory).
    File(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline => f.write_str("inline value"),
            Self::Env(var) => write!(f, "env {var}"),
            Self::File(path) => write!(f, "file {path}"),
        }
    }
}

/// How a secret's text becomes key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The bytes as they are (must be UTF-8); the default.
    Utf8,
    /// Standard or URL-safe base64, surrounding whitespace ignored.
    Base64,
    /// Hex digits, surrounding whitespace ignored.
    Hex,
}

impl Encoding {
    /// Parses `utf8`, `base64` or `hex`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "utf8" => Ok(Self::Utf8),
            "base64" => Ok(Self::Base64),
            "hex" => Ok(Self::Hex),
            other => Err(format!("unknown encoding {other:?} (known: utf8, base64, hex)")),
        }
    }
}

/// Reads and decodes a secret. Errors name the source, never the content.
/// `min_bytes` is [`MIN_KEY_BYTES`] for HMAC keys; a secret that is not a
/// key (a Redis URL) only needs to be non-empty.
pub fn resolve(
    source: &SecretSource,
    inline: Option<&str>,
    encoding: Encoding,
    inputs: &Inputs,
    min_bytes: usize,
) -> Result<Secret, String> {
    let raw = Zeroizing::new(match source {
        SecretSource::Inline => inline.unwrap_or_default().as_bytes().to_vec(),
        SecretSource::Env(var) => inputs
            .env(var)
            .ok_or_else(|| format!("environment variable {var} is not set (or not UTF-8)"))?
            .as_bytes()
            .to_vec(),
        SecretSource::File(path) => {
            let mut bytes = inputs
                .file(path)
                .map_err(|e| format!("cannot read secret file {}: {e}", inputs.path(path).display()))?
                .to_vec();
            // `echo key > file` adds a newline nobody means as key material.
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            bytes
        }
    });
    let decoded = decode(&raw, encoding).map_err(|why| format!("{source} is not valid {why}"))?;
    if decoded.is_empty() {
        return Err(format!("{source} is empty"));
    }
    if decoded.len() < min_bytes {
        return Err(format!(
            "{source} decodes to {} bytes; HMAC keys must be at least {MIN_KEY_BYTES} bytes \
             (generate one with `hmac-gateway keygen`)",
            decoded.len()
        ));
    }
    Ok(Secret::new(decoded))
}

/// How many bytes `text` would decode to as base64, when all of it is
/// base64 (standard alphabet, padded, a whole number of blocks): a key
/// `hmac-gateway keygen` printed, or one copied from a secrets manager.
/// Hex text (`openssl rand -hex 32`) is all base64 letters too, but it is
/// hex: not this.
pub fn looks_like_base64(text: &[u8]) -> Option<usize> {
    if text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let whole_blocks = text.len().is_multiple_of(4) && text.len() >= 4;
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/' || *b == b'=';
    if !whole_blocks || !text.iter().all(alphabet) {
        return None;
    }
    STANDARD.decode(text).ok().map(|bytes| bytes.len())
}

fn decode(raw: &[u8], encoding: Encoding) -> Result<Vec<u8>, &'static str> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(raw).map(|s| s.as_bytes().to_vec()).map_err(|_| "UTF-8"),
        Encoding::Base64 => {
            let text = raw.trim_ascii();
            STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)).map_err(|_| "base64")
        }
        Encoding::Hex => hex::decode(raw.trim_ascii()).map_err(|_| "hex"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let s = Secret::new(b"super-secret-key-material-0123456789".to_vec());
        let shown = format!("{s:?}");
        assert!(!shown.contains("super"), "{shown}");
        assert!(shown.contains("36 bytes"));
    }

    #[test]
    fn decodes_each_encoding_and_enforces_length() {
        let dir = &Inputs::default();
        let long = "k".repeat(32);
        let ok = resolve(&SecretSource::Inline, Some(&long), Encoding::Utf8, dir, MIN_KEY_BYTES).expect("utf8");
        assert_eq!(ok.expose(), long.as_bytes());
        let b64 = STANDARD.encode([7u8; 40]);
        let ok = resolve(&SecretSource::Inline, Some(&b64), Encoding::Base64, dir, MIN_KEY_BYTES).expect("b64");
        assert_eq!(ok.expose(), [7u8; 40]);
        let hx = hex::encode([9u8; 32]);
        let ok = resolve(&SecretSource::Inline, Some(&hx), Encoding::Hex, dir, MIN_KEY_BYTES).expect("hex");
        assert_eq!(ok.expose(), [9u8; 32]);
        let short = resolve(&SecretSource::Inline, Some("short"), Encoding::Utf8, dir, MIN_KEY_BYTES);
        assert!(short.expect_err("short").contains("at least 32 bytes"));
        let bad = resolve(&SecretSource::Inline, Some("!!!"), Encoding::Base64, dir, MIN_KEY_BYTES);
        assert!(bad.expect_err("bad").contains("not valid base64"));
    }

    #[test]
    fn base64_is_told_apart_from_text() {
        assert_eq!(looks_like_base64(STANDARD.encode([1u8; 64]).as_bytes()), Some(64));
        assert_eq!(looks_like_base64(b"correct horse battery staple, a passphrase"), None);
        assert_eq!(looks_like_base64(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None);
        assert_eq!(looks_like_base64(b"abc"), None);
        // `openssl rand -hex 32`: hex, not base64.
        assert_eq!(looks_like_base64(hex::encode([0xabu8; 32]).as_bytes()), None);
    }

    #[test]
    fn missing_env_names_the_variable_only() {
        let err = resolve(
            &SecretSource::Env("HMACGW_TEST_SURELY_UNSET".into()),
            None,
            Encoding::Utf8,
            &Inputs::default(),
            MIN_KEY_BYTES,
        )
        .expect_err("unset");
        assert!(err.contains("HMACGW_TEST_SURELY_UNSET"));
    }
}
