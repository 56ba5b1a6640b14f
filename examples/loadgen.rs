//! Closed-loop HTTP/1.1 load generator for `scripts/bench.sh`.
//!
//! With `--key-b64`, every request is signed up front (unique nonce each) with
//! the library's own RFC 9421 signer, so signing costs nothing during the run
//! and replay protection stays on. Bounded by `--requests` and `--max-seconds`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use clap::Parser;
use hmac::KeyInit as _;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

use hmac_gateway::scheme::digest::content_digest_sha256;
use hmac_gateway::scheme::rfc9421::{self, ALG, Component, HmacSha256, MessageView};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value = "/_functions/bench")]
    path: String,
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// Sign each request with this base64 key (omit for plain requests).
    #[arg(long)]
    key_b64: Option<String>,
    #[arg(long, default_value = "bench-1")]
    keyid: String,
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
}

fn build_requests(args: &Args) -> anyhow::Result<Vec<Request<Full<Bytes>>>> {
    let body = Bytes::from(vec![b'x'; args.body_bytes]);
    let key = match &args.key_b64 {
        Some(k) => Some(HmacSha256::new_from_slice(&base64::engine::general_purpose::STANDARD.decode(k)?)?),
        None => None,
    };
    let authority = args.addr.to_string();
    let now = hmac_gateway::testing::unix_now();
    // Unique across runs too: the gateway's replay protection stays on.
    let run = hmac_gateway::testing::fresh_nonce().map_err(|e| anyhow::anyhow!("{e}"))?;
    (0..args.requests)
        .map(|i| {
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_str(&authority)?);
            let query = format!("i={i}");
            if let Some(key) = &key {
                let mut components: Vec<Component> = ["@method", "@authority", "@path", "@query"]
                    .iter()
                    .map(|c| Component::parse(c).map_err(anyhow::Error::msg))
                    .collect::<anyhow::Result<_>>()?;
                if !body.is_empty() {
                    headers.insert("content-digest", HeaderValue::from_str(&content_digest_sha256(&body))?);
                    components.push(Component::content_digest());
                }
                let nonce = format!("{run}-{i}");
                let params = rfc9421::build_params(&components, now, Some(&nonce), &args.keyid, Some(ALG))
                    .map_err(anyhow::Error::msg)?;
                let method = if body.is_empty() { "GET" } else { "POST" };
                let view = MessageView {
                    method,
                    scheme: "http",
                    authority: &authority,
                    path: &args.path,
                    query: Some(&query),
                    headers: &headers,
                };
                let signed = rfc9421::sign(&view, key, "sig1", &params)?;
                headers.insert("signature-input", HeaderValue::from_str(&signed.signature_input)?);
                headers.insert("signature", HeaderValue::from_str(&signed.signature)?);
            }
            let method = if body.is_empty() { "GET" } else { "POST" };
            let mut request = Request::builder()
                .method(method)
                .uri(format!("{}?{query}", args.path))
                .body(Full::new(body.clone()))?;
            *request.headers_mut() = headers;
            Ok(request)
        })
        .collect()
}

/// Pre-built requests, each taken once by whichever worker gets there first.
type Queue = Arc<Vec<std::sync::Mutex<Option<Request<Full<Bytes>>>>>>;

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    non_ok: usize,
}

async fn worker(
    addr: SocketAddr,
    requests: Queue,
    next: Arc<AtomicUsize>,
    deadline: Instant,
) -> anyhow::Result<WorkerResult> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut result = WorkerResult::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= requests.len() || Instant::now() > deadline {
            return Ok(result);
        }
        let Some(request) = requests[i].lock().map_err(|_| anyhow::anyhow!("poisoned"))?.take() else { continue };
        sender.ready().await?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        result.latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        if !ok {
            result.non_ok += 1;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let requests = build_requests(&args)?;
    let total = requests.len();
    let requests = Arc::new(requests.into_iter().map(|r| std::sync::Mutex::new(Some(r))).collect::<Vec<_>>());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(args.addr, requests.clone(), next.clone(), deadline)))
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut non_ok = 0;
    for w in workers {
        let r = w.await??;
        latencies.extend(r.latencies_us);
        non_ok += r.non_ok;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |percent: usize| latencies.get((latencies.len() * percent / 100).min(latencies.len().saturating_sub(1)));
    println!(
        "{{\"requests\":{},\"non_ok\":{non_ok},\"seconds\":{seconds:.3},\"rps\":{:.0},\"p50_us\":{},\"p99_us\":{}}}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        pct(50).copied().unwrap_or(0),
        pct(99).copied().unwrap_or(0)
    );
    Ok(())
}
