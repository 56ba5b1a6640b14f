//! Ports for servers that must be told their port in advance (redis-server,
//! a topology's gateways that name each other, an upstream that is down at
//! first), chosen so that nothing else in the run can take them before the
//! server binds.
//!
//! A port found by binding port 0 and closing it is an ephemeral port: the
//! kernel may hand it to any other test's `bind(0)` or outgoing connection
//! before the server starts. Ports outside the kernel's ephemeral range are
//! never handed out that way, and this process hands each one out once.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Ports below this are often taken by well-known services.
const LOWEST: u16 = 10_000;
/// The fewest ports worth searching on one side of the ephemeral range.
const ENOUGH: u16 = 1_000;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port outside the ephemeral range that nothing listens on now
/// and that this process has not handed out before.
pub fn unused_port() -> u16 {
    let range = outside_ephemeral();
    let (first, span) = (u32::from(*range.start()), u32::from(range.end() - range.start()) + 1);
    // A different starting point per process, so parallel test runs spread out.
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() ^ std::process::id();
    let found = {
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
        let handed_out = handed_out.get_or_insert_with(HashSet::new);
        (0..span).map(|step| u16::try_from(first + (seed % span + step) % span).unwrap()).find(|port| {
            !handed_out.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok() && handed_out.insert(*port)
        })
    };
    found.unwrap_or_else(|| panic!("no unused loopback port in {range:?}"))
}

/// A loopback address nothing listens on, and nothing else will take.
pub fn unused_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], unused_port()))
}

/// Below the kernel's ephemeral range, or above it when too little is below.
fn outside_ephemeral() -> RangeInclusive<u16> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = text.split_whitespace().filter_map(|n| n.parse::<u16>().ok());
    let (low, high) = (bounds.next().unwrap_or(32_768), bounds.next().unwrap_or(60_999));
    if low >= LOWEST + ENOUGH {
        LOWEST..=low - 1
    } else if high <= u16::MAX - ENOUGH {
        high + 1..=u16::MAX
    } else {
        panic!("the ephemeral range {low}-{high} leaves no room for test ports")
    }
}
