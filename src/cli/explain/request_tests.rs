use super::*;

fn parsed(text: &[u8], body: Option<Vec<u8>>) -> (Parts, Vec<u8>) {
    match parse_request(text, body) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn curl_verbose_output_gives_its_request_lines() {
    let text = b"*   Trying 127.0.0.1:8080...\n* Connected\n> POST /_functions/x?y=1 HTTP/1.1\r\n> Host: a.example\r\n\
        > Content-Length: 2\r\n> \r\n} [2 bytes data]\n< HTTP/1.1 401 Unauthorized\n< content-type: application/json\n";
    let (parts, body) = parsed(text, Some(b"hi".to_vec()));
    assert_eq!((parts.method.as_str(), parts.uri.to_string().as_str()), ("POST", "/_functions/x?y=1"));
    assert_eq!(parts.headers["host"], "a.example");
    assert_eq!(parts.headers.len(), 2, "response lines are not request headers");
    assert_eq!(body, b"hi");
}

#[test]
fn curl_output_is_found_after_a_progress_meter_or_a_note() {
    let meter = "  % Total    % Received % Xferd  Average Speed\n  0     0    0     0    0     0      0      0\n";
    let note = "Note: Unnecessary use of -X or --request, POST is already inferred.\n";
    for lead in [meter, note] {
        let text = format!("{lead}* Connected\n> POST /x HTTP/2\r\n> host: h\r\n> content-length: 1\r\n> \r\n");
        let (parts, body) = parsed(text.as_bytes(), Some(b"z".to_vec()));
        assert_eq!((parts.uri.path(), parts.version, body.as_slice()), ("/x", Version::HTTP_2, &b"z"[..]));
    }
}

#[test]
fn raw_http_with_bare_newlines_is_read_to_its_content_length() {
    let (parts, body) = parsed(b"PUT /a HTTP/1.1\nHost: h\nContent-Length: 7\n\nabc\n> x\n", None);
    assert_eq!(parts.version, Version::HTTP_11);
    assert_eq!(body, b"abc\n> x", "a body quoting `> ` stays raw HTTP; the file's last newline is not in it");
    // The first blank line ends the head, whichever line ends are used.
    let (parts, body) = parsed(b"POST /a HTTP/1.1\nHost: h\nContent-Length: 6\n\nab\r\n\r\n", None);
    assert_eq!((parts.headers.len(), body.as_slice()), (2, &b"ab\r\n\r\n"[..]));
}

#[test]
fn a_body_without_framing_gets_its_content_length() {
    let (parts, body) = parsed(b"POST /a HTTP/1.1\r\nHost: h\r\n\r\n{}", None);
    assert_eq!((parts.headers["content-length"].to_str().ok(), body.as_slice()), (Some("2"), &b"{}"[..]));
}

/// What hyper refuses with 400 before the gateway sees the request, explain
/// reports as refused; a repeated equal Content-Length, hyper drops.
#[test]
fn heads_hyper_refuses_are_refused_and_a_repeated_length_is_one() {
    let refused: [(&[u8], &str); 4] = [
        (b"GET / HTTP/1.1\r\nHost: h\r\nX-Sp : v\r\n\r\n", "space before the colon"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nab", "not a number"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "two different"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "header"),
    ];
    for (text, why) in refused {
        match parse_request(text, None) {
            Err(ReadError::Refused(said)) => assert!(said.contains(why), "{said} should mention {why}"),
            other => panic!("{} should be refused, got {other:?}", String::from_utf8_lossy(text)),
        }
    }
    let (parts, body) = parsed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", None);
    assert_eq!((parts.headers.get_all("content-length").iter().count(), body.as_slice()), (1, &b"ab"[..]));
}

#[test]
fn unreadable_requests_say_why() {
    let cases: [(&[u8], &str); 4] = [
        (b"", "no request line"),
        (b"this is not HTTP\r\n\r\n", "no request line"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", "Content-Length says 9"),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "chunked"),
    ];
    for (text, why) in cases {
        match parse_request(text, None) {
            Err(ReadError::Unreadable(err)) => {
                assert!(format!("{err:#}").contains(why), "{err:#} should mention {why}")
            }
            other => panic!("{} should be unreadable, got {other:?}", String::from_utf8_lossy(text)),
        }
    }
}

#[test]
fn what_sign_prints_is_read_as_http11() {
    let text = b"POST http://127.0.0.1:8080/_functions/x?y=1\nHost: 127.0.0.1:8080\nSignature: sig1=:AA==:\n";
    let (parts, body) = parsed(text, Some(b"hi".to_vec()));
    assert_eq!((parts.method.as_str(), parts.version), ("POST", Version::HTTP_11));
    assert_eq!(parts.uri.to_string(), "http://127.0.0.1:8080/_functions/x?y=1");
    assert_eq!((parts.headers["signature"].to_str().ok(), body.as_slice()), (Some("sig1=:AA==:"), &b"hi"[..]));
}
