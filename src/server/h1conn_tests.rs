//! HTTP/1 connections over an in-memory pipe whose buffer is a few KiB (a
//! socket with a tiny send buffer), on paused time: parking never loses a
//! byte in either direction, and the watchdog cuts only what has stalled.

use std::sync::atomic::AtomicUsize;

use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncReadExt as _, DuplexStream};
use tokio::task::JoinHandle;

use super::*;
use crate::body;

const LIMITS: IdleLimits = IdleLimits { send: Duration::from_secs(2), upstream: Duration::from_secs(60) };

fn settings(limits: IdleLimits) -> Settings {
    Settings { keep_alive: Duration::from_secs(5), limits }
}

fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).keep_alive(true);
    builder
}

/// A connection served on one end of a pipe of `capacity` bytes, answering
/// every request with `body`; the client's end, the count of requests
/// handled, and the connection's task.
fn serve_pipe(capacity: usize, body: Bytes, settings: Settings) -> (DuplexStream, Arc<AtomicUsize>, JoinHandle<Ended>) {
    let (client, server) = tokio::io::duplex(capacity);
    let handled = Arc::new(AtomicUsize::new(0));
    let count = handled.clone();
    let handle = move |_: Request<Incoming>| {
        count.fetch_add(1, Ordering::SeqCst);
        let body = body.clone();
        async move { Response::new(body::full(body)) }
    };
    let task = tokio::spawn(async move {
        let (_keep, mut closing) = watch::channel(false);
        serve(&builder(), server, handle, &mut closing, settings).await
    });
    (client, handled, task)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").into_bytes()
}

/// Reads one response with a Content-Length body: its status line and body.
async fn read_response(client: &mut DuplexStream) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .map_or(0, |v| v.parse().expect("a length"));
            if data.len() >= end + 4 + length {
                let body = data[end + 4..end + 4 + length].to_vec();
                return (head.lines().next().unwrap_or_default().to_owned(), body);
            }
        }
        let n = client.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed after {} bytes", data.len());
        data.extend_from_slice(&chunk[..n]);
    }
}

fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| u8::try_from(i % 251).unwrap_or_default()).collect::<Vec<_>>().into()
}

