//! The strict path policy: refuse request paths that an upstream might
//! normalise into something other than what was verified and forwarded.

/// Why a path is not canonical, or `Ok` when the bytes can only mean one thing.
pub fn check_strict(path: &str) -> Result<(), &'static str> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err("the path must start with /");
    }
    if path.contains("//") {
        return Err("empty path segments (//)");
    }
    if path.split('/').any(|segment| segment == "." || segment == "..") {
        return Err("dot-segments (. or ..)");
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => check_escape(bytes.get(i + 1..i + 3))?,
            b'\\' => return Err("backslashes"),
            b';' => return Err("path parameters (;)"),
            b'#' => return Err("fragments (#)"),
            b if b < 0x20 || b == 0x7f => return Err("control characters"),
            b if b >= 0x80 => return Err("raw non-ASCII bytes"),
            _ => {}
        }
        i += if bytes[i] == b'%' { 3 } else { 1 };
    }
    Ok(())
}

/// Hand-written rather than `percent_encoding::percent_decode`: that decoder
/// passes a malformed escape through as literal bytes, and this check must
/// refuse it, and must know which byte each escape stands for.
fn check_escape(hex: Option<&[u8]>) -> Result<(), &'static str> {
    let decoded = hex
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .ok_or("malformed percent-encoding")?;
    match decoded {
        b'/' | b'\\' => Err("encoded / or \\"),
        b if b < 0x20 || b == 0x7f => Err("encoded control characters"),
        b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => Err("percent-encoded unreserved characters"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn path_table() {
        let accepted =
            ["/", "/a/b", "/a/b/", "/a%20b", "/%25", "/a%2Cb", "/caf%C3%A9", "/a.b/c..d/.e", "/~user", "/a:b@c"];
        for p in accepted {
            assert_eq!(check_strict(p), Ok(()), "{p}");
        }
        let refused = [
            ("/a/../b", "dot"),
            ("/a/./b", "dot"),
            ("/..", "dot"),
            ("/a/%2e%2e/b", "unreserved"),
            ("/a/.%2E/b", "unreserved"),
            ("//a", "//"),
            ("/a//b", "//"),
            ("/a%2Fb", "encoded /"),
            ("/a%2fb", "encoded /"),
            ("/a%5Cb", "encoded /"),
            ("/a\\b", "backslash"),
            ("/a;jsessionid=1", "parameters"),
            ("/a%00", "control"),
            ("/a\u{1}", "control"),
            ("/a#frag", "fragment"),
            ("/caf\u{e9}", "non-ASCII"),
            ("/%41", "unreserved"),
            ("/%7e", "unreserved"),
            ("/%zz", "malformed"),
            ("/%4", "malformed"),
            ("*", "start"),
        ];
        for (p, why) in refused {
            let err = check_strict(p).expect_err(p);
            assert!(err.contains(why), "{p}: {err}");
        }
    }

    /// What a normalising upstream might do: decode unreserved escapes,
    /// merge slashes, resolve dot-segments (RFC 3986 sections 6.2.2, 5.2.4).
    fn normalise(path: &str) -> String {
        let mut decoded = String::new();
        let mut rest = path;
        while let Some(i) = rest.find('%') {
            decoded.push_str(&rest[..i]);
            let hex = rest.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                    decoded.push(char::from(b));
                    rest = &rest[i + 3..];
                }
                _ => {
                    decoded.push('%');
                    rest = &rest[i + 1..];
                }
            }
        }
        decoded.push_str(rest);
        let mut out: Vec<&str> = Vec::new();
        for segment in decoded.split('/').skip(1) {
            match segment {
                "." => {}
                ".." => {
                    out.pop();
                }
                s => out.push(s),
            }
        }
        let mut merged = format!("/{}", out.join("/"));
        while merged.contains("//") {
            merged = merged.replace("//", "/");
        }
        merged
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

        /// Accepted ⇒ canonical: no normalisation changes the bytes, so the
        /// target an upstream routes on is the target that was verified.
        #[test]
        fn accepted_paths_are_already_canonical(path in "/([a-z.~;\\\\/]|%(2[eEfF5]|5[cC]|4[1-9]|20|25|7[eE]|00)){0,16}") {
            if check_strict(&path).is_ok() {
                prop_assert_eq!(normalise(&path), path.clone());
            }
        }
    }
}
