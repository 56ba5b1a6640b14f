//! Ports for servers that must be told their port in advance (redis-server,
//! a topology's gateways that name each other), chosen so that nothing else in
//! the run can take them before the server binds.
//!
//! A port found by binding port 0 and closing it is an ephemeral port: the
//! kernel may hand it to any other test's `bind(0)` or outgoing connection
//! before the server starts. Ports below the kernel's ephemeral range are never
//! handed out that way, and this process hands each one out once.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The lowest port tried; ports below it are often taken by well-known services.
const LOWEST: u16 = 10_000;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port below the ephemeral range that nothing listens on now and
/// that this process has not handed out before.
pub fn unused_port() -> u16 {
    let ceiling = ephemeral_start().saturating_sub(1).max(LOWEST + 1_000);
    let span = u32::from(ceiling - LOWEST);
    // A different starting point per process, so parallel test runs spread out.
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() ^ std::process::id();
    let mut handed_out = HANDED_OUT.lock().unwrap();
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for step in 0..span {
        let port = LOWEST + u16::try_from((seed.wrapping_add(step.wrapping_mul(7_919))) % span).unwrap();
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no unused loopback port between {LOWEST} and {ceiling}");
}

/// The first port of the kernel's ephemeral range (32768 when unreadable).
fn ephemeral_start() -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    range.split_whitespace().next().and_then(|low| low.parse().ok()).unwrap_or(32_768)
}