#[tokio::test(start_paused = true)]
async fn the_unwritten_tail_of_an_answer_waits_for_a_paused_reader() {
    let body = pattern(64 * 1024);
    let patient = IdleLimits { send: Duration::from_secs(60), ..LIMITS };
    let (mut client, handled, _task) = serve_pipe(1024, body.clone(), settings(patient));
    client.write_all(&get("/big")).await.expect("write");
    // Long enough to park twice over: the answer is all with hyper, the
    // pipe full, the handling done.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, got) = read_response(&mut client).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(got == body[..], "{} of {} bytes, or not in order", got.len(), body.len());
    client.write_all(&get("/next")).await.expect("write");
    assert_eq!(read_response(&mut client).await.0, "HTTP/1.1 200 OK");
    assert_eq!(handled.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_pipelined_half_request_is_kept_when_the_connection_parks() {
    let (mut client, handled, _task) = serve_pipe(64 * 1024, Bytes::from_static(b"ok"), settings(LIMITS));
    let mut bytes = get("/first");
    let second = get("/second");
    let (head, tail) = second.split_at(10);
    bytes.extend_from_slice(head);
    client.write_all(&bytes).await.expect("write");
    assert_eq!(read_response(&mut client).await.0, "HTTP/1.1 200 OK");
    tokio::time::sleep(Duration::from_secs(2)).await;
    client.write_all(tail).await.expect("write");
    assert_eq!(read_response(&mut client).await.0, "HTTP/1.1 200 OK");
    assert_eq!(handled.load(Ordering::SeqCst), 2);
}

#[test]
fn leftover_bytes_keep_the_order_they_arrived_in() {
    let joined = leftover(Bytes::from_static(b"GET /a HT"), Bytes::from_static(b"TP/1.1\r\n"));
    assert_eq!(&joined[..], b"GET /a HTTP/1.1\r\n");
    assert_eq!(&leftover(Bytes::new(), Bytes::from_static(b"x"))[..], b"x");
    assert_eq!(&leftover(Bytes::from_static(b"y"), Bytes::new())[..], b"y");
}

#[tokio::test(start_paused = true)]
async fn an_answer_the_client_never_reads_is_cut_after_send_idle() {
    let (mut client, _, task) = serve_pipe(1024, pattern(1024 * 1024), settings(LIMITS));
    client.write_all(&get("/big")).await.expect("write");
    let started = Instant::now();
    let ended = task.await.expect("the connection task");
    let took = started.elapsed();
    assert!(matches!(ended, Ended::Cut(End::SendIdle)), "{ended:?}");
    assert!(took >= LIMITS.send && took <= LIMITS.send + TICK * 3, "cut after {took:?}");
    // What the pipe held arrives, then the end: far short of the body.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.expect("read");
    assert!(rest.len() < 64 * 1024, "{} bytes arrived", rest.len());
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_reader_is_not_cut() {
    let body = pattern(256 * 1024);
    let (mut client, _, task) = serve_pipe(4096, body.clone(), settings(LIMITS));
    client.write_all(&get("/big")).await.expect("write");
    // 4 KiB every 100 ms: a minute's worth of ticks at 40 KiB/s.
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    while data.len() < body.len() + 40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = client.read(&mut chunk).await.expect("read");
        assert!(n > 0, "cut after {} bytes", data.len());
        data.extend_from_slice(&chunk[..n]);
    }
    assert!(data.ends_with(&body), "the body differs");
    assert!(!task.is_finished(), "the connection ended");
}

#[tokio::test(start_paused = true)]
async fn a_parked_connection_closes_at_the_keep_alive_timeout() {
    let (mut client, _, task) = serve_pipe(4096, Bytes::from_static(b"ok"), settings(LIMITS));
    client.write_all(&get("/a")).await.expect("write");
    assert_eq!(read_response(&mut client).await.0, "HTTP/1.1 200 OK");
    let answered = Instant::now();
    assert!(matches!(task.await.expect("task"), Ended::Idle));
    let took = answered.elapsed();
    // Two ticks to park, then the keep-alive timeout.
    assert!(took >= Duration::from_secs(5) && took <= Duration::from_secs(5) + TICK * 3, "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn connection_close_ends_the_connection_after_its_answer() {
    let (mut client, _, task) = serve_pipe(4096, Bytes::from_static(b"bye"), settings(LIMITS));
    client.write_all(b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n").await.expect("write");
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.expect("read");
    assert!(all.starts_with(b"HTTP/1.1 200 OK") && all.ends_with(b"bye"), "{:?}", String::from_utf8_lossy(&all));
    assert!(matches!(task.await.expect("task"), Ended::Closed(Ok(()))));
}

/// An upgrade on a connection that has parked before: hyper's own upgrade
/// needs a connection that cannot park, so the round hands the socket over.
#[tokio::test(start_paused = true)]
async fn an_upgrade_takes_the_socket_after_the_101_even_after_parking() {
    let (mut client, server) = tokio::io::duplex(4096);
    let handle = |mut request: Request<Incoming>| async move {
        let Some(upgrade) = request.extensions_mut().remove::<ClientUpgrade>() else {
            return Response::new(body::full(Bytes::from_static(b"plain")));
        };
        tokio::spawn(async move {
            let mut socket = upgrade.socket().await.expect("the socket");
            let mut buf = [0u8; 4];
            socket.read_exact(&mut buf).await.expect("read");
            socket.write_all(&buf).await.expect("echo");
        });
        let mut response = Response::new(body::full(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response.headers_mut().insert("connection", http::HeaderValue::from_static("upgrade"));
        response.headers_mut().insert("upgrade", http::HeaderValue::from_static("websocket"));
        response
    };
    let task = tokio::spawn(async move {
        let (_keep, mut closing) = watch::channel(false);
        serve(&builder(), server, handle, &mut closing, settings(LIMITS)).await
    });
    client.write_all(&get("/first")).await.expect("write");
    assert_eq!(read_response(&mut client).await.1, b"plain");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let upgrade = b"GET /ws HTTP/1.1\r\nhost: test\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nping";
    client.write_all(upgrade).await.expect("write");
    // Byte by byte: the echo may follow the head at once.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await.expect("the 101"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101 Switching Protocols"), "{:?}", String::from_utf8_lossy(&head));
    let mut echoed = [0u8; 4];
    client.read_exact(&mut echoed).await.expect("echo");
    assert_eq!(&echoed, b"ping");
    assert!(matches!(task.await.expect("task"), Ended::Upgraded));
}

/// Records how each answer ended.
#[derive(Clone, Default)]
struct Ends(Arc<Mutex<Vec<(End, u64)>>>);

impl body::Ending for Ends {
    fn ended(self: Box<Self>, end: End, sent: u64) {
        self.0.lock().expect("lock").push((end, sent));
    }
}

/// An answer small enough to sit whole in hyper's buffer is not "complete"
/// until it has left it: a client that never reads it makes it a cut.
#[tokio::test(start_paused = true)]
async fn an_answer_is_complete_only_once_written_out() {
    let ends = Ends::default();
    let (mut client, server) = tokio::io::duplex(1024);
    let handle = {
        let ends = ends.clone();
        move |_: Request<Incoming>| {
            let ends = ends.clone();
            async move {
                let mut body = body::full(pattern(16 * 1024));
                body.set_ending(Box::new(ends));
                Response::new(body)
            }
        }
    };
    let task = tokio::spawn(async move {
        let (_keep, mut closing) = watch::channel(false);
        serve(&builder(), server, handle, &mut closing, settings(LIMITS)).await
    });
    client.write_all(&get("/small")).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(ends.0.lock().expect("lock").is_empty(), "reported before it left hyper's buffer");
    assert!(matches!(task.await.expect("task"), Ended::Cut(End::SendIdle)));
    assert_eq!(*ends.0.lock().expect("lock"), [(End::SendIdle, 16 * 1024)]);
}

#[tokio::test(start_paused = true)]
async fn an_answer_read_at_once_is_complete_at_once() {
    let ends = Ends::default();
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let handle = {
        let ends = ends.clone();
        move |_: Request<Incoming>| {
            let ends = ends.clone();
            async move {
                let mut body = body::full(Bytes::from_static(b"hello"));
                body.set_ending(Box::new(ends));
                Response::new(body)
            }
        }
    };
    tokio::spawn(async move {
        let (_keep, mut closing) = watch::channel(false);
        serve(&builder(), server, handle, &mut closing, settings(LIMITS)).await
    });
    client.write_all(&get("/x")).await.expect("write");
    assert_eq!(read_response(&mut client).await.1, b"hello");
    tokio::task::yield_now().await;
    assert_eq!(*ends.0.lock().expect("lock"), [(End::Complete, 5)]);
}

/// A socket as TLS presents it: a write goes into the session's buffer
/// (up to `room` bytes) and succeeds; only the flush to the pipe can block.
struct SessionBuffered {
    pipe: DuplexStream,
    buffered: Vec<u8>,
    room: usize,
}

impl AsyncRead for SessionBuffered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_read(cx, buf)
    }
}

impl SessionBuffered {
    fn push_out(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.buffered.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.pipe).poll_write(cx, &self.buffered))?;
            self.buffered.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SessionBuffered {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let _ = this.push_out(cx);
        let n = buf.len().min(this.room.saturating_sub(this.buffered.len()));
        if n == 0 {
            return Poll::Pending;
        }
        this.buffered.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().push_out(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_shutdown(cx)
    }
}

/// The answer ends inside the session's buffer, every write having
/// succeeded: the blocked flush is what shows the client reads nothing.
#[tokio::test(start_paused = true)]
async fn a_flush_that_cannot_go_through_counts_as_a_full_socket() {
    let (mut client, pipe) = tokio::io::duplex(1024);
    let io = SessionBuffered { pipe, buffered: Vec::new(), room: 64 * 1024 };
    let handle = |_: Request<Incoming>| async { Response::new(body::full(pattern(32 * 1024))) };
    let task = tokio::spawn(async move {
        let (_keep, mut closing) = watch::channel(false);
        serve(&builder(), io, handle, &mut closing, settings(LIMITS)).await
    });
    client.write_all(&get("/tls")).await.expect("write");
    let ended = tokio::time::timeout(Duration::from_secs(10), task).await;
    let ended = ended.expect("never cut: the blocked flush went unnoticed").expect("task");
    assert!(matches!(ended, Ended::Cut(End::SendIdle)), "{ended:?}");
}
