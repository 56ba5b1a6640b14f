//! An HTTP/1.0 upstream (the Python standard library's server, as small
//! backends and test servers run it) behind the gateway: the client still
//! speaks HTTP/1.1 with keep-alive, and a body delimited by the upstream's
//! close reaches it whole, re-framed.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::common::*;

/// The close-delimited body's length: several socket reads' worth.
const CLOSE_DELIMITED: usize = 300_000;

/// `http.server` answering in HTTP/1.0 (its default): `/length` with a
/// Content-Length, `/close-delimited` with none (the body ends at the close).
const SERVER: &str = r#"
import http.server, sys
N = int(sys.argv[1])
BODY = bytes(i % 251 for i in range(N))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        if self.path.endswith("/close-delimited"):
            self.end_headers()
            self.wfile.write(BODY)
        else:
            body = b"hello from HTTP/1.0"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

struct PythonServer {
    child: tokio::process::Child,
    addr: SocketAddr,
}

/// `http.server` in a child process.
async fn python_http10() -> PythonServer {
    let installed = std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    require_peer(installed, "python3");
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", SERVER, &CLOSE_DELIMITED.to_string()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
    PythonServer { child, addr: SocketAddr::from(([127, 0, 0, 1], port.trim().parse::<u16>().unwrap())) }
}

#[tokio::test]
#[ignore = "needs python3 (scripts/install-test-peers.sh; cargo test -- --include-ignored)"]
async fn an_http10_upstream_keeps_the_client_on_http11_with_keep_alive() {
    let mut python = python_http10().await;
    let gw = gateway(&sign_yaml(python.addr, "", "")).await;
    let addr = gw.addr("egress").unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    let conn = tokio::spawn(conn);
    let request =
        |path: &str| Request::builder().uri(path).header("host", addr.to_string()).body(Empty::<Bytes>::new());

    // Two requests on one client connection: each answered in HTTP/1.1, and
    // the connection stays open after the upstream closed its own.
    for _ in 0..2 {
        let response = client.send_request(request("/length").unwrap()).await.unwrap();
        assert_eq!((response.status(), response.version()), (StatusCode::OK, Version::HTTP_11));
        assert_ne!(response.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello from HTTP/1.0");
    }

    // A body delimited by the upstream's close arrives whole, re-framed, and
    // the client's connection still serves the next request.
    let response = client.send_request(request("/close-delimited").unwrap()).await.unwrap();
    assert_eq!((response.status(), response.version()), (StatusCode::OK, Version::HTTP_11));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body == pattern(CLOSE_DELIMITED), "{} bytes, or not byte for byte", body.len());
    let response = client.send_request(request("/length").unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!conn.is_finished(), "the client connection was closed");
    let _ = python.child.kill().await;
}
