//! Hand-written HTTP/2 frames for raw-socket tests: a client that says only
//! what the test wants, and a reader that reports GOAWAY and the close.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// One frame: 9-byte header, then the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The client preface and an empty SETTINGS frame: all a connection needs
/// to be open in HTTP/2 terms.
pub fn preface_and_settings() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out
}

/// An HPACK header block for `method http://{authority}{path}` plus
/// `headers` (lowercase names): literals only, no Huffman, no dynamic table.
pub fn request_block(method: &str, authority: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    // :scheme http is static entry 6.
    block.push(0x86);
    // Literal without indexing, name from the static table (4-bit prefix):
    // :authority 1, :method 2, :path 4.
    for (name_index, value) in [(2u8, method), (4, path), (1, authority)] {
        hpack_int(&mut block, 0x00, 4, usize::from(name_index));
        hpack_string(&mut block, value);
    }
    for (name, value) in headers {
        block.push(0x00);
        hpack_string(&mut block, name);
        hpack_string(&mut block, value);
    }
    block
}

/// `GET http://{authority}{path}` with no other header.
pub fn get_block(authority: &str, path: &str) -> Vec<u8> {
    request_block("GET", authority, path, &[])
}

/// A signed request's header block, as `Req` and `sign` build it.
pub fn signed_block(req: &super::Req) -> Vec<u8> {
    let headers: Vec<(&str, &str)> = req.headers.iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
    request_block(req.method.as_str(), &req.authority, &req.target(), &headers)
}

/// RFC 7541 section 5.1 integer with an `prefix`-bit prefix after `flags`.
fn hpack_int(out: &mut Vec<u8>, flags: u8, prefix: u32, value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | u8::try_from(value).unwrap());
        return;
    }
    out.push(flags | u8::try_from(max).unwrap());
    let mut rest = value - max;
    while rest >= 128 {
        out.push(u8::try_from(rest % 128).unwrap() | 0x80);
        rest /= 128;
    }
    out.push(u8::try_from(rest).unwrap());
}

/// RFC 7541 section 5.2 string literal, not Huffman-coded.
fn hpack_string(out: &mut Vec<u8>, value: &str) {
    hpack_int(out, 0x00, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

/// What a raw client saw until the server closed the connection.
#[derive(Debug)]
pub struct Seen {
    /// Frame types in arrival order.
    pub frames: Vec<u8>,
    /// Time from the start of the read until a GOAWAY arrived.
    pub goaway_after: Option<Duration>,
    /// The first GOAWAY's error code.
    pub goaway_error: Option<u32>,
    /// Time from the start of the read until EOF or reset; `None` when the
    /// connection was still open at the limit.
    pub closed_after: Option<Duration>,
}

/// Reads frames (never answering a PING) until the server closes or
/// `limit` passes.
pub async fn read_until_closed<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Seen {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut goaway_after = None;
    let closed_after = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => break None,
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        if goaway_after.is_none() && frame_types(&buf).contains(&GOAWAY) {
            goaway_after = Some(started.elapsed());
        }
    };
    let goaway_error = goaway_error(&buf);
    Seen { frames: frame_types(&buf), goaway_after, goaway_error, closed_after }
}

/// The frames in `bytes` (server to client): type and payload, the last
/// one possibly cut short.
pub fn frames(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 9 {
        let len = usize::from(bytes[at]) << 16 | usize::from(bytes[at + 1]) << 8 | usize::from(bytes[at + 2]);
        out.push((bytes[at + 3], &bytes[(at + 9).min(bytes.len())..(at + 9 + len).min(bytes.len())]));
        at += 9 + len;
    }
    out
}

/// The types of the frames in `bytes`.
pub fn frame_types(bytes: &[u8]) -> Vec<u8> {
    frames(bytes).into_iter().map(|(kind, _)| kind).collect()
}

/// The error code of the first complete GOAWAY in `bytes`.
pub fn goaway_error(bytes: &[u8]) -> Option<u32> {
    let (_, payload) = frames(bytes).into_iter().find(|(kind, p)| *kind == GOAWAY && p.len() >= 8)?;
    Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()))
}
